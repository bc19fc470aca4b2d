"""Depeg stress: a pegged collateral asset loses its peg, and what each valuation rule makes of it.

This module owns ``ramparts depeg``. A population of accounts posts a pegged asset (a stablecoin
such as USDC on a USDT-settled venue, or a liquid-staking token) as collateral against perpetual
positions. The positions' PnL is left out, so the stress isolates the collateral: each account's
maintenance requirement is fixed, its collateral at peg (after the static haircut) stands a *cushion* above it (log-uniform,
1 % to 300 % by default: some accounts are near maintenance, most are not), and the peg path moves, and three valuations of the same holdings are compared
at every step, all computed with :func:`ramparts.margin.haircuts.collateral_value` in exact
integers:

``at peg``          the asset counted at its fundamental value (1 for a stablecoin): what a venue
                    that trusts the peg sees: nobody breaches, the risk is hidden;
``static haircut``  the market price with the asset's static haircut;
``depeg defence``   the market price with the depeg haircut (``depeg_factor × (threshold −
                    market/peg)``, Derive's stablecoin form) on top of a dynamic haircut that follows
                    the peg's realised volatility with a bounded rate of change (anti-procyclical).

Per step it reports the haircut in force, each valuation's total, the accounts whose collateral
falls below maintenance under each, and their total shortfall. Built in: ``usdc-2023`` (USDC/USD
daily candles of March 2023 from the shipped ``daily/`` data, walked open → low → high → close: the
low is 0.8774 on 11 March after the SVB failure; no finer USDC series ships, so the daily bars are
not refined, and the report says so through the lab's one path maker, :func:`ramparts.lab.paths.price_path`,
whose record the summary carries as ``price_path``) and ``synthetic`` (a configurable V-shaped depeg
of an LST against its base, e.g. stETH/ETH in June 2022).

:func:`run_engine_depeg` runs the same depeg through the engine itself (``ramparts depeg --engine``):
a population posts the pegged asset as collateral against BTC-PERP positions on a venue settled in
the quote, every price and keeper tick is journaled through a :class:`~ramparts.engine.node.Node`,
and each valuation is a venue configuration (see :func:`run_engine_depeg`).
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ramparts.errors import InvalidInput
from ramparts.margin.haircuts import (
    AssetParams,
    CollateralParams,
    DynamicHaircutParams,
    PegParams,
    collateral_value,
    realised_vol_ppm,
    step_dynamic_haircut,
)

SOURCES = ("usdc-2023", "synthetic")
QUOTE_DECIMALS = 6
PPM = 10**6


@dataclass(frozen=True)
class DepegSpec:
    """The stress: where the peg path comes from, the population, the venue's parameters."""

    source: str = "usdc-2023"
    accounts: int = 2_000
    seed: int = 1
    cushion_min: float = 0.01  #: headroom of collateral (at peg) above maintenance, log-uniform between these
    cushion_max: float = 3.0
    static_haircut: float = 0.02
    depeg_threshold: float = 0.98
    depeg_factor: float = 1.2
    dynamic_cap: float = 0.10  #: ceiling of the volatility-driven haircut
    dynamic_max_up: float = 0.01  #: its largest rise per observation (anti-procyclical)
    trough: float = 0.90  #: synthetic: lowest market / peg ratio
    steps: int = 60  #: synthetic: observations (hourly)

    def __post_init__(self) -> None:
        if self.source not in SOURCES:
            raise InvalidInput("source", f"unknown depeg source {self.source!r} (one of {', '.join(SOURCES)})")
        if not (isinstance(self.accounts, int) and 1 <= self.accounts <= 1_000_000):
            raise InvalidInput("accounts", f"expected 1 to 1,000,000, got {self.accounts!r}")
        for name, lo, hi in (("cushion_min", 1e-6, 100.0), ("cushion_max", 1e-6, 100.0),
                             ("static_haircut", 0.0, 1.0), ("depeg_threshold", 0.0, 1.0), ("depeg_factor", 0.0, 100.0),
                             ("dynamic_cap", 0.0, 1.0), ("dynamic_max_up", 0.0, 1.0),
                             ("trough", 0.01, 1.0)):
            v = getattr(self, name)
            if not isinstance(v, (int, float)) or isinstance(v, bool) or not math.isfinite(v) or not lo <= v <= hi:
                raise InvalidInput(name, f"expected a number in [{lo}, {hi}], got {v!r}")
        if self.cushion_min > self.cushion_max:
            raise InvalidInput("cushion_min", "must not exceed cushion_max")
        if not (isinstance(self.steps, int) and 4 <= self.steps <= 100_000):
            raise InvalidInput("steps", f"expected 4 to 100,000, got {self.steps!r}")


