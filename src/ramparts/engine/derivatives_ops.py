"""Engine methods for options and portfolio sub-accounts: an option's index instrument and spot,
the max-loss bound of option combinations, the scenario requirement of portfolio sub-accounts, and
the waterfall's choice of position and what-if maintenance.
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal

from ramparts.domain.instruments import Instrument
from ramparts.errors import InvalidInput


class DerivativesOps:
    """Mixed into :class:`~ramparts.engine.engine.Engine` (see the module docstring)."""

    def _check_option(self, instr: Instrument) -> Instrument:
        """An option's index instrument: listed, not an option, same underlying and quote."""
        idx = self.instrument(instr.index_instrument, "index_instrument")
        if idx.is_option:
            raise InvalidInput("index_instrument", f"{idx.symbol} is an option; name a perpetual or future")
        if idx.underlying != instr.underlying:
            raise InvalidInput("index_instrument", f"{idx.symbol} is on {idx.underlying}, the option on {instr.underlying}")
        return idx

    def _spot_lot(self, opt: Instrument) -> int:
        """The option's spot as its own lot price, from its index instrument's index price."""
        idx = self.instruments[self._instr_by_symbol[opt.index_instrument]]
        index = self.markets[idx.index].index_price
        if index <= 0:
            return 0
        return int((Decimal(index) * opt.price_factor / idx.price_factor).to_integral_value(rounding=ROUND_HALF_EVEN))

    def _portfolio(self, subs: list[int]) -> None:
        """Replace the per-position requirements of portfolio sub-accounts ``subs`` by their scenario
        requirement (kept as an adjustment folded into ``sub_im`` / ``sub_mm``)."""
        from ramparts.engine.portfolio import requirements

        im, mm = requirements(self, subs)
        for k, s in enumerate(subs):
            base_im = int(self.sub_im[s]) - int(self.sub_pm_adj_im[s])
            base_mm = int(self.sub_mm[s]) - int(self.sub_pm_adj_mm[s])
            # the scenario requirement, plus what the sub-account's borrows require (kept outside the scan)
            adj_im = int(im[k]) + int(self.sub_borrow_im[s]) - base_im
            adj_mm = int(mm[k]) + int(self.sub_borrow_mm[s]) - base_mm
            self.sub_im[s] += adj_im - int(self.sub_pm_adj_im[s])
            self.sub_mm[s] += adj_mm - int(self.sub_pm_adj_mm[s])
            self.sub_pm_adj_im[s], self.sub_pm_adj_mm[s] = adj_im, adj_mm

    def liquidation_choice(self, s: int) -> tuple[int, int]:
        """The position the waterfall reduces next: the largest maintenance margin, or for a
        portfolio sub-account the one whose close lowers the scenario requirement most per unit of
        notional closed (the cost of a liquidation is proportional to the notional)."""
        b = self.book
        positions = b.positions_of(s)
        if not self.is_portfolio[s] or len(positions) == 1:
            return max(positions, key=lambda p: (int(b.mm[p[1]]), -p[0]))
        from ramparts.engine.portfolio import requirements

        mm_now = int(self.sub_mm[s])
        best, best_score = positions[0], None
        for instr_idx, slot in positions:
            lots = int(b.lots[slot])
            notional = abs(lots) * max(self.markets[instr_idx].mark, 1)
            mm_after = int(requirements(self, [s], {(s, instr_idx): 0})[1][0])
            score = ((mm_now - mm_after) * 10**12) // notional
            if best_score is None or score > best_score:
                best, best_score = (instr_idx, slot), score
        return best

    def maintenance_after(self, s: int, instr: Instrument, lots_after: int) -> int:
        """The sub-account's total maintenance margin if its position in ``instr`` became ``lots_after``."""
        mm = int(self.sub_mm[s])
        slot = self.book.slot(s, instr.index)
        mark = self.markets[instr.index].mark
        if self.is_portfolio[s]:
            from ramparts.engine.portfolio import requirements

            return int(requirements(self, [s], {(s, instr.index): lots_after})[1][0])
        slot_mm = int(self.book.mm[slot]) if slot is not None else 0
        return mm - slot_mm + (self.requirements(instr, lots_after, mark)[1] if lots_after else 0)

    def _option_bound(self, s: int) -> None:
        """Cap the option requirement of sub-account ``s`` per (underlying, expiry) at the group's
        maximum loss: ``min(Σ legs, max loss at expiry + the legs' current value)``, never below 0.

        The maximum loss is the worst of the expiry payoff (premiums excluded) over spot 0, every
        strike and spot → ∞ (unbounded, so no cap, while calls are net short); adding the legs' value
        turns it into a requirement on equity (which already counts that value): equity ≥ cap ⟺
        cash ≥ max loss. A vertical spread therefore needs exactly its maximum loss; a box, nothing.
        The difference to the sum of the legs is kept in ``sub_opt_adj_*`` and folded into
        ``sub_im`` / ``sub_mm``.
        """
        b = self.book
        groups: dict[tuple[str, int], list[tuple[Instrument, int]]] = {}
        for instr_idx, slot in self.book.positions_of(s):
            instr = self.instruments[instr_idx]
            if instr.is_option and int(b.lots[slot]):
                groups.setdefault((instr.index_instrument, instr.expiry_ns), []).append((instr, slot))
        adj_im = adj_mm = 0
        for legs in groups.values():
            if len(legs) < 2:
                continue
            legs_im = sum(int(b.im[slot]) for _, slot in legs)
            legs_mm = sum(int(b.mm[slot]) for _, slot in legs)
            value = sum(int(b.value[slot]) for _, slot in legs)
            loss = _max_loss(legs, b)
            if loss is None:
                continue
            cap = max(loss + value, 0)
            adj_im += min(legs_im, cap) - legs_im
            adj_mm += min(legs_mm, cap) - legs_mm
        self.sub_im[s] += adj_im - int(self.sub_opt_adj_im[s])
        self.sub_mm[s] += adj_mm - int(self.sub_opt_adj_mm[s])
        self.sub_opt_adj_im[s], self.sub_opt_adj_mm[s] = adj_im, adj_mm


def _max_loss(legs: list, book) -> int | None:
    """Largest loss at expiry (quote base units, rounded up) of option legs on one underlying and
    expiry, or ``None`` when it is unbounded (net short calls). Payoffs are piecewise linear in the
    spot, so the worst case lies at spot 0, at a strike, or at infinity."""
    from fractions import Fraction

    slope = sum(int(book.lots[slot]) * instr.lot_underlying for instr, slot in legs if instr.option_type == "call")
    if slope < 0:
        return None
    points = {Decimal(0)} | {instr.strike for instr, _ in legs}
    worst = Fraction(0)
    for p in points:
        payoff = sum(Fraction(int(book.lots[slot]) * instr.intrinsic_lot(int(p * instr.price_factor))) for instr, slot in legs)
        worst = max(worst, -payoff)
    return -((-worst.numerator) // worst.denominator)
