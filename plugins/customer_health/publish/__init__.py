"""Publishing validated marts to the schema BI tools read."""
