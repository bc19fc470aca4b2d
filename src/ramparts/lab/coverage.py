"""Margin coverage Monte Carlo: how far the price moves against a position before liquidation can
finish, on millions of simulated paths, on the CPU (numpy) or on a GPU (CuPy).

This module owns ``ramparts coverage``. A maintenance rate is a bet that the mark will not move
further against a position than that rate while the venue closes it out (the *liquidation
horizon*, a clearinghouse's margin period of risk). :func:`run_coverage` simulates ``n_paths``
horizons of a fitted return model and measures, per path,

* the **horizon move** ``R``, the log return over the whole horizon, and
* the **worst excursion** within it, ``min_k S_k`` for a long and ``max_k S_k`` for a short, where
  ``S_k`` is the cumulative log return after step ``k`` (and ``S_0 = 0``),

then turns both into *loss fractions of the notional*: a long loses ``1 − e^{min(S)}``, a short
``e^{max(S)} − 1``. For each confidence level ``q`` it reports the value-at-risk (the empirical
``q``-quantile, method ``inverted_cdf``), the expected shortfall (the mean of the largest
``⌈n(1 − q)⌉`` losses) and their Monte Carlo standard errors, and the exceedance curve
``P(loss ≥ r)`` over a grid of rates: the probability that a position margined at rate ``r`` goes
through its maintenance margin within the horizon.

Models (the hourly fits of :func:`ramparts.lab.stress.fit_models`, rescaled to ``step_s`` the way
the stress lab does)
==========  =======================================================================================
``garch``   GARCH(1,1) with standardised Student-t innovations, started from the unconditional
            variance and run ``burn`` steps before the horizon (as
            :func:`ramparts.lab.tails.garch_t_paths`)
``jump``    Merton jump diffusion with the hourly diffusion σ (as
            :func:`ramparts.lab.tails.jump_diffusion`)
``gpd``     a Gaussian body plus loss shocks from the fitted generalised-Pareto tail (as
            :func:`ramparts.lab.tails.gpd_shock_paths`)
``normal``  i.i.d. normal log returns of standard deviation ``sigma`` per step (zero mean): the
            textbook case the tests check against closed forms
==========  =======================================================================================

Backends and reproducibility
----------------------------
Paths are drawn in *chunks* of ``chunk_paths``; chunk ``c`` has its own generator seeded from
``SeedSequence([seed, c])``, so the results depend on ``(seed, chunk_paths)`` and not on how many
chunks run or in what order. ``backend="numpy"`` uses :func:`numpy.random.default_rng`;
``backend="cupy"`` runs the same recursions on the GPU with ``cupy.random.RandomState`` (a
different generator, so the draws differ from numpy's while the distribution is the same; each
backend is deterministic on its own). ``"auto"`` takes CuPy when it imports and sees a device.
Only the three per-path figures come back to the host (24 bytes a path); the steps are never stored,
so memory is ``O(chunk_paths)`` whatever the horizon or the burn-in.

Student-t draws are ``Z / sqrt(2G/ν)`` with ``Z`` standard normal and ``G ~ Gamma(ν/2)`` on both
backends, scaled to unit variance by ``sqrt((ν − 2)/ν)``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ramparts.errors import InvalidInput

MODELS = ("garch", "jump", "gpd", "normal")
BACKENDS = ("auto", "numpy", "cupy")
#: Most paths one run may draw (three float64 per path come back to the host).
MAX_PATHS = 200_000_000
#: Default grid of loss fractions for the exceedance curve: 0.1 % to 90 %.
DEFAULT_RATES = tuple(float(x) for x in np.round(np.geomspace(0.001, 0.9, 60), 6))


def _int(value: Any, name: str, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not lo <= int(value) <= hi:
        raise InvalidInput(name, f"expected an int in [{lo}, {hi}], got {value!r}")
    return int(value)


def _num(value: Any, name: str, lo: float, hi: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise InvalidInput(name, f"expected a number, got {value!r}")
    v = float(value)
    if not (math.isfinite(v) and lo <= v <= hi):
        raise InvalidInput(name, f"expected a number in [{lo}, {hi}], got {value!r}")
    return v


@dataclass(frozen=True)
class CoverageSpec:
    """What to simulate (see the module docstring)."""

    model: str = "garch"
    horizon_steps: int = 24  #: steps in the liquidation horizon
    step_s: int = 3600  #: seconds per step (the hourly fits are rescaled to it)
    n_paths: int = 1_000_000
    chunk_paths: int = 1_048_576  #: paths per random stream (and per batch on the device)
    seed: int = 1
    levels: tuple[float, ...] = (0.99, 0.999, 0.9999)
    rates: tuple[float, ...] = DEFAULT_RATES  #: loss fractions of the exceedance curve
    vol_scale: float = 1.0  #: multiplies every simulated log return (> 1: a stressed regime)
    burn: int = 500  #: GARCH steps simulated before the horizon
    sigma: float | None = None  #: per-step σ of ``normal`` (default: the fitted hourly σ rescaled)
    jump_per_day: float = 0.5
    jump_mean: float = -0.08
    jump_std: float = 0.05

    def __post_init__(self) -> None:
        if self.model not in MODELS:
            raise InvalidInput("model", f"unknown model {self.model!r} (one of {', '.join(MODELS)})")
        _int(self.horizon_steps, "horizon_steps", 1, 100_000)
        _int(self.step_s, "step_s", 1, 86_400 * 7)
        _int(self.n_paths, "n_paths", 1, MAX_PATHS)
        _int(self.chunk_paths, "chunk_paths", 1, 50_000_000)
        _int(self.seed, "seed", 0, 2**63 - 1)
        _int(self.burn, "burn", 0, 100_000)
        _num(self.vol_scale, "vol_scale", 0.0, 20.0)
        _num(self.jump_per_day, "jump_per_day", 0.0, 100.0)
        _num(self.jump_mean, "jump_mean", -2.0, 2.0)
        _num(self.jump_std, "jump_std", 0.0, 2.0)
        if self.sigma is not None:
            _num(self.sigma, "sigma", 0.0, 5.0)
        for name in ("levels", "rates"):
            seq = getattr(self, name)
            try:
                vals = [float(v) for v in seq]
            except (TypeError, ValueError):
                raise InvalidInput(name, f"expected a sequence of numbers, got {seq!r}") from None
            if not vals or not all(math.isfinite(v) and 0.0 < v < 1.0 for v in vals):
                raise InvalidInput(name, f"expected numbers strictly between 0 and 1, got {seq!r}")
            object.__setattr__(self, name, tuple(vals))

    def to_dict(self) -> dict:
        return asdict(self)


# ------------------------------------------------------------------------------------------ backends
def _cupy():
    """The ``cupy`` module if it imports and sees a device, else ``None``."""
    try:
        import cupy  # type: ignore[import-not-found]

        if cupy.cuda.runtime.getDeviceCount() < 1:
            return None
        return cupy
    except Exception:  # noqa: BLE001 - any failure (no package, no driver, no device) means no GPU
        return None


def resolve_backend(backend: str) -> str:
    """``"numpy"`` or ``"cupy"`` for ``backend`` (``"auto"`` prefers a usable GPU)."""
    if backend not in BACKENDS:
        raise InvalidInput("backend", f"unknown backend {backend!r} (one of {', '.join(BACKENDS)})")
    if backend == "numpy":
        return "numpy"
    gpu = _cupy() is not None
    if backend == "cupy" and not gpu:
        raise InvalidInput("backend", "cupy was asked for but CuPy is not installed or sees no CUDA device")
    return "cupy" if gpu else "numpy"


class _Draws:
    """The four kinds of draws the models need, on one backend, from one seeded stream."""

    def __init__(self, backend: str, seed: int):
        if backend == "cupy":
            import cupy  # type: ignore[import-not-found]

            self.xp = cupy
            self._rs = cupy.random.RandomState(seed)
            self.normal = lambda n: self._rs.standard_normal(n, dtype=cupy.float64)
            self.gamma = lambda k, n: self._rs.standard_gamma(k, size=n, dtype=cupy.float64)
            self.uniform = lambda n: self._rs.random_sample(n, dtype=cupy.float64)
            self.poisson = lambda lam, n: self._rs.poisson(lam, size=n).astype(cupy.float64)
        else:
            self.xp = np
            g = np.random.default_rng(seed)
            self.normal = lambda n: g.standard_normal(n)
            self.gamma = lambda k, n: g.standard_gamma(k, n)
            self.uniform = lambda n: g.random(n)
            self.poisson = lambda lam, n: g.poisson(lam, n).astype(np.float64)


def _chunk_seed(seed: int, chunk: int) -> int:
    return int(np.random.SeedSequence([seed, chunk]).generate_state(1, dtype=np.uint64)[0] % (2**63))


# ------------------------------------------------------------------------------------------ models
def model_params(spec: CoverageSpec, fits: Any = None) -> dict:
    """The per-step parameters ``spec`` simulates with (from the hourly fits where it needs them)."""
    h = spec.step_s / 3600.0
    if spec.model == "normal" and spec.sigma is not None:
        return {"sigma": float(spec.sigma)}
    if fits is None:
        from ramparts.lab.stress import fit_models

        fits = fit_models()
    if spec.model == "normal":
        return {"sigma": fits.sigma_hourly * math.sqrt(h)}
    if spec.model == "garch":
        return {**{k: float(v) for k, v in fits.garch.items()}, "scale": math.sqrt(h)}
    if spec.model == "gpd":
        g = fits.gpd
        return {"xi": float(g["xi"]), "gpd_scale": float(g["scale"]), "threshold": float(g["threshold"]),
                "shock_prob": min(g["n_exceed"] / g["n_obs"] * h, 1.0), "body_sigma": fits.sigma_hourly * math.sqrt(h)}
    lam = spec.jump_per_day / 24.0
    kappa = math.expm1(spec.jump_mean + 0.5 * spec.jump_std**2)
    return {"sigma": fits.sigma_hourly, "lam_dt": lam * h, "drift": (-0.5 * fits.sigma_hourly**2 - lam * kappa) * h,
            "sqrt_dt": math.sqrt(h), "jump_mean": spec.jump_mean, "jump_std": spec.jump_std}


def _student_t(d: _Draws, nu: float, n: int):
    """Unit-variance Student-t draws: ``Z / sqrt(2G/ν) · sqrt((ν − 2)/ν)``."""
    z = d.normal(n)
    g = d.gamma(nu / 2.0, n)
    return z * d.xp.sqrt((nu - 2.0) / (2.0 * g))


def _step_returns(spec: CoverageSpec, p: dict, d: _Draws, n: int) -> Callable[[], Any]:
    """A function drawing one step's log returns for ``n`` paths (GARCH keeps its variance state)."""
    xp = d.xp
    vs = spec.vol_scale
    if spec.model == "normal":
        return lambda: d.normal(n) * (p["sigma"] * vs)
    if spec.model == "jump":
        def jump():
            z = d.normal(n)
            k = d.poisson(p["lam_dt"], n)
            zj = d.normal(n)
            r = p["drift"] + p["sigma"] * p["sqrt_dt"] * z + k * p["jump_mean"] + xp.sqrt(k) * p["jump_std"] * zj
            return r * vs
        return jump
    if spec.model == "gpd":
        xi, beta, u = p["xi"], p["gpd_scale"], p["threshold"]

        def gpd():
            body = d.normal(n) * p["body_sigma"]
            hit = d.uniform(n) < p["shock_prob"]
            v = d.uniform(n)
            size = u + (beta / xi * ((1.0 - v) ** (-xi) - 1.0) if abs(xi) > 1e-12 else -beta * xp.log1p(-v))
            return (body - xp.where(hit, size, 0.0)) * vs
        return gpd
    omega, alpha, beta_, nu, mu = p["omega"], p["alpha"], p["beta"], p["nu"], p["mu"]
    state = {"var": xp.full(n, omega / (1.0 - alpha - beta_))}

    def garch():
        eps = xp.sqrt(state["var"]) * _student_t(d, nu, n)
        state["var"] = omega + alpha * eps * eps + beta_ * state["var"]
        return (mu + eps) * (p["scale"] * vs)

    for _ in range(spec.burn):
        garch()
    return garch


