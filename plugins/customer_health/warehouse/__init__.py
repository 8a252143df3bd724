"""The PostgreSQL warehouse: where it runs, how to connect, and the schemas the pipeline owns."""
