"""The engine's oracle defences: per-market index aggregation, gates, TWAP, and circuit breakers.

This module owns the state the engine keeps for layer 1's defences and the decisions it derives
from it (the arithmetic lives in :mod:`ramparts.oracle.aggregate`, :mod:`ramparts.oracle.gates`
and :mod:`ramparts.oracle.breaker`):

* **Per market** (configured by ``ParameterChange(target="instrument:<SYM>", key="oracle",
  value={"aggregator": {...}, "policy": {...}, "twap": {...}})``): the latest quote of each source,
  the TWAP, the last :class:`~ramparts.oracle.aggregate.IndexReading` and the
  :class:`~ramparts.oracle.gates.GateDecision` that says which actions the reading may serve.
  ``OracleQuotes`` events carry source quotes; the engine aggregates them, and at every ``Tick``
  re-aggregates the stored quotes at the tick's time, so a feed that falls silent goes stale
  without any new event.
* **Venue-wide** circuit breakers (``ParameterChange(target="breakers", key="rules",
  value=[rule, ...])``), fed with every index price, oracle validity, the global insurance fund
  and insolvency; tripped and reset by the engine's own clock; reset by hand with
  ``ResetBreaker``. Every trip and reset is an effect of the event that caused it, so it is
  journaled.

:meth:`OracleDefences.blocked` answers "may ``action`` run on ``instrument`` now?" for the engine's
fills, withdrawals, funding and the waterfall. Everything here is part of the state hash.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ramparts.errors import InvalidInput
from ramparts.oracle.aggregate import IndexAggregator, IndexReading, SourceQuote, Twap
from ramparts.oracle.breaker import BreakerRule, BreakerState, CircuitBreakers
from ramparts.oracle.gates import ACTIONS, GateDecision, GatePolicy, evaluate

__all__ = ["MarketDefence", "OracleDefences"]


@dataclass
class MarketDefence:
    """One market's aggregation config and state."""

    aggregator: IndexAggregator
    policy: GatePolicy
    twap: Twap
    quotes: dict[str, SourceQuote] = field(default_factory=dict)
    reading: IndexReading | None = None
    decision: GateDecision | None = None

    def to_dict(self) -> dict:
        return {
            "aggregator": self.aggregator.to_dict(),
            "policy": self.policy.to_dict(),
            "twap": self.twap.to_dict(),
            "quotes": [self.quotes[s].to_dict() for s in sorted(self.quotes)],
            "reading": None if self.reading is None else self.reading.to_dict(),
            "decision": None if self.decision is None else self.decision.to_dict(),
        }

    @classmethod
    def from_dict(cls, d: dict) -> MarketDefence:
        m = cls.configure(d)
        m.quotes = {q["source"]: SourceQuote.from_dict(q) for q in d.get("quotes", [])}
        m.reading = None if d.get("reading") is None else IndexReading.from_dict(d["reading"])
        if d.get("decision") is not None:
            m.decision = GateDecision(dict(d["decision"]["tripped"]), {a: tuple(g) for a, g in d["decision"]["blocked"].items()})
        return m

    @classmethod
    def configure(cls, value: Any) -> MarketDefence:
        if not isinstance(value, dict) or "aggregator" not in value:
            raise InvalidInput("oracle", "expected {'aggregator': {...}, 'policy': {...}, 'twap': {...}}")
        extra = set(value) - {"aggregator", "policy", "twap", "quotes", "reading", "decision"}
        if extra:
            raise InvalidInput("oracle", f"unknown keys {sorted(extra)}")
        agg = IndexAggregator.from_dict(value["aggregator"])
        policy = GatePolicy.from_dict(value.get("policy") or {})
        twap = Twap.from_dict(value["twap"]) if value.get("twap") else Twap(window_ns=300 * 10**9)
        return cls(agg, policy, twap)