def simulate_chunk(spec: CoverageSpec, params: dict, chunk: int, n: int, backend: str = "numpy") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Chunk ``chunk`` of ``spec`` (its first ``n`` paths): ``(R, min S, max S)`` as host arrays."""
    d = _Draws(backend, _chunk_seed(spec.seed, chunk))
    xp = d.xp
    step = _step_returns(spec, params, d, n)
    s = xp.zeros(n)
    lo = xp.zeros(n)
    hi = xp.zeros(n)
    for _ in range(spec.horizon_steps):
        s = s + step()
        xp.minimum(lo, s, out=lo)
        xp.maximum(hi, s, out=hi)
    if xp is np:
        return s, lo, hi
    return xp.asnumpy(s), xp.asnumpy(lo), xp.asnumpy(hi)


@dataclass
class Extremes:
    """Per path: the horizon log return ``R`` and the lowest / highest cumulative log return."""

    horizon: np.ndarray
    low: np.ndarray
    high: np.ndarray

    def losses(self) -> dict[str, np.ndarray]:
        """Loss fractions of the notional: long / short, at the horizon and at the worst point."""
        return {
            "long_worst": -np.expm1(self.low),
            "short_worst": np.expm1(self.high),
            "long_horizon": -np.expm1(np.minimum(self.horizon, 0.0)),
            "short_horizon": np.expm1(np.maximum(self.horizon, 0.0)),
        }


def simulate(spec: CoverageSpec, *, backend: str = "auto", fits: Any = None, params: dict | None = None,
             progress: Callable[[int, int], None] | None = None) -> tuple[Extremes, str]:
    """Every path of ``spec``: ``(Extremes, backend used)``; ``params`` as :func:`model_params`
    returns them (computed from ``fits`` when not given)."""
    used = resolve_backend(backend)
    params = params if params is not None else model_params(spec, fits)
    n_chunks = -(-spec.n_paths // spec.chunk_paths)
    horizon = np.empty(spec.n_paths)
    low = np.empty(spec.n_paths)
    high = np.empty(spec.n_paths)
    for c in range(n_chunks):
        a = c * spec.chunk_paths
        b = min(a + spec.chunk_paths, spec.n_paths)
        horizon[a:b], low[a:b], high[a:b] = simulate_chunk(spec, params, c, b - a, used)
        if progress:
            progress(b, spec.n_paths)
    return Extremes(horizon, low, high), used


# ------------------------------------------------------------------------------------------ statistics
def var_es(losses: np.ndarray, q: float) -> tuple[float, float]:
    """Value-at-risk (``inverted_cdf`` quantile) and expected shortfall (mean of the ``⌈n(1−q)⌉`` largest)."""
    n = losses.size
    k = max(1, math.ceil(n * (1.0 - q) - 1e-9))
    top = np.partition(losses, n - k)[n - k:]
    return float(np.quantile(losses, q, method="inverted_cdf")), float(top.mean())


def _errors(losses: np.ndarray, q: float, groups: int = 20) -> tuple[float | None, float | None]:
    """Monte Carlo standard errors of (VaR, ES) from ``groups`` equal batches (batch means);
    ``None`` when there are too few paths for two batches with a tail each."""
    g = min(groups, losses.size // max(1, math.ceil(1.0 / (1.0 - q))))
    if g < 2:
        return None, None
    parts = np.array_split(losses, g)
    est = np.array([var_es(p, q) for p in parts])
    return tuple(float(x) for x in est.std(axis=0, ddof=1) / math.sqrt(g))  # type: ignore[return-value]


@dataclass
class CoverageResult:
    spec: CoverageSpec
    backend: str
    params: dict
    summary: dict
    exceedance: dict[str, list[float]]
    seconds: float = 0.0
    extremes: Extremes | None = field(default=None, repr=False)


def summarise(spec: CoverageSpec, ext: Extremes) -> tuple[dict, dict[str, list[float]]]:
    """VaR / ES with standard errors per side, measure and level; the exceedance curves."""
    losses = ext.losses()
    rates = np.asarray(spec.rates)
    table: dict[str, dict] = {}
    curves: dict[str, list[float]] = {"rate": rates.tolist()}
    n = ext.horizon.size
    for name, x in losses.items():
        rows = {}
        for q in spec.levels:
            v, e = var_es(x, q)
            sv, se = _errors(x, q)
            rows[f"{q:g}"] = {"var": v, "es": e, "var_se": sv, "es_se": se}
        table[name] = rows
        s = np.sort(x)
        curves[name] = ((n - np.searchsorted(s, rates, side="left")) / n).tolist()
    summary = {"paths": n, "horizon_steps": spec.horizon_steps, "step_s": spec.step_s, "model": spec.model, "losses": table,
               "median_abs_horizon_move": float(np.median(np.abs(np.expm1(ext.horizon))))}
    return summary, curves


def run_coverage(spec: CoverageSpec, *, backend: str = "auto", fits: Any = None, keep_paths: bool = False,
                 progress: Callable[[int, int], None] | None = None) -> CoverageResult:
    """Simulate ``spec`` and summarise it (see the module docstring)."""
    import time

    params = model_params(spec, fits)
    t0 = time.perf_counter()
    ext, used = simulate(spec, backend=backend, params=params, progress=progress)
    seconds = time.perf_counter() - t0
    summary, curves = summarise(spec, ext)
    summary["backend"] = used
    summary["seconds"] = seconds
    return CoverageResult(spec, used, params, summary, curves, seconds, ext if keep_paths else None)


#: The four loss measures of a coverage run, in the field's words.
MEASURES = {"long_worst": "long, worst within the horizon", "short_worst": "short, worst within the horizon",
            "long_horizon": "long, at the horizon's end", "short_horizon": "short, at the horizon's end"}


def coverage_caveats(result: CoverageResult) -> list[str]:
    """Where the coverage figures are doubtful: a fitted model at its bounds, and quantiles with few paths
    beyond them or rarer than the fitting history's horizons (:mod:`ramparts.lab.reportkit`)."""
    from ramparts.lab import reportkit as rk

    sp, p = result.spec, result.params
    out = rk.fit_caveats(garch=p if sp.model == "garch" else None, gpd={"xi": p["xi"]} if sp.model == "gpd" else None)
    history = None
    if not (sp.model == "normal" and sp.sigma is not None):  # fitted to the shipped hourly history
        from ramparts.lab.stress import fit_models

        history = fit_models().observations * 3600 / sp.step_s
    out += rk.quantile_caveats(int(result.summary["paths"]), sp.levels, what="the loss", unit="paths", history=history,
                               horizon=sp.horizon_steps, history_label="hourly BTC, Binance spot 2017-2022")
    missing = [q for q in sp.levels if any(result.summary["losses"][m][f"{q:g}"]["var_se"] is None for m in result.summary["losses"])]
    if missing:
        out.append(f"No standard error at {', '.join(f'{q:g}' for q in missing)}: too few paths for two batches with a tail each "
                   "(run more paths).")
    return out


