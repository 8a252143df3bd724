"""Landing files into typed ``raw`` tables: contracts, loading, the load ledger."""
