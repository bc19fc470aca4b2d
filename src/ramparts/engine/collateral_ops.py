"""Engine methods for multi-asset collateral and borrowing: valuation of holders when prices,
rates or haircuts change, withdrawal checks, borrow requirements, seizure into the backstop vault,
and the stressed-correlation add-on. The state they act on lives in :mod:`ramparts.engine.collateral`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ramparts.domain.assets import Asset
from ramparts.domain.instruments import Instrument
from ramparts.engine import events as ev
from ramparts.engine.collateral import parse_collateral
from ramparts.errors import InvalidInput, Rejected
from ramparts.fixedpoint import PPM, ceil_div, to_decimal
from ramparts.margin.correlation import CorrelationMatrix, stressed_correlation_addon


class CollateralOps:
    """Mixed into :class:`~ramparts.engine.engine.Engine` (see the module docstring)."""

    def _check_collateral_withdrawal(self, s: int, asset: Asset, units: int, bal: int) -> None:
        """A collateral asset leaves only while free collateral (equity − initial margin) stays ≥ 0."""
        q = self.settlement
        if self.in_liquidation[s]:
            raise Rejected("in_liquidation", f"{self.subs[s].id} is being liquidated")
        old = self.collateral.contrib.get(asset.symbol, {}).get(s, 0)
        new = self._holding_value(asset.symbol, s, bal - units)  # with its pending deposits (ramparts.engine.locations)
        equity_after = self.equity(s) - old + new
        im = int(self.sub_im[s]) - self._borrow_requirement(asset.symbol, bal)[0] + self._borrow_requirement(asset.symbol, bal - units)[0]
        if equity_after < im:
            raise Rejected(
                "free_collateral",
                f"withdrawal of {asset.amount(units)} {asset.symbol} would leave equity {q.amount(equity_after)} below the initial "
                f"margin {q.amount(im)} (the holding counts {q.amount(old)}, after it {q.amount(new)})",
            )

    def collateral_touched(self, symbol: str, s: int) -> None:
        """Re-value one sub-account's holding of ``symbol`` after its balance changed."""
        if symbol not in self.collateral.assets:
            return
        contrib = self.collateral.contrib[symbol]
        bal = self.ledger.balance(symbol, s)
        old = contrib.pop(s, 0)
        held = bal or self._pending_units(symbol, s)  # a deposit pending at its location counts too (ramparts.engine.locations)
        new = self._holding_value(symbol, s, bal) if held else 0
        if held:
            contrib[s] = new
        self.sub_coll[s] += new - old
        if self.collateral.assets[symbol].borrow is not None:
            self._borrow_refresh([s])

    def _coll_plan(self, symbols, overrides: dict) -> list[tuple[str, np.ndarray, np.ndarray]]:
        """New values of every holder of ``symbols`` under ``overrides`` (pure; validates)."""
        plan = []
        for a in sorted(symbols):
            holders = sorted(self.collateral.contrib[a])
            if not holders:
                continue
            amounts = [self.ledger.balance(a, s) for s in holders]
            plan.append((a, np.array(holders, dtype=np.int64), self._holding_values(a, holders, amounts, overrides)))
        return plan

    def _coll_apply(self, plan: list[tuple[str, np.ndarray, np.ndarray]]) -> np.ndarray:
        """Install planned values (vectorised per asset); returns the sub-accounts touched."""
        touched = []
        for a, subs, new in plan:
            contrib = self.collateral.contrib[a]
            old = np.fromiter((contrib[s] for s in subs.tolist()), dtype=np.int64, count=subs.size)
            np.add.at(self.sub_coll, subs, new - old)
            contrib.update(zip(subs.tolist(), new.tolist(), strict=True))
            touched.append(subs)
            if self.collateral.assets[a].borrow is not None:
                self._borrow_refresh(subs[new < 0].tolist())
        return np.unique(np.concatenate(touched)) if touched else np.zeros(0, dtype=np.int64)

    def _borrow_requirement(self, symbol: str, balance: int) -> tuple[int, int]:
        """(initial, maintenance) requirement on a borrow of ``-balance`` units of ``symbol``: the
        asset's borrow rates on its market value ``⌈units × price / 10^decimals⌉``, rounded up."""
        ac = self.collateral.assets.get(symbol)
        if balance >= 0 or ac is None or ac.borrow is None or ac.price is None:
            return 0, 0
        value = ceil_div(-balance * ac.price, 10 ** self.assets[symbol].decimals)
        return ceil_div(value * ac.borrow[0], PPM), ceil_div(value * ac.borrow[1], PPM)

    def _borrow_refresh(self, subs) -> None:
        """Recompute the borrow requirements of ``subs`` and fold the change into sub_im / sub_mm."""
        lendable = [a for a, ac in sorted(self.collateral.assets.items()) if ac.borrow is not None]
        for s in subs:
            im = mm = 0
            for a in lendable:
                i, m = self._borrow_requirement(a, self.ledger.balance(a, s))
                im, mm = im + i, mm + m
            self.sub_im[s] += im - int(self.sub_borrow_im[s])
            self.sub_mm[s] += mm - int(self.sub_borrow_mm[s])
            self.sub_borrow_im[s], self.sub_borrow_mm[s] = im, mm

    def borrowed(self, s: int) -> list[str]:
        """The lendable assets ``s`` owes (a negative balance)."""
        return [a for a, ac in sorted(self.collateral.assets.items()) if ac.borrow is not None and self.ledger.balance(a, s) < 0]

    def _rebuild_collateral(self) -> None:
        """Recompute every derived collateral value and correlation add-on (restore)."""
        self.collateral.contrib = {a: {} for a in self.collateral.assets}
        for a, k, _v in self.ledger.columns()[0]:  # (items() less the settlement cash, which is no collateral asset)
            if isinstance(k, int) and a in self.collateral.assets:
                self.collateral_touched(a, k)
        for a, k in self._pending_holders():  # deposits pending at a location, nothing confirmed yet
            self.collateral_touched(a, k)
        if self.collateral.correlation is not None and self.subs:
            self._corr_refresh(np.arange(len(self.subs), dtype=np.int64))

    def _collateral_asset(self, symbol: str):
        a = self._asset(symbol)
        if a.symbol == self.settlement.symbol:
            raise InvalidInput("asset", f"{a.symbol} is the settlement asset: its price is 1 by definition")
        ac = self.collateral.assets.get(a.symbol)
        if ac is None:
            raise Rejected("not_collateral", f"{a.symbol} is not a collateral asset (list it with collateral parameters)")
        return a, ac

    def _on_AssetPrice(self, e: ev.AssetPrice) -> list[dict]:
        from ramparts.margin.haircuts import MAX_PRICE

        asset, ac = self._collateral_asset(e.asset)
        price = self.settlement.units(e.price, "price")
        if price <= 0:
            raise InvalidInput("price", f"must be positive, got {e.price}")
        if price > MAX_PRICE:
            raise InvalidInput("price", f"{e.price} exceeds the price limit")
        new, effects = ac.replace(price=price, price_ts=e.ts).dynamic_step(asset.symbol, e.ts)
        plan = self._coll_plan(self.collateral.dependents(asset.symbol), {asset.symbol: new})
        # circuit breakers named after the asset watch its price (e.g. a move that pauses its withdrawals)
        breaker_state, breaker_fx = self.defences.observe(e.ts, asset.symbol, price=price)
        # validated: mutate
        self.collateral.assets[asset.symbol] = new
        if breaker_state is not None:
            self.defences.breaker_state = breaker_state
        subs = self._coll_apply(plan)
        return effects + breaker_fx + (self.margin_calls(subs) if subs.size else [])

    def _on_ExchangeRate(self, e: ev.ExchangeRate) -> list[dict]:
        from ramparts.margin.haircuts import RATE_SCALE

        asset, ac = self._collateral_asset(e.asset)
        if ac.params.peg is None:
            raise Rejected("not_pegged", f"{asset.symbol} has no peg: an exchange rate applies to pegged assets (LSTs, stablecoins)")
        rate = to_decimal(e.rate, "rate")
        if rate <= 0:
            raise InvalidInput("rate", f"must be positive, got {e.rate}")
        scaled = rate * RATE_SCALE
        if scaled != scaled.to_integral_value():
            raise InvalidInput("rate", f"{e.rate} has more than 18 decimals")
        if scaled > 10**6 * RATE_SCALE:
            raise InvalidInput("rate", f"{e.rate} is not a plausible exchange rate")
        new = ac.replace(rate=int(scaled))
        plan = self._coll_plan({asset.symbol}, {asset.symbol: new})
        self.collateral.assets[asset.symbol] = new
        subs = self._coll_apply(plan)
        return self.margin_calls(subs) if subs.size else []

    def _collateral_tick(self, ts: int) -> list[dict]:
        """At a Tick: the dynamic haircuts due at ``ts`` step (bounded), re-valuing their holders."""
        effects: list[dict] = []
        updates: dict = {}
        for a in sorted(self.collateral.assets):
            ac = self.collateral.assets[a]
            if ac.dynamic is None:
                continue
            new, fx = ac.dynamic_step(a, ts)
            if fx:
                updates[a] = new
                effects += fx
        if not updates:
            return []
        changed = {a for a, new in updates.items() if new.dyn_ppm != self.collateral.assets[a].dyn_ppm}
        plan = self._coll_plan(changed, updates)  # every value first (validated), then install
        self.collateral.assets.update(updates)
        touched = self._coll_apply(plan)
        return effects + (self.margin_calls(touched) if touched.size else [])

    def seize_collateral(self, s: int) -> list[dict]:
        """Move every valued collateral holding of ``s`` to the backstop vault, which pays its haircut
        value (price × (1 − haircut), rounded down: exactly what it counted in equity) in settlement
        cash. Equity of ``s`` is unchanged; each asset is conserved (balanced postings)."""
        effects = self._seize_pending(s)  # deposits still pending at a location: the vault takes the claim (ramparts.engine.locations)
        q = self.settlement.symbol
        for a in sorted(self.collateral.assets):
            value = self.collateral.contrib[a].get(s, 0)
            units = self.ledger.balance(a, s)
            if units < 0 and value < 0:  # a borrow: the vault takes the liability over, the account pays what it counted
                self.ledger.transfer(a, self.backstop, s, -units)
                self.ledger.transfer(q, s, self.backstop, -value)
                self.collateral_touched(a, s)
                self.collateral_touched(a, self.backstop)
                effects.append({"kind": "BorrowTransferred", "subaccount": self.subs.name(s), "asset": a, "units": -units,
                                "value": -value, "to": self.subs.name(self.backstop)})
                continue
            if value <= 0:
                continue  # no price yet or a 100 % haircut: nothing to sell it for
            self.ledger.transfer(a, s, self.backstop, units)
            self.ledger.transfer(q, self.backstop, s, value)
            self.collateral_touched(a, s)
            self.collateral_touched(a, self.backstop)
            effects.append({"kind": "CollateralSeized", "subaccount": self.subs.name(s), "asset": a, "units": units,
                            "value": value, "to": self.subs.name(self.backstop)})
        return effects

    def _corr_requirements(self, subs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per-(sub, matrix underlying) sums of position IM and MM (int64, rows aligned with ``subs``)."""
        idx = self.collateral.correlation_index()
        k = len(idx)
        r_im = np.zeros((subs.size, k), dtype=np.int64)
        r_mm = np.zeros((subs.size, k), dtype=np.int64)
        b = self.book
        if subs.size <= 32:
            for row, s in enumerate(subs.tolist()):
                for instr_idx, slot in b.positions_of(s):
                    j = idx.get(self.instruments[instr_idx].underlying)
                    if j is not None:
                        r_im[row, j] += int(b.im[slot])
                        r_mm[row, j] += int(b.mm[slot])
            return r_im, r_mm
        order = np.argsort(subs, kind="stable")
        sorted_subs = subs[order]
        for instr in self.instruments:
            j = idx.get(instr.underlying)
            if j is None:
                continue
            h = b.holders(instr.index)
            if not h.size:
                continue
            hs = b.sub[h]
            pos = np.searchsorted(sorted_subs, hs)
            pos = np.minimum(pos, sorted_subs.size - 1)
            ok = sorted_subs[pos] == hs
            rows = order[pos[ok]]
            np.add.at(r_im[:, j], rows, b.im[h][ok])
            np.add.at(r_mm[:, j], rows, b.mm[h][ok])
        return r_im, r_mm

    def _corr_addons(self, r_im: np.ndarray, r_mm: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The stressed-correlation add-ons of requirement rows (0 with fewer than two underlyings)."""
        im = np.zeros(r_im.shape[0], dtype=np.int64)
        mm = np.zeros(r_mm.shape[0], dtype=np.int64)
        multi = np.nonzero(((r_mm > 0).sum(axis=1) >= 2) | ((r_im > 0).sum(axis=1) >= 2))[0]
        if multi.size and self.collateral.stress_ppm:
            c, w = self.collateral.correlation, self.collateral.stress_ppm
            im[multi] = stressed_correlation_addon(r_im[multi], c, w)
            mm[multi] = stressed_correlation_addon(r_mm[multi], c, w)
        return im, mm

    def _corr_refresh(self, subs: np.ndarray) -> None:
        """Recompute the correlation add-on of ``subs`` (unique) and fold the change into sub_im / sub_mm.

        Portfolio sub-accounts are left out: their scenario margin already aggregates underlyings."""
        # an isolated sub-account holds one instrument, so one underlying: its add-on is always 0
        subs = subs[~self.is_portfolio[subs]]
        if self.collateral.correlation is None:
            new_im = new_mm = np.zeros(subs.size, dtype=np.int64)
        else:
            new_im, new_mm = self._corr_addons(*self._corr_requirements(subs))
        self.sub_im[subs] += new_im - self.sub_corr_im[subs]
        self.sub_mm[subs] += new_mm - self.sub_corr_mm[subs]
        self.sub_corr_im[subs], self.sub_corr_mm[subs] = new_im, new_mm

    def correlation_addon(self, subaccount: str | int) -> tuple[int, int]:
        """(initial, maintenance) correlation add-on currently in a sub-account's requirements."""
        s = subaccount if isinstance(subaccount, int) else self.sub_index(subaccount)
        return int(self.sub_corr_im[s]), int(self.sub_corr_mm[s])

    def _corr_im_after(self, s: int, instr: Instrument, slot: int | None, im_new: int) -> int:
        """The initial-margin correlation add-on of ``s`` if its position in ``instr`` had initial margin ``im_new``."""
        r_im, r_mm = self._corr_requirements(np.array([s], dtype=np.int64))
        j = self.collateral.correlation_index().get(instr.underlying)
        if j is None:
            return int(self.sub_corr_im[s])
        r_im[0, j] += im_new - (int(self.book.im[slot]) if slot is not None else 0)
        return int(self._corr_addons(r_im, r_mm)[0][0])

    def _set_correlation(self, key: str, value: Any) -> list[dict]:
        c = self.collateral
        if key == "matrix":
            if value is None:
                matrix = None
            elif isinstance(value, dict) and set(value) == {"assets", "ppm"}:
                matrix = CorrelationMatrix.from_dict(value)
            else:
                raise InvalidInput("value", "the correlation matrix is {'assets': [underlying, ...], 'ppm': [[int, ...], ...]} or null")
            c.correlation = matrix
        elif key == "stress_ppm":
            if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 10**6:
                raise InvalidInput("value", f"stress_ppm must be an int in [0, 1000000], got {value!r}")
            c.stress_ppm = value
        else:
            raise InvalidInput("key", f"unknown correlation parameter {key!r} (matrix, stress_ppm)")
        n = len(self.subs)
        if not n:
            return []
        subs = np.arange(n, dtype=np.int64)
        self._corr_refresh(subs)
        return self.margin_calls(subs)

    def _set_asset_collateral(self, symbol: str, key: str, value: Any) -> list[dict]:
        asset = self._asset(symbol)
        if asset.symbol == self.settlement.symbol:
            raise InvalidInput("target", f"{asset.symbol} is the settlement asset: it counts at face value")
        if key != "collateral":
            raise InvalidInput("key", f"unknown asset parameter {key!r} (collateral)")
        old = self.collateral.assets.get(asset.symbol)
        if old is None:
            raise Rejected("not_collateral", f"{asset.symbol} was listed without collateral parameters")
        parsed = parse_collateral(value, asset.decimals)
        # the market state carries over; the dynamic haircut restarts if its parameters changed
        keep_dyn = parsed.dynamic == old.dynamic
        new = parsed.replace(price=old.price, price_ts=old.price_ts, rate=old.rate,
                             dyn_ppm=old.dyn_ppm if keep_dyn else None, last_update_ns=old.last_update_ns if keep_dyn else -1,
                             samples=old.samples if keep_dyn else (), backing_ppm=old.backing_ppm)
        self.collateral.params_with({asset.symbol: new})  # validates the peg
        plan = self._coll_plan({asset.symbol}, {asset.symbol: new})
        self.collateral.install(asset.symbol, new)
        subs = self._coll_apply(plan)
        return self.margin_calls(subs) if subs.size else []
