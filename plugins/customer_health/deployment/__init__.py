"""A real Airflow deployment on one machine: its components started from the project's venv,
and the REST API people and tests drive it through."""
