"""Benchmark: private (range-proven) proofs of liabilities: proof size, proving and verification time.

One asset (USDC), ``--accounts`` accounts (default 10,000) with log-uniform balances below
``2**64`` base units (about 10 % in deficit, counted 0), ``bits = 64``. The script measures, in one
run and on one process unless ``--workers`` says otherwise:

* **one range proof**: ``prove_range`` / ``verify_range`` of a 64-bit value (median of 50), the
  unit everything else is made of (4 scalar multiplications per bit either way);
* **build**: ``build_private_tree`` over all accounts (a commitment and a range proof per account,
  the summed-commitment tree, the root's opening and its range proof), HMAC-derived blindings,
  shuffled leaves (the CLI's configuration); per account and in total;
* **proof size**: one account's inclusion proof, as the JSON the venue hands out and as the raw
  bytes it carries (commitments, scalars, range proofs), split into the leaf, the path and the
  root section; and the published ``tree.bin`` per leaf;
* **verify one account**: ``verify_private_proof`` after a JSON round trip, on ``--sample``
  accounts, each checked to pass (leaf opening and range proof, path, root opening and range proof);
* **verify the published tree**: ``verify_private_tree`` (every leaf's range proof and every node);
* **baseline**: the version-1 Merkle sum tree (``build_tree`` / ``verify_proof``, which reveals
  sibling sums and proves nothing non-negative) over the same accounts, in the same run.

The opened root total is checked against the exact sum of the positive balances.

Run: ``python benchmarks/bench_solvency_private.py [--accounts 10000] [--sample 100] [--workers 1]``.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import resource
import statistics
import time

import numpy as np

from ramparts.solvency import build_tree, verify_proof
from ramparts.solvency import private_proof as pp
from ramparts.solvency.private_tree import build_private_tree, liabilities_from_equities
from ramparts.solvency.range_proof import prove_range, verify_range

SECRET = b"benchmark-secret-0123456789abcdef"


def population(n: int, seed: int = 1) -> list[tuple[str, dict[str, int]]]:
    """``n`` accounts: USDC balances log-uniform in [10**3, 10**13) base units, about 10 % negative."""
    rng = np.random.default_rng(seed)
    usdc = (10 ** rng.uniform(3, 13, n)).astype(np.int64) * np.where(rng.random(n) < 0.1, -1, 1)
    return [(f"acct{i:08d}", {"USDC": int(u)}) for i, u in enumerate(usdc.tolist())]


def raw_sizes(proof: dict) -> dict[str, int]:
    """The bytes a proof carries, without JSON: points 33, scalars/hashes 32, range proofs as is."""
    leaf = sum(33 + 32 + len(base64.b64decode(b["range_proof"])) + len(b["value"]) // 2 + 8
               for b in proof["leaf"]["balances"].values()) + 32 + 8 + len(proof["leaf"]["account_id"].encode())
    path = sum(32 + 33 * len(s["commitments"]) + 1 for s in proof["path"])
    root = 64 + sum(33 + 32 + 16 + len(base64.b64decode(t["range_proof"])) for t in proof["root"]["totals"].values())
    return {"leaf": leaf, "path": path, "root": root, "total": leaf + path + root}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--accounts", type=int, default=10_000)
    ap.add_argument("--sample", type=int, default=100)
    ap.add_argument("--workers", type=int, default=1)
    args = ap.parse_args()
    n = args.accounts
    print(f"{n:,} accounts, 1 asset, 64-bit range proofs, workers={args.workers}, cpus={os.cpu_count()}")

    # ---- one range proof
    ts_p, ts_v = [], []
    for i in range(50):
        t0 = time.perf_counter()
        rp = prove_range(10**12 + i, 64, b"bench")
        t1 = time.perf_counter()
        verify_range(rp.commitment, rp.proof, 64, b"bench")
        ts_v.append(time.perf_counter() - t1)
        ts_p.append(t1 - t0)
    print(f"one 64-bit range proof: prove {statistics.median(ts_p) * 1e3:.2f} ms, verify "
          f"{statistics.median(ts_v) * 1e3:.2f} ms, {len(rp.proof):,} bytes")

    signed = population(n)
    rows, deficits = liabilities_from_equities(signed)
    expected = sum(max(b["USDC"], 0) for _, b in signed)

    # ---- baseline: the version-1 Merkle sum tree
    t0 = time.perf_counter()
    v1 = build_tree(signed, ["USDC"], snapshot_id="bench-v1", salt_secret=SECRET, shuffle=True)
    v1_build = time.perf_counter() - t0
    rng = np.random.default_rng(2)
    sample = [signed[i][0] for i in rng.choice(n, size=min(args.sample, n), replace=False)]
    v1_texts = [json.dumps(v1.proof(a)) for a in sample]
    t0 = time.perf_counter()
    for text in v1_texts:
        assert verify_proof(text, expected_root=v1.root_hash).ok
    v1_verify = (time.perf_counter() - t0) / len(v1_texts)

    # ---- the private tree
    t0 = time.perf_counter()
    tree = build_private_tree(rows, ["USDC"], snapshot_id="bench", sequence=n, secret=SECRET, workers=args.workers)
    build = time.perf_counter() - t0
    assert tree.totals["USDC"] == expected, "the opened root total must be the exact sum of positive balances"

    texts = [json.dumps(tree.proof(a)) for a in sample]
    record = tree.root_record()
    t0 = time.perf_counter()
    for text in texts:
        assert pp.verify_private_proof(text, tree.root_hash).ok
    verify = (time.perf_counter() - t0) / len(texts)
    t0 = time.perf_counter()
    for text in texts[:20]:
        assert pp.verify_private_proof(text, root_record=record).ok
    verify_with_record = (time.perf_counter() - t0) / len(texts[:20])

    tree_file = tree.tree_file()
    t0 = time.perf_counter()
    res, _ = pp.verify_private_tree(record, tree_file, workers=args.workers)
    tree_verify = time.perf_counter() - t0
    assert res.ok and res.leaves_checked == n

    sizes = [len(t.encode()) for t in texts]
    raw = raw_sizes(json.loads(texts[0]))
    v1_size = statistics.mean(len(t.encode()) for t in v1_texts)

    print()
    print("| measure | private tree (this run) | version-1 Merkle sum tree (same run) |")
    print("|---|---|---|")
    print(f"| build, {n:,} accounts | {build:.1f} s ({build / n * 1e3:.2f} ms per account) | {v1_build:.3f} s |")
    print(f"| verify one account's proof (with the published root hash) | {verify * 1e3:.1f} ms | "
          f"{v1_verify * 1e3:.3f} ms |")
    print(f"| verify one account's proof with the root record checked too | {verify_with_record * 1e3:.1f} ms | — |")
    print(f"| verify the whole published tree | {tree_verify:.1f} s ({tree_verify / n * 1e3:.2f} ms per leaf) | — |")
    print(f"| proof size, JSON (mean of {len(sizes)}) | {statistics.mean(sizes):,.0f} bytes | {v1_size:,.0f} bytes |")
    print(f"| proof size, raw bytes | {raw['total']:,} (leaf {raw['leaf']:,}, path of {tree.depth} levels "
          f"{raw['path']:,}, root {raw['root']:,}) | — |")
    print(f"| published tree.bin | {len(tree_file):,} bytes ({len(tree_file) / n:,.0f} per account) | — |")
    print()
    print(f"opened total {tree.totals['USDC']:,} base units = the sum of positive balances; "
          f"{deficits['USDC'][0]:,} accounts in deficit ({deficits['USDC'][1]:,}) counted 0")
    if n < 10_000:
        print(f"extrapolated build for 10,000 accounts: {build / n * 10_000:.0f} s; 1,000,000: "
              f"{build / n * 1e6 / 3600:.1f} h (linear in n)")
    else:
        print(f"extrapolated build for 1,000,000 accounts: {build / n * 1e6 / 3600:.1f} h on this machine (linear in n)")
    print(f"peak resident memory {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MiB")


if __name__ == "__main__":
    main()
