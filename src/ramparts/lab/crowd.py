"""A population from data: account types with their own leverage, size and behaviour, built up over a warm-up.

What it owns
------------
:class:`CrowdSpec` describes a venue's accounts as *types* (:class:`AccountType`): directional traders on cross
margin, directional traders on isolated margin, basis traders (short the perpetual against spot held elsewhere),
market makers, vaults. :func:`generate_crowd` draws a reproducible list of :class:`Member` from it, and
:class:`Crowd` turns them into engine events during a replay:

* **Warm-up.** Each member opens at a time drawn uniformly over the first ``warmup_s`` seconds of the window, at the
  price the venue shows then (not all at the first bar): the book is built in a steady state.
* **Open interest.** When ``open_interest_usd`` is given (the figure and its source are in the scenario file), the
  longs' sizes are scaled so that their notional equals it, and the shorts' likewise: every long has a short, so the
  venue's open interest when the warm-up ends is that figure and the lab's market maker carries only what the crowd
  trades later. No account holds more than ``max_account_share`` of it (the largest deposits are capped first).
* **Several markets.** With more than one market, each member trades ``markets`` of them (its type's count), drawn
  without replacement with probability proportional to the markets' relative open interest (``market_weights``, from
  the scenario's ``[market_open_interest]``; the first market weighs 1); the open-interest target is then
  ``open_interest_usd × Σ weights`` (the first market's figure times the markets' relative sizes).
* **Top-ups.** An *attentive* member (probability ``topup_probability``) whose margin ratio (maintenance / equity)
  reaches ``warn_ratio`` deposits, after a delay drawn from a log-normal with median ``topup_delay_s``, enough to
  bring the ratio back to ``target_ratio``, from a reserve of ``topup_reserve`` × its first deposit.
* **De-risking.** A member that is not attentive cuts its positions by ``derisk_fraction`` with probability
  ``derisk_probability`` when it reaches ``warn_ratio``, after the same kind of delay; its trade hits the book (it
  feeds the liquidity model like a liquidation does).
* **Re-entry.** Each time the primary market closes ``dip_step`` further below its running high (−10 %, −20 %, ...),
  ``dip_share`` × ``n_accounts`` new directional accounts open longs over the next ``dip_window_s`` seconds.

Formulas
--------
Effective leverage is ``notional / collateral`` at entry, log-normal per type: ``L = median · exp(σ · Z)``, capped at
``leverage_cap`` × the venue's maximum (``1 / initial margin rate``). First deposits are log-normal per type
(``collateral_median``, ``collateral_sigma``): heavy-tailed, a few whales and many small accounts. With
``open_interest_usd`` set, every long's deposit (and so its notional) is multiplied by ``k⁺ = open_interest_usd / L⁺``
and every short's by ``k⁻ = open_interest_usd / L⁻`` (``L±``: the side's drawn notional). Top-up amount: ``max(mm / target_ratio − equity, 0)``, capped by what is left
of the reserve.

Every number is a parameter of the scenario file (:mod:`ramparts.lab.scenario`), which says for each whether it has a
source or is an assumption.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from decimal import Decimal

import numpy as np

from ramparts.engine import events as ev
from ramparts.errors import InvalidInput
from ramparts.lab.population import MAKER, Market
from ramparts.lab.population import size_for_notional as _size

#: The most the market maker is given (USD): with the crowd's own deposits it stays under the ledger's 10¹⁷ base units.
MAKER_CAP_USD = 60 * 10**9

#: Member kinds the behaviour knows.
KINDS = ("directional", "basis", "maker", "vault")


@dataclass(frozen=True)
class AccountType:
    """One account type of a crowd (see the module docstring for the meaning of each field)."""

    name: str
    kind: str = "directional"
    share: float = 1.0
    long_fraction: float = 0.5
    leverage_median: float = 3.0
    leverage_sigma: float = 0.8
    leverage_cap: float = 0.98
    collateral_median: float = 5_000.0
    collateral_sigma: float = 1.5
    isolated: bool = False
    markets: int = 1
    topup_probability: float = 0.0
    topup_reserve: float = 1.0
    derisk_probability: float = 0.0
    derisk_fraction: float = 0.5

    def __post_init__(self) -> None:
        checks = {
            "kind": self.kind in KINDS,
            "share": 0.0 <= self.share <= 1.0,
            "long_fraction": 0.0 <= self.long_fraction <= 1.0,
            "leverage_median": 0.01 <= self.leverage_median <= 200,
            "leverage_sigma": 0.0 <= self.leverage_sigma <= 3,
            "leverage_cap": 0.0 < self.leverage_cap <= 1.0,
            "collateral_median": 1.0 <= self.collateral_median <= 1e10,
            "collateral_sigma": 0.0 <= self.collateral_sigma <= 4,
            "markets": isinstance(self.markets, int) and 1 <= self.markets <= 50,
            "topup_probability": 0.0 <= self.topup_probability <= 1.0,
            "topup_reserve": 0.0 <= self.topup_reserve <= 100,
            "derisk_probability": 0.0 <= self.derisk_probability <= 1.0,
            "derisk_fraction": 0.0 < self.derisk_fraction <= 1.0,
        }
        for name, ok in checks.items():
            if not ok:
                raise InvalidInput(f"types.{self.name}.{name}", f"out of range: {getattr(self, name)!r}")
        if self.isolated and self.markets != 1:
            raise InvalidInput(f"types.{self.name}.markets", "an isolated account holds one market")


@dataclass(frozen=True)
class CrowdSpec:
    """A crowd: its types, size, warm-up, open interest and behaviour (module docstring)."""

    types: tuple[AccountType, ...]
    n_accounts: int = 2_000
    seed: int = 1
    open_interest_usd: float | None = None
    warmup_s: float = 12 * 3600.0
    warn_ratio: float = 0.8
    target_ratio: float = 0.4
    topup_delay_s: float = 1800.0
    delay_sigma: float = 1.0
    dip_step: float = 0.10
    dip_share: float = 0.02
    dip_window_s: float = 6 * 3600.0
    dip_leverage_median: float = 3.0
    maker_collateral_multiple: float = 10.0
    max_account_share: float = 0.02
    #: each market's open interest relative to the primary market's, by asset (``{"ETH": 0.59}``); a replay of several
    #: markets needs one for each market after the first (the first weighs 1)
    market_weights: dict | None = None

    def __post_init__(self) -> None:
        if not self.types:
            raise InvalidInput("types", "a crowd needs at least one account type")
        names = [t.name for t in self.types]
        if len(set(names)) != len(names):
            raise InvalidInput("types", f"duplicate type names: {names}")
        total = sum(t.share for t in self.types)
        checks = {
            "types": abs(total - 1.0) < 1e-6,
            "n_accounts": isinstance(self.n_accounts, int) and 1 <= self.n_accounts <= 2_000_000,
            "seed": isinstance(self.seed, int) and self.seed >= 0,
            "open_interest_usd": self.open_interest_usd is None or 0 < self.open_interest_usd <= 1e13,
            "warmup_s": 0 <= self.warmup_s <= 30 * 86400,
            "warn_ratio": 0.0 < self.warn_ratio <= 1.0,
            "target_ratio": 0.0 < self.target_ratio < self.warn_ratio,
            "topup_delay_s": 0 <= self.topup_delay_s <= 7 * 86400,
            "delay_sigma": 0 <= self.delay_sigma <= 3,
            "dip_step": 0.0 < self.dip_step < 1.0,
            "dip_share": 0.0 <= self.dip_share <= 1.0,
            "dip_window_s": 0 <= self.dip_window_s <= 7 * 86400,
            "dip_leverage_median": 0.01 <= self.dip_leverage_median <= 200,
            "maker_collateral_multiple": self.maker_collateral_multiple > 0,
            "max_account_share": 0.0 < self.max_account_share <= 1.0,
            "market_weights": self.market_weights is None or (
                isinstance(self.market_weights, dict)
                and all(isinstance(k, str) and isinstance(v, (int, float)) and 0 < v <= 100 for k, v in self.market_weights.items())),
        }
        for name, ok in checks.items():
            if not ok:
                value = f"shares add up to {total:g}, not 1" if name == "types" else repr(getattr(self, name))
                raise InvalidInput(name, f"out of range: {value}")

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class Member:
    """One account of a crowd."""

    subaccount: str
    kind: str
    type_name: str
    isolated: bool
    collateral: Decimal
    legs: tuple[tuple[str, Decimal], ...]  # (symbol, signed size), long > 0
    leverage: float
    entry_s: float  #: seconds after the window's start when it opens
    attentive: bool  #: tops up when warned
    derisks: bool  #: cuts its positions when warned (if not attentive)
    reserve: Decimal  #: what it can still deposit
    derisk_fraction: float = 0.5

    def notional(self, prices: dict[str, float]) -> float:
        return sum(abs(float(q)) * prices[s] for s, q in self.legs)


def generate_crowd(spec: CrowdSpec, markets: list[Market], max_leverage: float,
                   im_rate: Callable[[float], float] | None = None) -> tuple[list[Member], dict]:
    """Draw the crowd at the markets' starting prices; returns ``(members, facts)``.

    ``max_leverage`` is the venue's maximum (its first tier). ``im_rate(notional_usd)``, when given, is the venue's
    initial-margin rate at a notional (a tier schedule charges larger positions more): a member's leverage is then
    capped at ``leverage_cap / im_rate(notional)`` at its final size, so that its opening fill meets initial margin.

    ``facts`` states what was drawn: accounts per type, the open-interest scale factor, the resulting long and short
    notional, the notional-weighted and median effective leverage.
    """
    if not markets:
        raise InvalidInput("markets", "needs at least one market")
    weights = market_weights(spec, markets)
    rng = np.random.default_rng(spec.seed)
    counts = _apportion(spec.n_accounts, [t.share for t in spec.types])
    rows = []  # (type, collateral, leverage, long, markets chosen, entry_s, attentive, derisks)
    for t, count in zip(spec.types, counts, strict=True):
        if count == 0:
            continue
        lev = t.leverage_median * np.exp(t.leverage_sigma * rng.standard_normal(count))
        lev = np.minimum(lev, max_leverage * t.leverage_cap)
        coll = t.collateral_median * np.exp(t.collateral_sigma * rng.standard_normal(count))
        longs = rng.random(count) < t.long_fraction
        entry = rng.random(count) * spec.warmup_s
        attentive = rng.random(count) < t.topup_probability
        derisks = (rng.random(count) < t.derisk_probability) & ~attentive
        k_markets = min(t.markets, len(markets))
        for i in range(count):
            if len(markets) == 1:
                chosen = np.zeros(1, dtype=int)
            elif np.all(weights == weights[0]):
                chosen = rng.choice(len(markets), size=k_markets, replace=False)
            else:
                chosen = rng.choice(len(markets), size=k_markets, replace=False, p=weights / weights.sum())
            rows.append((t, float(coll[i]), float(lev[i]), bool(longs[i]), tuple(int(c) for c in chosen), float(entry[i]),
                         bool(attentive[i]), bool(derisks[i])))
    scale = {True: 1.0, False: 1.0}  # per side: long, short
    capped = 0
    target = None if spec.open_interest_usd is None else spec.open_interest_usd * float(weights.sum())
    if target is not None:
        # every long has a short: each side is scaled to the open interest (the market maker carries only what the
        # crowd trades later); no account above max_account_share of it (the largest deposits capped, then again)
        cap = spec.max_account_share * target
        for _ in range(20):
            for side in (True, False):
                total = sum(c * lev for _, c, lev, lg, *_ in rows if lg == side)
                scale[side] = target / total if total > 0 else 1.0
            over = [j for j, r in enumerate(rows) if r[1] * r[2] * scale[r[3]] > cap * (1 + 1e-9)]
            tiered = _over_tier(rows, scale, im_rate)
            if not over and not tiered:
                break
            capped += len(over)
            for j in over:
                rows[j] = (rows[j][0], cap / (rows[j][2] * scale[rows[j][3]]), *rows[j][2:])
            for j, lev in tiered:
                rows[j] = (rows[j][0], rows[j][1], lev, *rows[j][3:])
    else:
        for j, lev in _over_tier(rows, scale, im_rate):
            rows[j] = (rows[j][0], rows[j][1], lev, *rows[j][3:])
    members: list[Member] = []
    too_small = 0
    for j, (t, coll, lev, lg, chosen, entry, attentive, derisks) in enumerate(rows):
        coll *= scale[lg]
        coll = max(round(coll, 2), 10.0)
        notional = coll * lev
        per = notional / len(chosen)
        legs = tuple((markets[c].symbol, _size(per, markets[c], 1 if lg else -1)) for c in chosen)
        if any(q == 0 for _, q in legs):  # below one size step in some market: it cannot trade (counted, not hidden)
            too_small += 1
            continue
        collateral = Decimal(f"{coll:.2f}")
        members.append(Member(
            subaccount=f"{t.name[:12]}{j:06d}/{'iso' if t.isolated else 'main'}", kind=t.kind, type_name=t.name,
            isolated=t.isolated, collateral=collateral, legs=legs, leverage=lev, entry_s=entry, attentive=attentive,
            derisks=derisks, reserve=(collateral * Decimal(str(t.topup_reserve))).quantize(Decimal("0.01")),
            derisk_fraction=t.derisk_fraction))
    prices = {m.symbol: m.price for m in markets}
    lev_arr = np.array([m.leverage for m in members]) if members else np.zeros(0)
    notional_arr = np.array([m.notional(prices) for m in members]) if members else np.zeros(0)
    by_type: dict[str, int] = {}
    for m in members:
        by_type[m.type_name] = by_type.get(m.type_name, 0) + 1
    long_usd = sum(float(q) * prices[s] for m in members for s, q in m.legs if q > 0)
    short_usd = sum(-float(q) * prices[s] for m in members for s, q in m.legs if q < 0)
    by_market = {m.symbol: 0.0 for m in markets}
    for mem in members:
        for sym, q in mem.legs:
            if q > 0:
                by_market[sym] += float(q) * prices[sym]
    facts = {
        "accounts": len(members),
        "accounts_by_type": by_type,
        "open_interest_target_usd": target,
        "market_weights": {m.symbol: float(w) for m, w in zip(markets, weights, strict=True)},
        "open_interest_by_market_usd": by_market,
        "open_interest_scale": {"long": scale[True], "short": scale[False]},
        "accounts_capped": capped,
        "accounts_below_one_lot": too_small,
        "long_notional_usd": long_usd,
        "short_notional_usd": short_usd,
        "open_interest_usd": max(long_usd, short_usd),
        "leverage_median": float(np.median(lev_arr)) if lev_arr.size else 0.0,
        "leverage_notional_weighted": float((lev_arr * notional_arr).sum() / notional_arr.sum()) if notional_arr.sum() else 0.0,
        "attentive_share": sum(m.attentive for m in members) / max(len(members), 1),
    }
    return members, facts


def market_weights(spec: CrowdSpec, markets: list[Market]) -> np.ndarray:
    """Each market's open interest relative to the first's: 1 for the first, ``spec.market_weights[asset]`` for the others
    (all 1 when the spec has neither weights nor an open-interest figure to match).

    Raises
    ------
    InvalidInput
        ``market_weights``: a market after the first has no weight in the scenario.
    """
    if spec.market_weights is None and spec.open_interest_usd is None:
        return np.ones(len(markets))  # no figure to match: the markets weigh alike
    out = [1.0]
    for m in markets[1:]:
        asset = m.symbol[: -len("-PERP")] if m.symbol.endswith("-PERP") else m.symbol
        w = (spec.market_weights or {}).get(asset)
        if w is None:
            raise InvalidInput("market_weights", f"the scenario gives no open interest for {m.symbol} relative to {markets[0].symbol} "
                                                 f"(add {asset} = {{ value = ..., source = \"...\" }} to [market_open_interest])")
        out.append(float(w))
    return np.asarray(out)


def _over_tier(rows: list, scale: dict, im_rate: Callable[[float], float] | None) -> list[tuple[int, float]]:
    """``(row, leverage)`` for the rows whose leverage the venue's tier at their notional does not allow."""
    if im_rate is None:
        return []
    out = []
    for j, r in enumerate(rows):
        t, coll, lev = r[0], r[1] * scale[r[3]], r[2]
        allowed = t.leverage_cap / im_rate(coll * lev)
        if lev > allowed * (1 + 1e-12):
            out.append((j, allowed))
    return out


