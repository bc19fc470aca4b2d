"""The lazy re-margin (:mod:`ramparts.engine.tick_slack`) against a forced full re-margin.

Two engines see the same events: one re-margins lazily (the default), the other every holder on
every tick (``lazy_remargin = False``). After every event both must have refused it alike or
returned the same effects (margin calls, liquidations, everything), and have the same state hash;
at random points, and at the end, every sub-account's ``risk()``, the per-sub-account sums and the
position caches must be equal, and the lazy engine's own invariants must hold
(:meth:`~ramparts.engine.tick_slack.TickSlackOps.lazy_check`: every band it relies on holds at the
current marks and its margin condition holds exactly).

The events: index prices small and large on three perpetuals with tiered schedules and a dated
future, option prices, quoted oracle prices, fills between cross, isolated, portfolio and option
traders and a market maker, deposits and withdrawals of cash and of a lendable collateral asset,
collateral prices, dynamic haircuts switched on and off, funding, the future's settlement,
schedule changes (tier tables, a size premium) and other instrument parameters, the correlation
add-on switched on and off, liquidation settings, waterfall ticks,
keeper bids, book snapshots, and, on the lazy engine only, snapshot restores and position
compactions (neither is an event: both must leave nothing observable behind).
"""

from __future__ import annotations

import math
import os
import subprocess
import sys

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ramparts.engine import Engine
from ramparts.engine import events as ev
from ramparts.engine.presets import BTC_TIERS, genesis, perpetual
from ramparts.engine.slack_index import SlackIndex
from ramparts.errors import RampartsError

S = 10**9
DAY = 86_400 * S
PERPS = ("BTC-PERP", "ETH-PERP", "SOL-PERP")
FUT = "BTC-FUT"
OPT = "BTC-40000-C"
TRADERS = ["c0/main", "c1/main", "c2/main", "c3/main", "c4/main", "iso/btc", "iso/eth", "pm/main", "opt/main"]
TIERS = {
    "BTC-PERP": [[["0", "0.05", "0.025"], ["200000", "0.1", "0.05"], ["1000000", "0.2", "0.1"]],
                 [["0", "0.1", "0.05"], ["100000", "0.2", "0.1"]],
                 [["0", "0.02", "0.01"], ["50000", "0.04", "0.02"], ["400000", "0.1", "0.05"], ["2000000", "0.2", "0.1"]]],
    "ETH-PERP": [[["0", "0.1", "0.05"], ["100000", "0.2", "0.1"]], [["0", "0.04", "0.02"]], [["0", "0.2", "0.1"]]],
    "SOL-PERP": [[["0", "0.1", "0.05"]], [["0", "0.05", "0.025"], ["20000", "0.1", "0.05"]], [["0", "0.3", "0.15"]]],
}
START = {"BTC-PERP": 40_000.0, "ETH-PERP": 2_000.0, "SOL-PERP": 100.0, FUT: 40_100.0}
LIQ_KEYS = [("last_resort", "adl"), ("last_resort", "socialised"), ("last_resort", "socialised_funding"),
            ("pricing", "fixed_penalty"), ("pricing", "oracle_fee"), ("pricing", "order_book"), ("hedge_insurance", True),
            ("hedge_insurance", False)]


