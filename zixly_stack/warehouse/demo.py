"""Deterministic demo data: a year of a 5-consultant service business.

Contract: :func:`generate` is pure -- the same ``seed`` and ``end`` give byte-identical
tables (one :class:`random.Random` drives everything, iteration orders are fixed). The
volumes are those of a small firm: 5 consultants, 40 clients, 80 projects, ~9,000 time
entries, monthly invoices with payments, ~500 support tickets, quarterly NPS surveys,
12 campaigns with ~300 leads, monthly custom metrics. Values respect every CHECK and
foreign key of ``services/warehouse/migrations``; ids are explicit and start at 1.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal

GENERATOR = "zixly-demo/1"
DEFAULT_SEED = 2025
DEFAULT_END = date(2025, 12, 31)

Value = str | int | bool | date | datetime | Decimal | None

TIERS = {"essentials": Decimal("490.00"), "professional": Decimal("1290.00"), "enterprise": Decimal("2990.00")}
CONSULTANTS = (
    ("maya.chen@zixly.example", "Maya Chen", "principal", "95.00", "220.00"),
    ("liam.okafor@zixly.example", "Liam Okafor", "senior consultant", "75.00", "180.00"),
    ("sofia.rossi@zixly.example", "Sofia Rossi", "consultant", "65.00", "160.00"),
    ("noah.patel@zixly.example", "Noah Patel", "consultant", "65.00", "160.00"),
    ("ava.nguyen@zixly.example", "Ava Nguyen", "junior consultant", "45.00", "120.00"),
)
PREFIXES = ("Harbour", "Summit", "Blue Gum", "Ironbark", "Coastal", "Northside", "Red Earth", "Wattle", "Granite",
            "Silver Lake", "Eastbank", "Kestrel", "Juniper", "Lighthouse", "Riverbend", "Southern Cross")
SUFFIXES = ("Dental", "Logistics", "Accounting", "Architects", "Physio", "Legal", "Bakery", "Engineering",
            "Realty", "Vet Clinic", "Builders", "Studio", "Wholesale", "Pharmacy", "Consulting", "Motors")
INDUSTRIES = {"Dental": "healthcare", "Physio": "healthcare", "Vet Clinic": "healthcare", "Pharmacy": "healthcare",
              "Logistics": "logistics", "Wholesale": "logistics", "Motors": "retail", "Bakery": "retail",
              "Accounting": "professional services", "Legal": "professional services",
              "Consulting": "professional services", "Architects": "construction", "Builders": "construction",
              "Engineering": "construction", "Realty": "real estate", "Studio": "creative"}
PROJECT_KINDS = ("Stack rollout", "Workflow automation", "Client portal", "Reporting dashboards", "Data migration",
                 "Support onboarding", "Marketing automation", "Document management", "Billing integration")
TASKS = ("workshop", "configuration", "workflow build", "testing", "documentation", "training", "data import",
         "client call", "review", "support follow-up")
CAMPAIGN_THEMES = ("Automation audit", "Self-hosting webinar", "Year-end reporting", "Dashboard demo day",
                   "Referral drive", "Newsletter", "Case study launch", "Partner event", "Search ads",
                   "LinkedIn series", "Trade show", "Spring offer")
CHANNELS_FOR_CAMPAIGN = ("email", "event", "email", "event", "referral", "email", "content", "event", "search",
                         "social", "event", "email")


@dataclass
class Table:
    """One table's rows, in column order."""

    name: str
    columns: tuple[str, ...]
    rows: list[tuple[Value, ...]] = field(default_factory=list)


@dataclass
class Dataset:
    """Every demo table, in load (foreign-key) order."""

    seed: int
    end: date
    tables: list[Table]

    def table(self, name: str) -> Table:
        """The table called *name*."""
        return next(t for t in self.tables if t.name == name)

    @property
    def row_count(self) -> int:
        """Rows over all tables."""
        return sum(len(t.rows) for t in self.tables)


