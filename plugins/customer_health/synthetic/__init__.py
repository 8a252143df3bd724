"""Deterministic synthetic landing data for demos, tests and benchmarks."""