#: The shipped file of the USDC/USD depeg (and of BTC/USD beside it), and why its daily bars are not refined.
USDC_FILE = "daily/yahoo_finance_crypto_daily_2014-2025.csv.gz"
NOT_REFINED = ("not refined: no finer {symbol} series ships for March 2023 (the shipped data holds no intraday series of that "
               "month), so each day is walked open → low → high → close")


def _daily(symbol: str, order: str = "worst_long"):
    """A Yahoo Finance daily series of March 2023 as a path, through the lab's one path maker
    (:func:`ramparts.lab.paths.price_path`, coarse: no finer series ships), its record saying so."""
    from dataclasses import replace

    from ramparts.data import data_path
    from ramparts.lab.history import load_candles
    from ramparts.lab.paths import price_path

    c = load_candles(data_path(USDC_FILE), symbol=symbol, gaps="forward_fill").window("2023-03-01", "2023-04-01")
    c = replace(c, source=f"yahoo:{symbol}")  # the file holds one series per ticker
    p = price_path(c, (), method="coarse", order=order)
    return replace(p, provenance=replace(p.provenance, notes=(*p.provenance.notes, NOT_REFINED.format(symbol=symbol))))


def peg_price_path(spec: DepegSpec):
    """``(ts_ns, market / peg ratio, label, provenance)``: the peg path and how it was made
    (:class:`~ramparts.lab.paths.PathProvenance`: the daily bars as four points each, or a synthetic record)."""
    if spec.source == "usdc-2023":
        p = _daily("USDC-USD")
        return p.ts_ns, np.minimum(p.price, 1.0), "USDC/USD, March 2023 (Yahoo Finance daily, open → low → high → close)", p.provenance
    from ramparts.lab.paths import synthetic_provenance

    n = spec.steps
    x = np.linspace(0, 1, n)
    ratio = 1 - (1 - spec.trough) * np.clip(1 - np.abs(x - 0.4) / 0.4, 0, 1) ** 1.5
    ts = 1_655_000_000 * 10**9 + np.arange(n, dtype=np.int64) * 3600 * 10**9
    prov = synthetic_provenance(f"V-shaped depeg to {spec.trough:.2f} of the base (a deterministic shape, not a draw)", "1h", n)
    return ts, ratio, f"synthetic LST depeg to {spec.trough:.2f} of its base", prov


def peg_path(spec: DepegSpec) -> tuple[np.ndarray, np.ndarray, str]:
    """``(ts_ns, market / peg ratio, label)`` (:func:`peg_price_path` without the record)."""
    return peg_price_path(spec)[:3]


def _params(spec: DepegSpec, depeg: bool) -> CollateralParams:
    """Without ``depeg``: the asset at its market price with the static haircut. With it: valued
    through its peg (fundamental price) less the depeg haircut, the static or dynamic haircut."""
    peg = PegParams(None, depeg_threshold_ppm=round(spec.depeg_threshold * PPM), depeg_factor_ppm=round(spec.depeg_factor * PPM)) if depeg else None
    return CollateralParams("USDT", {"USDT": AssetParams(QUOTE_DECIMALS),
                                     "PEGGED": AssetParams(QUOTE_DECIMALS, haircut_ppm=round(spec.static_haircut * PPM), peg=peg)})


@dataclass
class DepegResult:
    spec: DepegSpec
    label: str
    series: pd.DataFrame
    summary: dict
    path: Any = None  #: how the peg path was made (PathProvenance)


