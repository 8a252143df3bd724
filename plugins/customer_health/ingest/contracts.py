"""The landing contract of every source entity, declared once.

The loader enforces these rules in SQL, the warehouse DDL is generated from them, and
the README documents them. A rule broken by one row quarantines that row; a file that
breaks the contract as a whole (a required column missing) fails to load.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Column:
    name: str
    type: str  # a PostgreSQL type name: text, integer, numeric, date, timestamptz
    required: bool = True
    allowed: tuple[str, ...] = ()
    minimum: float | None = None
    maximum: float | None = None
    references_customer: bool = False
    not_after_file_date: bool = False  # event times cannot be later than the file's day
    not_before: str | None = None  # an earlier column of the row this one cannot precede
    description: str = ""


@dataclass(frozen=True)
class Entity:
    source: str
    name: str
    key: str
    columns: tuple[Column, ...]
    description: str = ""
    # Entities whose later files restate a key (a subscription that was cancelled, a ticket
    # that was closed) keep every version in raw; staging picks the latest.
    versioned: bool = field(default=False)

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def required_names(self) -> list[str]:
        return [c.name for c in self.columns if c.required]

    def unknown_names(self, header: list[str]) -> list[str]:
        """The columns of a file's header that the contract does not declare."""
        return [name for name in header if name not in self.column_names]


# Where each raw row came from; the loader fills them, so a landing file may not name them.
LOAD_COLUMNS = (
    ("_source_file", "Landing file the row came from (path relative to the landing root)."),
    ("_line", "Line of the row in that file (the header is line 1)."),
    ("_logical_date", "Date folder of the landing file."),
    ("_run_id", "Pipeline run that loaded the row."),
    ("_loaded_at", "When the row was loaded."),
)
LOAD_COLUMN_NAMES = tuple(name for name, _ in LOAD_COLUMNS)

CUSTOMER_ID = Column("customer_id", "text", references_customer=True, description="Customer key")

ENTITIES: tuple[Entity, ...] = (
    Entity(
        "billing",
        "customers",
        key="customer_id",
        versioned=True,
        description="Customer accounts; a file restates a customer whenever it changes.",
        columns=(
            Column("customer_id", "text", description="Customer key"),
            Column("name", "text", description="Company name"),
            Column("industry", "text"),
            Column("country", "text", description="ISO 3166 alpha-2 country code"),
            Column("employee_count", "integer", minimum=1),
            Column("parent_customer_id", "text", required=False, description="Parent account"),
            Column("created_at", "timestamptz", not_after_file_date=True),
            Column(
                "csm_owner",
                "text",
                required=False,
                description="Customer success manager owning the customer; empty: pooled queue",
            ),
        ),
    ),
    Entity(
        "billing",
        "products",
        key="product_id",
        versioned=True,
        description="The product catalogue with list prices.",
        columns=(
            Column("product_id", "text"),
            Column("name", "text"),
            Column("family", "text"),
            Column("list_price_monthly", "numeric", minimum=0),
            Column("unit", "text", allowed=("seat", "flat")),
            Column("usage_limit", "integer", required=False, minimum=0),
        ),
    ),
    Entity(
        "billing",
        "subscriptions",
        key="subscription_item_id",
        versioned=True,
        description="Subscription items: one product at one price and quantity for a period.",
        columns=(
            Column("subscription_item_id", "text"),
            CUSTOMER_ID,
            Column("product_id", "text"),
            Column("plan", "text"),
            Column("quantity", "integer", minimum=1),
            Column(
                "unit_price",
                "numeric",
                minimum=0,
                description="Per unit and billing period: a yearly item's price is a year's",
            ),
            Column("currency", "text", allowed=("USD", "EUR", "GBP")),
            Column("billing_period", "text", allowed=("month", "year")),
            Column("discount_pct", "numeric", minimum=0, maximum=100),
            Column("start_date", "date"),
            Column(
                "end_date",
                "date",
                required=False,
                not_before="start_date",
                description="Exclusive end",
            ),
            Column("cancel_at", "date", required=False, not_before="start_date"),
            Column("status", "text", allowed=("active", "canceled")),
        ),
    ),
    Entity(
        "billing",
        "invoices",
        key="invoice_id",
        versioned=True,
        description="Invoices; restated when paid.",
        columns=(
            Column("invoice_id", "text"),
            CUSTOMER_ID,
            Column("issued_at", "date", not_after_file_date=True),
            Column("due_at", "date", not_before="issued_at"),
            Column(
                "paid_at",
                "date",
                required=False,
                not_after_file_date=True,
                not_before="issued_at",
            ),
            Column("amount", "numeric", minimum=0),
            Column("currency", "text", allowed=("USD", "EUR", "GBP")),
            Column("status", "text", allowed=("open", "paid", "void")),
        ),
    ),
    Entity(
        "usage",
        "events",
        key="event_id",
        description="Product usage events, one file per day.",
        columns=(
            Column("event_id", "text"),
            CUSTOMER_ID,
            Column("user_id", "text", description="Pseudonymous user key"),
            Column("product_id", "text"),
            Column("feature", "text"),
            Column("occurred_at", "timestamptz", not_after_file_date=True),
            Column("quantity", "integer", minimum=0),
        ),
    ),
    Entity(
        "nps",
        "responses",
        key="response_id",
        description="NPS survey responses.",
        columns=(
            Column("response_id", "text"),
            CUSTOMER_ID,
            Column("user_id", "text"),
            Column("role", "text"),
            Column("score", "integer", minimum=0, maximum=10),
            Column("comment", "text", required=False, description="Free text (PII)"),
            Column("responded_at", "timestamptz", not_after_file_date=True),
        ),
    ),
    Entity(
        "support",
        "tickets",
        key="ticket_id",
        versioned=True,
        description="Support tickets; restated when closed.",
        columns=(
            Column("ticket_id", "text"),
            CUSTOMER_ID,
            Column("opened_at", "timestamptz", not_after_file_date=True),
            Column(
                "closed_at",
                "timestamptz",
                required=False,
                not_after_file_date=True,
                not_before="opened_at",
            ),
            Column("priority", "text", allowed=("low", "normal", "high", "urgent")),
            Column("category", "text"),
            Column("csat", "integer", required=False, minimum=1, maximum=5),
        ),
    ),
)

# Customers load first so that other entities of the same night can reference them.
LOAD_ORDER = {entity.name: position for position, entity in enumerate(ENTITIES)}


def entity_named(name: str) -> Entity:
    for entity in ENTITIES:
        if entity.name == name:
            return entity
    raise KeyError(name)
