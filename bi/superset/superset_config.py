"""Superset's settings for the customer-health dashboards (SUPERSET_CONFIG_PATH points here).

Secrets and the metadata database come from the environment `customer_health.bi.superset`
sets: nothing secret is in the repository. The content-security policy keeps the browser
on this host: Superset's default lets every page load a telemetry pixel and map tiles from
the internet, and this product makes no outbound calls but to the warehouse.
"""

import os

SECRET_KEY = os.environ["SUPERSET_SECRET_KEY"]
SQLALCHEMY_DATABASE_URI = os.environ["SUPERSET_METADATA_URL"]

# One local process, no Celery: every query runs in the web request.
FEATURE_FLAGS = {"ALERT_REPORTS": False, "THUMBNAILS": False}
SQLLAB_CTAS_NO_LIMIT = False
ROW_LIMIT = 10_000

TALISMAN_ENABLED = True
TALISMAN_CONFIG = {
    "content_security_policy": {
        "base-uri": ["'self'"],
        "default-src": ["'self'"],
        "img-src": ["'self'", "blob:", "data:"],
        "worker-src": ["'self'", "blob:"],
        "connect-src": ["'self'"],
        "object-src": "'none'",
        "style-src": ["'self'", "'unsafe-inline'"],
        "font-src": ["'self'", "data:"],
        "script-src": ["'self'", "'strict-dynamic'"],
    },
    "content_security_policy_nonce_in": ["script-src"],
    "force_https": False,
    "session_cookie_secure": False,
}