def _coverage_headline(s: dict, levels) -> list[tuple[str, list]]:
    from ramparts.lab import reportkit as rk

    rows = []
    for name, words in MEASURES.items():
        for q in levels:
            r = s["losses"][name][f"{q:g}"]
            k = f"summary/losses/{name}/{q:g}"
            rows.append((f"{words}, level {q:g}", [rk.cell(r["var"], f"{k}/var", ".2%"), rk.cell(r["var_se"], f"{k}/var_se", ".2%"),
                                                   rk.cell(r["es"], f"{k}/es", ".2%"), rk.cell(r["es_se"], f"{k}/es_se", ".2%")]))
    rows.append(("median absolute move over the horizon", [rk.cell(s["median_abs_horizon_move"], "summary/median_abs_horizon_move", ".2%"),
                                                          "", "", ""]))
    return rows


def write_coverage_report(result: CoverageResult, out_dir: str | Path, tier_rates: dict[str, float] | None = None) -> dict[str, Path]:
    """``report.html`` (the VaR / ES table with standard errors, the parameters, the caveats, the exceedance
    curves with ``tier_rates`` marked, VaR and ES by level), ``summary.json`` and ``exceedance.csv`` (one row per rate)."""
    import plotly.graph_objects as go

    from ramparts.lab import reportkit as rk

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files = {"html": out / "report.html", "json": out / "summary.json", "csv": out / "exceedance.csv"}
    c = result.exceedance
    s, sp = result.summary, result.spec
    notes = coverage_caveats(result)
    n = int(s["paths"])
    title = (f"ramparts coverage: {sp.model}, {n:,} paths of {sp.horizon_steps} × {sp.step_s} s "
             f"({result.backend}, {result.seconds:.1f} s)")
    page = rk.Page(title, command="coverage")
    top = max(sp.levels)
    lw = s["losses"]["long_worst"][f"{top:g}"]
    sw = s["losses"]["short_worst"][f"{top:g}"]
    sentence = (f"At {top:g}, a long position can lose {lw['var']:.2%} of its notional within the {sp.horizon_steps}-step horizon "
                f"(expected shortfall {lw['es']:.2%}), a short {sw['var']:.2%} ({sw['es']:.2%}): a maintenance rate below these is "
                "crossed more often than the level claims.")
    page.verdict(sentence, rk.headline(_coverage_headline(s, sp.levels), columns=("VaR", "± s.e.", "ES", "± s.e."),
                                       first="loss, fraction of notional", source="summary.json",
                                       caption="Value-at-risk and expected shortfall of the loss, with their Monte Carlo standard errors "
                                               "(— : not estimated)."))
    model = {"garch": "GARCH(1,1)-t fitted to hourly BTC", "jump": "Merton jump diffusion (σ fitted to hourly BTC)",
             "gpd": "Gaussian body and a fitted GPD loss tail", "normal": "i.i.d. normal log returns"}[sp.model]
    shown = ", ".join(f"{k} {v:.4g}" for k, v in result.params.items())
    page.parameters([("model", f"{model}: {shown}"), ("horizon", f"{sp.horizon_steps} steps of {sp.step_s:,} s"),
                     ("paths", f"{n:,} in chunks of {sp.chunk_paths:,} (results depend on seed and chunk)"), ("seed", sp.seed),
                     ("confidence levels", ", ".join(f"{q:g}" for q in sp.levels)), ("volatility scale", f"{sp.vol_scale:g}"),
                     ("backend", f"{result.backend} ({result.seconds:.1f} s)")])
    page.caveats(notes)
    floor = 0.3 / n  # a log axis has no zero: a rate no path reached is drawn on this floor, and says so
    fig = rk.chart("P(loss through a maintenance rate within the horizon)", x="maintenance rate (fraction of notional, log scale)",
                   y="probability (log scale)", height=620)
    styles = {"long_worst": (rk.palette(0), "solid"), "short_worst": (rk.palette(1), "solid"),
              "long_horizon": (rk.palette(0), "dot"), "short_horizon": (rk.palette(1), "dot")}
    for name, (colour, dash) in styles.items():
        y = np.asarray(c[name], dtype=float)
        zero = y <= 0
        fig.add_trace(go.Scatter(x=c["rate"], y=np.where(zero, floor, y), mode="lines+markers", name=MEASURES[name],
                                 line={"color": colour, "dash": dash}, marker={"size": np.where(zero, 7, 0), "symbol": "circle-open"},
                                 text=[f"0 of {n:,} paths" if z else f"{v:.3g}" for z, v in zip(zero, y, strict=True)],
                                 hovertemplate="rate %{x:.2%}: %{text}<extra>%{fullData.name}</extra>"))
    for label, r in (tier_rates or {}).items():
        fig.add_vline(x=r, line={"color": rk.COLOURS["requirement"], "dash": "dash", "width": 1})
        # on a log axis an annotation's x is log10 of the value; vertical text keeps close rates apart
        fig.add_annotation(x=math.log10(r), y=0.02, yref="paper", text=label, textangle=-90, showarrow=False, xanchor="right",
                           yanchor="bottom", font={"size": 11, "color": "#0e7c86"})
    decades = [10.0 ** -k for k in range(0, int(math.ceil(math.log10(n))) + 1) if 10.0 ** -k > floor * 2]
    fig.update_layout(xaxis={"type": "log", "tickformat": ".1%", "tickvals": [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 0.9]},
                      yaxis={"type": "log", "tickvals": [*decades, floor],
                             "ticktext": [f"{v:g}" for v in decades] + [f"none of {n:,}"]})
    fig.add_hline(y=floor, line={"color": "#999", "width": 1, "dash": "dot"})
    page.figure(fig, caption=f"A curve that reaches the dotted floor: no path of {n:,} lost that much (zero, drawn on the floor of the log "
                             "axis, open circles). Dashed lines: the maintenance rates of the tiers named.")
    bars = rk.chart("Value-at-risk and expected shortfall by confidence level, worst within the horizon", x="confidence level",
                    y="loss (fraction of notional)", height=440)
    for name, colour in (("long_worst", rk.palette(0)), ("short_worst", rk.palette(1))):
        for measure, pattern in (("var", ""), ("es", "/")):
            rows = [s["losses"][name][f"{q:g}"] for q in sp.levels]
            ys = [r[measure] for r in rows]
            se = [r[f"{measure}_se"] for r in rows]
            bars.add_trace(go.Bar(x=[f"{q:g}" for q in sp.levels], y=ys, name=f"{MEASURES[name].split(',')[0]}: {measure.upper()}",
                                  marker={"color": colour, "pattern": {"shape": pattern}},
                                  error_y={"type": "data", "array": [1.96 * (e or 0) for e in se], "visible": True},
                                  text=[f"{v:.1%}" + ("" if e is not None else " (no s.e.)") for v, e in zip(ys, se, strict=True)],
                                  textposition="outside", cliponaxis=False))
    bars.update_layout(barmode="group")
    bars.update_yaxes(tickformat=".0%")
    page.figure(bars, caption="Whiskers: ± 1.96 Monte Carlo standard errors.")
    page.write(files["html"])
    doc = {"summary": s, "spec": sp.to_dict(), "params": result.params, "caveats": notes}
    files["json"].write_text(json.dumps(doc, indent=2, sort_keys=True, default=str))
    names = [k for k in c if k != "rate"]
    lines = ["rate," + ",".join(names)] + [",".join([f"{r:.6g}"] + [f"{c[k][i]:.9g}" for k in names]) for i, r in enumerate(c["rate"])]
    files["csv"].write_text("\n".join(lines) + "\n")
    return files


__all__ = ["BACKENDS", "MODELS", "CoverageResult", "CoverageSpec", "Extremes", "model_params", "resolve_backend", "run_coverage",
           "simulate", "simulate_chunk", "summarise", "var_es", "write_coverage_report", "coverage_caveats", "MEASURES"]
