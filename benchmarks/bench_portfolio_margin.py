"""Benchmark the scenario portfolio margin: 100k accounts × 500 options (+ 1 perpetual) × 63 scenarios.

Times, each the best of ``--repeat`` runs:

* the instrument × scenario PnL matrix (Black-76 revaluation of every option in every scenario);
* the account step — the ``scipy.sparse`` product ``positions @ pnl`` (accounts × scenarios) and the
  worst-loss reduction — and the fused numba kernel doing both in one pass;
* the whole :func:`ramparts.margin.portfolio.portfolio_margin` (PnL matrix, account step, contingencies,
  int64 rounding);

and a naive baseline measured in the same run: a per-account Python loop over dense position vectors
(``dense_row @ pnl`` then ``min``) on a sample of accounts, scaled to the full population. Options take
their volatilities from SVI smiles fitted to the Deribit BTC chain snapshot when the shared data is
present (flat 55 % otherwise).

Run from the repository root: ``python benchmarks/bench_portfolio_margin.py [--accounts 100000]``.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import scipy.sparse as sp

from ramparts.margin.portfolio import (
    OPTION,
    Instruments,
    PortfolioMarginParams,
    ScenarioGrid,
    portfolio_margin,
    scenario_pnl_matrix,
    worst_losses,
)

SPOT = 88_530.0


def best_of(fn, repeat: int) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def universe(n_options: int, rng: np.random.Generator) -> tuple[Instruments, str]:
    expiries = np.array([7, 14, 30, 60, 90, 180]) / 365.0
    n_per = -(-n_options // (2 * expiries.size))
    strikes = np.linspace(0.6, 1.5, n_per) * SPOT
    T, K, C = np.meshgrid(expiries, strikes, [True, False], indexing="ij")
    T, K, C = T.ravel()[:n_options], K.ravel()[:n_options], C.ravel()[:n_options]
    expiry_id = np.searchsorted(expiries, T)
    source = "flat 55 %"
    vol = np.full(n_options, 0.55)
    try:
        from ramparts.options.svi import fit_chain, load_deribit_chain

        surf = fit_chain(load_deribit_chain(currency="BTC"))
        vol = surf.implied_vol(K, T)
        source = "SVI surface fitted to the Deribit BTC snapshot"
    except Exception as exc:  # the shared data is optional for the benchmark
        source += f" (no chain: {type(exc).__name__})"
    opts = Instruments(np.zeros(n_options, int), np.full(n_options, OPTION), np.full(n_options, SPOT), K, T, vol, C,
                       expiry_id)
    return Instruments.concat(Instruments.futures([0], [SPOT]), opts), source


def positions(n_accounts: int, n_instruments: int, rng: np.random.Generator) -> sp.csr_matrix:
    """1–10 positions per account (mean 5.5), integer quantities ±1…±10, a perp in 30 % of accounts."""
    counts = rng.integers(1, 11, n_accounts)
    rows = np.repeat(np.arange(n_accounts), counts)
    cols = rng.integers(1, n_instruments, rows.size)
    qty = rng.integers(1, 11, rows.size) * rng.choice([-1.0, 1.0], rows.size)
    perp = rng.random(n_accounts) < 0.3
    rows = np.concatenate([rows, np.flatnonzero(perp)])
    cols = np.concatenate([cols, np.zeros(int(perp.sum()), int)])
    qty = np.concatenate([qty, rng.integers(-20, 21, int(perp.sum())).astype(float)])
    P = sp.csr_matrix((qty, (rows, cols)), shape=(n_accounts, n_instruments))
    P.sum_duplicates()
    return P


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--accounts", type=int, default=100_000)
    ap.add_argument("--options", type=int, default=500)
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--naive-sample", type=int, default=2_000)
    args = ap.parse_args()
    rng = np.random.default_rng(2025)

    grid = ScenarioGrid.uniform(0.15, 9, extended_moves=(-0.5, -0.3, 0.3, 0.5, 1.0, 2.0))
    inst, vol_source = universe(args.options, rng)
    P = positions(args.accounts, inst.n, rng)
    print(f"accounts {args.accounts:,}  instruments {inst.n} (1 perp + {args.options} options)  "
          f"scenarios {grid.n_scenarios}  positions (nnz) {P.nnz:,}  cores {os.cpu_count()}")
    print(f"option vols: {vol_source}")

    t_pnl, pnl = best_of(lambda: scenario_pnl_matrix(inst, grid), args.repeat)
    t_prod, A = best_of(lambda: P @ pnl, args.repeat)
    t_red, worst = best_of(lambda: np.maximum(-A.min(axis=1), 0.0), args.repeat)
    t_step, worst_sp = best_of(lambda: worst_losses(P, pnl), args.repeat)
    worst_losses(P[:10], pnl, method="numba")  # compile (cached afterwards)
    t_fused, worst_nb = best_of(lambda: worst_losses(P, pnl, method="numba"), args.repeat)
    assert np.allclose(worst_sp, worst) and np.allclose(worst_nb, worst, rtol=1e-12, atol=1e-6)
    params = PortfolioMarginParams()
    t_full, res = best_of(lambda: portfolio_margin(P, inst, grid=grid, params=params), max(1, args.repeat // 2))

    # naive baseline: per-account dense loop on a sample, scaled
    n_s = min(args.naive_sample, args.accounts)
    sample = P[:n_s].toarray()

    def naive():
        out = np.empty(n_s)
        for a in range(n_s):
            out[a] = max(0.0, -float((sample[a] @ pnl).min()))
        return out

    t_naive_sample, naive_out = best_of(naive, 3)
    assert np.allclose(naive_out, worst[:n_s], rtol=1e-9, atol=1e-6)
    t_naive = t_naive_sample * args.accounts / n_s

    ms = lambda t: f"{t * 1e3:9.2f} ms"  # noqa: E731
    print(f"scenario PnL matrix ({inst.n} × {grid.n_scenarios}, Black-76)      {ms(t_pnl)}")
    print(f"sparse product P @ pnl ({args.accounts:,} × {grid.n_scenarios})          {ms(t_prod)}")
    print(f"worst-loss reduction                                  {ms(t_red)}")
    print(f"account step, scipy (worst_losses)                    {ms(t_step)}   target ≤ 50 ms")
    print(f"account step, fused numba kernel                      {ms(t_fused)}   target ≤ 50 ms")
    print(f"full portfolio_margin (incl. contingencies, int64)    {ms(t_full)}")
    print(f"naive dense per-account loop ({n_s:,} sampled, scaled)  {ms(t_naive)}")
    print(f"speed-up vs naive: scipy ×{t_naive / t_step:,.0f}, numba ×{t_naive / t_fused:,.0f}")
    print(f"median IM {np.median(res.initial) / 1e6:,.0f} USDC, accounts with zero requirement "
          f"{int((res.initial == 0).sum())}")


if __name__ == "__main__":
    main()
