"""Benchmark: engine throughput through the journal, one event per item against batch mode.

The same stream of fills and index prices (``--accounts`` cross sub-accounts trading ``--instruments``
perpetuals with Binance-like tiers; every tenth item an index price) is fed, from the same starting
state, two ways, each through a :class:`~ramparts.engine.node.Node` over its own SQLite WAL journal:

* **baseline**: one ``Fill`` / ``OraclePrice`` event per item, ``Node.submit_batch`` of 1,000
  events per transaction (one journal row per event), each event through its handler (``Node.runs = False``);
* **one event per item as the node applies it**: the same, with ``Node.runs`` on (its default): the runs of
  fills and index prices of a commit go through the compiled gear (``Engine.apply_run``), still one event,
  one journal row and one outcome each; its journal is then replayed (events/s);
* **batch mode**: one ``TradeBatch`` event per ``--batch`` items (one journal row per batch),
  ``Node.submit`` each (applied by the compiled gear of :mod:`ramparts.engine.batch_ops`); and the same batches
  applied to two engines in process, batch by batch in alternating order, one with the kernel's bands (its prices
  skip the holders a band proves safe: ``batch_kernel.run_items``) and one without (every price re-margins every
  holder), the baseline of that ratio.

Each is timed twice: from event objects already built, and from their JSON text (decoding
included, as the risk service receives them). Both durability policies of the SQLite journal are
measured for batch mode: ``normal`` (``synchronous=NORMAL`` in WAL mode: a committed batch survives
a crash of the process; the last commits may be lost to a power cut) and ``full``
(``synchronous=FULL``: an fsync per commit, so an acknowledged batch survives a power cut too).
The end states of the two ways are compared (equal apart from the event counter and the clock),
and the batch journal is replayed to its state hash, timed.

The inputs are built before anything is timed, and taken out of the garbage collector's passes once built
(``gc.freeze``): a deployed node holds no such pile of events.

Run: ``python benchmarks/bench_throughput.py [--items 200000 --accounts 10000 --instruments 10 --markets-per-account 2 --batch 1000]``.
About a minute on 2 cores (the baseline runs on ``--baseline-items`` and its rate is what is compared).
"""

from __future__ import annotations

import argparse
import gc
import os
import tempfile
import time
from decimal import Decimal

import numpy as np

from ramparts.engine import Engine
from ramparts.engine import events as ev
from ramparts.engine.node import Node, replay
from ramparts.engine.presets import BTC_TIERS, genesis, perpetual
from ramparts.journal import open_journal

TICK = Decimal("0.1")
STEP = Decimal("0.001")


def setup_events(n_accounts: int, n_instruments: int) -> tuple[list, list[str], list[str], np.ndarray]:
    syms = [f"C{i:03d}-PERP" for i in range(n_instruments)]
    base = (np.geomspace(50_000, 5, n_instruments) * 10).astype(np.int64)  # index prices in ticks of 0.1
    out = [genesis(ts=0)]
    out += [perpetual(s, s.split("-")[0], ts=0, tiers=BTC_TIERS) for s in syms]
    out += [ev.OraclePrice(ts=0, instrument=s, price=str(Decimal(int(p)) * TICK)) for s, p in zip(syms, base, strict=True)]
    subs = [f"t{i}/main" for i in range(n_accounts)]
    for s in subs:
        out += [ev.OpenSubAccount(ts=0, subaccount=s), ev.Deposit(ts=0, subaccount=s, asset="USDC", amount="100000")]
    return out, syms, subs, base


