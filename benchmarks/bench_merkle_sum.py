"""Benchmark: proof-of-liabilities Merkle sum tree build, proof generation and offline verification.

For each size (default 10k, 100k and 1M accounts, 2 assets: BTC and USDC, about 10 % of balances
in deficit) the script measures, in one run:

* **build**: ``build_tree`` from the Python sequence of ``(account_id, {asset: units})`` pairs,
  input validation included, with random salts (``secrets``), and again with HMAC-derived salts
  and ``shuffle=True`` (the CLI's configuration);
* **proofs/s generated**: ``MerkleSumTree.proof`` for a random sample of accounts;
* **proofs/s verified**: ``verify_proof`` on the same proofs after a JSON round trip (what an
  account holder runs), each checked to pass.

The population is generated with a seeded numpy generator before the clock starts. The peak
resident memory of the process is printed at the end.

Run: ``python benchmarks/bench_merkle_sum.py [--sizes 10000 100000 1000000] [--sample 2000]``.
"""

from __future__ import annotations

import argparse
import json
import resource
import time

import numpy as np

from ramparts.solvency import build_tree, verify_proof

ASSETS = ["BTC", "USDC"]
SECRET = b"benchmark-secret-0123456789abcdef"


def population(n: int, seed: int = 1) -> list[tuple[str, dict[str, int]]]:
    """``n`` accounts: log-uniform magnitudes, about 10 % negative, some accounts without BTC."""
    rng = np.random.default_rng(seed)
    btc = (10 ** rng.uniform(2, 10, n)).astype(np.int64) * np.where(rng.random(n) < 0.1, -1, 1)
    usdc = (10 ** rng.uniform(3, 13, n)).astype(np.int64) * np.where(rng.random(n) < 0.1, -1, 1)
    has_btc = rng.random(n) < 0.7
    out = []
    for i, (b, u, h) in enumerate(zip(btc.tolist(), usdc.tolist(), has_btc.tolist(), strict=True)):
        out.append((f"acct{i:08d}", {"BTC": b, "USDC": u} if h else {"USDC": u}))
    return out


def bench(n: int, sample: int) -> dict[str, float]:
    accounts = population(n)
    t0 = time.perf_counter()
    tree = build_tree(accounts, ASSETS, snapshot_id=f"bench-{n}", sequence=n)
    build_random = time.perf_counter() - t0
    t0 = time.perf_counter()
    build_tree(accounts, ASSETS, snapshot_id=f"bench-{n}", sequence=n, salt_secret=SECRET, shuffle=True)
    build_hmac = time.perf_counter() - t0

    # exactness check on the totals (outside the timings)
    for a in ASSETS:
        eqs = np.array([b.get(a, 0) for _, b in accounts], dtype=object)
        assert tree.totals[a].net == int(eqs.sum())

    rng = np.random.default_rng(2)
    idx = rng.choice(n, size=min(sample, n), replace=False).tolist()
    t0 = time.perf_counter()
    proofs = [tree.proof(i) for i in idx]
    gen = time.perf_counter() - t0
    texts = [json.dumps(p) for p in proofs]
    t0 = time.perf_counter()
    for text in texts:
        res = verify_proof(json.loads(text), expected_root=tree.root_hash)
        if not res.ok:
            raise SystemExit(f"benchmark proof failed to verify: {res.reason}")
    ver = time.perf_counter() - t0
    return {
        "n": n,
        "depth": tree.depth,
        "build_random": build_random,
        "build_hmac": build_hmac,
        "gen_per_s": len(idx) / gen,
        "verify_per_s": len(idx) / ver,
        "proof_bytes": sum(map(len, texts)) / len(texts),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--sample", type=int, default=2000, help="proofs generated and verified per size")
    args = parser.parse_args()
    print(
        f"{'accounts':>10} {'depth':>5} {'build (s)':>10} {'build hmac+shuffle (s)':>23} {'proofs gen/s':>13} {'proofs verified/s':>18} {'proof size (B)':>15}"
    )
    for n in args.sizes:
        r = bench(n, args.sample)
        print(
            f"{r['n']:>10,} {r['depth']:>5} {r['build_random']:>10.2f} {r['build_hmac']:>23.2f} "
            f"{r['gen_per_s']:>13,.0f} {r['verify_per_s']:>18,.0f} {r['proof_bytes']:>15,.0f}",
            flush=True,
        )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak resident memory: {peak:,.0f} MiB")


if __name__ == "__main__":
    main()
