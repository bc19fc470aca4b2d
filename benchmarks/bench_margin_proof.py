"""Benchmark: private margin-health proofs (``ramparts prove-margin``): proof size, proving and verification time.

A venue of ``--accounts`` sub-accounts (default 10,000) over two instruments: BTC-PERP on a
``--tiers``-tier schedule (default 3; floors 0, 100,000, 300,000, 900,000, ... USDC, maintenance 1 %,
2.5 %, 5 %, ...) and a flat ETH-PERP (10 % / 5 %); each sub-account holds a random long or short
in each (or none) and enough cash to meet its initial requirement (a few fall below maintenance).
In one run, on one process unless ``--workers`` says otherwise, the script measures:

* **baseline**: one 64-bit range proof, ``prove_range`` / ``verify_range`` (median of 30), the unit a
  margin proof is made of, and the ratio of each margin-proof time to it;
* **root**: :class:`~ramparts.solvency.margin_proof.MarginRoot` over every account (one
  commitment to the cash and one per instrument, the Merkle tree), total and per account;
* **one account**: ``prove`` and ``verify_margin`` (after a JSON round trip) of ``--sample``
  healthy accounts, for the maintenance requirement alone and for both; median times, the JSON
  size and the raw bytes (range proofs, points, scalars); every proof is checked to verify;
* **every account** (``--all``): proving and verifying all healthy accounts' maintenance proofs,
  in ``--workers`` processes (each rebuilds the same root from the same inputs); without
  ``--all`` the total for ``--accounts`` is extrapolated from the per-account median and printed as such.

Run: ``python benchmarks/bench_margin_proof.py [--accounts 10000] [--sample 20] [--tiers 3] [--all] [--workers 1]``.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import statistics
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np

from ramparts.solvency import margin_proof as mp
from ramparts.solvency.range_proof import prove_range, verify_range

SECRET = b"benchmark-secret-0123456789abcdef"


def markets(tiers: int) -> list[mp.Market]:
    floors = [0] + [100_000 * 10**6 * 3**k for k in range(tiers - 1)]
    mm = [10_000, 25_000, 50_000, 100_000, 150_000, 200_000, 250_000, 300_000, 400_000, 500_000][:tiers]
    btc = [(f, 2 * m, m) for f, m in zip(floors, mm, strict=True)]
    return [mp.Market.make("BTC-PERP", 50_000 * 10**3, btc), mp.Market.make("ETH-PERP", 3_000 * 10**3, ((0, 100_000, 50_000),))]


def population(n: int, mk: list[mp.Market], seed: int = 7) -> list[mp.Account]:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        lots = tuple(int(x) for x in (rng.integers(-20_000, 20_001) * (rng.random() < 0.7),
                                      rng.integers(-200_000, 200_001) * (rng.random() < 0.5)))
        im = sum(m.requirement(q, "initial") for m, q in zip(mk, lots, strict=True))
        value = sum(q * m.mark for m, q in zip(mk, lots, strict=True))
        equity = int(im * rng.uniform(0.3, 3.0)) + int(rng.integers(0, 10**9))
        out.append(mp.Account(f"acct{i:06d}/main", equity - value, lots))
    return out


def raw_bytes(proof: dict) -> int:
    """Bytes carried without JSON: base64 fields decoded, hex points and hashes as bytes."""
    total = 0

    def walk(v, top=False):
        nonlocal total
        if isinstance(v, dict):
            for k, x in v.items():
                if not (top and k in ("format", "snapshot_id", "subaccount", "requirements")):
                    walk(x)
        elif isinstance(v, list):
            for x in v:
                walk(x)
        elif isinstance(v, str):
            try:
                total += len(bytes.fromhex(v))
            except ValueError:
                total += len(base64.b64decode(v))
        elif isinstance(v, int):
            total += 8
    walk(proof, top=True)
    return total


def _prove_slice(args):
    n, tiers, ids = args
    mk = markets(tiers)
    root = mp.MarginRoot(population(n, mk), mk, snapshot_id="bench", sequence=1, settlement="USDC", secret=SECRET)
    rec = root.record()
    t_p = t_v = 0.0
    ok = 0
    for sid in ids:
        t0 = time.perf_counter()
        proof = json.dumps(root.prove(sid))
        t1 = time.perf_counter()
        ok += mp.verify_margin(proof, rec, root.hash).ok
        t_p += t1 - t0
        t_v += time.perf_counter() - t1
    return t_p, t_v, ok


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--accounts", type=int, default=10_000)
    ap.add_argument("--sample", type=int, default=20)
    ap.add_argument("--tiers", type=int, default=3, choices=range(1, 11))
    ap.add_argument("--all", action="store_true", help="prove and verify every healthy account")
    ap.add_argument("--workers", type=int, default=1)
    args = ap.parse_args()
    n = args.accounts
    mk = markets(args.tiers)
    print(f"{n:,} sub-accounts, 2 instruments (BTC-PERP {args.tiers} tiers, ETH-PERP flat), cpus={os.cpu_count()}")

    ts_p, ts_v = [], []

    def baseline() -> None:  # one 64-bit range proof, timed between the margin proofs (same load)
        t0 = time.process_time()
        rp = prove_range(12345 + len(ts_p), 64, b"bench")
        t1 = time.process_time()
        verify_range(rp.commitment, rp.proof, 64, b"bench")
        ts_p.append(t1 - t0)
        ts_v.append(time.process_time() - t1)

    for _ in range(5):
        baseline()

    accounts = population(n, mk)
    t0 = time.perf_counter()
    root = mp.MarginRoot(accounts, mk, snapshot_id="bench", sequence=1, settlement="USDC", secret=SECRET)
    build = time.perf_counter() - t0
    rec = json.loads(json.dumps(root.record()))
    healthy = [a.subaccount for a in accounts if (lambda r: r["equity"] >= r["initial"])(root.requirements(a.subaccount))]
    below = sum(1 for a in accounts if (lambda r: r["equity"] < r["maintenance"])(root.requirements(a.subaccount)))

    rows = {}
    for levels in (("maintenance",), ("maintenance", "initial")):
        tp, tv, sizes, raws, checks, cpu_p, cpu_v = [], [], [], [], [], [], []
        for sid in healthy[: args.sample]:
            baseline()
            c0, t0 = time.process_time(), time.perf_counter()
            proof = root.prove(sid, levels)
            c1, t1 = time.process_time(), time.perf_counter()
            text = json.dumps(proof)
            res = mp.verify_margin(text, rec, root.hash)
            c2, t2 = time.process_time(), time.perf_counter()
            assert res.ok, res
            tp.append(t1 - t0)
            tv.append(t2 - t1)
            cpu_p.append(c1 - c0)
            cpu_v.append(c2 - c1)
            sizes.append(len(text))
            raws.append(raw_bytes(proof))
            checks.append(res.range_proofs)
        rows[levels] = (statistics.median(tp), statistics.median(tv), statistics.mean(sizes), statistics.mean(raws), checks[0],
                        statistics.median(cpu_p), statistics.median(cpu_v))

    base_p, base_v = statistics.median(ts_p), statistics.median(ts_v)
    print()
    print(f"| measure ({args.tiers}-tier BTC, flat ETH) | time | CPU time / one 64-bit range proof's (same run) |")
    print("|---|---|---|")
    print(f"| baseline: one 64-bit range proof (median of {len(ts_p)}, interleaved) | prove {base_p * 1e3:.2f} ms, verify {base_v * 1e3:.2f} ms CPU | 1 |")
    print(f"| margin root, {n:,} accounts | {build:.2f} s ({build / n * 1e3:.3f} ms per account) | — |")
    for levels, (p, v, size, raw, k, cp, cv) in rows.items():
        name = " + ".join(levels)
        print(f"| prove {name} (median of {min(args.sample, len(healthy))}) | {p * 1e3:.0f} ms wall, {cp * 1e3:.0f} ms CPU "
              f"| {cp / base_p:.1f} |")
        print(f"| verify {name} | {v * 1e3:.0f} ms wall, {cv * 1e3:.0f} ms CPU | {cv / base_v:.1f} |")
        print(f"| proof size, {name} | {size:,.0f} bytes JSON, {raw:,.0f} raw, {k} range proofs | — |")
    p, v = rows[("maintenance",)][5:7]
    print()
    print(f"{len(healthy):,} accounts meet their initial requirement, {below:,} are below maintenance (cannot be proven)")
    if args.all:
        ids = healthy
        chunks = [ids[i :: args.workers] for i in range(args.workers)]
        t0 = time.perf_counter()
        if args.workers == 1:
            results = [_prove_slice((n, args.tiers, ids))]
        else:
            with ProcessPoolExecutor(args.workers) as pool:
                results = list(pool.map(_prove_slice, [(n, args.tiers, c) for c in chunks]))
        wall = time.perf_counter() - t0
        ok = sum(r[2] for r in results)
        print(f"every healthy account, maintenance: {ok:,}/{len(ids):,} verified; wall {wall:.0f} s with "
              f"{args.workers} worker(s) (prove {sum(r[0] for r in results):.0f} s, verify "
              f"{sum(r[1] for r in results):.0f} s, summed over the proofs)")
    else:
        print(f"extrapolated for all {len(healthy):,} healthy accounts (maintenance, one core, from the CPU medians): prove "
              f"{p * len(healthy):.0f} s, verify {v * len(healthy):.0f} s (linear in the accounts; --all measures it)")


if __name__ == "__main__":
    main()