def item_stream(rng, n_items: int, n_accounts: int, base: np.ndarray, markets_per_account: int) -> dict[str, np.ndarray]:
    """Columns of the stream: 90 % fills near the index between two random traders of the
    instrument, 10 % index moves. Trader ``a`` trades the ``markets_per_account`` instruments
    ``a, a+1, …`` (mod the number of instruments), so each instrument has
    ``accounts × markets_per_account / instruments`` holders to re-margin at each of its prices."""
    n_instr = base.size
    kind = np.where(np.arange(n_items) % 10 == 0, 1, 0)
    instr = rng.integers(0, n_instr, n_items)
    drift = np.cumsum(rng.normal(0, 5e-4, (n_items, 1)) * np.ones((1, n_instr)), axis=0)
    level = (base[None, :] * np.exp(drift))[np.arange(n_items), instr]
    price = np.maximum(np.round(level * (1 + np.where(kind == 1, 0, rng.normal(0, 2e-4, n_items)))), 1).astype(np.int64)
    # traders of instrument i: a ≡ i − j (mod n_instr) for j < markets_per_account
    per = n_accounts // n_instr
    def trader(u):
        j = rng.integers(0, markets_per_account, n_items)
        return np.minimum((instr - j) % n_instr + n_instr * (u % per), n_accounts - 1)
    buyer = trader(rng.integers(0, per, n_items))
    seller = trader(rng.integers(0, per, n_items))
    clash = buyer == seller
    seller[clash] = trader(rng.integers(0, per, n_items))[clash]
    clash = buyer == seller
    kind[clash] = 1  # the rare pair that is still one trader becomes a price item
    # about 2,000 USDC a fill (lognormal): one lot (0.001) at p ticks (0.1) is p / 10^4 USDC
    size = np.maximum(rng.lognormal(np.log(2e7), 0.7, n_items) // price, 1).astype(np.int64)
    buyer = np.where(kind == 1, -1, buyer)
    seller = np.where(kind == 1, -1, seller)
    size = np.where(kind == 1, 0, size)
    return {"kind": kind, "instrument": instr, "price": price, "buyer": buyer, "seller": seller, "size": size,
            "time": np.arange(1, n_items + 1, dtype=np.int64) * 1_000_000}  # fmt: skip


def one_per_item(cols: dict, lo: int, hi: int, syms: list[str], subs: list[str]) -> list:
    out = []
    for k in range(lo, hi):
        sym = syms[int(cols["instrument"][k])]
        price = Decimal(int(cols["price"][k])) * TICK
        t = int(cols["time"][k])
        if cols["kind"][k]:
            out.append(ev.OraclePrice(ts=t, instrument=sym, price=price))
        else:
            out.append(ev.Fill(ts=t, instrument=sym, buyer=subs[int(cols["buyer"][k])], seller=subs[int(cols["seller"][k])], price=price,
                               size=Decimal(int(cols["size"][k])) * STEP))  # fmt: skip
    return out


def batches(cols: dict, lo: int, hi: int, size: int, syms: list[str], subs: list[str]) -> list[ev.TradeBatch]:
    out = []
    for a in range(lo, hi, size):
        b = min(a + size, hi)
        kind = cols["kind"][a:b]
        buyer, seller = cols["buyer"][a:b], cols["seller"][a:b]
        used = np.unique(np.concatenate([buyer[kind == 0], seller[kind == 0]]))  # the batch's own sub-account table
        row = np.full(len(subs), -1, dtype=np.int64)
        row[used] = np.arange(used.size)
        out.append(ev.TradeBatch(
            ts=int(cols["time"][b - 1]), instruments=syms, subaccounts=[subs[int(j)] for j in used],
            item_kind="".join("P" if x else "F" for x in kind.tolist()), time=cols["time"][a:b].tolist(),
            instrument=cols["instrument"][a:b].tolist(), buyer=np.where(kind == 1, -1, row[np.maximum(buyer, 0)]).tolist(),
            seller=np.where(kind == 1, -1, row[np.maximum(seller, 0)]).tolist(), price=cols["price"][a:b].tolist(),
            size=cols["size"][a:b].tolist()))  # fmt: skip
    return out


def fresh_node(directory: str, name: str, durability: str, setup: list) -> Node:
    node = Node(open_journal(os.path.join(directory, name), durability=durability))
    node.submit_batch(setup)
    return node


def inputs_built() -> None:
    """Take the inputs just built (up to 400,000 event objects and texts) out of the cyclic garbage collector's
    passes: a deployed node receives its events a request at a time and holds none of them, so their scanning is
    the harness's cost, not the node's (~8 % of a run's time otherwise)."""
    gc.collect()
    gc.freeze()


def timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def comparable(engine) -> dict:
    d = engine.state_dict()
    d.pop("seq")
    d.pop("time_ns")
    return d


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--items", type=int, default=200_000)
    ap.add_argument("--baseline-items", type=int, default=20_000)
    ap.add_argument("--accounts", type=int, default=10_000)
    ap.add_argument("--instruments", type=int, default=10)
    ap.add_argument("--batch", type=int, default=1_000)
    ap.add_argument("--markets-per-account", type=int, default=2)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    setup, syms, subs, base = setup_events(args.accounts, args.instruments)
    cols = item_stream(rng, args.items, args.accounts, base, min(args.markets_per_account, args.instruments))
    nb = min(args.baseline_items, args.items)
    print(f"{args.accounts:,} accounts trading {min(args.markets_per_account, args.instruments)} of {args.instruments} perpetuals each "
          f"(Binance-like tiers), {args.items:,} items (~90 % fills, ~10 % index prices); load average {os.getloadavg()[0]:.2f}")  # fmt: skip
    rows = []
    with tempfile.TemporaryDirectory() as d:
        # ---- baseline: one event per item, each through its handler (Node.runs off; on the first nb items)
        singles = one_per_item(cols, 0, nb, syms, subs)
        inputs_built()
        node = fresh_node(d, "single.sqlite", "normal", setup)
        node.runs = False
        dt = timed(lambda: [node.submit_batch(singles[i : i + 1000]) for i in range(0, nb, 1000)])
        single_rate = nb / dt
        single_state = comparable(node.engine)
        node.close()
        texts = [ev.encode_event(x) for x in singles]
        inputs_built()
        node = fresh_node(d, "single-json.sqlite", "normal", setup)
        node.runs = False
        dt = timed(lambda: [node.submit_batch([ev.parse_event(t) for t in texts[i : i + 1000]]) for i in range(0, nb, 1000)])
        single_json = nb / dt
        node.close()
        rows.append(("one event per item, handlers (baseline)", "normal", single_rate, single_json, nb))
        # ---- one event per item as the node applies it: runs of fills and prices through the compiled gear
        events = one_per_item(cols, 0, args.items, syms, subs)
        inputs_built()
        node = fresh_node(d, "runs.sqlite", "normal", setup)
        node.submit_batch(events[:1000])  # compile / warm up outside the timing
        dt = timed(lambda: [node.submit_batch(events[i : i + 1000]) for i in range(1000, nb, 1000)])
        runs_same = comparable(node.engine) == single_state
        dt += timed(lambda: [node.submit_batch(events[i : i + 1000]) for i in range(nb, args.items, 1000)])
        runs_rate = (args.items - 1000) / dt
        runs_hash = node.engine.state_hash()
        t0 = time.perf_counter()
        rebuilt = replay(node.journal, use_snapshot=False)
        event_replay_rate = (len(setup) + args.items) / (time.perf_counter() - t0)
        event_replayed = rebuilt.state_hash() == runs_hash
        node.close()
        etexts = [ev.encode_event(x) for x in events]
        inputs_built()
        node = fresh_node(d, "runs-json.sqlite", "normal", setup)
        node.submit_batch([ev.parse_event(t) for t in etexts[:1000]])
        dt = timed(lambda: [node.submit_batch([ev.parse_event(t) for t in etexts[i : i + 1000]]) for i in range(1000, args.items, 1000)])
        runs_json = (args.items - 1000) / dt
        node.close()
        rows.append(("one event per item, runs (the node's way)", "normal", runs_rate, runs_json, args.items))
        # ---- batch mode: the same first nb items, to compare the end states
        node = fresh_node(d, "check.sqlite", "normal", setup)
        for b in batches(cols, 0, nb, args.batch, syms, subs):
            node.submit(b)
        same = comparable(node.engine) == single_state
        node.close()
        # ---- batch mode over the whole stream
        stream = batches(cols, 0, args.items, args.batch, syms, subs)
        btexts = [ev.encode_event(b) for b in stream]
        inputs_built()
        stats = {"compiled": 0, "general": 0}
        for durability in ("normal", "full"):
            node = fresh_node(d, f"batch-{durability}.sqlite", durability, setup)
            node.submit(stream[0])  # compile / warm up outside the timing
            t0 = time.perf_counter()
            for b in stream[1:]:
                node.submit(b)
                if durability == "normal":
                    stats["compiled"] += node.engine.last_batch_stats["compiled"]
                    stats["general"] += node.engine.last_batch_stats["general"]
            rate = (args.items - len(stream[0].time)) / (time.perf_counter() - t0)
            node.close()
            node = fresh_node(d, f"batch-{durability}-json.sqlite", durability, setup)
            node.submit(ev.parse_event(btexts[0]))
            t0 = time.perf_counter()
            for t in btexts[1:]:
                node.submit(ev.parse_event(t))
            rate_json = (args.items - len(stream[0].time)) / (time.perf_counter() - t0)
            final = node.engine.state_hash()
            journal = node.journal
            rows.append((f"TradeBatch of {args.batch:,} items", durability, rate, rate_json, args.items))
            if durability == "normal":
                journaled_hash = final
                holders = np.mean([len(node.engine.book.holders(i)) for i in range(args.instruments)])
                t0 = time.perf_counter()
                rebuilt = replay(journal)
                replay_rate = args.items / (time.perf_counter() - t0)
                replayed = rebuilt.state_hash() == final
            node.close()
        # ---- batch mode with 10 % of the fills refused (initial margin): the general gear's share
        bad = {k: v.copy() for k, v in cols.items()}
        refuse = (bad["kind"] == 0) & (rng.random(args.items) < 0.1)
        bad["size"][refuse] *= 10_000  # far beyond any trader's initial margin
        stream_bad = batches(bad, 0, args.items, args.batch, syms, subs)
        node = fresh_node(d, "batch-refusals.sqlite", "normal", setup)
        node.submit(stream_bad[0])
        refused = 0
        t0 = time.perf_counter()
        for b in stream_bad[1:]:
            refused += sum(f["kind"] == "Rejected" for f in node.submit(b))
        rate_bad = (args.items - len(stream_bad[0].time)) / (time.perf_counter() - t0)
        node.close()
        rows.append((f"  … with {refused / args.items:.0%} of items refused", "normal", rate_bad, float("nan"), args.items))
        # ---- the same batches applied to an engine in process, no node and no journal: what the journal costs; and
        # beside it, batch by batch in alternating order, an engine whose prices re-margin every holder (no bands)
        engines = []
        for bands in (True, False):
            engine = Engine()
            if not bands:
                engine.batch_band_min_holders = 2**62
            for x in setup:
                engine.apply(x)
            engine.apply(stream[0])
            engines.append(engine)
        spent = [0.0, 0.0]
        for k, b in enumerate(stream[1:]):
            for j in (0, 1) if k % 2 else (1, 0):
                t0 = time.perf_counter()
                engines[j].apply(b)
                spent[j] += time.perf_counter() - t0
        rate_mem, rate_plain = ((args.items - len(stream[0].time)) / t for t in spent)
        same_mem = engines[0].state_hash() == journaled_hash == engines[1].state_hash()
        band_stats = engines[0].__dict__.get("batch_band_stats") or {"windows": 0, "skipped": 0}
        rows.append(("  … the engine alone, no journal", "-", rate_mem, float("nan"), args.items))
        rows.append(("  … the same, no bands (same run)", "-", rate_plain, float("nan"), args.items))
    print(f"\n{'mode':40s} {'durability':>10s} {'items/s':>12s} {'from JSON':>12s} {'× baseline':>11s}")
    for name, dur, rate, rate_json, n in rows:
        shown = "" if rate_json != rate_json else f"{rate_json:,.0f}"
        print(f"{name:40s} {dur:>10s} {rate:12,.0f} {shown:>12s} {rate / single_rate:10.1f}×   ({n:,} items)")
    print(f"\nholders re-margined per index price: {holders:,.0f} on average at the end (without bands); with bands, "
          f"{band_stats['skipped'] / max(int((cols['kind'] == 1).sum()), 1):,.0f} a price skipped on average over "
          f"{band_stats['windows']:,} windows: the engine alone {rate_mem / rate_plain:.2f}x the same without them")  # fmt: skip
    print(f"batch mode replays its journal at {replay_rate:,.0f} items/s; same state hash: {replayed}")
    print(f"the journal of one event per item replays at {event_replay_rate:,.0f} events/s; same state hash: {event_replayed}")
    print(f"the first {nb:,} items leave the same state every way (handlers, runs, batches): {same and runs_same}; "
          f"the engine alone ends at the journaled run's hash: {same_mem}")  # fmt: skip
    share = stats["compiled"] / max(stats["compiled"] + stats["general"], 1)
    print(f"items applied by the compiled gear: {share:.1%} ({stats['general']:,} by the ordinary handlers: refusals and the like)")
    batch = rows[2][2]  # TradeBatch, normal durability, through the journal
    want_batch = 1_000_000 if args.accounts <= 10_000 else 300_000
    print("\ntargets (the performance issue), this run:")
    for what, got, want, unit in (("one event per item through the journal", runs_rate, 50_000, "events/s"),
                                  (f"TradeBatch through the journal, {args.accounts:,} accounts", batch, want_batch, "items/s"),
                                  ("journal replay (one event per item)", event_replay_rate, 300_000, "events/s")):  # fmt: skip
        print(f"  {what:55s} {got:12,.0f} {unit:9s} >= {want:>9,}  {'meets' if got >= want else 'MISSES'}")


if __name__ == "__main__":
    main()