def money(value: float | Decimal) -> Decimal:
    """Round to cents, half up."""
    return Decimal(str(value)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def days(start: date, end: date) -> Iterator[date]:
    """Every date from *start* to *end* inclusive."""
    d = start
    while d <= end:
        yield d
        d += timedelta(days=1)


def month_starts(start: date, end: date) -> list[date]:
    """First day of every month touching [start, end]."""
    out, d = [], start.replace(day=1)
    while d <= end:
        out.append(d)
        d = (d.replace(day=28) + timedelta(days=4)).replace(day=1)
    return out


def month_end(d: date) -> date:
    """Last day of *d*'s month."""
    return (d.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)


class _Gen:
    """Builds the dataset table by table from one RNG."""

    def __init__(self, seed: int, end: date) -> None:
        self.rng = random.Random(seed)
        self.end = end
        self.start = end - timedelta(days=364)
        self.clients: list[tuple[Value, ...]] = []
        self.projects: list[tuple[Value, ...]] = []

    def consultants(self) -> Table:
        t = Table("consultants", ("id", "email", "full_name", "role", "hourly_cost", "default_rate",
                                  "weekly_capacity_hours", "active", "started_on"))
        for i, (email, name, role, cost, rate) in enumerate(CONSULTANTS, 1):
            started = self.start - timedelta(days=self.rng.randint(200, 1500))
            t.rows.append((i, email, name, role, Decimal(cost), Decimal(rate), Decimal("40.00"), True, started))
        return t

    def clients_table(self) -> Table:
        t = Table("clients", ("id", "external_ref", "name", "industry", "tier", "status", "country",
                              "contact_email", "onboarded_on", "churned_on"))
        pairs = [(p, s) for p in PREFIXES for s in SUFFIXES]
        self.rng.shuffle(pairs)
        for i in range(1, 41):
            prefix, suffix = pairs[i - 1]
            name = f"{prefix} {suffix}"
            tier = self.rng.choices(list(TIERS), weights=(50, 35, 15))[0]
            onboarded = self.start - timedelta(days=self.rng.randint(30, 900)) if i <= 28 else (
                self.start + timedelta(days=self.rng.randint(0, 300)))
            status, churned = "active", None
            roll = self.rng.random()
            if roll < 0.1:
                status = "churned"
                churned = max(onboarded, self.start) + timedelta(days=self.rng.randint(40, 200))
                churned = min(churned, self.end)
            elif roll < 0.15:
                status = "paused"
            slug = name.lower().replace(" ", "")
            t.rows.append((i, f"demo-client-{i}", name, INDUSTRIES[suffix], tier, status, "AU",
                           f"hello@{slug}.example", onboarded, churned))
        self.clients = t.rows
        return t

    def projects_table(self) -> Table:
        t = Table("projects", ("id", "external_ref", "client_id", "name", "tier", "status", "start_date", "due_date",
                               "completed_on", "budget_hours", "budget_amount"))
        # 40 clients x 2 projects = 80, moved around so some clients get 1 or 3.
        counts = [2] * 40
        for _ in range(12):
            a, b = self.rng.randrange(40), self.rng.randrange(40)
            if counts[a] > 1 and counts[b] < 3:
                counts[a] -= 1
                counts[b] += 1
        pid = 0
        for c, n in zip(self.clients, counts, strict=True):
            cid, tier, onboarded, churned = c[0], c[4], c[8], c[9]
            assert isinstance(onboarded, date)
            for k in range(n):
                pid += 1
                earliest = max(onboarded, self.start - timedelta(days=90))
                latest = churned if isinstance(churned, date) else self.end - timedelta(days=20)
                span = max((latest - earliest).days, 1)
                start = earliest + timedelta(days=self.rng.randint(0, span) if k else self.rng.randint(0, span // 3))
                length = self.rng.randint(30, 180)
                due = start + timedelta(days=length)
                budget_h = money(self.rng.choice((40, 60, 80, 120, 160, 240)))
                rate = Decimal("170.00")
                if due < self.end - timedelta(days=10):
                    status = self.rng.choices(("completed", "cancelled"), weights=(92, 8))[0]
                    completed: date | None = due + timedelta(days=self.rng.randint(-10, 25)) \
                        if status == "completed" else None
                    if completed is not None:
                        completed = min(max(completed, start), self.end)
                elif start > self.end:
                    status, completed = "planned", None
                else:
                    status = self.rng.choices(("active", "on_hold"), weights=(88, 12))[0]
                    completed = None
                if isinstance(churned, date) and status in ("active", "on_hold", "planned"):
                    status = "cancelled"
                name = f"{self.rng.choice(PROJECT_KINDS)} {k + 1}"
                t.rows.append((pid, f"demo-project-{pid}", cid, name, tier, status, start, due, completed,
                               budget_h, money(budget_h * rate)))
        self.projects = t.rows
        return t

    def _project_window(self, p: tuple[Value, ...]) -> tuple[date, date]:
        start, due, completed, status = p[6], p[7], p[8], p[5]
        assert isinstance(start, date) and isinstance(due, date)
        if isinstance(completed, date):
            return start, completed
        if status == "cancelled":
            return start, start + (due - start) / 2
        return start, self.end

    def time_entries(self, consultants: Table) -> Table:
        t = Table("time_entries", ("id", "external_ref", "consultant_id", "project_id", "work_date", "hours",
                                   "billable", "hourly_rate", "description", "invoiceninja_task_id", "synced_at"))
        windows = [(p, *self._project_window(p)) for p in self.projects]
        tid = 0
        for cons in consultants.rows:
            cid, rate = cons[0], cons[5]
            assert isinstance(rate, Decimal)
            leave: set[date] = set()
            for _ in range(4):
                first = self.start + timedelta(days=self.rng.randint(0, 350))
                leave.update(first + timedelta(days=k) for k in range(5))
            focus = self.rng.sample(range(len(windows)), 30)
            for d in days(self.start, self.end):
                if d.weekday() >= 5 or d in leave:
                    continue
                live = [windows[i][0] for i in focus if windows[i][1] <= d <= windows[i][2]]
                if not live:
                    live = [w[0] for w in windows if w[1] <= d <= w[2]][:6]
                if not live:
                    continue
                for _ in range(self.rng.randint(6, 9)):
                    tid += 1
                    p = self.rng.choice(live[:4])
                    hours = money(self.rng.choice((0.25, 0.5, 0.75, 1.0, 1.0, 1.25, 1.5)))
                    billable = self.rng.random() < 0.8
                    desc = self.rng.choice(TASKS)
                    synced = datetime.combine(d + timedelta(days=1), time(2, 0), tzinfo=UTC) \
                        if billable else None
                    t.rows.append((tid, f"demo-time-{tid}", cid, p[0], d, hours, billable,
                                   rate if billable else Decimal("0.00"), desc,
                                   f"demo-task-{tid}" if billable else None, synced))
        return t

    def invoices_payments(self, entries: Table) -> tuple[Table, Table]:
        inv = Table("invoices", ("id", "external_ref", "number", "client_id", "project_id", "issued_on", "due_on",
                                 "currency", "amount_net", "tax", "status", "paid_on"))
        pay = Table("payments", ("id", "external_ref", "invoice_id", "paid_on", "amount", "method"))
        project_client = {p[0]: p[2] for p in self.projects}
        billed: dict[tuple[Value, date], Decimal] = {}
        for e in entries.rows:
            if e[6]:
                d = e[4]
                assert isinstance(d, date) and isinstance(e[5], Decimal) and isinstance(e[7], Decimal)
                key = (project_client[e[3]], d.replace(day=1))
                billed[key] = billed.get(key, Decimal("0")) + e[5] * e[7]
        iid = pay_id = 0
        for m in month_starts(self.start, self.end):
            for c in self.clients:
                cid, tier, onboarded, churned = c[0], c[4], c[8], c[9]
                assert isinstance(onboarded, date) and isinstance(tier, str)
                if onboarded > month_end(m) or (isinstance(churned, date) and churned < m):
                    continue
                net = money(TIERS[tier] + billed.get((cid, m), Decimal("0")))
                iid += 1
                issued = month_end(m)
                due = issued + timedelta(days=30 if tier == "enterprise" else 14)
                paid_on: date | None = issued + timedelta(days=int(self.rng.triangular(2, 60, 12)))
                if self.rng.random() < 0.03:
                    paid_on = None
                if paid_on is not None and paid_on > self.end:
                    paid_on = None
                status = "paid" if paid_on else ("overdue" if due < self.end else "sent")
                inv.rows.append((iid, f"demo-invoice-{iid}", f"ZX-{issued:%Y%m}-{iid:04d}", cid, None, issued, due,
                                 "AUD", net, money(net * Decimal("0.10")), status, paid_on))
                if paid_on is not None:
                    total = net + money(net * Decimal("0.10"))
                    method = self.rng.choices(("bank_transfer", "card", "direct_debit"), weights=(60, 25, 15))[0]
                    pay_id += 1
                    pay.rows.append((pay_id, f"demo-payment-{pay_id}", iid, paid_on, money(total), method))
        return inv, pay

    def tickets(self) -> Table:
        t = Table("support_tickets", ("id", "external_ref", "client_id", "subject", "channel", "priority", "status",
                                      "opened_at", "first_response_minutes", "resolved_at", "resolution"))
        per_week = {"essentials": 0.25, "professional": 0.35, "enterprise": 0.6}
        subjects = ("Login problem", "Workflow failed", "New user request", "Invoice question", "Dashboard wrong",
                    "File sync issue", "Email not sent", "Feature request", "Password reset", "Slow page")
        tid = 0
        for d in days(self.start, self.end):
            if d.weekday() >= 5:
                continue
            for c in self.clients:
                cid, tier, onboarded, churned = c[0], c[4], c[8], c[9]
                assert isinstance(tier, str) and isinstance(onboarded, date)
                if onboarded > d or (isinstance(churned, date) and churned < d):
                    continue
                if self.rng.random() >= per_week[tier] / 5:
                    continue
                tid += 1
                opened = datetime.combine(d, time(self.rng.randint(8, 17), self.rng.randint(0, 59)),
                                          tzinfo=UTC)
                priority = self.rng.choices(("low", "normal", "high", "urgent"), weights=(20, 55, 20, 5))[0]
                scale = {"low": 240, "normal": 120, "high": 45, "urgent": 15}[priority]
                first = int(self.rng.expovariate(1 / scale)) + 2
                channel = self.rng.choices(("email", "chat", "phone", "portal"), weights=(45, 30, 10, 15))[0]
                resolved = opened + timedelta(minutes=first + int(self.rng.expovariate(1 / (scale * 8))))
                if resolved.date() > self.end or self.rng.random() < 0.03:
                    status, resolved_at, resolution = "open", None, None
                else:
                    status, resolved_at = self.rng.choices(("resolved", "closed"), weights=(30, 70))[0], resolved
                    resolution = self.rng.choice(("fixed", "answered", "configuration change", "duplicate",
                                                  "won't fix"))
                t.rows.append((tid, f"demo-ticket-{tid}", cid, self.rng.choice(subjects), channel, priority, status,
                               opened, first, resolved_at, resolution))
        return t

    def nps(self) -> Table:
        t = Table("nps_responses", ("id", "external_ref", "client_id", "responded_on", "score", "comment"))
        nid = 0
        for q in range(4):
            survey = self.start + timedelta(days=80 + 91 * q)
            for c in self.clients:
                onboarded, churned = c[8], c[9]
                assert isinstance(onboarded, date)
                if onboarded > survey or (isinstance(churned, date) and churned < survey):
                    continue
                if self.rng.random() > 0.65:
                    continue
                nid += 1
                score = min(10, max(0, round(self.rng.gauss(8.3 if c[5] != "churned" else 5.5, 1.6))))
                comment = "" if self.rng.random() < 0.5 else self.rng.choice(
                    ("Great support", "Dashboards save us hours", "Slow reply once", "Love the automations",
                     "Pricing is steep", "Very responsive team"))
                t.rows.append((nid, f"demo-nps-{nid}", c[0], min(survey + timedelta(days=self.rng.randint(0, 10)),
                                                                  self.end), score, comment))
        return t

    def campaigns_leads(self) -> tuple[Table, Table]:
        camp = Table("campaigns", ("id", "external_ref", "name", "channel", "started_on", "ended_on", "budget"))
        for i, (theme, channel) in enumerate(zip(CAMPAIGN_THEMES, CHANNELS_FOR_CAMPAIGN, strict=True), 1):
            started = self.start + timedelta(days=30 * (i - 1) + self.rng.randint(0, 10))
            ended = min(started + timedelta(days=self.rng.randint(14, 45)), self.end)
            camp.rows.append((i, f"demo-campaign-{i}", f"{theme} {started:%b %Y}", channel, started, ended,
                              money(self.rng.choice((0, 500, 1200, 2500, 4000)))))
        leads = Table("leads", ("id", "external_ref", "campaign_id", "company", "email", "source", "stage",
                                "estimated_value", "created_on", "stage_changed_on", "converted_on", "client_id"))
        new_clients = [c for c in self.clients if isinstance(c[8], date) and c[8] >= self.start]
        lid = 0
        for c in new_clients:  # every client won this year came from a lead
            lid += 1
            onboarded = c[8]
            assert isinstance(onboarded, date)
            created = max(onboarded - timedelta(days=self.rng.randint(20, 90)), self.start)
            campaign = self._campaign_at(camp, created)
            leads.rows.append((lid, f"demo-lead-{lid}", campaign, c[2], c[7], "campaign" if campaign else "referral",
                               "won", money(self.rng.choice((6000, 12000, 18000, 30000))), created, onboarded,
                               onboarded, c[0]))
        while lid < 300:
            lid += 1
            created = self.start + timedelta(days=self.rng.randint(0, 350))
            campaign = self._campaign_at(camp, created) if self.rng.random() < 0.6 else None
            source = "campaign" if campaign else self.rng.choice(("website", "referral", "outbound", "partner",
                                                                  "event"))
            stage = self.rng.choices(("new", "contacted", "qualified", "proposal", "lost"),
                                     weights=(15, 25, 20, 10, 30))[0]
            changed = min(created + timedelta(days=self.rng.randint(0, 40)), self.end)
            company = f"{self.rng.choice(PREFIXES)} {self.rng.choice(SUFFIXES)} {lid}"
            leads.rows.append((lid, f"demo-lead-{lid}", campaign, company,
                               f"contact{lid}@lead.example", source, stage,
                               money(self.rng.choice((3000, 6000, 12000, 18000, 30000))), created,
                               changed if stage != "new" else None, None, None))
        return camp, leads

    @staticmethod
    def _campaign_at(camp: Table, d: date) -> int | None:
        for row in camp.rows:
            start, end = row[4], row[5]
            assert isinstance(start, date) and isinstance(end, date)
            if start <= d <= end:
                return int(str(row[0]))
        return None

    def metrics(self, entries: Table, consultants: Table, invoices: Table) -> Table:
        t = Table("custom_metrics", ("id", "name", "value", "unit", "period", "period_start", "dimension"))
        hours: dict[tuple[Value, date], Decimal] = {}
        for e in entries.rows:
            d = e[4]
            assert isinstance(d, date) and isinstance(e[5], Decimal)
            if e[6]:
                key = (e[2], d.replace(day=1))
                hours[key] = hours.get(key, Decimal("0")) + e[5]
        mid = 0
        for m in month_starts(self.start, self.end):
            workdays = sum(1 for d in days(m, min(month_end(m), self.end)) if d.weekday() < 5)
            for cons in consultants.rows:
                mid += 1
                capacity = Decimal(workdays * 8)
                util = (hours.get((cons[0], m), Decimal("0")) / capacity * 100) if capacity else Decimal("0")
                t.rows.append((mid, "billable_utilisation", util.quantize(Decimal("0.0001")), "%", "month", m,
                               str(cons[2])))
            mrr = Decimal("0")
            for r in invoices.rows:
                if isinstance(r[5], date) and r[5].replace(day=1) == m and isinstance(r[8], Decimal):
                    mrr += r[8]
            for name, value, unit in (("monthly_revenue", mrr, "AUD"),
                                      ("operating_costs", money(self.rng.uniform(38000, 46000)), "AUD"),
                                      ("utilisation_target", Decimal("75"), "%")):
                mid += 1
                t.rows.append((mid, name, Decimal(value).quantize(Decimal("0.0001")), unit, "month", m, ""))
        return t


def generate(seed: int = DEFAULT_SEED, end: date = DEFAULT_END) -> Dataset:
    """The demo dataset for *seed*: twelve months ending on *end* (module contract)."""
    g = _Gen(seed, end)
    consultants = g.consultants()
    clients = g.clients_table()
    projects = g.projects_table()
    entries = g.time_entries(consultants)
    invoices, payments = g.invoices_payments(entries)
    tickets = g.tickets()
    nps = g.nps()
    campaigns, leads = g.campaigns_leads()
    metrics = g.metrics(entries, consultants, invoices)
    tables = [consultants, clients, projects, entries, invoices, payments, tickets, nps, campaigns, leads, metrics]
    return Dataset(seed, end, tables)
