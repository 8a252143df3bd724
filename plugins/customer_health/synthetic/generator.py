"""A deterministic generator of landing files that behave like a real B2B SaaS customer base.

Demos, tests and benchmarks all need data whose health and revenue metrics mean something:
customers who expand, contract and churn, with churn preceded by falling usage, worse NPS
and more urgent tickets. Every customer draws from its own seeded random stream, and the
account structure (which customers are buying centers of which parent account) from one
more, so the output depends only on (seed, scale factor, days, end date), not on iteration
order.

Billing files are daily change logs: the first day states everything known so far, later
days restate only the customers, subscription items, invoices and tickets that changed.
"""

from __future__ import annotations

import csv
import gzip
import io
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
from tqdm import tqdm

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
ACCOUNT_STREAM = 0xACC  # with the seed, names the account structure's own random stream


@dataclass(frozen=True)
class GeneratorConfig:
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


class LandingWriter:
    """Collects rows per (entity, day) and writes one file per entity per day."""

    def __init__(self, config: GeneratorConfig) -> None:
        self.config = config
        self.rows: dict[tuple[str, date], list[dict[str, object]]] = defaultdict(list)

    def add(self, entity: str, day: date, row: dict[str, object]) -> None:
        day = max(day, self.config.start_date)
        if day <= self.config.end_date:
            self.rows[(entity, day)].append(row)

    def write(self, landing: Path, entities: Sequence[Entity]) -> int:
        written = 0
        days = [self.config.start_date + timedelta(d) for d in range(self.config.days)]
        for day in tqdm(days, desc="writing landing files", unit="day", leave=False):
            for entity in entities:
                rows = self.rows.pop((entity.name, day), [])
                self._write_file(landing, entity, day, rows)
                written += len(rows)
        return written

    def _write_file(self, landing: Path, entity: Entity, day: date, rows: list) -> None:
        folder = landing / entity.source / day.isoformat()
        folder.mkdir(parents=True, exist_ok=True)
        text = io.StringIO()
        writer = csv.DictWriter(text, fieldnames=entity.column_names, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        data = text.getvalue().encode("utf-8")
        if self.config.gzip:
            # mtime=0 keeps compressed output byte-identical across runs.
            (folder / f"{entity.name}.csv.gz").write_bytes(gzip.compress(data, mtime=0))
        else:
            (folder / f"{entity.name}.csv").write_bytes(data)


def _month_starts(start: date, end: date) -> Iterable[date]:
    month = start.replace(day=1)
    while month <= end:
        if month >= start:
            yield month
        month = (month.replace(day=28) + timedelta(days=4)).replace(day=1)


class _CustomerSimulation:
    """Everything one customer does over the window, from its own random stream."""

    def __init__(self, index: int, config: GeneratorConfig, writer: LandingWriter) -> None:
        self.index = index
        self.config = config
        self.writer = writer
        self.rng = np.random.default_rng([config.seed, index])
        self.item_seq = 0

    def _new_item_id(self) -> str:
        self.item_seq += 1
        return f"SI-{self.index:05d}-{self.item_seq:03d}"

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
        # Parents are planned by plan_accounts from a stream of their own. Customers after
        # the tenth used to draw a parent here (a 5 % coin, then a number on heads); the
        # draws stay so that every attribute drawn after them keeps its value.
        if self.index > 10 and rng.random() < 0.05:
            rng.integers(1, self.index)
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

    def emit_billing(self, customer: Customer) -> None:
        self.writer.add("customers", customer.created, customer.row())
        for it in customer.items:
            row = {"customer_id": customer.customer_id, **it.row()}
            if it.end is not None and it.end > self.config.start_date:
                self.writer.add(
                    "subscriptions",
                    it.start,
                    {**row, "end_date": "", "cancel_at": "", "status": "active"},
                )
                self.writer.add("subscriptions", it.end, row)
            else:
                self.writer.add("subscriptions", it.start, row)

    def adoption(self, customer: Customer, days: list[date]) -> np.ndarray:
        """Share of licensed seats that are real users; it falls ahead of churn."""
        base = {"expanding": 0.85, "stable": 0.72, "contracting": 0.5, "churning": 0.65}
        level = np.full(len(days), base[customer.kind] * self.rng.uniform(0.85, 1.1))
        if customer.churn_day is not None:
            until = np.array([(customer.churn_day - d).days for d in days])
            level *= np.clip(until / CHURN_DECLINE_DAYS, 0.08, 1.0)
        if customer.kind == "contracting":
            level *= np.linspace(1.0, 0.7, len(days))
        return np.clip(level, 0.02, 1)

    @staticmethod
    def daily_activity(days: list[date]) -> np.ndarray:
        """Share of users active on a given day: quiet weekends, August and December."""
        weekday = np.array([0.15 if d.weekday() >= 5 else 0.6 for d in days])
        season = np.array([0.8 if d.month in (8, 12) else 1.0 for d in days])
        return weekday * season

    def emit_usage(self, customer: Customer, days: list[date]) -> None:
        rng = self.rng
        active_items = [[it for it in customer.items if it.active_on(d)] for d in days]
        seats = np.array(
            [
                max((it.quantity for it in items if it.product.unit == "seat"), default=0)
                for items in active_items
            ]
        )
        pool = np.where(
            seats > 0, np.maximum(1, np.round(seats * self.adoption(customer, days))), 0
        )
        pool = pool.astype(int)
        users = rng.binomial(pool, self.daily_activity(days))
        extra = rng.poisson(0.6 * users)
        for position, day in enumerate(days):
            count = int(users[position] + extra[position])
            if count == 0 or customer.created > day:
                continue
            products = [it.product for it in active_items[position]]
            if self.declining(customer, day):
                products = products[:1]  # the add-ons are abandoned first
            user_ids = rng.integers(0, pool[position], count)
            chosen = rng.integers(0, len(products), count)
            seconds = np.sort(rng.integers(0, 86_400, count))
            quantities = rng.poisson(2.0, count) + 1
            midnight = datetime.combine(day, datetime.min.time(), tzinfo=UTC)
            day_number = (day - self.config.start_date).days
            for n in range(count):
                product = products[chosen[n]]
                features = FEATURES[product.product_id]
                self.writer.add(
                    "events",
                    day,
                    {
                        "event_id": f"E{self.index:05d}{day_number:04d}{n:05d}",
                        "customer_id": customer.customer_id,
                        "user_id": f"{customer.customer_id}-U{int(user_ids[n]):04d}",
                        "product_id": product.product_id,
                        "feature": features[(user_ids[n] + n) % len(features)],
                        "occurred_at": (midnight + timedelta(seconds=int(seconds[n]))).isoformat(),
                        "quantity": int(quantities[n]),
                    },
                )

    @staticmethod
    def declining(customer: Customer, day: date) -> bool:
        return customer.churn_day is not None and 0 <= (customer.churn_day - day).days < (
            CHURN_DECLINE_DAYS
        )

    def sentiment_mean(self, customer: Customer, day: date) -> float:
        base = {"expanding": 8.8, "stable": 7.6, "contracting": 6.0, "churning": 7.0}[customer.kind]
        if customer.churn_day is not None:
            until = (customer.churn_day - day).days
            if until < CHURN_DECLINE_DAYS * 1.5:
                base = 3.5
        return base

    def emit_nps(self, customer: Customer, days: list[date]) -> None:
        rng = self.rng
        offset = int(rng.integers(0, 90))
        seq = 0
        survey_days = list(range(offset, len(days), 90))
        if customer.churn_day is not None:
            # Customer success checks in on an account going quiet, six weeks before it leaves.
            check_in = (customer.churn_day - timedelta(days=45) - days[0]).days
            if 0 <= check_in < len(days):
                survey_days = sorted({*survey_days, check_in})
        for position in survey_days:
            day = days[position]
            if day < customer.created or (customer.churn_day and day >= customer.churn_day):
                continue
            for _ in range(int(rng.poisson(1.5)) + 1):
                seq += 1
                score = int(
                    np.clip(round(rng.normal(self.sentiment_mean(customer, day), 1.4)), 0, 10)
                )
                comment = COMMENTS[min(score // 4, 2)] if rng.random() < 0.4 else ""
                self.writer.add(
                    "responses",
                    day,
                    {
                        "response_id": f"R{self.index:05d}-{seq:03d}",
                        "customer_id": customer.customer_id,
                        "user_id": f"{customer.customer_id}-U{int(rng.integers(0, 50)):04d}",
                        "role": str(rng.choice(ROLES)),
                        "score": score,
                        "comment": comment,
                        "responded_at": f"{day.isoformat()}T{int(rng.integers(8, 18)):02d}:15:00Z",
                    },
                )

    def emit_tickets(self, customer: Customer, days: list[date]) -> None:
        rng = self.rng
        seq = 0
        for day in days:
            if day < customer.created or (customer.churn_day and day >= customer.churn_day):
                continue
            troubled = customer.churn_day is not None and (customer.churn_day - day).days < 90
            if rng.random() >= (0.12 if troubled else 0.025):
                continue
            seq += 1
            urgent_share = 0.4 if troubled else 0.04
            priority = (
                "urgent"
                if rng.random() < urgent_share
                else str(rng.choice(["low", "normal", "high"], p=[0.3, 0.55, 0.15]))
            )
            row = {
                "ticket_id": f"T{self.index:05d}-{seq:04d}",
                "customer_id": customer.customer_id,
                "opened_at": f"{day.isoformat()}T10:30:00+00:00",
                "closed_at": "",
                "priority": priority,
                "category": str(rng.choice(TICKET_CATEGORIES)),
                "csat": "",
            }
            self.writer.add("tickets", day, row)
            open_days = (2, 10) if troubled else (1, 4) if priority == "urgent" else (1, 12)
            closed = day + timedelta(days=int(rng.integers(*open_days)))
            csat = int(np.clip(round(rng.normal(2.5 if troubled else 4.2, 0.8)), 1, 5))
            self.writer.add(
                "tickets",
                closed,
                {**row, "closed_at": f"{closed.isoformat()}T16:00:00+00:00", "csat": csat},
            )

    def emit_invoices(self, customer: Customer) -> None:
        rng = self.rng
        for month in _month_starts(
            max(customer.created, self.config.start_date), self.config.end_date
        ):
            active = [it for it in customer.items if it.active_on(month)]
            amount = sum(
                it.monthly_amount() * it.months_per_period
                for it in active
                if it.billing_period == "month" or it.start.month == month.month
            )
            if amount <= 0:
                continue
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
            self.writer.add("invoices", month, row)
            troubled = customer.churn_day is not None and (customer.churn_day - month).days < 90
            if troubled and rng.random() < 0.5:
                continue
            paid = month + timedelta(days=int(rng.integers(2, 28)))
            self.writer.add(
                "invoices", paid, {**row, "paid_at": paid.isoformat(), "status": "paid"}
            )


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


def _corrupt(writer: LandingWriter, config: GeneratorConfig) -> int:
    """Spoil a dose of usage rows the way real exports go wrong; ingest must quarantine them."""
    if config.bad_row_rate <= 0:
        return 0
    rng = np.random.default_rng([config.seed, 999_999])
    spoiled = 0
    faults = [
        ("quantity", "n/a"),
        ("customer_id", "C99999"),
        ("occurred_at", "yesterday"),
        ("quantity", "-4"),
    ]
    for (entity, _day), rows in writer.rows.items():
        if entity != "events":
            continue
        for position in np.flatnonzero(rng.random(len(rows)) < config.bad_row_rate):
            column, value = faults[int(rng.integers(0, len(faults)))]
            rows[position] = {**rows[position], column: value}
            spoiled += 1
    return spoiled


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


def generate(landing: Path, config: GeneratorConfig) -> GenerationSummary:
    """Write every landing file for the window; the same config always writes the same bytes."""
    writer = LandingWriter(config)
    days = [config.start_date + timedelta(d) for d in range(config.days)]
    for product in PRODUCTS:
        writer.add("products", config.start_date, product.row())
    sims = [
        _CustomerSimulation(index, config, writer) for index in range(1, config.customer_count + 1)
    ]
    simulated = [sim.build_customer() for sim in sims]
    plan_accounts(simulated, config.seed)
    for sim, customer in tqdm(
        zip(sims, simulated, strict=True),
        total=len(sims),
        desc="simulating customers",
        unit="customer",
        leave=False,
    ):
        sim.build_items(customer)
        sim.emit_billing(customer)
        sim.emit_usage(customer, days)
        sim.emit_nps(customer, days)
        sim.emit_tickets(customer, days)
        sim.emit_invoices(customer)
    bad = _corrupt(writer, config)
    rows = writer.write(landing, ENTITIES)
    return GenerationSummary(
        config.customer_count, rows, bad, config.start_date, config.end_date, tuple(simulated)
    )
