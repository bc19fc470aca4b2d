"""How a replay's headline figures move with the price path, the seed, the fund and the depth (``ramparts replay --sensitivity``).

This module owns the sensitivity table of a crash replay. Around a base run it changes **one input
at a time** and replays again (:func:`ramparts.lab.replay.run_replay`, in memory, without the
journal-replay check the base run already made), then tabulates the headline figures of every run
against the base's:

========================  ==========================================================================
factor                    settings
========================  ==========================================================================
``path``                  the other path method (coarse ↔ refined, :mod:`ramparts.lab.paths`), and
                          the refined path resampled to 1h, 15m and 5m bars
                          (:func:`~ramparts.lab.paths.resample_path`; a bar size that gives the base
                          path itself is left out)
``seed``                  the population drawn with seed + 1 and seed + 2
``fund``                  the insurance fund at the open × 0.5 and × 2 (of what the base run seeded)
``depth``                 the liquidity model's depth × 0.5 and × 2
``impact law``            the other law of :mod:`ramparts.lab.liquidity`: the power law fitted to
                          Binance's liquidation events at the published event-time depth
                          (:data:`POWER_LAW`), or the square-root law of the shipped scenario
``index weight``          how much of the venue's own book reaches its mark: 0 and 1 (where the base
                          is neither)
========================  ==========================================================================

Headline figures (:data:`HEADLINE`): bankrupt accounts, bankruptcy deficit, loss beyond the
insurance fund, ADL notional, insurance fund at the end; each row also gives its deficit as a
multiple of the base's. This is a local, one-at-a-time design (Saltelli et al., *Global
Sensitivity Analysis: The Primer*, Wiley 2008, §1.2.3): it shows how far each input alone moves the
answer around the base run, not how inputs interact. Every run is deterministic, so the table is
reproducible to the unit; the seed rows show how much of a difference is the population's draw.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd

from ramparts.lab.liquidity import LiquidityModel
from ramparts.lab.paths import PricePath, resample_path
from ramparts.lab.population import PopulationSpec
from ramparts.lab.replay import OracleFaults, ReplayResult, VenueSpec, run_replay

__all__ = ["HEADLINE", "Case", "headline", "plan", "run_sensitivity", "write_sensitivity"]

#: The figures a sensitivity row reports, and how a table labels them.
HEADLINE: dict[str, str] = {
    "bankruptcies": "bankrupt accounts",
    "bankruptcy_deficit_usdc": "bankruptcy deficit (USDC)",
    "loss_beyond_fund_usdc": "loss beyond the fund (USDC)",
    "adl_notional_usdc": "ADL notional (USDC)",
    "insurance_fund_end_usdc": "insurance fund at the end (USDC)",
}
BAR_SIZES = ("1h", "15m", "5m")
SEED_OFFSETS = (1, 2)
FUND_FACTORS = (0.5, 2.0)
DEPTH_FACTORS = (0.5, 2.0)


def headline(result: ReplayResult) -> dict[str, float]:
    """The :data:`HEADLINE` figures of a run."""
    s = result.summary
    return {"bankruptcies": s["bankruptcies"], "bankruptcy_deficit_usdc": s["bankruptcy_deficit_usdc"],
            "loss_beyond_fund_usdc": s["loss_beyond_fund_usdc"], "adl_notional_usdc": result.totals["adl_notional"],
            "insurance_fund_end_usdc": s["insurance_fund_end_usdc"]}


@dataclass(frozen=True)
class Case:
    """One run of the table: what changed (``factor``, ``setting``) and the inputs it runs on."""

    factor: str
    setting: str
    path: PricePath
    population: PopulationSpec
    liquidity: LiquidityModel
    venue: VenueSpec


def _same(a: PricePath, b: PricePath) -> bool:
    return len(a) == len(b) and bool(np.array_equal(a.ts_ns, b.ts_ns) and np.array_equal(a.price, b.price))


#: The power impact law at Binance BTCUSDT's event-time depth (ramparts/reference/published-crash-figures.md, "Order-book
#: depth and impact": ≈ $244M within 1 % of mid on normal days, thinning by a median 6.1× in liquidation events with
#: |z| > 20, so ≈ $40M; ETHUSDT $116.9M / 6.1 ≈ $19M; γ = 0.875 fitted over 639 events).
POWER_LAW = {"law": "power", "gamma": 0.875, "depth": 40e6, "depth_by_asset": {"ETH": 19.2e6}}


def _fund_venue(venue: VenueSpec, amount: float) -> VenueSpec:
    """``venue`` seeding exactly ``amount`` USDC (a fund rule, where the venue has one, is set aside)."""
    extra = {"fund": None} if hasattr(venue, "fund") else {}
    return replace(venue, insurance_fund=Decimal(f"{amount:.6f}"), **extra)


def plan(base_path: PricePath, *, population: PopulationSpec, liquidity: LiquidityModel, venue: VenueSpec, fund_start: float,
         other_paths: Mapping[str, PricePath] | None = None, resample_from: PricePath | None = None,
         bar_sizes: Sequence[str] = BAR_SIZES, seed_offsets: Sequence[int] = SEED_OFFSETS,
         fund_factors: Sequence[float] = FUND_FACTORS, depth_factors: Sequence[float] = DEPTH_FACTORS,
         impact_law: bool = True, index_weights: Sequence[float] = (0.0, 1.0)) -> list[Case]:
    """The runs around the base, one factor at a time (the base itself first, as ``("base", "")``).

    ``other_paths`` are alternative paths by label (e.g. ``{"coarse": ...}``); ``resample_from`` is
    the path the bar sizes are cut from (default ``base_path``). ``fund_start`` is the fund the base
    run seeded (its summary's ``insurance_fund_start_usdc``).
    """
    cases = [Case("base", "", base_path, population, liquidity, venue)]
    for label, p in (other_paths or {}).items():
        if not _same(p, base_path):
            cases.append(Case("path", label, p, population, liquidity, venue))
    src = resample_from if resample_from is not None else base_path
    for size in bar_sizes:
        p = resample_path(src, size, base_path.order if base_path.order not in (None, "close") else "worst_long")
        if not _same(p, base_path):
            how = src.provenance.method if src.provenance is not None else "base"
            cases.append(Case("path", f"{size} bars ({how} path resampled)", p, population, liquidity, venue))
    for off in seed_offsets:
        cases.append(Case("seed", f"{population.seed + off}", base_path, replace(population, seed=population.seed + off), liquidity, venue))
    for f in fund_factors:
        cases.append(Case("fund", f"×{f:g} ({fund_start * f:,.0f} USDC)", base_path, population, liquidity, _fund_venue(venue, fund_start * f)))
    for f in depth_factors:
        cases.append(Case("depth", f"×{f:g} ({liquidity.depth * f:,.0f} USDC)", base_path, population,
                          liquidity.scaled(f), venue))
    if impact_law and liquidity.law == "sqrt":
        other = replace(liquidity, **POWER_LAW)
        cases.append(Case("impact law", f"power, γ {other.gamma:g}, {other.depth / 1e6:g}M within 1 %", base_path, population, other, venue))
    elif impact_law:
        cases.append(Case("impact law", "square root (the shipped scenario's)", base_path, population, LiquidityModel(), venue))
    for w in index_weights:
        if getattr(venue, "index_weight", 1.0) != w:
            cases.append(Case("index weight", f"{w:g}", base_path, population, liquidity, replace(venue, index_weight=w)))
    return cases


def run_sensitivity(cases: Sequence[Case], *, name: str, oracle: OracleFaults | None = None, base_result: ReplayResult | None = None,
                    progress: Callable[[int, int, str], None] | None = None) -> pd.DataFrame:
    """Replay every case; one row per case with the :data:`HEADLINE` figures.

    ``base_result`` (the run of ``cases[0]``, when already made) is used instead of running the base
    again. Columns: ``factor``, ``setting``, ``observations``, ``median_step_s``, the headline
    figures, and ``deficit_vs_base`` (this row's bankruptcy deficit over the base's; NaN when the base
    has none). ``oracle`` faults are observation indices, so they fall at other times on a path of
    another length.
    """
    rows = []
    for i, c in enumerate(cases):
        if progress:
            progress(i, len(cases), f"{c.factor} {c.setting}".strip())
        if i == 0 and base_result is not None:
            r = base_result
        else:
            r = run_replay(c.path.ts_ns, c.path.price, name=f"{name} [{c.factor} {c.setting}]".replace(" ]", "]"), population=c.population,
                           liquidity=c.liquidity, venue=c.venue, oracle=oracle, verify_replay=False)
        step = int(np.median(np.diff(c.path.ts_ns))) if len(c.path) > 1 else 0
        rows.append({"factor": c.factor, "setting": c.setting, "observations": len(c.path), "median_step_s": step / 1e9, **headline(r)})
    if progress:
        progress(len(cases), len(cases), "done")
    table = pd.DataFrame(rows)
    base = float(table["bankruptcy_deficit_usdc"].iloc[0])
    table["deficit_vs_base"] = table["bankruptcy_deficit_usdc"] / base if base > 0 else np.nan
    return table


def write_sensitivity(table: pd.DataFrame, out_dir: str | Path, meta: Mapping | None = None) -> dict[str, Path]:
    """Write ``sensitivity.json`` (the rows, the labels of the figures and ``meta``) and ``sensitivity.csv``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"json": out / "sensitivity.json", "csv": out / "sensitivity.csv"}
    doc = {"design": "one factor at a time around the base run", "figures": HEADLINE, **(dict(meta) if meta else {}),
           "rows": json.loads(table.to_json(orient="records"))}
    paths["json"].write_text(json.dumps(doc, indent=2))
    table.to_csv(paths["csv"], index=False)
    return paths
