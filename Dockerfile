# The project image for the team deployment: Airflow 3 with the pipeline package and the
# exact versions of constraints.txt (the same lock file `make` installs from).
FROM apache/airflow:3.3.2-python3.11

ENV CUSTOMER_HEALTH_HOME=/opt/customer-health \
    DO_NOT_TRACK=1 \
    SCARF_NO_ANALYTICS=true \
    DBT_SEND_ANONYMOUS_USAGE_STATS=false \
    GX_ANALYTICS_ENABLED=false \
    AIRFLOW__COSMOS__ENABLE_TELEMETRY=False \
    AIRFLOW__USAGE_DATA_COLLECTION__ENABLED=False

COPY --chown=airflow:root pyproject.toml constraints.txt README.md /opt/customer-health/
COPY --chown=airflow:root plugins /opt/customer-health/plugins
RUN pip install --no-cache-dir -c /opt/customer-health/constraints.txt /opt/customer-health

COPY --chown=airflow:root dags /opt/customer-health/dags
COPY --chown=airflow:root dbt_project /opt/customer-health/dbt_project
COPY --chown=airflow:root expectations /opt/customer-health/expectations
# The dbt manifest the Airflow task group is drawn from: built once here, never at parse time.
RUN customer-health manifest
