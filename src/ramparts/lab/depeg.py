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
daily candles of March 2023 from ``../shared/data/daily``, walked open → low → high → close: the
low is 0.8774 on 11 March after the SVB failure) and ``synthetic`` (a configurable V-shaped depeg
of an LST against its base, e.g. stETH/ETH in June 2022).

The engine itself still holds collateral in its settlement asset only; this stress measures the
valuation layer that multi-asset collateral in the engine will use.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path

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


def peg_path(spec: DepegSpec) -> tuple[np.ndarray, np.ndarray, str]:
    """``(ts_ns, market / peg ratio, label)``."""
    if spec.source == "usdc-2023":
        from ramparts.lab.history import intrabar_path, load_candles, shared_data_dir

        c = load_candles(shared_data_dir() / "daily/yahoo_finance_crypto_daily_2014-2025.csv.gz", symbol="USDC-USD",
                         gaps="forward_fill").window("2023-03-01", "2023-04-01")
        p = intrabar_path(c, "worst_long")
        return p.ts_ns, np.minimum(p.price, 1.0), "USDC/USD, March 2023 (Yahoo Finance daily, open → low → high → close)"
    n = spec.steps
    x = np.linspace(0, 1, n)
    ratio = 1 - (1 - spec.trough) * np.clip(1 - np.abs(x - 0.4) / 0.4, 0, 1) ** 1.5
    ts = 1_655_000_000 * 10**9 + np.arange(n, dtype=np.int64) * 3600 * 10**9
    return ts, ratio, f"synthetic LST depeg to {spec.trough:.2f} of its base"


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


def run_depeg(spec: DepegSpec) -> DepegResult:
    """Value the population's collateral along the peg path under the three rules."""
    ts, ratio, label = peg_path(spec)
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
    }
    return DepegResult(spec, label, df, summary)


def write_depeg_report(result: DepegResult, out_dir: str | Path) -> dict[str, Path]:
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"html": out / "report.html", "json": out / "summary.json", "series": out / "series.parquet"}
    d = result.series
    t = pd.to_datetime(d["ts_ns"], unit="ns", utc=True)
    fig = make_subplots(rows=3, cols=1, shared_xaxes=True, vertical_spacing=0.07,
                        subplot_titles=("Market / peg and the haircut in force", "Collateral value of the population (USD)",
                                        "Accounts below maintenance"), specs=[[{"secondary_y": True}], [{}], [{}]])
    fig.add_trace(go.Scatter(x=t, y=d["ratio"], name="market / peg", line={"color": "#1f77b4"}), row=1, col=1)
    fig.add_trace(go.Scatter(x=t, y=d["haircut_in_force"], name="haircut in force (depeg defence)", line={"color": "#d62728", "shape": "hv"}),
                  row=1, col=1, secondary_y=True)
    fig.add_trace(go.Scatter(x=t, y=d["dynamic_haircut"], name="dynamic (volatility) haircut", line={"color": "#ff7f0e", "dash": "dot"}),
                  row=1, col=1, secondary_y=True)
    names = {"at_peg": "valued at peg", "static": "market price, static haircut", "defended": "depeg defence"}
    colours = {"at_peg": "#7f7f7f", "static": "#1f77b4", "defended": "#d62728"}
    for k, lab in names.items():
        fig.add_trace(go.Scatter(x=t, y=d[f"value_{k}"], name=lab, line={"color": colours[k]}, legendgroup=k), row=2, col=1)
        fig.add_trace(go.Scatter(x=t, y=d[f"breach_{k}"], name=lab, line={"color": colours[k], "shape": "hv"}, legendgroup=k, showlegend=False),
                      row=3, col=1)
    fig.update_yaxes(tickformat=".0%", secondary_y=True, row=1, col=1)
    fig.update_layout(height=1000, template="plotly_white", title=f"ramparts depeg stress: {result.label}, {result.summary['accounts']:,} accounts")
    fig.write_html(paths["html"], include_plotlyjs="inline", full_html=True)
    paths["json"].write_text(json.dumps(result.summary, indent=2, default=str))
    d.to_parquet(paths["series"], index=False)
    return paths
