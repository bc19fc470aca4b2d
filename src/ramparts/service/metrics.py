"""Prometheus metrics and structured JSON logs of the risk service.

:class:`ServiceMetrics` owns one :class:`prometheus_client.CollectorRegistry` per app (so several
apps can live in one process, as in the tests), exposed at ``/metrics``:

* ``ramparts_tick_to_decision_seconds``: from an ``OraclePrice`` request's arrival to its margin
  calls being decided *and journaled* (the commit returned);
* ``ramparts_ingest_ack_seconds``: from a ``/v1/ingest`` frame's arrival to its acknowledgement
  being sent (decoded, applied, journaled);
* ``ramparts_accounts_at_risk`` / ``ramparts_accounts_in_liquidation``: sub-accounts in breach (or
  in liquidation, or bankrupt) / in liquidation, counted from a view of the last commit when
  ``/metrics`` is read (O(accounts): never on the writer thread, never per commit);
* ``ramparts_insurance_fund{fund}``: insurance fund balances in the settlement asset;
* ``ramparts_events_total{kind,outcome}``: events accepted / rejected (``rate()`` gives events/s);
* ``ramparts_effects_total{kind}``: margin calls, liquidation steps, bankruptcies, ...;
* ``ramparts_commit_seconds`` and ``ramparts_commit_events``: the writer's journal transactions;
* ``ramparts_journal_seq``: the last journaled sequence number;
* ``ramparts_read_views_total`` / ``ramparts_read_capture_seconds_total``: views the read side had
  the writer thread capture, and the writer-thread seconds they took;
  ``ramparts_state_hashes_total``, ``ramparts_state_hash_forks_total``,
  ``ramparts_state_hash_fork_seconds_total`` (writer thread), ``ramparts_state_hash_inline_seconds_total``
  (writer thread, when no fork) and ``ramparts_state_hash_child_seconds_total`` (the forked children,
  wall time): what the state hash cost (:mod:`ramparts.service.readview`).

:class:`JsonFormatter` renders log records as one JSON object per line (``extra={"fields": {...}}``
adds structured fields); :func:`configure_logging` installs it on the ``ramparts`` logger.
"""

from __future__ import annotations

import json
import logging
import sys
import time

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily

#: The read side's costs exported from :attr:`Publisher.stats` (name, help, key).
READ_COSTS = (
    ("ramparts_read_views", "views captured on the writer thread for the readers", "views"),
    ("ramparts_read_capture_seconds", "writer-thread seconds spent capturing views", "capture_s"),
    ("ramparts_state_hashes", "state hashes published", "hashes"),
    ("ramparts_state_hash_forks", "children forked to compute a state hash", "forks"),
    ("ramparts_state_hash_fork_seconds", "writer-thread seconds spent forking them", "fork_s"),
    ("ramparts_state_hash_inline_seconds", "writer-thread seconds spent hashing in place (no fork)", "inline_hash_s"),
    ("ramparts_state_hash_child_seconds", "wall seconds the hash children ran (another process)", "child_s"),
)


class _ReadCosts:
    """A collector of the read side's cost counters, read from a stats dict at each scrape."""

    def __init__(self, stats):
        self.stats = stats

    def collect(self):
        stats = self.stats() if callable(self.stats) else self.stats
        for name, text, key in READ_COSTS:
            yield CounterMetricFamily(name, text, value=float(stats.get(key, 0)))

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class ServiceMetrics:
    """The service's metrics, in their own registry."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        r = self.registry = CollectorRegistry()
        self.tick_to_decision = Histogram("ramparts_tick_to_decision_seconds", "OraclePrice received -> margin calls decided and journaled",
                                          buckets=LATENCY_BUCKETS, registry=r)
        self.ingest_ack = Histogram("ramparts_ingest_ack_seconds", "a /v1/ingest frame received -> applied, journaled and acknowledged",
                                    buckets=LATENCY_BUCKETS, registry=r)
        self.accounts_at_risk = Gauge("ramparts_accounts_at_risk", "sub-accounts in breach, in liquidation or bankrupt", registry=r)
        self.accounts_in_liquidation = Gauge("ramparts_accounts_in_liquidation", "sub-accounts in liquidation", registry=r)
        self.insurance_fund = Gauge("ramparts_insurance_fund", "insurance fund balance (settlement asset)", ["fund"], registry=r)
        self.events = Counter("ramparts_events", "events submitted to the node", ["kind", "outcome"], registry=r)
        self.effects = Counter("ramparts_effects", "effects journaled", ["kind"], registry=r)
        self.commit_seconds = Histogram("ramparts_commit_seconds", "one writer transaction (apply + journal commit)",
                                        buckets=LATENCY_BUCKETS, registry=r)
        self.commit_events = Histogram("ramparts_commit_events", "events per writer transaction",
                                       buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096), registry=r)
        self.journal_seq = Gauge("ramparts_journal_seq", "last journaled sequence number", registry=r)

    def observe_commit(self, events: list[dict], outcomes: list, seconds: float, stats: dict) -> None:
        self.commit_seconds.observe(seconds)
        self.commit_events.observe(len(events))
        for ev, out in zip(events, outcomes, strict=True):
            self.events.labels(ev.get("kind", "?"), "accepted" if out.accepted else "rejected").inc()
            for fx in out.effects or ():
                self.effects.labels(fx.get("kind", "?")).inc()
        for fund, value in stats["insurance"].items():
            self.insurance_fund.labels(fund).set(value)
        self.journal_seq.set(stats["seq"])

    def watch_reads(self, stats) -> None:
        """Export the read side's costs (``stats``: a dict, or a callable returning one) at each scrape."""
        self.registry.register(_ReadCosts(stats))

    def observe_risk(self, at_risk: int, in_liquidation: int) -> None:
        """The at-risk gauges (counted from a published view, see :mod:`ramparts.service.readview`)."""
        self.accounts_at_risk.set(at_risk)
        self.accounts_in_liquidation.set(in_liquidation)

    def render(self) -> bytes:
        return generate_latest(self.registry)


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message, and any ``extra={"fields": {...}}``."""

    def format(self, record: logging.LogRecord) -> str:
        out = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            out.update(fields)
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str, separators=(",", ":"))


def configure_logging(level: int | str = logging.INFO, stream=None) -> logging.Handler:
    """Send the ``ramparts`` loggers to ``stream`` (stderr) as JSON lines."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter())
    log = logging.getLogger("ramparts")
    log.handlers[:] = [handler]
    log.setLevel(level)
    log.propagate = False
    return handler


__all__ = ["JsonFormatter", "ServiceMetrics", "configure_logging"]