def _apportion(n: int, shares: list[float]) -> list[int]:
    """Largest-remainder split of ``n`` by ``shares`` (which add up to 1)."""
    raw = [n * s for s in shares]
    base = [int(math.floor(r)) for r in raw]
    order = sorted(range(len(raw)), key=lambda i: raw[i] - base[i], reverse=True)
    for i in order[: n - sum(base)]:
        base[i] += 1
    return base


@dataclass
class _Pending:
    due_ns: int
    member: int
    action: str  # "topup" or "derisk"


@dataclass
class Crowd:
    """The crowd during a replay: which events it sends at each step, and what it has done.

    ``step(k, t_ns, engine, prices)`` returns the events due at observation ``k`` (openings, top-ups, de-risking fills,
    dip buyers' openings) and the signed notional its trades put on each market's book (sells < 0);
    ``observe(t_ns, engine)`` looks at the members' margin after the step's tick and schedules reactions.
    """

    spec: CrowdSpec
    members: list[Member]
    markets: list[Market]
    t0_ns: int
    max_leverage: float
    rng: np.random.Generator = field(init=False)
    opened: np.ndarray = field(init=False)
    reserve_left: list[Decimal] = field(init=False)
    reacted: np.ndarray = field(init=False)
    pending: list[_Pending] = field(default_factory=list)
    stats: dict = field(default_factory=lambda: {"topups": 0, "topup_usd": 0.0, "derisks": 0, "derisk_notional_usd": 0.0,
                                                "dip_accounts": 0, "fills_refused": 0})
    _high: float = 0.0
    _dip_level: int = 0
    _subs: np.ndarray = field(init=False)  #: each member's engine sub-account index (-2: not looked up yet, -1: refused)
    _attentive: np.ndarray = field(init=False)

    collateral_scale: float = 1.0  #: the open-interest scale of the crowd (dip buyers' deposits are scaled alike)
    #: the venue's initial-margin rate at a notional (its tier schedule), when known: dip buyers' leverage is capped by it
    im_rate: Callable[[float], float] | None = None
    #: no dip buyer's notional above this (the crowd's max_account_share of its open interest), when it is matched
    max_notional_usd: float | None = None

    def __post_init__(self) -> None:
        self.rng = np.random.default_rng(self.spec.seed + 7919)
        self.opened = np.zeros(len(self.members), dtype=bool)
        self.reserve_left = [m.reserve for m in self.members]
        self.reacted = np.zeros(len(self.members), dtype=bool)
        self._subs = np.full(len(self.members), -2, dtype=np.int64)
        self._attentive = np.array([m.attentive for m in self.members], dtype=bool)
        self._order = sorted(range(len(self.members)), key=lambda i: self.members[i].entry_s)
        self._next = 0

    # ---------------------------------------------------------------------------------------------------------------
    def maker_deposits(self, prices: dict[str, float]) -> list[Decimal]:
        """The market maker's deposits: ``maker_collateral_multiple`` × the crowd's gross notional (its dip buyers'
        allowed for), at most :data:`MAKER_CAP_USD` in all (the ledger's bound on what enters from outside is
        10¹⁷ base units), in deposits of at most 50 billion (a deposit's limit is 100 billion)."""
        gross = sum(m.notional(prices) for m in self.members) * (1 + 4 * self.spec.dip_share)
        total = min(int(gross * self.spec.maker_collateral_multiple) + 1, MAKER_CAP_USD)
        chunk = 50 * 10**9
        return [Decimal(min(chunk, total - i)) for i in range(0, total, chunk)]

    def _delay_ns(self) -> int:
        s = self.spec.topup_delay_s * math.exp(self.spec.delay_sigma * float(self.rng.standard_normal()))
        return int(s * 1e9)

    def _open(self, i: int, ts: int, prices: dict[str, Decimal]) -> list:
        m = self.members[i]
        out: list = []
        if m.isolated:
            out.append(ev.OpenSubAccount(ts=ts, subaccount=m.subaccount, mode="isolated", instrument=m.legs[0][0]))
        else:
            out.append(ev.OpenSubAccount(ts=ts, subaccount=m.subaccount))
        out.append(ev.Deposit(ts=ts, subaccount=m.subaccount, asset="USDC", amount=str(m.collateral)))
        for symbol, size in m.legs:
            buyer, seller = (m.subaccount, MAKER) if size > 0 else (MAKER, m.subaccount)
            out.append(ev.Fill(ts=ts, instrument=symbol, buyer=buyer, seller=seller, price=str(prices[symbol]), size=str(abs(size))))
        self.opened[i] = True
        return out

    def step(self, k: int, t_ns: int, engine, prices: dict[str, Decimal]) -> tuple[list, dict[str, float]]:
        """Events due at ``t_ns`` and the signed notional (USD) the crowd's own trades put on each market."""
        out: list = []
        flow = {m.symbol: 0.0 for m in self.markets}
        elapsed = (t_ns - self.t0_ns) / 1e9
        while self._next < len(self._order) and self.members[self._order[self._next]].entry_s <= elapsed:
            out += self._open(self._order[self._next], t_ns, prices)
            self._next += 1
        due = [p for p in self.pending if p.due_ns <= t_ns]
        self.pending = [p for p in self.pending if p.due_ns > t_ns]
        for p in due:
            m = self.members[p.member]
            try:
                s = engine.sub_index(m.subaccount)
            except Exception:  # noqa: BLE001 - not opened (refused): nothing to do
                continue
            if p.action == "topup":
                mm, eq = int(engine.sub_mm[s]), engine.equity(s)
                need = Decimal(max(math.ceil(mm / self.spec.target_ratio) - eq, 0)) / Decimal(10**6)
                amount = min(need, self.reserve_left[p.member]).quantize(Decimal("0.01"))
                if amount > 0 and mm > 0:
                    self.reserve_left[p.member] -= amount
                    out.append(ev.Deposit(ts=t_ns, subaccount=m.subaccount, asset="USDC", amount=str(amount)))
                    self.stats["topups"] += 1
                    self.stats["topup_usd"] += float(amount)
            else:
                for symbol, _ in m.legs:
                    lots = engine.position(s, symbol)[0]
                    instr = engine.instrument(symbol)
                    cut = int(abs(lots) * m.derisk_fraction)
                    if cut == 0 or engine.in_liquidation[s]:
                        continue
                    size = instr.size(cut)
                    buyer, seller = (MAKER, m.subaccount) if lots > 0 else (m.subaccount, MAKER)
                    out.append(ev.Fill(ts=t_ns, instrument=symbol, buyer=buyer, seller=seller, price=str(prices[symbol]),
                                       size=str(size)))
                    notional = float(size) * float(prices[symbol])
                    flow[symbol] += -notional if lots > 0 else notional
                    self.stats["derisks"] += 1
                    self.stats["derisk_notional_usd"] += notional
        out += self._dip(t_ns, prices)
        return out, flow

    def _dip(self, t_ns: int, prices: dict[str, Decimal]) -> list:
        primary = self.markets[0].symbol
        px = float(prices[primary])
        self._high = max(self._high, px)
        level = int((1 - px / self._high) / self.spec.dip_step + 1e-12) if self._high > 0 else 0
        out: list = []
        while self._dip_level < level:
            self._dip_level += 1
            n = int(round(self.spec.dip_share * self.spec.n_accounts))
            directional = next((t for t in self.spec.types if t.kind == "directional" and not t.isolated), self.spec.types[0])
            for _ in range(n):
                lev = min(self.spec.dip_leverage_median * math.exp(directional.leverage_sigma * float(self.rng.standard_normal())),
                          self.max_leverage * directional.leverage_cap)
                # a dip buyer deposits like a cross trader of the crowd (same log-normal, same open-interest scale)
                coll = Decimal(f"{max(directional.collateral_median * self.collateral_scale * math.exp(directional.collateral_sigma * float(self.rng.standard_normal())), 10.0):.2f}")
                if self.max_notional_usd is not None and float(coll) * lev > self.max_notional_usd:  # as the members' cap
                    coll = Decimal(f"{self.max_notional_usd / lev:.2f}")
                if self.im_rate is not None:  # the tier at its own notional, as the crowd's members (generate_crowd)
                    lev = min(lev, directional.leverage_cap / self.im_rate(float(coll) * lev))
                m = self.markets[0]
                size = _size(float(coll) * lev, Market(m.symbol, px, m.size_step), 1)
                if size == 0:
                    continue
                i = len(self.members)
                self.members.append(Member(
                    subaccount=f"dip{self._dip_level}-{i:06d}/main", kind="directional", type_name="dip_buyer", isolated=False,
                    collateral=coll, legs=((m.symbol, size),), leverage=lev,
                    entry_s=(t_ns - self.t0_ns) / 1e9 + float(self.rng.random()) * self.spec.dip_window_s,
                    attentive=bool(self.rng.random() < directional.topup_probability), derisks=False,
                    reserve=coll * Decimal(str(directional.topup_reserve)), derisk_fraction=directional.derisk_fraction))
                self.reserve_left.append(self.members[-1].reserve)
                self.stats["dip_accounts"] += 1
            self.opened = np.concatenate([self.opened, np.zeros(len(self.members) - self.opened.size, dtype=bool)])
            self.reacted = np.concatenate([self.reacted, np.zeros(len(self.members) - self.reacted.size, dtype=bool)])
            self._subs = np.concatenate([self._subs, np.full(len(self.members) - self._subs.size, -2, dtype=np.int64)])
            self._attentive = np.array([m.attentive for m in self.members], dtype=bool)
            rest = self._order[self._next:] + list(range(len(self._order), len(self.members)))
            self._order = self._order[: self._next] + sorted(rest, key=lambda j: self.members[j].entry_s)
        return out

    def observe(self, t_ns: int, engine) -> None:
        """After the step's tick: members whose margin ratio reached ``warn_ratio`` schedule their reaction."""
        for i in np.flatnonzero(self.opened & (self._subs == -2)):  # each member looked up once, when it has opened
            try:
                self._subs[i] = engine.sub_index(self.members[int(i)].subaccount)
            except Exception:  # noqa: BLE001 - its opening was refused
                self._subs[i] = -1
        idx = np.flatnonzero(self.opened & ~self.reacted & (self._subs >= 0))
        if idx.size == 0:
            return
        s_arr = self._subs[idx]
        mm = engine.sub_mm[s_arr].astype(np.float64)
        eq = engine.equity_array(s_arr).astype(np.float64)
        warned = (mm > 0) & ((eq <= 0) | (mm >= self.spec.warn_ratio * np.maximum(eq, 1)))
        for i in idx[warned].tolist():
            m = self.members[i]
            self.reacted[i] = True
            if m.attentive and self.reserve_left[i] > 0:
                self.pending.append(_Pending(t_ns + self._delay_ns(), i, "topup"))
            elif m.derisks:
                self.pending.append(_Pending(t_ns + self._delay_ns(), i, "derisk"))

    def rearm(self) -> None:
        """Members whose reaction has run may react again (called once per step after :meth:`step`)."""
        waiting = np.zeros(self.reacted.size, dtype=bool)
        waiting[[p.member for p in self.pending]] = True
        for i in np.flatnonzero(self.reacted & ~waiting & self._attentive).tolist():
            if self.reserve_left[i] > 0:
                self.reacted[i] = False