def _setup() -> list:
    events = [
        genesis(ts=0, cooldown_ns=3 * S, min_step_notional=200 * 10**6, full_close_notional=2_000 * 10**6),
        perpetual("BTC-PERP", "BTC", tiers=TIERS["BTC-PERP"][0]),
        perpetual("ETH-PERP", "ETH", size_step="0.01", tick_size="0.01", tiers=TIERS["ETH-PERP"][0]),
        perpetual("SOL-PERP", "SOL", size_step="0.1", tick_size="0.001", tiers=TIERS["SOL-PERP"][0]),
        ev.ListInstrument(ts=0, symbol=FUT, instrument_kind="future", underlying="BTC", size_step="0.001", tick_size="0.1",
                          margin={"tiers": BTC_TIERS}, expiry_ns=2 * DAY),
        ev.ListInstrument(ts=0, symbol=OPT, instrument_kind="option", underlying="BTC", size_step="0.01", tick_size="0.1",
                          margin={"tiers": [["0", "1", "0.5"]]}, expiry_ns=30 * DAY, strike="40000", option_type="call",
                          index_instrument="BTC-PERP"),
        ev.ListAsset(ts=0, symbol="WETH", decimals=8, collateral={"haircut_ppm": 100_000, "borrow": {"im_ppm": 100_000, "mm_ppm": 50_000}}),
    ]
    for s in [*TRADERS, "mm/main", "k/main"]:
        mode = "portfolio" if s.startswith("pm") else ("isolated" if s.startswith("iso") else "cross")
        instrument = {"iso/btc": "BTC-PERP", "iso/eth": "ETH-PERP"}.get(s)
        events.append(ev.OpenSubAccount(ts=0, subaccount=s, mode=mode, **({"instrument": instrument} if instrument else {})))
    events += [ev.OraclePrice(ts=0, instrument=sym, price=str(START[sym])) for sym in (*PERPS, FUT)]
    events += [
        ev.OraclePrice(ts=0, instrument=OPT, price="1500"),
        ev.AssetPrice(ts=0, asset="WETH", price="2000"),
        ev.FundInsurance(ts=0, amount="20000"),
        ev.Deposit(ts=0, subaccount="mm/main", asset="USDC", amount="100000000"),
        ev.Deposit(ts=0, subaccount="k/main", asset="USDC", amount="1000000"),
        ev.Deposit(ts=0, subaccount="k/main", asset="WETH", amount="100"),
        ev.ParameterChange(ts=0, target="liquidation", key="book_account", value="mm/main"),
        ev.ParameterChange(ts=0, target="instrument:SOL-PERP", key="oracle",
                           value={"aggregator": {"sources": ["s0", "s1", "s2"], "max_age_ns": 60 * S, "min_sources": 2},
                                  "policy": {"min_sources": 2, "max_twap_divergence_ppm": 300_000}, "twap": {"window_ns": 300 * S}}),
        ev.ParameterChange(ts=0, target="breakers", key="rules",
                           value=[{"name": "btc-move", "trigger": "price_move", "instrument": "BTC-PERP", "move_ppm": 200_000,
                                   "window_ns": 600 * S, "cooldown_ns": 300 * S}]),
    ]
    events += [ev.Deposit(ts=0, subaccount=s, asset="USDC", amount="5000") for s in TRADERS]
    return events


def _eager(e: Engine) -> Engine:
    """Lazy from the first position and for every instrument (the defaults wait for a big book)."""
    e.lazy_min_positions = 0
    e.lazy_min_holders = 0
    return e


