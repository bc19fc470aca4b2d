"""Benchmark: the margin coverage Monte Carlo (``ramparts coverage``) on the CPU and, where there is
one, on a GPU through CuPy; ratios against baselines measured in the same run.

* **baseline**: the lab's own vectorised generator, :func:`ramparts.lab.tails.garch_t_paths`
  (every step of every path stored), then the cumulative sum and its extremes in numpy;
* **numpy backend**: :func:`ramparts.lab.coverage.simulate` on the CPU (steps never stored);
* **cupy backend**: the same on the GPU (skipped without CuPy and a device), with the 99 % VaR of
  the worst long excursion compared against the CPU's within its Monte Carlo error.

Run: ``python benchmarks/bench_coverage.py [--model garch --horizon 24 --burn 500 --cpu-paths 200000
--gpu-paths 20000000]``. The models are the hourly fits of the shipped data (``ramparts.data``) when
they can be made, otherwise fixed parameters of the same shape (printed either way).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from ramparts.lab import coverage as cov
from ramparts.lab.coverage import CoverageSpec, simulate, var_es
from ramparts.lab.stress import FittedModels
from ramparts.lab.tails import GarchTParams, garch_t_paths

FALLBACK = FittedModels(garch={"mu": 0.0, "omega": 2.0e-7, "alpha": 0.10, "beta": 0.895, "nu": 4.5},
                        gpd={"xi": 0.25, "scale": 0.006, "threshold": 0.012, "n_exceed": 2_000, "n_obs": 40_000},
                        sigma_hourly=0.008, correlation=0.8, eth_vol_ratio=1.3, btc_price=60_000.0, eth_price=3_000.0,
                        observations=40_000)


def fits() -> tuple[FittedModels, str]:
    try:
        from ramparts.lab.stress import fit_models

        return fit_models(), "fitted to the shipped hourly BTC (ramparts.data)"
    except Exception as exc:  # noqa: BLE001 - the fit failed: fixed parameters instead
        return FALLBACK, f"fixed parameters ({type(exc).__name__}: the fit failed)"


def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="garch", choices=cov.MODELS)
    ap.add_argument("--horizon", type=int, default=24)
    ap.add_argument("--burn", type=int, default=500)
    ap.add_argument("--baseline-paths", type=int, default=50_000)
    ap.add_argument("--cpu-paths", type=int, default=200_000)
    ap.add_argument("--gpu-paths", type=int, default=20_000_000)
    ap.add_argument("--gpu-chunk", type=int, default=4_194_304)
    args = ap.parse_args()
    f, source = fits()
    print(f"model {args.model}, horizon {args.horizon} steps, burn {args.burn}; parameters: {source}")

    rows = []
    if args.model == "garch":
        def baseline():
            r = garch_t_paths(args.horizon, args.baseline_paths, 1, params=GarchTParams(**f.garch), burn=args.burn)
            s = np.cumsum(r, axis=1)
            return s[:, -1], np.minimum(s.min(axis=1), 0), np.maximum(s.max(axis=1), 0)
        _, t = timed(baseline)
        base = args.baseline_paths / t
        rows.append(("baseline: tails.garch_t_paths + numpy extremes", args.baseline_paths, t, base, "1.00x"))
    else:
        base = None

    spec = CoverageSpec(model=args.model, horizon_steps=args.horizon, burn=args.burn, n_paths=args.cpu_paths, chunk_paths=min(args.cpu_paths, 1_048_576))
    (cpu, _), t = timed(lambda: simulate(spec, backend="numpy", fits=f))
    cpu_rate = args.cpu_paths / t
    rows.append(("coverage, numpy backend", args.cpu_paths, t, cpu_rate, f"{cpu_rate / base:.2f}x baseline" if base else "1.00x"))

    if cov._cupy() is not None:
        gspec = CoverageSpec(model=args.model, horizon_steps=args.horizon, burn=args.burn, n_paths=args.gpu_paths,
                             chunk_paths=min(args.gpu_paths, args.gpu_chunk))
        simulate(CoverageSpec(model=args.model, horizon_steps=2, burn=2, n_paths=1000, chunk_paths=1000), backend="cupy", fits=f)  # warm-up
        (gpu, _), t = timed(lambda: simulate(gspec, backend="cupy", fits=f))
        gpu_rate = args.gpu_paths / t
        rows.append(("coverage, cupy backend (GPU)", args.gpu_paths, t, gpu_rate, f"{gpu_rate / cpu_rate:.1f}x numpy backend"))
        vc, _ = var_es(cpu.losses()["long_worst"], 0.99)
        se = cov._errors(cpu.losses()["long_worst"], 0.99)[0]
        vg, _ = var_es(gpu.losses()["long_worst"], 0.99)
        print(f"VaR 99% of the worst long excursion: numpy {vc:.4%} ± {se:.4%} (1 se), cupy {vg:.4%}; "
              f"difference {abs(vg - vc) / se:.1f} se")
    else:
        print("no CuPy / CUDA device here: the GPU row is skipped")

    print(f"{'run':<50} {'paths':>12} {'seconds':>9} {'paths/s':>14}  ratio")
    for name, n, t, rate, ratio in rows:
        print(f"{name:<50} {n:>12,} {t:>9.2f} {rate:>14,.0f}  {ratio}")


if __name__ == "__main__":
    main()