class OracleDefences:
    """Every market's defence state and the venue's circuit breakers (see the module docstring)."""

    def __init__(self) -> None:
        self.markets: dict[str, MarketDefence] = {}
        self.breakers: CircuitBreakers | None = None
        self.breaker_state: BreakerState | None = None

    # ------------------------------------------------------------------ state
    def to_dict(self) -> dict:
        return {
            "markets": {s: self.markets[s].to_dict() for s in sorted(self.markets)},
            "breakers": None if self.breakers is None else self.breakers.to_dict(),
            "breaker_state": None if self.breaker_state is None else self.breaker_state.to_dict(),
        }

    @classmethod
    def from_dict(cls, d: dict | None) -> OracleDefences:
        out = cls()
        if not d:
            return out
        out.markets = {s: MarketDefence.from_dict(v) for s, v in d.get("markets", {}).items()}
        if d.get("breakers") is not None:
            out.breakers = CircuitBreakers.from_dict(d["breakers"])
            out.breaker_state = out.breakers.state_from_dict(d["breaker_state"])
        return out

    # ------------------------------------------------------------------ configuration (validated, then installed)
    def configure_market(self, symbol: str, value: Any) -> MarketDefence:
        return MarketDefence.configure(value)

    def configure_breakers(self, rules: Any, now_ns: int) -> tuple[CircuitBreakers, BreakerState]:
        if not isinstance(rules, list):
            raise InvalidInput("value", "breaker rules must be a list of rule objects")
        cb = CircuitBreakers(tuple(BreakerRule.from_dict(r) if isinstance(r, dict) else _bad_rule(r) for r in rules))
        state = cb.initial_state()
        if now_ns:
            state, _ = cb.tick(state, now_ns)
        return cb, state

    # ------------------------------------------------------------------ decisions
    def blocked(self, symbol: str, action: str) -> str | None:
        """Why ``action`` may not run on ``symbol`` now (a gate or a breaker), or ``None``."""
        if action not in ACTIONS:  # pragma: no cover - programming error
            raise InvalidInput("action", action)
        m = self.markets.get(symbol)
        if m is not None and m.decision is not None and not m.decision.allows(action):
            gates = m.decision.blocked[action]
            return "oracle gate " + ", ".join(f"{g} ({m.decision.tripped[g]})" for g in gates)
        if self.breakers is not None:
            names = self.breakers.paused_by(self.breaker_state, symbol, action)
            if names:
                return "circuit breaker " + ", ".join(names)
        return None

    def read(self, symbol: str, quotes: list[SourceQuote], now_ns: int, mark: int | None) -> tuple[MarketDefence, IndexReading, GateDecision]:
        """Aggregate ``quotes`` (merged over the stored latest quote per source) at ``now_ns``; pure."""
        m = self.markets[symbol]
        merged = dict(m.quotes)
        for q in quotes:
            if q.source not in m.aggregator.sources:
                raise InvalidInput("quotes", f"unknown source {q.source!r} for {symbol} (configured: {', '.join(m.aggregator.sources)})")
            if q.source in merged and q.ts_ns < merged[q.source].ts_ns:
                continue  # an older quote than the one held: the newer stands
            merged[q.source] = q
        reading = m.aggregator.aggregate(list(merged.values()), now_ns)
        twap = m.twap.add(now_ns, reading.price) if reading.valid and quotes and (m.twap.last_ts is None or now_ns > m.twap.last_ts) else m.twap
        decision = evaluate(reading, mark, twap.value(now_ns), m.policy, now_ns=now_ns)
        return MarketDefence(m.aggregator, m.policy, twap, merged, reading, decision), reading, decision

    def observe(self, now_ns: int, instrument: str = "*", **facts: Any) -> tuple[BreakerState | None, list[dict]]:
        """The breakers' new state and effects for an observation (pure; ``(None, [])`` without breakers)."""
        if self.breakers is None:
            return None, []
        return self.breakers.observe(self.breaker_state, now_ns, instrument, **facts)


def _bad_rule(r: Any):
    raise InvalidInput("value", f"a breaker rule must be an object, got {r!r}")