class _Pair:
    """A lazy and a full engine fed the same events."""

    def __init__(self):
        self.lazy = _eager(Engine())
        self.full = Engine()
        self.full.lazy_remargin = False
        assert self.lazy.lazy_remargin
        self.t = 0
        self.px = dict(START)
        self.settled = False
        for x in _setup():
            assert self.lazy.apply(x) == self.full.apply(x)
        self.rejected = 0
        self.kinds: dict[str, int] = {}
        self.stats: dict[str, int] = {}  # lazy_stats of the lazy engines replaced by a restore

    def lazy_stats(self) -> dict[str, int]:
        return {k: v + self.stats.get(k, 0) for k, v in self.lazy.lazy_stats.items()}

    def apply(self, x) -> None:
        try:
            fa = self.lazy.apply(x)
        except RampartsError as exc:
            fa = ("refused", type(exc).__name__, str(exc))
        try:
            fb = self.full.apply(x)
        except RampartsError as exc:
            fb = ("refused", type(exc).__name__, str(exc))
        assert fa == fb, (x, fa, fb)
        if isinstance(fa, tuple):
            self.rejected += 1
        else:
            for f in fa:
                self.kinds[f["kind"]] = self.kinds.get(f["kind"], 0) + 1
        assert self.lazy.state_hash() == self.full.state_hash(), x

    def compare_reads(self) -> None:
        a, b = self.lazy, self.full
        a.lazy_check()
        n = len(a.subs)
        for s in range(n):
            assert a.risk(s) == b.risk(s), s
        for name in ("sub_value", "sub_im", "sub_mm", "sub_cost", "sub_coll"):
            assert np.array_equal(getattr(a, name)[:n], getattr(b, name)[:n]), name
        assert np.array_equal(a.equity_array(), b.equity_array())
        rows_a = {(int(a.book.sub[p]), int(a.book.instr[p])): (int(a.book.value[p]), int(a.book.im[p]), int(a.book.mm[p]))
                  for i in range(len(a.instruments)) for p in a.book.holders(i).tolist()}
        rows_b = {(int(b.book.sub[p]), int(b.book.instr[p])): (int(b.book.value[p]), int(b.book.im[p]), int(b.book.mm[p]))
                  for i in range(len(b.instruments)) for p in b.book.holders(i).tolist()}
        assert rows_a == rows_b

    # ------------------------------------------------------------------ the event language
    def step(self, op: str, a: int, c: int, x: float) -> None:
        self.t += S * (1 + a % 7)
        t = self.t
        if op in ("move", "jump"):
            for k in range(1 + (c % 4 if op == "move" else 0)):  # a burst of ticks, a few instruments
                sym = (*PERPS, FUT)[(a + k) % 4]
                if sym == FUT and self.settled:
                    sym = "BTC-PERP"
                drift = x if k % 2 == 0 else -x / 2
                self.px[sym] *= math.exp(drift * (0.006 if op == "move" else 0.1))
                self.apply(ev.OraclePrice(ts=t + k, instrument=sym, price=f"{self.px[sym]:.2f}"))
        elif op == "quotes":
            p = self.px["SOL-PERP"] = self.px["SOL-PERP"] * math.exp(x * 0.03)
            quotes = [{"source": f"s{k}", "price": f"{p * (1 + (k - 1) * 2e-4):.3f}", "ts_ns": t} for k in range(2 + c % 2)]
            self.apply(ev.OracleQuotes(ts=t, instrument="SOL-PERP", quotes=quotes))
        elif op == "option":
            intrinsic = max(self.px["BTC-PERP"] - 40_000, 0)
            self.apply(ev.OraclePrice(ts=t, instrument=OPT, price=f"{intrinsic + 400 + 300 * abs(x):.1f}"))
        elif op in ("fill", "cross"):
            trader = TRADERS[c % len(TRADERS)]
            if trader == "iso/btc":
                sym = "BTC-PERP"
            elif trader == "iso/eth":
                sym = "ETH-PERP"
            elif trader in ("pm/main", "opt/main") and a % 3 == 0:
                sym = OPT
            else:
                sym = (*PERPS, FUT)[a % 4]
            if sym == OPT:
                px = f"{max(self.px['BTC-PERP'] - 40_000, 0) + 500:.1f}"
                size = f"{0.05 + 2 * abs(x):.2f}"
            else:
                step = {"BTC-PERP": 3, "ETH-PERP": 2, "SOL-PERP": 1, FUT: 3}[sym]
                px = f"{self.px[sym]:.{1 if sym != 'SOL-PERP' else 3}f}" if sym != "ETH-PERP" else f"{self.px[sym]:.2f}"
                # up to about the trader's initial-margin capacity (read on the full engine: the lazy one is not touched)
                free = self.full.risk(trader).free_collateral / 1e6
                notional = 100 + free * 12 * (0.15 + abs(x))
                size = f"{max(notional / self.px[sym], 10**-step):.{step}f}"
            other = "mm/main" if op == "fill" else TRADERS[(c // 7 + 1 + c) % len(TRADERS)]
            if other == trader:
                other = "mm/main"
            if op == "cross" and c % 4 == 0:
                other = "backstop/vault"  # a system sub-account: never re-margined by a lazy tick, caught up when traded
            buyer, seller = (trader, other) if x >= 0 else (other, trader)
            self.apply(ev.Fill(ts=t, instrument=sym, buyer=buyer, seller=seller, price=px, size=size, buyer_fee="0.5"))
        elif op == "deposit":
            asset = "WETH" if a % 4 == 0 else "USDC"
            amount = f"{0.01 + abs(x):.4f}" if asset == "WETH" else f"{50 + 4000 * abs(x):.2f}"
            self.apply(ev.Deposit(ts=t, subaccount=TRADERS[c % len(TRADERS)], asset=asset, amount=amount))
        elif op == "withdraw":
            asset = "WETH" if a % 4 == 0 else "USDC"
            amount = f"{0.01 + abs(x):.4f}" if asset == "WETH" else f"{1 + 3000 * abs(x):.2f}"
            self.apply(ev.Withdraw(ts=t, subaccount=TRADERS[c % len(TRADERS)], asset=asset, amount=amount))
        elif op == "asset":
            self.px["WETH"] = self.px.get("WETH", 2000.0) * math.exp(x * 0.1)
            self.apply(ev.AssetPrice(ts=t, asset="WETH", price=f"{self.px['WETH']:.2f}"))
        elif op == "funding":
            self.apply(ev.FundingTick(ts=t, instrument=PERPS[a % 3], premium=f"{x * 0.002:.6f}"))
        elif op == "tiers":
            sym = PERPS[a % 3]
            tiers = TIERS[sym][c % len(TIERS[sym])]
            premium = "0.0005" if c % 11 == 10 else "0"  # a size premium: that instrument's ticks go back to the full path
            self.apply(ev.ParameterChange(ts=t, target=f"instrument:{sym}", key="margin", value={"tiers": tiers, "size_premium": premium}))
        elif op == "correlation":  # on (every tick is then a full re-margin), a few events, off again
            matrix = {"assets": ["BTC", "ETH"], "ppm": [[1_000_000, 700_000], [700_000, 1_000_000]]}
            self.apply(ev.ParameterChange(ts=t, target="correlation", key="matrix", value=matrix))
            self.step("move", a, c, x)
            self.step("fill", a, c, -x)
            self.apply(ev.ParameterChange(ts=self.t + 1, target="correlation", key="matrix", value=None))
        elif op == "haircut":  # the collateral asset's haircut dynamic (a Tick then steps it: watched, never skipped), or static
            dynamic = {"dynamic": {"base_ppm": 20_000, "k_ppm": 2_326_000, "horizon_s": 86_400, "max_up_ppm": 20_000,
                                   "max_down_ppm": 5_000, "cap_ppm": 500_000}, "haircut_update_ns": 20 * S, "vol_window": 5}
            value = {"haircut_ppm": 100_000, "borrow": {"im_ppm": 100_000, "mm_ppm": 50_000}, **(dynamic if c % 2 == 0 else {})}
            self.apply(ev.ParameterChange(ts=t, target="asset:WETH", key="collateral", value=value))
        elif op == "instrument":  # an instrument parameter other than its schedule: watched, not global
            self.apply(ev.ParameterChange(ts=t, target=f"instrument:{PERPS[a % 3]}", key="oracle_max_age_ns", value=0))
        elif op == "liquidation":
            key, value = LIQ_KEYS[c % len(LIQ_KEYS)]
            self.apply(ev.ParameterChange(ts=t, target="liquidation", key=key, value=value))
        elif op == "tick":
            self.apply(ev.Tick(ts=t, liquidator="keeper"))
        elif op == "bid":
            self.apply(ev.LiquidationBid(ts=t, liquidator="k/main", subaccount=TRADERS[c % len(TRADERS)], max_fraction_ppm=500_000))
        elif op == "book":
            mid = self.px["BTC-PERP"]
            self.apply(ev.BookSnapshot(ts=t, instrument="BTC-PERP", bids=[[f"{mid - 5 * (j + 1):.1f}", "0.3"] for j in range(4)],
                                       asks=[[f"{mid + 5 * (j + 1):.1f}", "0.3"] for j in range(4)]))
        elif op == "settle":
            if not self.settled:
                self.t = max(self.t, 2 * DAY)
                self.settled = True
                self.apply(ev.Settlement(ts=self.t, instrument=FUT, price=f"{self.px[FUT]:.1f}"))
        elif op == "restore":  # not an event: the lazy engine restarts from its own snapshot
            r = Engine.restore(self.lazy.snapshot())
            assert r.state_hash() == self.lazy.state_hash()
            for k, v in self.lazy.lazy_stats.items():
                self.stats[k] = self.stats.get(k, 0) + v
            self.lazy = _eager(r)
        elif op == "compact":
            self.lazy.compact_positions()
            assert self.lazy.state_hash() == self.full.state_hash()
        elif op == "check":
            self.compare_reads()


#: the event language, weighted by repetition (ticks are what the lazy path is about)
OPS = (["move"] * 24 + ["jump"] * 5 + ["fill"] * 12 + ["cross"] * 3 + ["deposit"] * 4 + ["withdraw"] * 3 + ["tick"] * 8
       + ["funding"] * 2 + ["asset", "option", "quotes", "bid", "book", "liquidation", "check", "compact", "haircut", "instrument"]
       + ["tiers", "restore", "correlation", "settle"])  # the last four forget every band: rarer
STEP = st.tuples(st.sampled_from(OPS), st.integers(0, 255), st.integers(0, 255), st.floats(-1, 1, allow_nan=False))
TOTALS: dict = {"examples": 0, "events": 0, "rechecked": 0, "skipped": 0, "lazy_ticks": 0, "effects": {}}


@settings(max_examples=int(os.environ.get("TICK_SLACK_EXAMPLES", "60")), deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.lists(STEP, min_size=40, max_size=300))
def test_lazy_and_full_re_margin_agree_event_by_event(steps):
    pair = _Pair()
    for op, a, c, x in steps:
        pair.step(op, a, c, x)
    pair.compare_reads()
    TOTALS["examples"] += 1
    TOTALS["events"] += len(steps)
    for k in ("rechecked", "skipped", "lazy_ticks"):
        TOTALS[k] += pair.lazy_stats()[k]
    for k, v in pair.kinds.items():
        TOTALS["effects"][k] = TOTALS["effects"].get(k, 0) + v


def test_long_seeded_streams_agree_and_reach_liquidations():
    """Three long streams of the same event language (numpy-seeded, 700 steps each): long enough
    for positions to build up to their margin and for crashes to liquidate them."""
    effects: dict[str, int] = {}
    stats = {"lazy_ticks": 0, "skipped": 0, "rechecked": 0}
    for seed in (11, 12, 13):
        rng = np.random.default_rng(seed)
        pair = _Pair()
        for k in range(700):
            op = OPS[int(rng.integers(0, len(OPS)))]
            pair.step(op, int(rng.integers(0, 256)), int(rng.integers(0, 256)), float(rng.uniform(-1, 1)))
            if k % 100 == 99:
                pair.compare_reads()
        pair.compare_reads()
        for kind, v in pair.kinds.items():
            effects[kind] = effects.get(kind, 0) + v
        for key in stats:
            stats[key] += pair.lazy_stats()[key]
    print("long streams:", stats, effects)
    for kind in ("MarginCall", "LiquidationStep", "Funding", "Settled"):
        assert effects.get(kind, 0) > 0, (kind, effects)
    assert stats["skipped"] > 0 and stats["rechecked"] > 0, stats


def test_the_property_test_exercised_the_lazy_path():
    """(Runs after the property test in file order.) The lazy path did skip holders, and re-checked some."""
    if not TOTALS["examples"]:
        test_lazy_and_full_re_margin_agree_event_by_event()
    print("tick-slack property test:", TOTALS)
    assert TOTALS["lazy_ticks"] > 0 and TOTALS["skipped"] > 0 and TOTALS["rechecked"] > 0, TOTALS


def _crowd(n_accounts: int, seed: int) -> tuple[Engine, Engine, np.random.Generator]:
    """Many cross accounts trading four perpetuals against a market maker: enough holders for the index to compact."""
    rng = np.random.default_rng(seed)
    engines = (_eager(Engine()), Engine())
    engines[1].lazy_remargin = False
    syms = ["P0-PERP", "P1-PERP", "P2-PERP", "P3-PERP"]
    setup = [genesis(ts=0), *(perpetual(s, f"U{k}", tiers=BTC_TIERS) for k, s in enumerate(syms)),
             ev.OpenSubAccount(ts=0, subaccount="mm/main"), ev.Deposit(ts=0, subaccount="mm/main", asset="USDC", amount="1000000000")]
    setup += [ev.OraclePrice(ts=0, instrument=s, price=str(100 * (k + 1))) for k, s in enumerate(syms)]
    for k in range(n_accounts):
        setup += [ev.OpenSubAccount(ts=0, subaccount=f"a{k}/main"), ev.Deposit(ts=0, subaccount=f"a{k}/main", asset="USDC", amount=str(rng.integers(200, 5000)))]
    for x in setup:
        assert engines[0].apply(x) == engines[1].apply(x)
    for k in range(n_accounts):
        for s in rng.choice(syms, 2, replace=False).tolist():
            px = 100 * (syms.index(s) + 1)
            size = f"{rng.uniform(1, 30):.3f}"
            buyer, seller = (f"a{k}/main", "mm/main") if rng.random() < 0.5 else ("mm/main", f"a{k}/main")
            x = ev.Fill(ts=0, instrument=s, buyer=buyer, seller=seller, price=str(px), size=size)
            try:
                fa = engines[0].apply(x)
            except RampartsError as exc:
                fa = str(exc)
            try:
                fb = engines[1].apply(x)
            except RampartsError as exc:
                fb = str(exc)
            assert fa == fb
    return *engines, rng


def test_a_crowd_of_holders_through_many_ticks_with_a_small_index(monkeypatch):
    """Hundreds of holders, thousands of ticks (small moves and a few crashes), deposits and
    fills in between; the index's pending list and dead entries are folded every few dozen
    entries (a small threshold) so that compaction runs often."""
    monkeypatch.setattr(SlackIndex, "_MIN_PENDING", 4)
    lazy, full, rng = _crowd(300, seed=7)
    px = [100.0, 200.0, 300.0, 400.0]
    calls = 0
    for t in range(1, 2501):
        r = rng.random()
        k = int(rng.integers(0, 4))
        if r < 0.9:
            px[k] *= math.exp(rng.normal(0, 0.004) + (rng.choice([0.0, -0.08, 0.06], p=[0.98, 0.01, 0.01])))
            x = ev.OraclePrice(ts=t * S, instrument=f"P{k}-PERP", price=f"{px[k]:.1f}")
        elif r < 0.95:
            x = ev.Deposit(ts=t * S, subaccount=f"a{int(rng.integers(0, 300))}/main", asset="USDC", amount="100")
        elif r < 0.99:
            who = f"a{int(rng.integers(0, 300))}/main"
            x = ev.Fill(ts=t * S, instrument=f"P{k}-PERP", buyer=who, seller="mm/main", price=f"{px[k]:.1f}", size="1")
        else:
            x = ev.Tick(ts=t * S, liquidator="keeper")
        try:
            fa = lazy.apply(x)
        except RampartsError as exc:
            fa = ("refused", str(exc))
        try:
            fb = full.apply(x)
        except RampartsError as exc:
            fb = ("refused", str(exc))
        assert fa == fb, (t, x)
        calls += sum(f["kind"] == "MarginCall" for f in fa) if isinstance(fa, list) else 0
        assert lazy.state_hash() == full.state_hash(), t
        if t % 500 == 0:
            lazy.lazy_check()
    lazy.lazy_check()
    n = len(lazy.subs)
    assert np.array_equal(lazy.sub_mm[:n], full.sub_mm[:n]) and np.array_equal(lazy.equity_array(), full.equity_array())
    st_ = lazy.lazy_stats
    assert calls > 0 and st_["skipped"] > 10 * st_["rechecked"], (calls, st_)


def test_reads_between_ticks_are_exact_and_only_the_read_account_is_brought_up_to_date():
    lazy, full, _ = _crowd(50, seed=3)
    for t in range(1, 40):
        x = ev.OraclePrice(ts=t * S, instrument="P1-PERP", price=f"{200 * (1 + 0.001 * (t % 5)):.1f}")
        assert lazy.apply(x) == full.apply(x)
    assert lazy._lz_dirty  # some holders' caches are behind
    s = lazy.sub_index("a3/main")
    assert lazy.risk("a3/main") == full.risk("a3/main")
    assert lazy.equity(s) == full.equity(s)
    assert lazy._lz_dirty  # risk() caught up one sub-account, not the book
    assert np.array_equal(lazy.sub_mm[: len(lazy.subs)], full.sub_mm[: len(full.subs)])  # a raw read catches up everything
    assert not lazy._lz_dirty


def test_the_switch_forces_the_full_path():
    """``lazy_remargin = False`` on an engine (or RAMPARTS_FULL_REMARGIN=1 for the process) re-margins every holder."""
    lazy, full, _ = _crowd(40, seed=5)
    for t in range(1, 10):
        x = ev.OraclePrice(ts=t * S, instrument="P0-PERP", price=f"{100 + t * 0.1:.1f}")
        assert lazy.apply(x) == full.apply(x)
    assert lazy.lazy_stats["lazy_ticks"] > 0 and full.lazy_stats["lazy_ticks"] == 0
    lazy.lazy_remargin = False  # switched off mid-stream, then on again: caught up, then rebuilt
    for t in range(10, 20):
        x = ev.OraclePrice(ts=t * S, instrument="P0-PERP", price=f"{100 - t * 0.2:.1f}")
        assert lazy.apply(x) == full.apply(x)
    lazy.lazy_remargin = True
    for t in range(20, 30):
        x = ev.OraclePrice(ts=t * S, instrument="P0-PERP", price=f"{100 + t * 0.3:.1f}")
        assert lazy.apply(x) == full.apply(x)
        assert lazy.state_hash() == full.state_hash()
    lazy.lazy_check()
    out = subprocess.run([sys.executable, "-c", "from ramparts.engine import Engine; print(Engine.lazy_remargin)"],
                         env={**os.environ, "RAMPARTS_FULL_REMARGIN": "1"}, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@settings(max_examples=int(os.environ.get("TICK_SLACK_EXAMPLES", "60")), deadline=None)
@given(st.lists(st.tuples(st.integers(0, 40), st.integers(-50, 50), st.integers(0, 30), st.booleans()), min_size=1, max_size=400),
       st.integers(1, 6))
def test_the_index_returns_exactly_the_live_bands_a_price_leaves(ops, room):
    """The index against a brute force over the live bands: random bands (ALWAYS ones
    included) re-stamped at random, queries at random prices, the pending room and the fold
    thresholds tiny so that overflows, folds, in-place kills and merges all happen."""
    from ramparts.engine.slack_index import _I64_MAX, _I64_MIN

    old = (SlackIndex._MIN_PENDING, SlackIndex._MIN_ROOM, SlackIndex._ROOM_BUDGET)
    SlackIndex._MIN_PENDING, SlackIndex._MIN_ROOM, SlackIndex._ROOM_BUDGET = 2, room, room
    try:
        idx = SlackIndex()
        idx.pend = np.zeros((4, 0, room), dtype=np.int64)
        idx.ensure(1)
        n_subs = 41
        stamp = np.zeros(n_subs, dtype=np.int64)
        seen = np.zeros(n_subs, dtype=np.int64)
        band: dict[int, tuple[int, int]] = {}
        next_stamp = 1
        idx.build(0, *(np.zeros(0, dtype=np.int64) for _ in range(4)))
        for k, (s, centre, width, always) in enumerate(ops):
            if k % 3 == 2:  # a query at the price ``centre``
                got = idx.triggered(0, centre, stamp, seen, k + 1)
                want = sorted(t for t, (lo, hi) in band.items() if centre < lo or centre > hi)
                assert got.tolist() == want, (k, got.tolist(), want)
                # the triggered ones get new bands around the price (as the engine does), then the kill
                for t in got.tolist():
                    lo, hi = (_I64_MAX, _I64_MIN) if t % 5 == 0 else (centre - width, centre + width)
                    stamp[t] = next_stamp
                    band[t] = (lo, hi)
                    next_stamp += 1
                idx.kill_hits(stamp)
                for t in got.tolist():
                    idx.append(0, *band[t], t, stamp[t], stamp)
            else:  # sub-account ``s`` gets a new band
                lo, hi = (_I64_MAX, _I64_MIN) if always else (centre - width, centre + width)
                stamp[s] = next_stamp
                band[s] = (lo, hi)
                idx.append(0, lo, hi, s, next_stamp, stamp)
                next_stamp += 1
            if k % 17 == 16:
                idx.compact(0, stamp)
        lo, hi, subs, _ = idx.live_entries(0, stamp)
        assert subs.tolist() == sorted(band)
        assert {int(x): (int(a), int(b)) for x, a, b in zip(subs, lo, hi, strict=True)} == band
    finally:
        SlackIndex._MIN_PENDING, SlackIndex._MIN_ROOM, SlackIndex._ROOM_BUDGET = old


def test_a_small_book_stays_on_the_full_path_until_it_grows():
    """Below ``lazy_min_positions`` open positions the engine re-margins in full (the lazy
    bookkeeping would cost more than it saves); it switches on once the book reaches it, and the
    results are the same either way."""
    lazy, full, _ = _crowd(60, seed=9)
    lazy.lazy_min_positions = 1_000  # the crowd holds about 120 positions: off (and below half of it: switched off)
    for t in range(1, 10):
        x = ev.OraclePrice(ts=t * S, instrument="P2-PERP", price=f"{300 + t * 0.1:.1f}")
        assert lazy.apply(x) == full.apply(x)
    ticks = lazy.lazy_stats["lazy_ticks"]
    assert not lazy._lz_was_on
    lazy.lazy_min_positions = 100
    for t in range(10, 20):
        x = ev.OraclePrice(ts=t * S, instrument="P2-PERP", price=f"{300 - t * 0.1:.1f}")
        assert lazy.apply(x) == full.apply(x)
        assert lazy.state_hash() == full.state_hash()
    assert lazy.lazy_stats["lazy_ticks"] > ticks
    lazy.lazy_check()


@settings(max_examples=200, deadline=None)
@given(bounds=st.lists(st.integers(-1, 50), min_size=1, max_size=6), watched=st.booleans(),
       trades=st.lists(st.tuples(st.integers(0, 9), st.integers(0, 7), st.integers(-80, 80)), max_size=30))
def test_the_trades_of_a_run_tell_the_lazy_pass_what_one_trade_at_a_time_tells_it(bounds, watched, trades):
    """``_lz_traded_many`` (a run's fills, at once) leaves the kept bound on ``max |lots|`` per instrument and the watched
    sub-accounts as ``_lz_traded`` of each trade in turn (an unknown bound, −1, stays unknown; an instrument beyond the
    table is ignored)."""
    one, many = Engine(), Engine()
    for e in (one, many):
        e._lz_maxlots = np.array(bounds, dtype=np.int64)
        e._lz_touched = [] if watched else None
    for s, i, lots in trades:
        one._lz_traded(s, i, lots)
    arr = np.array(trades, dtype=np.int64).reshape(-1, 3)
    many._lz_traded_many(arr[:, 0], arr[:, 1], arr[:, 2])
    assert many._lz_maxlots.tolist() == one._lz_maxlots.tolist()
    assert many._lz_touched == one._lz_touched