def run_depeg(spec: DepegSpec) -> DepegResult:
    """Value the population's collateral along the peg path under the three rules."""
    ts, ratio, label, prov = peg_price_path(spec)
    rng = np.random.default_rng(spec.seed)
    n = spec.accounts
    collateral = np.maximum(np.round(5_000 * np.exp(rng.normal(0, 1.2, n)), 2), 10.0)
    cushion = np.exp(rng.uniform(np.log(spec.cushion_min), np.log(spec.cushion_max), n))
    units = (collateral * 10**QUOTE_DECIMALS).astype(np.int64).reshape(-1, 1)  # base units of the pegged asset
    maintenance = np.ceil(collateral * (1 - spec.static_haircut) / (1 + cushion) * 10**QUOTE_DECIMALS).astype(np.int64)
    static, defended = _params(spec, False), _params(spec, True)
    dyn = DynamicHaircutParams(base_ppm=0, k_ppm=2_326_000, horizon_s=86_400, cap_ppm=round(spec.dynamic_cap * PPM),
                               max_up_ppm=round(spec.dynamic_max_up * PPM), max_down_ppm=round(spec.dynamic_max_up * PPM) // 2)
    step_ns = int(np.median(np.diff(ts)))
    rows, hair = [], None
    for k in range(ts.size):
        price = max(int(ratio[k] * 10**QUOTE_DECIMALS), 1)
        window = [max(int(r * 10**QUOTE_DECIMALS), 1) for r in ratio[max(0, k - 30) : k + 1]]
        sigma = realised_vol_ppm(window, step_ns) if len(window) >= 3 else 0
        hair = step_dynamic_haircut(hair, min(sigma, 100 * PPM), dyn)
        prices = {"PEGGED": price}
        at_peg = collateral_value(units, {"PEGGED": 10**QUOTE_DECIMALS}, static, assets=["PEGGED"])
        v_static = collateral_value(units, prices, static, assets=["PEGGED"])
        v_def = collateral_value(units, prices, defended, assets=["PEGGED"], dynamic_haircuts={"PEGGED": hair})
        depeg_h = defended.params("PEGGED").peg.depeg_haircut_ppm(int(ratio[k] * PPM))
        row = {"ts_ns": int(ts[k]), "ratio": float(ratio[k]), "dynamic_haircut": hair / PPM, "depeg_haircut": depeg_h / PPM,
               "haircut_in_force": min(1.0, (max(hair, defended.params("PEGGED").haircut_ppm) + depeg_h) / PPM)}
        for name, v in (("at_peg", at_peg), ("static", v_static), ("defended", v_def)):
            short = np.maximum(maintenance - v, 0)
            row[f"value_{name}"] = float(v.sum()) / 10**QUOTE_DECIMALS
            row[f"breach_{name}"] = int((v < maintenance).sum())
            row[f"shortfall_{name}"] = float(short.sum()) / 10**QUOTE_DECIMALS
        rows.append(row)
    df = pd.DataFrame(rows)
    worst = df["ratio"].idxmin()
    summary = {
        "source": spec.source, "label": label, "accounts": n, "observations": int(ts.size),
        "lowest_ratio": float(df["ratio"].min()), "at": pd.Timestamp(int(df["ts_ns"][worst]), unit="ns", tz="UTC").isoformat(),
        "collateral_usd": float(collateral.sum()),
        **{f"max_breach_{k}": int(df[f"breach_{k}"].max()) for k in ("at_peg", "static", "defended")},
        **{f"max_shortfall_{k}": float(df[f"shortfall_{k}"].max()) for k in ("at_peg", "static", "defended")},
        "max_haircut_in_force": float(df["haircut_in_force"].max()),
        "spec": asdict(spec),
        "price_path": prov.to_dict(),
    }
    return DepegResult(spec, label, df, summary, prov)


#: The three valuations of :func:`run_depeg`, in the field's words.
VALUATIONS = {"at_peg": "at peg (trusting the peg)", "static": "market price, static haircut", "defended": "depeg defence"}


def depeg_end(result: DepegResult) -> dict:
    """What is left at the end of the window: accounts still below maintenance and their shortfall, per valuation."""
    last = result.series.iloc[-1]
    return {"at": pd.Timestamp(int(last["ts_ns"]), unit="ns", tz="UTC").isoformat(), "ratio": float(last["ratio"]),
            "breach": {k: int(last[f"breach_{k}"]) for k in VALUATIONS}, "shortfall": {k: float(last[f"shortfall_{k}"]) for k in VALUATIONS}}


def write_depeg_report(result: DepegResult, out_dir: str | Path) -> dict[str, Path]:
    """``report.html`` (the verdict per valuation, with the accounts still below maintenance at the end; the
    parameters; the peg, the defence's haircuts, the collateral value, the accounts below maintenance and
    their shortfall over time), ``summary.json`` (the summary and ``at_end``) and ``series.parquet``."""
    import plotly.graph_objects as go

    from ramparts.lab import reportkit as rk

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"html": out / "report.html", "json": out / "summary.json", "series": out / "series.parquet"}
    d = result.series
    s, sp = result.summary, result.spec
    end = depeg_end(result)
    doc = dict(s, at_end=end)
    t = rk.times(d["ts_ns"])
    page = rk.Page(f"ramparts depeg stress: {result.label}, {s['accounts']:,} accounts", command="depeg")
    b = end["breach"]
    sentence = (f"The peg fell to {s['lowest_ratio']:.4f} at {s['at'][:16].replace('T', ' ')} UTC. At the end of the window "
                f"({end['at'][:16].replace('T', ' ')} UTC, market / peg {end['ratio']:.4f}), {b['defended']:,} of {s['accounts']:,} accounts "
                f"are still below maintenance under the depeg defence ({end['shortfall']['defended']:,.0f} USD short), {b['static']:,} "
                f"under the static haircut and {b['at_peg']:,} trusting the peg.")
    c = rk.cell
    rows = [("most accounts below maintenance", [c(s[f"max_breach_{k}"], f"max_breach_{k}", ",d") for k in VALUATIONS]),
            ("largest total shortfall (USD)", [c(s[f"max_shortfall_{k}"], f"max_shortfall_{k}") for k in VALUATIONS]),
            ("accounts still below maintenance at the end", [c(b[k], f"at_end/breach/{k}", ",d") for k in VALUATIONS]),
            ("shortfall at the end (USD)", [c(end["shortfall"][k], f"at_end/shortfall/{k}") for k in VALUATIONS]),
            ("lowest market / peg", [c(s["lowest_ratio"], "lowest_ratio", ".4f"), "", ""]),
            ("largest haircut in force (depeg defence)", ["", "", c(s["max_haircut_in_force"], "max_haircut_in_force", ".2%")]),
            ("collateral posted (USD)", [c(s["collateral_usd"], "collateral_usd"), "", ""])]
    page.verdict(sentence, rk.headline(rows, columns=list(VALUATIONS.values()), first="figure", source="summary.json"))
    page.parameters([("peg path", f"{result.label} ({s['source']})"), ("window", rk.span(d["ts_ns"])),
                     ("population", f"{sp.accounts:,} accounts posting the pegged asset; collateral at peg a cushion of "
                                    f"{sp.cushion_min:.0%} to {sp.cushion_max:.0%} above maintenance (log-uniform)"), ("seed", sp.seed),
                     ("static haircut", f"{sp.static_haircut:.2%}"),
                     ("depeg defence", f"haircut {sp.depeg_factor:g} × ({sp.depeg_threshold:g} − market / peg) below {sp.depeg_threshold:g}, "
                                       f"on a volatility haircut capped at {sp.dynamic_cap:.0%}, rising at most {sp.dynamic_max_up:.0%} a step"),
                     *([("synthetic trough", f"{sp.trough:g}")] if sp.source == "synthetic" else []),
                     *(rk.path_rows(result.path, label="peg path: how it was made") if result.path is not None else [])])
    if result.path is not None:
        page.caveats(rk.path_caveats(result.path, what="the peg path"))
    colour = {"at_peg": rk.palette(3), "static": rk.palette(0), "defended": rk.palette(1)}
    peg = rk.time_chart("Market price of the pegged asset against its peg", y="market / peg", height=360)
    peg.add_trace(go.Scatter(x=t, y=d["ratio"], name="market / peg", line={"color": rk.COLOURS["price"]}))
    peg.add_hline(y=sp.depeg_threshold, line={"color": rk.COLOURS["requirement"], "dash": "dash", "width": 1})
    page.figure(peg, caption=f"Dashed: the threshold {sp.depeg_threshold:g} below which the depeg haircut starts.")
    hc = rk.time_chart("Haircuts of the depeg defence", y="haircut (fraction of the collateral's value)", height=340)
    hc.add_trace(go.Scatter(x=t, y=d["haircut_in_force"], name="haircut in force", line={"color": rk.COLOURS["requirement"], "shape": "hv"}))
    hc.add_trace(go.Scatter(x=t, y=d["dynamic_haircut"], name="of which: volatility haircut",
                            line={"color": rk.COLOURS["requirement"], "dash": "dot", "shape": "hv"}))
    hc.update_yaxes(tickformat=".0%", rangemode="tozero")
    page.figure(hc)
    for key, words, unit in (("value", "Collateral value of the population under each valuation", "USD"),
                             ("breach", "Accounts below maintenance under each valuation", "accounts (count)"),
                             ("shortfall", "Total shortfall below maintenance under each valuation", "USD")):
        fig = rk.time_chart(words, y=unit, height=360)
        for k, lab in VALUATIONS.items():
            fig.add_trace(go.Scatter(x=t, y=d[f"{key}_{k}"], name=lab, line={"color": colour[k], "shape": "hv" if key != "value" else "linear"}))
        page.figure(fig)
    page.write(paths["html"])
    paths["json"].write_text(json.dumps(doc, indent=2, default=str))
    d.to_parquet(paths["series"], index=False)
    return paths


