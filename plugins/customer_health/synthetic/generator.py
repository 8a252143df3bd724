"""A deterministic generator of landing files that behave like a real B2B SaaS customer base.

Demos, tests and benchmarks all need data whose health and revenue metrics mean something:
customers who expand, contract and churn, with churn preceded by falling usage, worse NPS
and more urgent tickets.

The generator writes one day at a time, so a nightly demo or benchmark can add the next day
without rewriting history, and memory holds every customer's plan and one day's rows, not
the data set. That needs every day's files to be a function of (seed, scale factor, planned
window, day) alone:

- each customer's plan (who it is, what it buys, when it expands, contracts or churns) is
  drawn once from its own stream, keyed by the seed and its number; the account structure
  (which customers are buying centers of which parent account) from one more;
- what a customer does on a day (a ticket, its users' events) is drawn from a stream keyed
  by the seed, its number and the day's number; invoices and surveys from their own such
  streams, and the spoiled rows of a day's events file from one keyed by the day alone;
- what lands on a day but was decided earlier (a ticket closing, an invoice paid) is drawn
  again from the stream of the day that decided it.

So writing days 1–365 at once, or days 1–360 and then one day per night, gives the same
bytes. Life events (new customers, expansions, contractions, churn) are planned within the
window the config names; days written after it continue the same customers (usage,
tickets, surveys, invoices, and churn planned just after the window) without new ones.

Billing files are daily change logs: the first day states everything known so far, later
days restate only the customers, subscription items, invoices and tickets that changed.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from pathlib import Path

import numpy as np
from tqdm import tqdm

from customer_health.errors import GenerationError
from customer_health.ingest.contracts import ENTITIES, Entity
from customer_health.synthetic.catalogue import (
    COMMENTS,
    COUNTRIES,
    FEATURES,
    INDUSTRIES,
    NAME_PARTS,
    PRODUCTS,
    ROLES,
    TICKET_CATEGORIES,
    Product,
)

CUSTOMERS_AT_SF1 = 1000
CHURN_DECLINE_DAYS = 75
CSM_MIN_EMPLOYEES = 200
CSM_TEAM = ("csm-01", "csm-02", "csm-03", "csm-04")
# Account structure (plan_accounts): one parent account per this many customers, and this
# share of all customers are buying centers of one of them.
CUSTOMERS_PER_PARENT_ACCOUNT = 10
BUYING_CENTER_SHARE = 0.3
# Every random stream is keyed [seed, purpose, ...] with its own purpose in second place:
# numpy pads a shorter key with zeros, so [seed, n] and [seed, n, 0] would be one stream.
PLAN_STREAM = 1  # [seed, PLAN_STREAM, customer]: who a customer is and what it buys
ACCOUNT_STREAM = 2  # [seed, ACCOUNT_STREAM]: which customers are buying centers of whom
DAY_STREAM = 3  # [seed, DAY_STREAM, customer, day]: its ticket, then its users' events
INVOICE_STREAM = 4  # [seed, INVOICE_STREAM, customer, day]: whether and when it pays
SURVEY_STREAM = 5  # [seed, SURVEY_STREAM, customer, day]: its survey responses
SPOILING_STREAM = 6  # [seed, SPOILING_STREAM, day]: the day's spoiled events
# A ticket is closed one to TICKET_MAX_OPEN_DAYS days after it opened.
TICKET_MAX_OPEN_DAYS = 11
# An invoice issued on the 1st is paid PAID_AFTER_DAYS later (the upper bound excluded): at
# the latest on the 28th, so a payment always falls in the month of its invoice.
PAID_AFTER_DAYS = (2, 28)
SURVEY_INTERVAL_DAYS = 90
# Customer success checks in on an account going quiet about six weeks before it leaves.
CHECK_IN_DAYS_BEFORE_CHURN = 45
# The landing area's own record of what was generated into it (hidden: the loader ignores
# names starting with a dot), so that ``append_day`` continues the same world.
MANIFEST = ".generator.json"


@dataclass(frozen=True)
class GeneratorConfig:
    """The world to generate: life events are planned within [start_date, end_date]."""

    scale_factor: float = 0.05
    days: int = 365
    end_date: date = date(2026, 11, 26)
    seed: int = 42
    bad_row_rate: float = 0.0
    gzip: bool = False

    @property
    def start_date(self) -> date:
        return self.end_date - timedelta(days=self.days - 1)

    @property
    def customer_count(self) -> int:
        return max(5, round(CUSTOMERS_AT_SF1 * self.scale_factor))

    def day_number(self, day: date) -> int:
        return (day - self.start_date).days


@dataclass
class Item:
    """One subscription item: a product at a price and quantity for [start, end).

    The price agreed is per unit and month; the file states it per billing period, as a
    billing system does (a yearly item's unit price is twelve months' worth)."""

    item_id: str
    product: Product
    plan: str
    quantity: int
    monthly_unit_price: float
    currency: str
    billing_period: str
    discount_pct: float
    start: date
    end: date | None = None

    @property
    def months_per_period(self) -> int:
        return 12 if self.billing_period == "year" else 1

    def monthly_amount(self) -> float:
        return self.quantity * self.monthly_unit_price * (1 - self.discount_pct / 100)

    def active_on(self, day: date) -> bool:
        return self.start <= day and (self.end is None or day < self.end)

    def row(self) -> dict[str, object]:
        return {
            "subscription_item_id": self.item_id,
            "product_id": self.product.product_id,
            "plan": self.plan,
            "quantity": self.quantity,
            "unit_price": f"{self.monthly_unit_price * self.months_per_period:.2f}",
            "currency": self.currency,
            "billing_period": self.billing_period,
            "discount_pct": f"{self.discount_pct:g}",
            "start_date": self.start.isoformat(),
            "end_date": self.end.isoformat() if self.end else "",
            "cancel_at": self.end.isoformat() if self.end else "",
            "status": "canceled" if self.end else "active",
        }


@dataclass
class Customer:
    customer_id: str
    name: str
    industry: str
    country: str
    employees: int
    parent_id: str | None
    created: date
    kind: str  # expanding / stable / contracting / churning
    churn_day: date | None
    items: list[Item] = field(default_factory=list)

    def active_on(self, day: date) -> bool:
        """A customer is active while any of its subscription items is."""
        return any(it.active_on(day) for it in self.items)

    def row(self) -> dict[str, object]:
        return {
            "customer_id": self.customer_id,
            "name": self.name,
            "industry": self.industry,
            "country": self.country,
            "employee_count": self.employees,
            "parent_customer_id": self.parent_id or "",
            "created_at": f"{self.created.isoformat()}T09:00:00+00:00",
            "csm_owner": self.csm_owner,
        }

    @property
    def csm_owner(self) -> str:
        """Customers of CSM_MIN_EMPLOYEES or more have a named manager (spread over the team
        by customer number); smaller ones are served by the pooled queue (empty)."""
        if self.employees < CSM_MIN_EMPLOYEES:
            return ""
        return CSM_TEAM[int(self.customer_id.lstrip("C")) % len(CSM_TEAM)]


class DayFiles:
    """One day's rows, entity by entity, written as one file per entity (empty ones too: a
    billing system exports every day). Events are kept by column: they are most of a day."""

    def __init__(self, day: date) -> None:
        self.day = day
        self.rows: dict[str, list[dict[str, object]]] = defaultdict(list)
        self.events: dict[str, list[object]] = defaultdict(list)

    def add(self, entity: str, row: dict[str, object]) -> None:
        self.rows[entity].append(row)

    @property
    def event_count(self) -> int:
        return len(self.events["event_id"])

    def row_count(self) -> int:
        return self.event_count + sum(len(rows) for rows in self.rows.values())

    def write(self, landing: Path, entities: Sequence[Entity], compress: bool) -> None:
        for entity in entities:
            folder = landing / entity.source / self.day.isoformat()
            folder.mkdir(parents=True, exist_ok=True)
            text = io.StringIO()
            writer = csv.writer(text, lineterminator="\n")
            writer.writerow(entity.column_names)
            if entity.name == "events":
                writer.writerows(zip(*(self.events[c] for c in entity.column_names), strict=True))
            else:
                writer.writerows(
                    [row[c] for c in entity.column_names] for row in self.rows[entity.name]
                )
            data = text.getvalue().encode("utf-8")
            if compress:
                # mtime=0 keeps compressed output byte-identical across runs.
                (folder / f"{entity.name}.csv.gz").write_bytes(gzip.compress(data, mtime=0))
            else:
                (folder / f"{entity.name}.csv").write_bytes(data)


@dataclass(frozen=True)
class Ticket:
    opened: date
    priority: str
    category: str
    closed: date
    csat: int


class _CustomerSimulation:
    """One customer: its plan, drawn once from its own stream, and what it does on any day,
    drawn from that day's streams."""

    def __init__(self, index: int, config: GeneratorConfig) -> None:
        self.index = index
        self.config = config
        self.rng = np.random.default_rng([config.seed, PLAN_STREAM, index])
        self.item_seq = 0
        self.customer = self.build_customer()
        # Filled by plan(), once plan_accounts has placed the customer in an account.
        self.adoption_factor = 1.0
        self.survey_offset = 0
        self.billing: dict[date, list[tuple[str, dict[str, object]]]] = defaultdict(list)
        # The tickets of the last days, which may still close (by day opened), and this
        # month's invoice with its payment day: drawn once, not once per day.
        self._tickets: dict[date, Ticket | None] = {}
        self._invoice: tuple[date, tuple[dict[str, object], date | None] | None] | None = None

    def _new_item_id(self) -> str:
        self.item_seq += 1
        return f"SI-{self.index:05d}-{self.item_seq:03d}"

    def _stream(self, purpose: int, day: date) -> np.random.Generator:
        return np.random.default_rng(
            [self.config.seed, purpose, self.index, self.config.day_number(day)]
        )

    def build_customer(self) -> Customer:
        rng, cfg = self.rng, self.config
        customer_id = f"C{self.index:05d}"
        existing = rng.random() < 0.75
        if existing:
            created = cfg.start_date - timedelta(days=int(rng.integers(30, 1100)))
        else:
            created = cfg.start_date + timedelta(days=int(rng.integers(0, max(1, cfg.days - 30))))
        kind = str(
            rng.choice(
                ["expanding", "stable", "contracting", "churning"], p=[0.25, 0.45, 0.12, 0.18]
            )
        )
        churn_day = None
        if kind == "churning":
            earliest = max(created + timedelta(days=120), cfg.start_date + timedelta(days=60))
            # Some churn dates fall after the window: those customers are still declining.
            span = (cfg.end_date - earliest).days + 60
            if span > 60:
                churn_day = earliest + timedelta(days=int(rng.integers(0, span)))
            else:
                kind = "contracting"
        employees = int(np.clip(rng.lognormal(5.0, 1.3), 5, 25_000))
        first, second = rng.choice(len(NAME_PARTS[0])), rng.choice(len(NAME_PARTS[1]))
        return Customer(
            customer_id=customer_id,
            name=f"{NAME_PARTS[0][first]} {NAME_PARTS[1][second]} {self.index}",
            industry=str(rng.choice(INDUSTRIES)),
            country=str(rng.choice(COUNTRIES)),
            employees=employees,
            parent_id=None,
            created=created,
            kind=kind,
            churn_day=churn_day,
        )

    def plan(self) -> None:
        """The rest of the plan: subscription items and their changes, the customer's
        adoption and survey rhythm, and the billing change log that follows from them."""
        self.build_items(self.customer)
        self.adoption_factor = float(self.rng.uniform(0.85, 1.1))
        self.survey_offset = int(self.rng.integers(0, SURVEY_INTERVAL_DAYS))
        self.plan_billing(self.customer)

    def build_items(self, customer: Customer) -> None:
        rng = self.rng
        seats = int(np.clip(customer.employees * rng.uniform(0.05, 0.3), 3, 800))
        period = "year" if rng.random() < 0.3 else "month"
        currency = str(rng.choice(["USD", "EUR", "GBP"], p=[0.85, 0.1, 0.05]))
        discount = float(rng.choice([0, 0, 0, 5, 10, 15, 20]))
        plan = "enterprise" if customer.employees > 1000 else "business"
        owned = [PRODUCTS[0]] + [p for p in PRODUCTS[1:] if rng.random() < p.attach_rate]

        def item(product: Product, quantity: int, start: date) -> Item:
            return Item(
                self._new_item_id(),
                product,
                plan,
                quantity if product.unit == "seat" else 1,
                round(product.list_price_monthly * rng.uniform(0.9, 1.0), 2),
                currency,
                period,
                discount,
                start,
            )

        customer.items = [item(p, seats, customer.created) for p in owned]
        window = self.config
        first_change = max(customer.created, window.start_date) + timedelta(days=20)
        span = (window.end_date - first_change).days
        if customer.kind == "churning" and customer.churn_day:
            for it in customer.items:
                it.end = customer.churn_day
            return
        if span <= 0:
            return
        change_day = first_change + timedelta(days=int(rng.integers(0, span)))
        core = customer.items[0]
        if customer.kind == "expanding":
            new_seats = max(seats + 1, int(seats * rng.uniform(1.2, 1.6)))
            self._replace_quantity(customer, core, new_seats, change_day)
            missing = [p for p in PRODUCTS if p not in owned]
            if missing and rng.random() < 0.6:
                cross_day = change_day + timedelta(days=int(rng.integers(10, 60)))
                if cross_day <= window.end_date:
                    customer.items.append(item(missing[0], new_seats, cross_day))
        elif customer.kind == "contracting":
            if len(customer.items) > 1 and rng.random() < 0.4:
                customer.items[-1].end = change_day
            else:
                new_seats = max(1, int(seats * rng.uniform(0.55, 0.8)))
                self._replace_quantity(customer, core, new_seats, change_day)

    def _replace_quantity(self, customer: Customer, old: Item, quantity: int, day: date) -> None:
        old.end = day
        customer.items.append(
            Item(
                self._new_item_id(),
                old.product,
                old.plan,
                quantity,
                old.monthly_unit_price,
                old.currency,
                old.billing_period,
                old.discount_pct,
                day,
            )
        )

    def plan_billing(self, customer: Customer) -> None:
        """The customer's and its items' rows, each on the day the billing system would
        export it; what happened before the window is stated on its first day."""
        start = self.config.start_date

        def on(day: date, entity: str, row: dict[str, object]) -> None:
            self.billing[max(day, start)].append((entity, row))

        on(customer.created, "customers", customer.row())
        for it in customer.items:
            row = {"customer_id": customer.customer_id, **it.row()}
            if it.end is not None and it.end > start:
                on(
                    it.start,
                    "subscriptions",
                    {**row, "end_date": "", "cancel_at": "", "status": "active"},
                )
                on(it.end, "subscriptions", row)
            else:
                on(it.start, "subscriptions", row)

    def add_day(self, day: date, files: DayFiles) -> None:
        """Everything this customer's files say on ``day``."""
        for entity, row in self.billing.get(day, ()):
            files.add(entity, row)
        self.add_invoice(day, files)
        for opened in range(1, TICKET_MAX_OPEN_DAYS + 1):
            ticket = self.ticket_opened(day - timedelta(days=opened))
            if ticket is not None and ticket.closed == day:
                files.add("tickets", self.ticket_row(ticket, closed=True))
        self._tickets.pop(day - timedelta(days=TICKET_MAX_OPEN_DAYS), None)
        if not self.alive(day):
            return
        if self.survey_day(day):
            self.add_survey(day, files)
        rng = self._stream(DAY_STREAM, day)
        ticket = self._tickets[day] = self.draw_ticket(rng, day)
        if ticket is not None:
            files.add("tickets", self.ticket_row(ticket, closed=False))
        self.add_usage(rng, day, files)

    def alive(self, day: date) -> bool:
        """From its creation to its churn: every item starts on the first day and, for a
        churning customer, all end on the last, so it has active items exactly then."""
        customer = self.customer
        return customer.created <= day and (customer.churn_day is None or day < customer.churn_day)

    def survey_day(self, day: date) -> bool:
        """Surveys go out every SURVEY_INTERVAL_DAYS, and to an account going quiet."""
        if self.config.day_number(day) % SURVEY_INTERVAL_DAYS == self.survey_offset:
            return True
        churn_day = self.customer.churn_day
        return churn_day is not None and day == churn_day - timedelta(
            days=CHECK_IN_DAYS_BEFORE_CHURN
        )

    def adoption(self, day: date) -> float:
        """Share of licensed seats that are real users; it falls ahead of churn, and a
        contracting customer's slides by 30 % over the planned window."""
        customer = self.customer
        base = {"expanding": 0.85, "stable": 0.72, "contracting": 0.5, "churning": 0.65}
        level = base[customer.kind] * self.adoption_factor
        if customer.churn_day is not None:
            level *= np.clip((customer.churn_day - day).days / CHURN_DECLINE_DAYS, 0.08, 1.0)
        if customer.kind == "contracting":
            level *= 1 - 0.3 * min(1.0, self.config.day_number(day) / max(1, self.config.days - 1))
        return float(np.clip(level, 0.02, 1))

    @staticmethod
    def daily_activity(day: date) -> float:
        """Share of users active on a given day: quiet weekends, August and December."""
        weekday = 0.15 if day.weekday() >= 5 else 0.6
        return weekday * (0.8 if day.month in (8, 12) else 1.0)

    def add_usage(self, rng: np.random.Generator, day: date, files: DayFiles) -> None:
        active_items = [it for it in self.customer.items if it.active_on(day)]
        seats = max((it.quantity for it in active_items if it.product.unit == "seat"), default=0)
        if seats == 0:
            return
        pool = max(1, round(seats * self.adoption(day)))
        users = int(rng.binomial(pool, self.daily_activity(day)))
        count = users + int(rng.poisson(0.6 * users))
        if count == 0:
            return
        products = [it.product for it in active_items]
        if self.declining(day):
            products = products[:1]  # the add-ons are abandoned first
        user_ids = rng.integers(0, pool, count).tolist()
        chosen = rng.integers(0, len(products), count).tolist()
        seconds = np.sort(rng.integers(0, 86_400, count)).tolist()
        quantities = (rng.poisson(2.0, count) + 1).tolist()
        customer_id = self.customer.customer_id
        prefix = f"E{self.index:05d}{self.config.day_number(day):04d}"
        midnight = day.isoformat()
        columns = files.events
        columns["event_id"].extend(f"{prefix}{n:05d}" for n in range(count))
        columns["customer_id"].extend([customer_id] * count)
        columns["user_id"].extend(f"{customer_id}-U{user:04d}" for user in user_ids)
        columns["product_id"].extend(products[c].product_id for c in chosen)
        columns["feature"].extend(
            FEATURES[products[c].product_id][(user + n) % len(FEATURES[products[c].product_id])]
            for n, (c, user) in enumerate(zip(chosen, user_ids, strict=True))
        )
        columns["occurred_at"].extend(
            f"{midnight}T{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}+00:00" for s in seconds
        )
        columns["quantity"].extend(quantities)

    def declining(self, day: date) -> bool:
        churn_day = self.customer.churn_day
        return churn_day is not None and 0 <= (churn_day - day).days < CHURN_DECLINE_DAYS

    def sentiment_mean(self, day: date) -> float:
        customer = self.customer
        base = {"expanding": 8.8, "stable": 7.6, "contracting": 6.0, "churning": 7.0}[customer.kind]
        if customer.churn_day is not None:
            until = (customer.churn_day - day).days
            if until < CHURN_DECLINE_DAYS * 1.5:
                base = 3.5
        return base

    def add_survey(self, day: date, files: DayFiles) -> None:
        rng = self._stream(SURVEY_STREAM, day)
        customer_id = self.customer.customer_id
        day_number = self.config.day_number(day)
        for seq in range(1, int(rng.poisson(1.5)) + 2):
            score = int(np.clip(round(rng.normal(self.sentiment_mean(day), 1.4)), 0, 10))
            comment = COMMENTS[min(score // 4, 2)] if rng.random() < 0.4 else ""
            files.add(
                "responses",
                {
                    "response_id": f"R{self.index:05d}-{day_number:04d}-{seq:02d}",
                    "customer_id": customer_id,
                    "user_id": f"{customer_id}-U{int(rng.integers(0, 50)):04d}",
                    "role": str(rng.choice(ROLES)),
                    "score": score,
                    "comment": comment,
                    "responded_at": f"{day.isoformat()}T{int(rng.integers(8, 18)):02d}:15:00Z",
                },
            )

    def troubled(self, day: date) -> bool:
        return self.customer.churn_day is not None and (self.customer.churn_day - day).days < 90

    def ticket_opened(self, day: date) -> Ticket | None:
        """The ticket opened on ``day``, if any: remembered while it can still close, drawn
        again from the day's stream when this run did not write that day."""
        if day in self._tickets:
            return self._tickets[day]
        if day < self.config.start_date or not self.alive(day):
            return None
        return self.draw_ticket(self._stream(DAY_STREAM, day), day)

    def draw_ticket(self, rng: np.random.Generator, day: date) -> Ticket | None:
        """The first draws of a customer's day: whether a ticket opens, and what it is."""
        troubled = self.troubled(day)
        if rng.random() >= (0.12 if troubled else 0.025):
            return None
        priority = (
            "urgent"
            if rng.random() < (0.4 if troubled else 0.04)
            else str(rng.choice(["low", "normal", "high"], p=[0.3, 0.55, 0.15]))
        )
        category = str(rng.choice(TICKET_CATEGORIES))
        open_days = (2, 10) if troubled else (1, 4) if priority == "urgent" else (1, 12)
        closed = day + timedelta(days=int(rng.integers(*open_days)))
        csat = int(np.clip(round(rng.normal(2.5 if troubled else 4.2, 0.8)), 1, 5))
        return Ticket(day, priority, category, closed, csat)

    def ticket_row(self, ticket: Ticket, closed: bool) -> dict[str, object]:
        return {
            "ticket_id": f"T{self.index:05d}-{self.config.day_number(ticket.opened):04d}",
            "customer_id": self.customer.customer_id,
            "opened_at": f"{ticket.opened.isoformat()}T10:30:00+00:00",
            "closed_at": f"{ticket.closed.isoformat()}T16:00:00+00:00" if closed else "",
            "priority": ticket.priority,
            "category": ticket.category,
            "csat": ticket.csat if closed else "",
        }

    def add_invoice(self, day: date, files: DayFiles) -> None:
        """A monthly invoice on the 1st, and its payment later that month (or never: half
        of a troubled customer's invoices stay open)."""
        month = day.replace(day=1)
        if self._invoice is None or self._invoice[0] != month:
            self._invoice = (month, self.invoice(month))
        invoice = self._invoice[1]
        if invoice is None:
            return
        row, paid = invoice
        if month == day:
            files.add("invoices", row)
        if paid == day:
            files.add("invoices", {**row, "paid_at": paid.isoformat(), "status": "paid"})

    def invoice(self, month: date) -> tuple[dict[str, object], date | None] | None:
        customer = self.customer
        if month < self.config.start_date or month < customer.created:
            return None
        active = [it for it in customer.items if it.active_on(month)]
        amount = sum(
            it.monthly_amount() * it.months_per_period
            for it in active
            if it.billing_period == "month" or it.start.month == month.month
        )
        if amount <= 0:
            return None
        row = {
            "invoice_id": f"INV-{customer.customer_id}-{month:%Y%m}",
            "customer_id": customer.customer_id,
            "issued_at": month.isoformat(),
            "due_at": (month + timedelta(days=30)).isoformat(),
            "paid_at": "",
            "amount": f"{amount:.2f}",
            "currency": active[0].currency,
            "status": "open",
        }
        rng = self._stream(INVOICE_STREAM, month)
        if self.troubled(month) and rng.random() < 0.5:
            return row, None
        return row, month + timedelta(days=int(rng.integers(*PAID_AFTER_DAYS)))


def plan_accounts(customers: Sequence[Customer], seed: int) -> None:
    """Make some customers buying centers of a few parent accounts (sets ``parent_id``).

    Large customers buy through several buying centers (departments, subsidiaries) and are
    sold to as one account. Land and expand: a parent account is a long-standing customer —
    one per CUSTOMERS_PER_PARENT_ACCOUNT customers, drawn from the earlier-created half,
    weighted by employees (big companies have more departments) — and BUYING_CENTER_SHARE
    of the customers are buying centers, each of a parent account created on or before it.
    Parents are never buying centers themselves, so chains are one level deep and cannot
    form a cycle. The draws come from a stream of their own: the customers' streams, and
    with them every other attribute, are the same as without accounts.
    """
    rng = np.random.default_rng([seed, ACCOUNT_STREAM])
    by_age = sorted(customers, key=lambda c: (c.created, c.customer_id))
    elders = by_age[: max(1, len(by_age) // 2)]
    employees = np.array([c.employees for c in elders], dtype=float)
    picked = rng.choice(
        len(elders),
        size=max(1, round(len(customers) / CUSTOMERS_PER_PARENT_ACCOUNT)),
        replace=False,
        p=employees / employees.sum(),
    )
    parents = [elders[position] for position in sorted(picked)]
    parent_ids = {p.customer_id for p in parents}
    oldest = min((p.created, p.customer_id) for p in parents)
    candidates = [
        c for c in by_age if c.customer_id not in parent_ids and (c.created, c.customer_id) > oldest
    ]
    size = min(len(candidates), round(BUYING_CENTER_SHARE * len(customers)))
    for position in sorted(rng.choice(len(candidates), size=size, replace=False)):
        child = candidates[position]
        older = [
            p for p in parents if (p.created, p.customer_id) < (child.created, child.customer_id)
        ]
        weights = np.array([p.employees for p in older], dtype=float)
        child.parent_id = older[int(rng.choice(len(older), p=weights / weights.sum()))].customer_id


def _spoil(files: DayFiles, config: GeneratorConfig) -> int:
    """Spoil a dose of the day's usage rows the way real exports go wrong; ingest must
    quarantine them."""
    if config.bad_row_rate <= 0 or files.event_count == 0:
        return 0
    rng = np.random.default_rng([config.seed, SPOILING_STREAM, config.day_number(files.day)])
    faults = [
        ("quantity", "n/a"),
        ("customer_id", "C99999"),
        ("occurred_at", "yesterday"),
        ("quantity", "-4"),
    ]
    positions = np.flatnonzero(rng.random(files.event_count) < config.bad_row_rate)
    for position in positions:
        column, value = faults[int(rng.integers(0, len(faults)))]
        files.events[column][position] = value
    return len(positions)


@dataclass(frozen=True)
class GenerationSummary:
    customers: int
    rows: int
    bad_rows: int
    start_date: date
    end_date: date
    # What was simulated, before it became files: tests check the marts against it.
    simulated: tuple[Customer, ...] = ()

    def accounts(self) -> dict[str, list[Customer]]:
        """Every account (the top of a parent chain) with its buying centers, itself included."""
        parent_of = {c.customer_id: c.parent_id for c in self.simulated}
        members: dict[str, list[Customer]] = defaultdict(list)
        for customer in self.simulated:
            top = customer.customer_id
            while parent_of.get(top):
                top = parent_of[top]
            members[top].append(customer)
        return dict(members)


def _simulations(config: GeneratorConfig) -> list[_CustomerSimulation]:
    """Every customer's plan: drawn in full before the first day is written."""
    sims = [_CustomerSimulation(index, config) for index in range(1, config.customer_count + 1)]
    plan_accounts([sim.customer for sim in sims], config.seed)
    for sim in sims:
        sim.plan()
    return sims


def _write_days(
    landing: Path, config: GeneratorConfig, first: date, last: date
) -> GenerationSummary:
    """Write the files of every day from ``first`` to ``last``, one day in memory at a time."""
    sims = _simulations(config)
    rows = spoiled = 0
    days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
    for day in tqdm(days, desc="writing landing files", unit="day", leave=False):
        files = DayFiles(day)
        if day == config.start_date:
            for product in PRODUCTS:
                files.add("products", product.row())
        for sim in sims:
            sim.add_day(day, files)
        spoiled += _spoil(files, config)
        files.write(landing, ENTITIES, config.gzip)
        rows += files.row_count()
    _write_manifest(landing, config, last)
    customers = tuple(sim.customer for sim in sims)
    return GenerationSummary(len(sims), rows, spoiled, first, last, customers)


def _write_manifest(landing: Path, config: GeneratorConfig, written_through: date) -> None:
    """Written after the day's files, and renamed into place: an append cut short leaves
    the previous manifest, and running it again rewrites the same files."""
    landing.mkdir(parents=True, exist_ok=True)
    manifest = {
        **asdict(config),
        "end_date": config.end_date.isoformat(),
        "written_through": written_through.isoformat(),
    }
    partial = landing / f"{MANIFEST}.part"
    partial.write_text(json.dumps(manifest, indent=2) + "\n")
    partial.replace(landing / MANIFEST)


def generate(
    landing: Path, config: GeneratorConfig, through: date | None = None
) -> GenerationSummary:
    """Write every landing file from the window's first day through ``through`` (default:
    its last day); the same config always writes the same bytes."""
    last = through or config.end_date
    if last < config.start_date:
        raise GenerationError(
            f"cannot write through {last}: the window starts on {config.start_date}"
        )
    return _write_days(landing, config, config.start_date, last)


def append_day(landing: Path, day: date) -> GenerationSummary:
    """Write one more day of the world generated into ``landing``: the files it would hold
    had it been generated through ``day`` at once."""
    path = landing / MANIFEST
    try:
        manifest = json.loads(path.read_text())
        written_through = date.fromisoformat(manifest.pop("written_through"))
        config = GeneratorConfig(
            **{**manifest, "end_date": date.fromisoformat(manifest["end_date"])}
        )
    except FileNotFoundError:
        raise GenerationError(
            f"{path} not found: generate a history before appending days"
        ) from None
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise GenerationError(
            f"{path} is not what generate writes ({type(error).__name__}: {error}): "
            "generate the history again"
        ) from None
    if day != written_through + timedelta(days=1):
        raise GenerationError(
            f"cannot append {day}: {landing} holds generated days through {written_through}, "
            f"so the next day is {written_through + timedelta(days=1)}"
        )
    return _write_days(landing, config, day, day)
