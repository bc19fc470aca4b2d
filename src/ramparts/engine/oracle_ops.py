"""Engine methods for the oracle defences: aggregated quotes, stale feeds re-read at each tick,
circuit-breaker observations, the liquidation pause and the manual breaker reset. The state lives in
:mod:`ramparts.engine.defences`.
"""

from __future__ import annotations

from decimal import ROUND_CEILING

import numpy as np

from ramparts.engine import events as ev
from ramparts.errors import InvalidInput, Rejected
from ramparts.fixedpoint import to_decimal
from ramparts.oracle.aggregate import SourceQuote


class OracleOps:
    """Mixed into :class:`~ramparts.engine.engine.Engine` (see the module docstring)."""

    def _on_OracleQuotes(self, e: ev.OracleQuotes) -> list[dict]:
        instr = self.instrument(e.instrument)
        m = self.markets[instr.index]
        if m.settled:
            raise Rejected("settled", f"{instr.symbol} has settled")
        if instr.symbol not in self.defences.markets:
            raise Rejected("no_aggregator", f"{instr.symbol} has no oracle aggregator (ParameterChange key 'oracle')")
        quotes = []
        for i, q in enumerate(e.quotes):
            if q.ts_ns > e.ts + 60 * 10**9 * 60:
                raise InvalidInput(f"quotes[{i}].ts_ns", "a quote an hour or more in the future is not a clock skew")
            conf = to_decimal(q.conf, f"quotes[{i}].conf")
            if conf < 0:
                raise InvalidInput(f"quotes[{i}].conf", f"must be non-negative, got {q.conf}")
            conf_units = int((conf * instr.price_factor).to_integral_value(rounding=ROUND_CEILING))
            quotes.append(SourceQuote(q.source, instr.lot_price(q.price, f"quotes[{i}].price", on_tick=False), conf_units, q.ts_ns))
        new_market, reading, decision = self.defences.read(instr.symbol, quotes, e.ts, m.mark or None)
        use = reading.valid and decision.allows("margin_check")
        apply_index = self._index_update(instr, reading.price, None, e.ts, str(reading.price)) if use else None
        breaker_state, breaker_fx = self.defences.observe(e.ts, instr.symbol, price=reading.price if reading.valid else None,
                                                          oracle_valid=reading.valid)
        # validated: mutate
        self.defences.markets[instr.symbol] = new_market
        if breaker_state is not None:
            self.defences.breaker_state = breaker_state
        effects = [_reading_effect(instr.symbol, reading, decision, used=use)] + breaker_fx
        return effects + (apply_index() if apply_index else [])

    def _refresh_defences(self, ts: int) -> list[dict]:
        """At a Tick: re-read every aggregated market at ``ts`` (silent feeds go stale) and advance the breakers."""
        effects: list[dict] = []
        for symbol in sorted(self.defences.markets):
            d = self.defences.markets[symbol]
            if not d.quotes:
                continue
            instr = self.instrument(symbol)
            new_market, reading, decision = self.defences.read(symbol, [], ts, self.markets[instr.index].mark or None)
            changed = d.decision is None or decision.to_dict() != d.decision.to_dict()
            self.defences.markets[symbol] = new_market
            if changed:
                effects.append(_reading_effect(symbol, reading, decision, used=False))
            state, fx = self.defences.observe(ts, symbol, oracle_valid=reading.valid)
            if state is not None:
                self.defences.breaker_state = state
                effects += fx
        if self.defences.breakers is not None:
            self.defences.breaker_state, fx = self.defences.breakers.tick(self.defences.breaker_state, ts)
            effects += fx
        return effects

    def _after_waterfall(self, ts: int) -> list[dict]:
        """Feed the venue-wide breakers the insurance fund and insolvency after a waterfall run."""
        state, fx = self.defences.observe(ts, "*", insurance_fund=self.ledger.balance(self.settlement.symbol, "insurance:global"),
                                          insolvent=bool(self.insolvent))
        if state is not None:
            self.defences.breaker_state = state
        return fx

    def liquidation_paused(self) -> np.ndarray:
        """Mask of sub-accounts the waterfall must leave alone now: they hold a position in a market
        whose liquidation is blocked by an oracle gate or a circuit breaker."""
        n = len(self.subs)
        mask = np.zeros(n, dtype=bool)
        for instr in self.instruments:
            if self.defences.blocked(instr.symbol, "liquidation"):
                h = self.book.holders(instr.index)
                mask[self.book.sub[h]] = True
        return mask

    def _on_ResetBreaker(self, e: ev.ResetBreaker) -> list[dict]:
        if self.defences.breakers is None:
            raise Rejected("no_breakers", "no circuit breakers are configured")
        state, fx = self.defences.breakers.reset(self.defences.breaker_state, e.name, e.ts, by=e.by)
        self.defences.breaker_state = state
        return fx


def _reading_effect(symbol: str, reading, decision, *, used: bool) -> dict:
    return {
        "kind": "OracleReading",
        "instrument": symbol,
        "valid": reading.valid,
        "index": reading.price,
        "conf": reading.conf,
        "sources": reading.n_valid,
        "rejected": dict(reading.rejected),
        "gates": dict(decision.tripped),
        "blocked": sorted(decision.blocked),
        "used_for_margin": used,
    }
