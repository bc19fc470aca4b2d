"""Options books through a real crash: portfolio against cross margin, in the engine (``ramparts replay-options``).

This module owns the lab's options replay. It lists BTC-PERP and a strip of European options
(calls and puts 30 days out, strikes every 10 % from −30 % to +30 % of the first price, rounded to
1,000), and opens a seeded population whose accounts each run one of four option strategies, every
account twice, once in a ``portfolio`` sub-account and once in a ``cross`` one, with the same
collateral:

=====================  =====================================================================
``covered_call``       long perpetual, short an out-of-the-money call of the same size
``protective_put``     long perpetual, long an out-of-the-money put
``short_strangle``     short an out-of-the-money call and an out-of-the-money put
``hedged_short_call``  short an at-the-money call, long half its size in perpetual (delta hedge)
=====================  =====================================================================

At every observation the perpetual's oracle is the market path and each option's mark is its
Black-76 value at that price, the time left, and the volatility of the day: Deribit's BTC DVOL
daily close (the shipped ``options/`` data), held flat across strikes, when the window is covered
(FTX 2022, August 2024, October 2025), otherwise ``--vol`` (documented in the summary). Everything
runs through a journaled :class:`~ramparts.engine.node.Node`; the backstop vault unwinds perpetuals
into the market maker as in :mod:`ramparts.lab.replay` and keeps the options it takes over.

The price path is made by the lab's one path maker (:func:`options_path`): the event's path as ``ramparts replay``
walks it (its base series refined from the finest finer series of the same asset, unconfirmed wicks clipped),
cut into four-point bars of :data:`OPTIONS_BAR` (an hour: the engine marks every option at every observation, so
the bar bounds the run's cost), optionally thinned; the summary carries its record as ``price_path`` and the
report states it (bar size, method, unconfirmed wicks).

The result compares the two margin modes: initial margin posted at the open (capital efficiency),
margin calls, liquidation steps, bankruptcies and the deficit.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd

from ramparts.engine import events as ev
from ramparts.engine.node import Node, replay
from ramparts.engine.presets import genesis, perpetual
from ramparts.errors import DataError, InvalidInput
from ramparts.journal import open_journal
from ramparts.lab.replay import _submit, _unwind_vault
from ramparts.options.black76 import black76_price

STRATEGIES = ("covered_call", "protective_put", "short_strangle", "hedged_short_call")
EXPIRY_DAYS = 30
MAKER = "maker/main"


@dataclass(frozen=True)
class OptionsPopulation:
    """Seeded population: ``pairs`` accounts, each in a portfolio and a cross sub-account."""

    pairs: int = 200
    collateral_median: float = 20_000.0
    collateral_sigma: float = 0.8
    notional_to_collateral: tuple[float, float] = (1.0, 6.0)  #: size of each strategy relative to its collateral
    seed: int = 1

    def __post_init__(self) -> None:
        if not (isinstance(self.pairs, int) and 1 <= self.pairs <= 50_000):
            raise InvalidInput("pairs", f"expected 1 to 50,000, got {self.pairs!r}")
        lo, hi = self.notional_to_collateral
        if not (0 < lo <= hi <= 50):
            raise InvalidInput("notional_to_collateral", f"expected 0 < low ≤ high ≤ 50, got {self.notional_to_collateral}")
        if not (self.collateral_median > 0 and 0 <= self.collateral_sigma <= 5):
            raise InvalidInput("collateral_median", "must be positive (sigma in [0, 5])")


def dvol_series() -> tuple[np.ndarray, np.ndarray]:
    """Deribit BTC DVOL daily closes: (ts_ns at 00:00 UTC, vol as a decimal)."""
    from ramparts.data import data_path

    path = data_path("options/deribit_BTC_DVOL_daily_close_2022-2025.csv")
    try:
        df = pd.read_csv(path)
    except (OSError, ValueError) as exc:
        raise DataError(f"cannot read {path}: {exc}") from None
    return df["timestamp_ms"].to_numpy(np.int64) * 10**6, df["dvol_close"].to_numpy(float) / 100.0


def _vol_path(ts_ns: np.ndarray, fallback: float) -> tuple[np.ndarray, str]:
    try:
        t, v = dvol_series()
    except DataError:
        return np.full(ts_ns.size, fallback), f"flat {fallback:.0%} (DVOL file unreadable)"
    if ts_ns[0] < t[0] or ts_ns[-1] > t[-1] + 86_400 * 10**9:
        return np.full(ts_ns.size, fallback), f"flat {fallback:.0%} (DVOL does not cover this window)"
    idx = np.clip(np.searchsorted(t, ts_ns, side="right") - 1, 0, t.size - 1)
    return v[idx], "Deribit BTC DVOL, daily close of the day before (flat smile)"


def _strikes(p0: float) -> list[int]:
    return sorted({int(round(p0 * (1 + k / 10) / 1000) * 1000) for k in range(-3, 4)})


#: The bar the options replay walks by default: the event's path cut into hourly four-point bars (about as many
#: observations as the 15-minute closes the replay walked before, whose cost per observation it keeps).
OPTIONS_BAR = "1h"


def options_path(event, *, gaps: str = "error", source_id: str | None = None, method: str = "refined", order: str = "worst_long",
                 wicks: str = "clip", bar: str | None = OPTIONS_BAR, every: int = 1):
    """The path an options replay of ``event`` walks, through the lab's one path maker: the event's path
    (:func:`ramparts.lab.events.event_path`: its base series, each bar refined from the finest finer series of the same
    asset that covers it, unconfirmed wicks clipped), cut into four-point bars of ``bar``
    (:func:`ramparts.lab.paths.resample_path`; ``None``: as made), then every ``every``-th observation. The provenance
    says all three steps, and keeps the finer series and the wicks."""
    from dataclasses import replace

    from ramparts.lab.events import event_path
    from ramparts.lab.paths import PricePath, resample_path

    if not isinstance(every, int) or isinstance(every, bool) or every < 1:
        raise InvalidInput("every", f"must be a whole number of at least 1, got {every!r}")
    path = event_path(event, gaps=gaps, source_id=source_id, method=method, order=order, wicks=wicks)
    if bar is not None:
        from ramparts.lab.history import parse_interval

        try:
            parse_interval(bar)
        except InvalidInput as exc:
            raise InvalidInput("bar_size", f"{exc.message} (or none: walk the path as made)") from None
        path = resample_path(path, bar, order)
    if every > 1:
        prov = path.provenance
        kept = path.ts_ns[::every]
        note = f"one observation in {every} kept ({len(kept):,} of {len(path):,}): the extremes between them are skipped"
        path = PricePath(kept, path.price[::every], path.symbol, path.source, path.interval_ns, path.order,
                         replace(prov, observations=len(kept), median_step_ns=int(np.median(np.diff(kept))) if len(kept) > 1 else 0,
                                 notes=(*prov.notes, note)))
    return path


def run_options_replay(ts_ns: np.ndarray, price: np.ndarray, *, name: str = "options", population: OptionsPopulation | None = None,
                       vol: float = 0.6, insurance_fund: Decimal = Decimal("1000000"), journal_url: str = "sqlite://:memory:",
                       verify_replay: bool = True, progress: Callable[[int, int], None] | None = None, path=None) -> dict:
    """Replay ``price`` (BTC, quote per unit) with the options population; returns the summary dict
    (with ``series``: a DataFrame per observation). ``path``: how the prices were made (a
    :class:`~ramparts.lab.paths.PathProvenance`, e.g. :func:`options_path`'s), carried as ``price_path``."""
    pop = population or OptionsPopulation()
    ts_ns = np.asarray(ts_ns, np.int64)
    price = np.asarray(price, float)
    if ts_ns.shape != price.shape or ts_ns.size < 2 or not np.all(np.isfinite(price)) or np.any(price <= 0):
        raise InvalidInput("path", "needs two or more finite positive prices with one time each")
    vols, vol_source = _vol_path(ts_ns, vol)
    t0 = int(ts_ns[0])
    p0 = float(price[0])
    expiry = t0 + EXPIRY_DAYS * 86_400 * 10**9
    strikes = _strikes(p0)
    opts = [(f"BTC-{k}-{c[0].upper()}", k, c) for k in strikes for c in ("call", "put")]
    node = Node(open_journal(journal_url, durability="normal"))
    setup = [genesis(ts=t0, cooldown_ns=60 * 10**9), perpetual("BTC-PERP", "BTC", ts=t0, initial_rate="0.05", maintenance_rate="0.025"),
             ev.FundInsurance(ts=t0, amount=str(insurance_fund)), ev.OraclePrice(ts=t0, instrument="BTC-PERP", price=f"{p0:.1f}")]
    for sym, k, c in opts:
        setup.append(ev.ListInstrument(ts=t0, symbol=sym, instrument_kind="option", underlying="BTC", size_step="0.01", tick_size="0.1",
                                       margin={"tiers": [["0", "1", "0.5"]]}, expiry_ns=expiry, strike=str(k), option_type=c,
                                       index_instrument="BTC-PERP"))
    marks0 = _marks(opts, p0, EXPIRY_DAYS / 365, vols[0])
    setup += [ev.OraclePrice(ts=t0, instrument=sym, price=marks0[sym]) for sym, _, _ in opts]
    _submit(node, setup, strict=True)
    opening, accounts = _population(pop, opts, p0, marks0, t0)
    rejected = sum(1 for o in node.submit_batch(opening) if not o.accepted)
    e = node.engine
    subs = {mode: [e.sub_index(a[mode]) for a in accounts if a[mode] in {str(x.id) for x in e.subs}] for mode in ("portfolio", "cross")}
    im0 = {m: float(sum(int(e.sub_im[s]) for s in subs[m])) / 1e6 for m in subs}
    counts = {m: {"margin_calls": 0, "liquidation_steps": 0, "bankruptcies": 0, "deficit_usdc": 0.0} for m in subs}
    mode_of = {e.subs.name(s): m for m, ss in subs.items() for s in ss}
    rows = []
    for k in range(ts_ns.size):
        t = int(ts_ns[k])
        T = max((expiry - t) / (365 * 86_400 * 10**9), 1 / 365 / 24)
        marks = _marks(opts, float(price[k]), T, vols[k])
        batch = [ev.OraclePrice(ts=t, instrument="BTC-PERP", price=f"{price[k]:.2f}")]
        batch += [ev.OraclePrice(ts=t, instrument=sym, price=marks[sym]) for sym, _, _ in opts]
        batch.append(ev.Tick(ts=t))
        for f in _submit(node, batch, strict=True):
            m = mode_of.get(f.get("subaccount", ""))
            if m is None:
                continue
            if f["kind"] == "MarginCall":
                counts[m]["margin_calls"] += 1
            elif f["kind"] == "LiquidationStep":
                counts[m]["liquidation_steps"] += 1
            elif f["kind"] == "Bankruptcy":
                counts[m]["bankruptcies"] += 1
                counts[m]["deficit_usdc"] += f["deficit"] / 1e6
        _unwind_vault(node, e.instrument("BTC-PERP"), e.backstop, t, float(price[k]))
        row = {"ts_ns": t, "price": float(price[k]), "vol": float(vols[k])}
        eq = e.equity_array()
        for m, ss in subs.items():
            idx = np.asarray(ss, np.int64)
            row[f"in_breach_{m}"] = int((eq[idx] < e.sub_mm[idx]).sum()) if idx.size else 0
        row["insurance_fund"] = e.ledger.balance("USDC", "insurance:global") / 1e6
        rows.append(row)
        if progress:
            progress(k + 1, ts_ns.size)
    if sum(e.ledger.totals("USDC").values()) != 0:
        raise AssertionError("value was not conserved")
    state_hash = e.state_hash()
    replay_hash = replay(node.journal).state_hash() if verify_replay else None
    node.close()
    return {
        "name": name, "observations": int(ts_ns.size), "first_price": p0, "low": float(price.min()),
        "drawdown": float(1 - price.min() / p0), "strikes": strikes, "expiry_days": EXPIRY_DAYS, "vol_source": vol_source,
        "accounts_per_mode": {m: len(s) for m, s in subs.items()}, "opening_rejected": rejected,
        "initial_margin_at_open_usdc": im0, "modes": counts, "value_conserved": True, "state_hash": state_hash,
        "replay_identical": None if replay_hash is None else replay_hash == state_hash, "series": pd.DataFrame(rows),
        "population": pop.__dict__,
        "price_path": None if path is None else path.to_dict(), "path_provenance": path,
    }


def _marks(opts, spot: float, T: float, vol: float) -> dict[str, str]:
    k = np.array([o[1] for o in opts], float)
    call = np.array([o[2] == "call" for o in opts])
    v = black76_price(spot, k, T, vol, call)
    return {sym: f"{max(float(x), 0.1):.1f}" for (sym, _, _), x in zip(opts, v, strict=True)}


def _population(pop: OptionsPopulation, opts, p0: float, marks: dict[str, str], t0: int):
    rng = np.random.default_rng(pop.seed)
    strikes = sorted({o[1] for o in opts})
    atm = min(strikes, key=lambda k: abs(k - p0))
    otm_call = min((k for k in strikes if k > p0 * 1.05), default=strikes[-1])
    otm_put = max((k for k in strikes if k < p0 * 0.95), default=strikes[0])
    sym = {(k, c): s for s, k, c in opts}
    events: list = [ev.OpenSubAccount(ts=t0, subaccount=MAKER), ev.Deposit(ts=t0, subaccount=MAKER, asset="USDC", amount="10000000000")]
    accounts = []
    for i in range(pop.pairs):
        strat = STRATEGIES[i % len(STRATEGIES)]
        cash = max(round(pop.collateral_median * float(np.exp(rng.normal(0, pop.collateral_sigma))), 2), 100.0)
        size = cash * float(rng.uniform(*pop.notional_to_collateral)) / p0
        q = max(round(size, 2), 0.01)
        legs = {
            "covered_call": [("BTC-PERP", q), (sym[(otm_call, "call")], -q)],
            "protective_put": [("BTC-PERP", q), (sym[(otm_put, "put")], q)],
            "short_strangle": [(sym[(otm_call, "call")], -q), (sym[(otm_put, "put")], -q)],
            "hedged_short_call": [(sym[(atm, "call")], -q), ("BTC-PERP", max(round(q / 2, 2), 0.01))],
        }[strat]
        pair = {}
        for mode in ("portfolio", "cross"):
            sub = f"o{i:05d}-{strat}/{'pm' if mode == 'portfolio' else 'x'}"
            pair[mode] = sub
            events += [ev.OpenSubAccount(ts=t0, subaccount=sub, mode=mode), ev.Deposit(ts=t0, subaccount=sub, asset="USDC", amount=str(cash))]
            for inst, qty in legs:
                px = f"{p0:.1f}" if inst == "BTC-PERP" else marks[inst]
                buyer, seller = (sub, MAKER) if qty > 0 else (MAKER, sub)
                events.append(ev.Fill(ts=t0, instrument=inst, buyer=buyer, seller=seller, price=px, size=f"{abs(qty):.2f}"))
        accounts.append(pair)
    return events, accounts


def write_options_report(summary: dict, out_dir: str | Path) -> dict[str, Path]:
    """``report.html`` (the verdict per margin mode, the parameters, BTC and its implied volatility, the accounts
    below maintenance, and portfolio against cross margin: counts, bankruptcies on their own axis, money on
    its own), ``summary.json`` and ``series.parquet``."""
    import plotly.graph_objects as go

    from ramparts.lab import reportkit as rk

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"html": out / "report.html", "json": out / "summary.json", "series": out / "series.parquet"}
    d = summary["series"]
    t = rk.times(d["ts_ns"])
    modes = ("portfolio", "cross")
    colour = {"portfolio": rk.palette(0), "cross": rk.palette(1)}
    m, im = summary["modes"], summary["initial_margin_at_open_usdc"]
    page = rk.Page(f"ramparts options replay: {summary['name']}", command="replay-options")
    saved = 1 - im["portfolio"] / im["cross"] if im["cross"] else 0.0
    sentence = (f"Portfolio margin asked {im['portfolio']:,.0f} USDC at the open against {im['cross']:,.0f} in cross margin "
                f"({abs(saved):.1%} {'less' if saved >= 0 else 'more'}); through a {summary['drawdown']:.0%} fall it saw "
                f"{m['portfolio']['bankruptcies']:,} bankruptcies ({m['portfolio']['deficit_usdc']:,.0f} USDC deficit) against "
                f"{m['cross']['bankruptcies']:,} ({m['cross']['deficit_usdc']:,.0f} USDC) in cross margin.")
    c = rk.cell
    rows = [("accounts", [c(summary["accounts_per_mode"][x], f"accounts_per_mode/{x}", ",d") for x in modes]),
            ("initial margin posted at the open (USDC)", [c(im[x], f"initial_margin_at_open_usdc/{x}") for x in modes])]
    for k, label, spec in (("margin_calls", "margin calls", ",d"), ("liquidation_steps", "liquidation steps", ",d"),
                           ("bankruptcies", "bankruptcies", ",d"), ("deficit_usdc", "bankruptcy deficit (USDC)", ",.0f")):
        rows.append((label, [c(m[x][k], f"modes/{x}/{k}", spec) for x in modes]))
    rows += [("opening fills refused (initial margin), both modes", [c(summary["opening_rejected"], "opening_rejected", ",d"), ""]),
             ("value conserved", [c(summary["value_conserved"], "value_conserved", "text"), ""]),
             ("journal replay reproduces the state hash", [c(summary["replay_identical"], "replay_identical", "text"), ""])]
    page.verdict(sentence, rk.headline(rows, columns=[f"{x} margin" for x in modes], source="summary.json"))
    pop = summary.get("population") or {}
    prov = summary.get("path_provenance")
    page.parameters([("event", summary["name"]), ("window", rk.span(d["ts_ns"])),
                     ("price", f"{summary['observations']:,} observations from {summary['first_price']:,.2f} to a low of {summary['low']:,.2f}"),
                     ("options", f"calls and puts expiring in {summary['expiry_days']} days, strikes "
                                 + ", ".join(f"{k:,}" for k in summary["strikes"])),
                     ("implied volatility", summary["vol_source"]),
                     ("population", f"{pop.get('pairs', '?')} accounts, each in a portfolio and a cross sub-account with the same collateral "
                                    f"(median {pop.get('collateral_median', 0):,.0f} USDC)"), ("seed", pop.get("seed")),
                     *(rk.path_rows(prov) if prov is not None else [("price path", "a path given to the replay (its making not recorded)")])])
    if prov is not None:
        page.caveats([*rk.path_caveats(prov), *(n for n in prov.notes if n.startswith("one observation in "))])
    px = rk.time_chart("BTC and the implied volatility used for the option marks", y="BTC price (USD)", y2="implied volatility (annual)",
                       height=400)
    px.add_trace(go.Scatter(x=t, y=d["price"], name="BTC", line={"color": rk.COLOURS["price"]}), secondary_y=False)
    px.add_trace(go.Scatter(x=t, y=d["vol"], name="implied vol", line={"color": rk.COLOURS["volatility"], "shape": "hv"}), secondary_y=True)
    px.update_yaxes(tickformat=".0%", secondary_y=True)
    page.figure(px)
    br = rk.time_chart("Accounts below maintenance", y="accounts (count)", height=360)
    for x in modes:
        br.add_trace(go.Scatter(x=t, y=d[f"in_breach_{x}"], name=f"{x} margin", line={"color": colour[x], "shape": "hv"}))
    page.figure(br)
    for words, unit, keys in (("Portfolio against cross margin: margin calls and liquidation steps", "count",
                               (("margin_calls", "margin calls"), ("liquidation_steps", "liquidation steps"))),
                              ("Bankruptcies", "bankrupt accounts (count)", (("bankruptcies", "bankruptcies"),)),
                              ("Initial margin at the open and bankruptcy deficit", "USDC", (("im", "initial margin at the open"),
                                                                                            ("deficit_usdc", "bankruptcy deficit")))):
        fig = rk.chart(words, x="figure", y=unit, height=380)
        for x in modes:
            ys = [im[x] if k == "im" else m[x][k] for k, _ in keys]
            fig.add_trace(go.Bar(x=[label for _, label in keys], y=ys, name=f"{x} margin", marker={"color": colour[x]},
                                 text=rk.bar_text(ys), textposition="outside", cliponaxis=False))
        fig.update_layout(barmode="group")
        page.figure(fig)
    page.write(paths["html"])
    doc = {k: v for k, v in summary.items() if k not in ("series", "path_provenance")}
    paths["json"].write_text(json.dumps(doc, indent=2, default=str))
    d.to_parquet(paths["series"], index=False)
    return paths
