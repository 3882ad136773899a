"""Prometheus metrics (OPS-1): the metric families, the per-transaction tally that counts
what a unit of work wrote once it commits, and the registry that `/metrics` serves.

With several server processes (`serve --workers N`), `serve` points
``PROMETHEUS_MULTIPROC_DIR`` at an empty folder before it starts the workers, and
prometheus-client then keeps each process's values in files there; `registry()` reads them
all with its `MultiProcessCollector`. Without that variable the values live in this process.

What is counted where (domain and services stay free of it):

- HTTP requests and their latency: the ASGI middleware (`entrypoints/api/observe.py`);
- call decisions and CDR imports: the API routes that see the answer and the import report;
- ledger entries by kind, emails queued, sent and failed, recharges by outcome: the
  repositories that write them (`adapters/db`), through the unit of work's `Tally`, so a
  rolled-back transaction counts nothing;
- the outbox's pending depth: read from the database at scrape time (`OutboxDepth`);
- due-work rounds and leadership (OPS-3): the server's background loop.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from sqlalchemy import Engine, func, select

from commcredits.services.cdrs import CdrReport

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

HTTP_REQUESTS = Counter(
    "commcredits_http_requests", "HTTP requests answered, by route template and status.",
    ["method", "route", "status"],
)
HTTP_LATENCY = Histogram(
    "commcredits_http_request_duration_seconds", "Time to answer an HTTP request.",
    ["method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
CALL_DECISIONS = Counter(
    "commcredits_call_decisions", "Call authorizations answered, by decision and reason.",
    ["decision", "reason"],
)
CDRS = Counter(
    "commcredits_cdrs", "CDR records imported, by outcome (rated, duplicate, rejected).",
    ["outcome"],
)
RECHARGES = Counter(
    "commcredits_recharges", "Auto-recharge requests closed, by outcome.", ["outcome"],
)
EMAILS = Counter(
    "commcredits_emails", "Outbox emails, by event (queued, sent, failed).", ["event"],
)
LEDGER_ENTRIES = Counter(
    "commcredits_ledger_entries", "Ledger entries written, by kind.", ["kind"],
)
DUE_WORK_RUNS = Counter(
    "commcredits_due_work_runs", "Rounds of due work run by the server's background loop.",
)
LEADER = Gauge(
    "commcredits_due_work_leader", "1 while this process leads the due work (OPS-3).",
    multiprocess_mode="livesum",
)


def count_cdrs(report: CdrReport) -> None:
    """An import's records by outcome (the API route and `commcredits cdrs import`)."""
    for outcome, n in (("rated", report.accepted), ("duplicate", report.duplicates),
                       ("rejected", report.rejected_total)):
        if n:
            CDRS.labels(outcome).inc(n)


class Tally:
    """Counts a unit of work's writes, and adds them to the counters once it commits."""

    __slots__ = ("_counts",)

    def __init__(self) -> None:
        self._counts: dict[tuple[Counter, str], int] = {}

    def add(self, counter: Counter, label: str, n: int = 1) -> None:
        key = (counter, label)
        self._counts[key] = self._counts.get(key, 0) + n

    def committed(self) -> None:
        for (counter, label), n in self._counts.items():
            counter.labels(label).inc(n)
        self._counts.clear()

    def discard(self) -> None:
        self._counts.clear()


class OutboxDepth(Collector):
    """The emails waiting in the outbox (queued or retrying), counted at scrape time."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def collect(self) -> Iterator[Metric]:
        from commcredits.adapters.db import tables as t

        family = GaugeMetricFamily("commcredits_email_outbox_pending",
                                   "Emails queued or waiting for a retry.")
        try:
            with self.engine.connect() as conn:
                pending = conn.execute(
                    select(func.count()).select_from(t.email_outbox)
                    .where(t.email_outbox.c.status.in_(("queued", "retrying")))
                ).scalar_one()
        except Exception:  # the database is down: /readyz says so; the scrape still answers
            return
        family.add_metric([], float(pending))
        yield family


class _Forward(Collector):
    def __init__(self, source: CollectorRegistry) -> None:
        self.source = source

    def collect(self) -> Iterator[Metric]:
        yield from self.source.collect()


def multiprocess() -> bool:
    return bool(os.environ.get(MULTIPROC_ENV))


def process_ended() -> None:
    """A worker stopping: its live gauges (the leader flag) no longer count."""
    if multiprocess():
        from prometheus_client.multiprocess import mark_process_dead

        mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]


def registry(engine: Engine | None) -> CollectorRegistry:
    """What `/metrics` serves: every process's values (or this one's), and the outbox depth."""
    reg = CollectorRegistry(auto_describe=False)
    if multiprocess():
        MultiProcessCollector(reg)  # type: ignore[no-untyped-call]
    else:
        reg.register(_Forward(REGISTRY))
    if engine is not None:
        reg.register(OutboxDepth(engine))
    return reg
