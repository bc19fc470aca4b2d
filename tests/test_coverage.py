"""The margin coverage Monte Carlo (ramparts.lab.coverage): closed forms, theorems and the tails
module's own generators as references; the GPU backend against the CPU one where a GPU exists."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy import stats
from typer.testing import CliRunner

from ramparts.cli import app
from ramparts.errors import InvalidInput
from ramparts.lab import coverage as cov
from ramparts.lab.coverage import CoverageSpec, Extremes, run_coverage, simulate, simulate_chunk, var_es
from ramparts.lab.stress import FittedModels
from ramparts.lab.tails import GarchTParams, GPDTail, garch_t_paths, gpd_shock_paths, jump_diffusion

# hand-picked models with the shape of the hourly BTC fits (no data files needed)
GARCH = {"mu": 0.0, "omega": 2.0e-7, "alpha": 0.10, "beta": 0.895, "nu": 4.5}
GPD = {"xi": 0.25, "scale": 0.006, "threshold": 0.012, "n_exceed": 2_000, "n_obs": 40_000}
FITS = FittedModels(garch=GARCH, gpd=GPD, sigma_hourly=0.008, correlation=0.8, eth_vol_ratio=1.3, btc_price=60_000.0,
                    eth_price=3_000.0, observations=40_000)
GPU = cov._cupy() is not None


def normal_spec(**kw) -> CoverageSpec:
    base = {"model": "normal", "sigma": 0.01, "horizon_steps": 24, "n_paths": 400_000, "chunk_paths": 100_000, "seed": 7}
    return CoverageSpec(**{**base, **kw})


# ------------------------------------------------------------------------------ estimators
@pytest.mark.parametrize(
    ("losses", "q", "var", "es"),
    [
        (np.arange(1, 101) / 100, 0.95, 0.95, 0.98),  # 5 largest: 0.96 .. 1.00
        (np.arange(1, 101) / 100, 0.99, 0.99, 1.00),
        (np.arange(1, 1001) / 1000, 0.999, 0.999, 1.0),
        (np.array([0.3, 0.1, 0.2, 0.4]), 0.5, 0.2, 0.35),  # ⌈4·0.5⌉ = 2 largest
        (np.array([5.0, 5.0, 5.0]), 0.9, 5.0, 5.0),
    ],
)
def test_var_es_against_hand_values(losses, q, var, es):
    v, e = var_es(np.random.default_rng(0).permutation(losses), q)
    assert v == pytest.approx(var) and e == pytest.approx(es)


# ------------------------------------------------------------------------------ closed forms
def test_normal_horizon_var_es_match_the_lognormal_closed_forms():
    spec = normal_spec()
    res = run_coverage(spec, backend="numpy")
    s = 0.01 * math.sqrt(24)
    for q in spec.levels:
        z = stats.norm.ppf(1 - q)
        closed = {
            "long_horizon": (-math.expm1(s * z), 1 - math.exp(s * s / 2) * stats.norm.cdf(z - s) / (1 - q)),
            "short_horizon": (math.expm1(-s * z), math.exp(s * s / 2) * stats.norm.cdf(z + s) / (1 - q) - 1),
        }
        for name, (var, es) in closed.items():
            row = res.summary["losses"][name][f"{q:g}"]
            assert abs(row["var"] - var) <= 4 * row["var_se"] + 1e-4, (name, q, row, var)
            assert abs(row["es"] - es) <= 4 * row["es_se"] + 1e-4, (name, q, row, es)


def test_one_step_horizon_worst_is_the_horizon_move():
    ext, _ = simulate(normal_spec(horizon_steps=1, n_paths=10_000), backend="numpy")
    assert np.array_equal(ext.low, np.minimum(ext.horizon, 0.0)) and np.array_equal(ext.high, np.maximum(ext.horizon, 0.0))


def test_worst_excursion_bounds_the_horizon_move_and_levys_inequality_holds():
    spec = normal_spec(n_paths=200_000)
    ext, _ = simulate(spec, backend="numpy")
    L = ext.losses()
    assert np.all(L["long_worst"] >= L["long_horizon"]) and np.all(L["short_worst"] >= L["short_horizon"])
    assert np.all(ext.low <= 0) and np.all(ext.high >= 0)
    # Lévy: for symmetric i.i.d. steps, P(max_k S_k >= a) <= 2 P(S_n >= a)
    n = ext.horizon.size
    for a in (0.01, 0.03, 0.06, 0.1):
        p_max, p_end = (ext.high >= a).mean(), (ext.horizon >= a).mean()
        assert p_max <= 2 * p_end + 4 * math.sqrt(2 * p_end / n) + 1e-6
        assert p_max > p_end  # and the excursion is strictly more likely than the end point
    # the reflection principle's continuous limit is approached from below: P(max >= a) < 2 P(S_n >= a)
    assert (ext.high >= 0.05).mean() < 2 * stats.norm.sf(0.05 / (0.01 * math.sqrt(24)))


# ------------------------------------------------------------------------------ the models against the tails module
def _horizon_sums(r: np.ndarray) -> np.ndarray:
    return r.sum(axis=1)


@pytest.mark.parametrize("model", ["garch", "jump", "gpd"])
def test_models_match_the_tails_generators_in_distribution(model):
    spec = CoverageSpec(model=model, horizon_steps=12, n_paths=40_000, chunk_paths=20_000, seed=3, burn=300)
    ext, _ = simulate(spec, backend="numpy", fits=FITS)
    if model == "garch":
        ref = garch_t_paths(12, 20_000, 11, params=GarchTParams(**GARCH), burn=300)
    elif model == "jump":
        ref = jump_diffusion(12, 20_000, 11, sigma=0.008, lam=spec.jump_per_day / 24, jump_mean=spec.jump_mean, jump_std=spec.jump_std, dt=1.0)
    else:
        tail = GPDTail(side="loss", **GPD)
        ref = gpd_shock_paths(tail, 12, 20_000, 11, shock_prob=tail.exceed_prob, body_sigma=0.008)
    ks = stats.ks_2samp(ext.horizon, _horizon_sums(ref))
    assert ks.pvalue > 1e-3, ks
    # and the reference is not trivially close to anything: a 20 % wider model is told apart
    wide = stats.ks_2samp(ext.horizon * 1.2, _horizon_sums(ref))
    assert wide.pvalue < 1e-6, wide


def test_garch_student_t_draws_have_unit_variance_and_the_right_kurtosis():
    d = cov._Draws("numpy", 5)
    t = cov._student_t(d, 6.0, 2_000_000)
    assert t.var() == pytest.approx(1.0, abs=0.01)
    assert stats.kurtosis(t) == pytest.approx(6 / (6 - 4), rel=0.25)  # excess kurtosis 6/(ν−4)
    ks = stats.kstest(t[:200_000] / math.sqrt(4 / 6), "t", args=(6.0,))
    assert ks.pvalue > 1e-3


# ------------------------------------------------------------------------------ reproducibility
def test_same_seed_same_paths_and_chunks_are_independent_streams():
    a, _ = simulate(normal_spec(n_paths=25_000, chunk_paths=10_000), backend="numpy")
    b, _ = simulate(normal_spec(n_paths=25_000, chunk_paths=10_000), backend="numpy")
    c, _ = simulate(normal_spec(n_paths=10_000, chunk_paths=10_000), backend="numpy")
    assert np.array_equal(a.horizon, b.horizon) and np.array_equal(a.low, b.low)
    assert np.array_equal(a.horizon[:10_000], c.horizon)  # a path does not depend on how many follow it
    assert not np.array_equal(a.horizon[:10_000], a.horizon[10_000:20_000])
    d, _ = simulate(normal_spec(n_paths=10_000, chunk_paths=10_000, seed=8), backend="numpy")
    assert not np.array_equal(c.horizon, d.horizon)


def test_too_few_paths_for_an_error_estimate_give_none_and_valid_json(tmp_path):
    res = run_coverage(normal_spec(n_paths=500, chunk_paths=500), backend="numpy")
    row = res.summary["losses"]["long_worst"]
    assert row["0.99"]["var_se"] is not None and row["0.9999"]["var_se"] is None and row["0.9999"]["es"] > 0
    files = cov.write_coverage_report(res, tmp_path)
    json.loads(files["json"].read_text(), parse_constant=lambda c: pytest.fail(f"non-JSON constant {c}"))


def test_summary_and_curve_are_consistent():
    spec = normal_spec(n_paths=50_000)
    res = run_coverage(spec, backend="numpy", keep_paths=True)
    losses = res.extremes.losses()
    for name in losses:
        curve = np.array(res.exceedance[name])
        assert np.all(np.diff(curve) <= 0)  # exceedance falls with the rate
        i = 20
        assert curve[i] == pytest.approx((losses[name] >= spec.rates[i]).mean())
        v99 = res.summary["losses"][name]["0.99"]["var"]
        assert (losses[name] > v99).mean() <= 0.01 <= (losses[name] >= v99).mean()


# ------------------------------------------------------------------------------ bad input
@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"model": "levy"}, "model"),
        ({"horizon_steps": 0}, "horizon_steps"),
        ({"n_paths": 0}, "n_paths"),
        ({"n_paths": cov.MAX_PATHS + 1}, "n_paths"),
        ({"chunk_paths": 2.5}, "chunk_paths"),
        ({"seed": -1}, "seed"),
        ({"levels": (0.99, 1.0)}, "levels"),
        ({"levels": ()}, "levels"),
        ({"levels": "high"}, "levels"),
        ({"rates": (float("nan"),)}, "rates"),
        ({"vol_scale": -1.0}, "vol_scale"),
        ({"sigma": float("inf")}, "sigma"),
        ({"jump_std": True}, "jump_std"),
    ],
)
def test_bad_specs_are_refused_by_name(kwargs, field):
    with pytest.raises(InvalidInput) as e:
        CoverageSpec(**kwargs)
    assert e.value.field == field


def test_unknown_or_missing_backend_is_a_clear_error():
    with pytest.raises(InvalidInput, match="unknown backend"):
        cov.resolve_backend("tpu")
    assert cov.resolve_backend("numpy") == "numpy"
    assert cov.resolve_backend("auto") == ("cupy" if GPU else "numpy")
    if not GPU:
        with pytest.raises(InvalidInput, match="CuPy"):
            cov.resolve_backend("cupy")


def test_cli_writes_the_report_and_refuses_bad_input(tmp_path):
    out = tmp_path / "cov"
    res = CliRunner().invoke(app, ["coverage", "--model", "normal", "--sigma", "0.01", "--paths", "20000", "--chunk", "5000",
                                   "--backend", "numpy", "--out", str(out)])
    assert res.exit_code == 0, res.output
    doc = json.loads((out / "summary.json").read_text())
    assert doc["summary"]["paths"] == 20_000 and doc["spec"]["chunk_paths"] == 5_000
    assert set(doc["summary"]["losses"]) == {"long_worst", "short_worst", "long_horizon", "short_horizon"}
    assert (out / "report.html").stat().st_size > 100_000
    rows = (out / "exceedance.csv").read_text().splitlines()
    assert rows[0] == "rate,long_worst,short_worst,long_horizon,short_horizon" and len(rows) == 1 + len(cov.DEFAULT_RATES)
    for args in (["--model", "levy"], ["--levels", "0.99,2"], ["--paths", "-5"], ["--backend", "tpu"]):
        bad = CliRunner().invoke(app, ["coverage", "--paths", "100", *args] if "--paths" not in args else ["coverage", *args])
        assert bad.exit_code == 2 and "error:" in bad.output and "Traceback" not in bad.output, (args, bad.output)
    assert not any(p.name.startswith("coverage-") for p in tmp_path.iterdir())


# ------------------------------------------------------------------------------ the GPU backend (where one exists)
@pytest.mark.gpu
@pytest.mark.skipif(not GPU, reason="needs CuPy and a CUDA device")
@pytest.mark.parametrize("model", ["normal", "garch", "jump", "gpd"])
def test_cupy_backend_agrees_with_numpy_in_distribution(model):
    spec = CoverageSpec(model=model, sigma=0.01 if model == "normal" else None, horizon_steps=24, n_paths=400_000,
                        chunk_paths=200_000, seed=5, burn=300)
    cpu, _ = simulate(spec, backend="numpy", fits=FITS)
    gpu, used = simulate(spec, backend="cupy", fits=FITS)
    again, _ = simulate(spec, backend="cupy", fits=FITS)
    assert used == "cupy" and np.array_equal(gpu.horizon, again.horizon)  # deterministic on the device too
    for field in ("horizon", "low", "high"):
        ks = stats.ks_2samp(getattr(cpu, field), getattr(gpu, field))
        assert ks.pvalue > 1e-4, (field, ks)
    for name, x in gpu.losses().items():
        y = cpu.losses()[name]
        (vg, _), (vc, _) = var_es(x, 0.99), var_es(y, 0.99)
        se = cov._errors(y, 0.99)[0]
        assert abs(vg - vc) <= 6 * se, (name, vg, vc, se)


@pytest.mark.gpu
@pytest.mark.skipif(not GPU, reason="needs CuPy and a CUDA device")
def test_cupy_chunk_is_returned_on_the_host():
    h, lo, hi = simulate_chunk(normal_spec(), {"sigma": 0.01}, 0, 1_000, "cupy")
    assert all(isinstance(a, np.ndarray) and a.shape == (1_000,) for a in (h, lo, hi))
    assert isinstance(Extremes(h, lo, hi).losses()["long_worst"], np.ndarray)
