"""Running the dbt project against the warehouse."""
