"""The fixed vocabulary of the synthetic company: its products and the words it uses."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Product:
    product_id: str
    name: str
    family: str
    list_price_monthly: float
    unit: str
    usage_limit: int | None
    attach_rate: float  # share of customers who buy it alongside the core platform

    def row(self) -> dict[str, object]:
        return {
            "product_id": self.product_id,
            "name": self.name,
            "family": self.family,
            "list_price_monthly": f"{self.list_price_monthly:.2f}",
            "unit": self.unit,
            "usage_limit": "" if self.usage_limit is None else self.usage_limit,
        }


PRODUCTS: tuple[Product, ...] = (
    Product("P-CORE", "Core Platform", "platform", 30.0, "seat", None, 1.0),
    Product("P-ANLT", "Analytics", "insights", 15.0, "seat", None, 0.45),
    Product("P-AUTO", "Automation", "workflow", 500.0, "flat", 20_000, 0.3),
    Product("P-INTG", "Integrations Hub", "workflow", 300.0, "flat", 2_000, 0.35),
    Product("P-SECU", "Security Suite", "security", 10.0, "seat", None, 0.2),
    Product("P-SUPP", "Premium Support", "services", 800.0, "flat", None, 0.15),
)

FEATURES: dict[str, tuple[str, ...]] = {
    "P-CORE": ("dashboard", "records", "search", "share", "comments"),
    "P-ANLT": ("reports", "explore", "export"),
    "P-AUTO": ("workflow_run", "workflow_edit"),
    "P-INTG": ("sync", "connector_setup"),
    "P-SECU": ("sso_login", "audit_log"),
    "P-SUPP": ("support_chat",),
}

INDUSTRIES = (
    "software",
    "finance",
    "healthcare",
    "retail",
    "manufacturing",
    "education",
    "media",
    "logistics",
)
COUNTRIES = ("US", "US", "US", "CA", "GB", "DE", "FR", "NL", "SE", "AU", "JP", "BR", "IN")
NAME_PARTS = (
    (
        "Acme",
        "Globex",
        "Initech",
        "Umbrella",
        "Stark",
        "Wayne",
        "Hooli",
        "Vandelay",
        "Soylent",
        "Tyrell",
        "Cyberdyne",
        "Wonka",
        "Gringotts",
        "Monarch",
        "Oscorp",
    ),
    (
        "Labs",
        "Systems",
        "Group",
        "Holdings",
        "Analytics",
        "Logistics",
        "Health",
        "Retail",
        "Energy",
        "Media",
    ),
)
ROLES = ("admin", "end user", "end user", "manager", "executive", "champion")
TICKET_CATEGORIES = ("bug", "how-to", "billing", "integration", "performance", "access")
COMMENTS = (
    "Too many outages, we are evaluating alternatives.",
    "Does the job, some features are hard to find.",
    "Great product, the team relies on it daily.",
)