# ----------------------------------------------------------------------------------------------
# the same depeg through the engine
# ----------------------------------------------------------------------------------------------

ENGINE_VALUATIONS = ("at_peg", "static", "defended")


def _engine_collateral(spec: DepegSpec, valuation: str, step_ns: int) -> dict:
    """The pegged asset's collateral parameters under a valuation (engine ``ListAsset.collateral``)."""
    out: dict = {"haircut_ppm": round(spec.static_haircut * PPM)}
    if valuation == "defended":
        out["peg"] = {"base": None, "depeg_threshold_ppm": round(spec.depeg_threshold * PPM), "depeg_factor_ppm": round(spec.depeg_factor * PPM)}
        out["dynamic"] = {"base_ppm": 0, "k_ppm": 2_326_000, "horizon_s": 86_400, "cap_ppm": round(spec.dynamic_cap * PPM),
                          "max_up_ppm": round(spec.dynamic_max_up * PPM), "max_down_ppm": round(spec.dynamic_max_up * PPM) // 2}
        out["haircut_update_ns"] = step_ns
        out["vol_window"] = 30
    return out


def btc_path(spec: DepegSpec, ts: np.ndarray, btc: str) -> np.ndarray:
    """BTC/USD at the peg path's times: the March 2023 daily candles walked the same way, or flat."""
    if btc == "flat" or spec.source != "usdc-2023":
        return np.full(ts.size, 22_000.0)
    p = _daily("BTC-USD")
    return np.interp(ts.astype(np.float64), p.ts_ns.astype(np.float64), p.price)


def run_engine_depeg(spec: DepegSpec, valuation: str = "defended", *, btc: str = "history", journal_url: str | None = None,
                     verify_replay: bool = True) -> dict:
    """The depeg through the engine under one ``valuation`` of the pegged collateral:

    ``at_peg``    listed with its static haircut, its price held at 1 (a venue trusting the peg);
    ``static``    listed with its static haircut, priced at the market;
    ``defended``  priced at the market and valued through its peg with the depeg haircut and a
                  bounded-rate dynamic haircut (updated at the path's cadence).

    The venue settles in USDT; the pegged asset (``USDC``) is the traders' only collateral. Trader
    ``i`` posts ``C_i`` (log-normal, as in :func:`run_depeg`) and opens a BTC-PERP position long or
    short (IM 10 %, MM 5 %) at a leverage log-uniform in ``[1, 9]`` of its collateral's value at peg,
    against a well-capitalised market maker. Each observation journals ``AssetPrice`` (the peg
    ratio), ``OraclePrice`` (BTC) and a keeper ``Tick``. Returns the summary (accounts margin-called,
    liquidated and bankrupt, collateral seized, insurance draws, bad debt, conservation per asset,
    the replayed state hash) and the per-observation series.
    """
    import tempfile

    from ramparts.engine import events as ev
    from ramparts.engine.node import Node, replay
    from ramparts.journal import open_journal

    if valuation not in ENGINE_VALUATIONS:
        raise InvalidInput("valuation", f"unknown valuation {valuation!r} (one of {', '.join(ENGINE_VALUATIONS)})")
    if btc not in ("history", "flat"):
        raise InvalidInput("btc", f"expected history or flat, got {btc!r}")
    ts, ratio, label, prov = peg_price_path(spec)
    btc_px = btc_path(spec, ts, btc)
    step_ns = int(np.median(np.diff(ts)))
    rng = np.random.default_rng(spec.seed)
    n = spec.accounts
    collateral = np.maximum(np.round(5_000 * np.exp(rng.normal(0, 1.2, n)), 2), 10.0)
    leverage = np.exp(rng.uniform(0.0, np.log(9.0), n))
    side = np.where(rng.random(n) < 0.5, 1, -1)
    p0 = round(float(btc_px[0]), 1)
    sizes = np.floor(collateral * (1 - spec.static_haircut) * leverage / p0 * 1000) / 1000  # BTC, on the 0.001 grid

    tmp = None
    if journal_url is None:
        tmp = tempfile.TemporaryDirectory(prefix="ramparts-depeg-")
        journal_url = f"sqlite:///{tmp.name}/depeg-{valuation}.sqlite"
    node = Node(open_journal(journal_url, durability="normal"))
    t0 = int(ts[0]) - 10**9
    flows = {"USDT": 0, "USDC": 0}

    def submit(events: list, strict: bool = True) -> list[dict]:
        out = []
        for ev_, o in zip(events, node.submit_batch(events), strict=True):
            if o.error is not None:
                if strict:
                    raise o.error
                continue
            if isinstance(ev_, (ev.Deposit, ev.FundInsurance)):
                flows[getattr(ev_, "asset", "USDT")] += int(ev_.amount * 10**QUOTE_DECIMALS)
            out.extend(o.effects)
        return out

    fund = round(float(collateral.sum()) * 0.005, 2)
    setup = [
        ev.Genesis(ts=t0, settlement_asset="USDT", settlement_decimals=QUOTE_DECIMALS),
        ev.ListAsset(ts=t0, symbol="USDC", decimals=QUOTE_DECIMALS, collateral=_engine_collateral(spec, valuation, step_ns)),
        ev.ListInstrument(ts=t0, symbol="BTC-PERP", underlying="BTC", quote="USDT", size_step="0.001", tick_size="0.1",
                          margin={"tiers": [["0", "0.1", "0.05"]]}),
        ev.FundInsurance(ts=t0, amount=str(fund)),
        ev.OpenSubAccount(ts=t0, subaccount="maker/main"),
        ev.Deposit(ts=t0, subaccount="maker/main", asset="USDT", amount="1000000000"),
        ev.AssetPrice(ts=t0, asset="USDC", price="1"),
        ev.OraclePrice(ts=t0, instrument="BTC-PERP", price=str(p0)),
    ]
    submit(setup)
    opening = []
    for i in range(n):
        sub = f"t{i:06d}/main"
        opening += [ev.OpenSubAccount(ts=t0, subaccount=sub), ev.Deposit(ts=t0, subaccount=sub, asset="USDC", amount=f"{collateral[i]:.2f}")]
        if sizes[i] >= 0.001:
            buyer, seller = (sub, "maker/main") if side[i] > 0 else ("maker/main", sub)
            opening.append(ev.Fill(ts=t0, instrument="BTC-PERP", buyer=buyer, seller=seller, price=str(p0), size=f"{sizes[i]:.3f}"))
    submit(opening, strict=False)  # a position that breaks initial margin at the rounding edge is simply not opened
    e = node.engine
    traders = np.array([e.sub_index(f"t{i:06d}/main") for i in range(n)], dtype=np.int64)
    opened = int((e.sub_mm[traders] > 0).sum())

    called: set[str] = set()
    liquidated: set[str] = set()
    bankrupt: set[str] = set()
    totals = dict.fromkeys(("seized_value", "seized_market_value", "insurance_draws", "adl_notional", "socialised", "bad_debt", "haircut_updates"), 0)
    rows = []
    q = 10**QUOTE_DECIMALS
    for k in range(ts.size):
        t = int(ts[k])
        market = 1.0 if valuation == "at_peg" else float(ratio[k])
        usdc_px = max(math.floor(market * 10**QUOTE_DECIMALS), 1)
        fx = submit([ev.AssetPrice(ts=t, asset="USDC", price=str(Decimal(usdc_px).scaleb(-QUOTE_DECIMALS))),
                     ev.OraclePrice(ts=t, instrument="BTC-PERP", price=str(round(float(btc_px[k]), 1))),
                     ev.Tick(ts=t)])
        for f in fx:
            kind = f["kind"]
            if kind == "MarginCall":
                called.add(f["subaccount"])
            elif kind == "LiquidationStep" and f["subaccount"].startswith("t"):
                liquidated.add(f["subaccount"])
            elif kind == "Bankruptcy":
                bankrupt.add(f["subaccount"])
            elif kind == "CollateralSeized":
                totals["seized_value"] += f["value"]  # what the vault paid: the haircut value
                totals["seized_market_value"] += f["units"] * max(math.floor(float(ratio[k]) * q), 1) // q  # what it is worth
            elif kind == "InsuranceFundDraw":
                totals["insurance_draws"] += f["amount"]
            elif kind == "Deleverage":
                totals["adl_notional"] += abs(f["quote"])
            elif kind == "SocialisedLoss":
                totals["socialised"] += f["loss"]
            elif kind == "BadDebt":
                totals["bad_debt"] += f["amount"]
            elif kind == "HaircutUpdated":
                totals["haircut_updates"] += 1
        equity = e.equity_array(traders)
        mm = e.sub_mm[traders]
        one = int(e.collateral.values("USDC", [10**QUOTE_DECIMALS])[0])  # what 1 USDC of collateral counts for now
        rows.append({"ts_ns": t, "ratio": float(ratio[k]), "btc": float(btc_px[k]), "usdc_value_per_unit": one / 10**QUOTE_DECIMALS,
                     "collateral_value": float(e.sub_coll[traders].sum()) / 10**QUOTE_DECIMALS,
                     "in_breach": int(((equity < mm) & (mm > 0)).sum()), "liquidated": len(liquidated), "bankrupt": len(bankrupt),
                     "insurance_fund": e.ledger.balance("USDT", "insurance:global") / 10**QUOTE_DECIMALS})
    conserved = True
    for asset in ("USDT", "USDC"):
        t_ = e.ledger.totals(asset)
        conserved &= sum(t_.values()) == 0 and -t_["external"] == flows[asset]
    if not conserved:
        raise AssertionError("value was not conserved")
    state_hash = e.state_hash()
    replay_hash = replay(node.journal).state_hash() if verify_replay else None
    node.close()
    if tmp is not None:
        tmp.cleanup()
    df = pd.DataFrame(rows)
    summary = {
        "valuation": valuation, "label": label, "btc": btc, "accounts": n, "positions_opened": opened,
        "collateral_usd": float(collateral.sum()), "lowest_ratio": float(ratio.min()),
        "lowest_value_per_usdc": float(df["usdc_value_per_unit"].min()),
        "margin_called": len(called & {f"t{i:06d}/main" for i in range(n)}), "liquidated": len(liquidated), "bankrupt": len(bankrupt),
        "max_in_breach": int(df["in_breach"].max()),
        **{k: (v / q if k != "haircut_updates" else v) for k, v in totals.items()},
        "vault_overpaid": (totals["seized_value"] - totals["seized_market_value"]) / q,
        "recorded_bad_debt": -min(e.ledger.balance("USDT", "socialised_loss"), 0) / q,
        "vault_usdc_seized": e.ledger.balance("USDC", e.backstop) / q,
        "value_conserved_per_asset": conserved, "state_hash": state_hash, "price_path": prov.to_dict(),
        "btc_path": ("flat 22,000" if btc == "flat" or spec.source != "usdc-2023" else
                     _daily("BTC-USD").provenance.describe() + ", read at the peg path's times (linear interpolation)"),
        "replay_matches": None if replay_hash is None else replay_hash == state_hash,
    }
    return {"summary": summary, "series": df}


def run_engine_depeg_compare(spec: DepegSpec, *, btc: str = "history") -> dict[str, dict]:
    """:func:`run_engine_depeg` under every valuation, same population and paths."""
    return {v: run_engine_depeg(spec, v, btc=btc) for v in ENGINE_VALUATIONS}
