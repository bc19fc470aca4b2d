"""Benchmark: the service's streaming ingest (``/v1/ingest``) under 8 sequencers, against the same
batches through ``Node.submit`` in process (issue 24 item 3).

* **ingest**: ``python -m ramparts.service serve`` (uvicorn, one process, SQLite WAL journal); N
  concurrent WebSocket clients (``websockets``) each send ``TradeBatch`` frames of ``--batch`` fills
  (Arrow IPC, :func:`ramparts.service.ingest.encode_batch`; ``--json`` for JSON text frames) without
  waiting, keeping up to ``--window`` frames unacknowledged, for ``--seconds``. Fills/s counts fills
  acknowledged as applied (the batch's items less its ``Rejected`` effects), journaled before their
  ack; latency is a frame's, from its send to its ack, client-side. The writer group-commits what the
  clients' frames queue.
* **baseline** (same run): the same frames' batches through ``Node.submit`` one ``TradeBatch`` a
  commit, in this process, on a fresh journal of the same durability: the engine and its journal
  without the network, the decoding and the clients.

Every item of every frame carries the same time (the venue's clock after the set-up): eight sequencers
stamping their own clocks would race the engine's non-decreasing time, which a venue solves upstream.
Client and server share the machine's 2 cores, so the ingest figure includes the clients' cost.

Run: ``python benchmarks/bench_ingest.py [--clients 8 --seconds 5 --batch 1000 --durability normal]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import tempfile
import time
from pathlib import Path

import httpx
from service_probe import cpu_seconds, percentile, start_service, stop_service

from ramparts.engine import events as ev
from ramparts.engine.node import Node
from ramparts.service.ingest import encode_batch

ACCOUNTS = [f"t{i:03d}/main" for i in range(256)]
#: the longest a client waits for its next acknowledgement
ACK_TIMEOUT_S = 60.0


def frames(seed: int, count: int, batch: int, now: int) -> list[dict]:
    """``count`` batch bodies of ``batch`` fills between random accounts around 50,000 (ticks of 0.1)."""
    rng = random.Random(seed)
    n = len(ACCOUNTS)
    out = []
    for _ in range(count):
        buyer = [rng.randrange(n) for _ in range(batch)]
        seller = [(b + 1 + rng.randrange(n - 1)) % n for b in buyer]
        out.append({"instruments": ["BTC-PERP"], "subaccounts": ACCOUNTS, "item_kind": "F" * batch, "time": [now] * batch,
                    "instrument": [0] * batch, "buyer": buyer, "seller": seller,
                    "price": [500_000 + rng.randint(-200, 200) for _ in range(batch)],
                    "size": [rng.randint(1, 20) for _ in range(batch)], "ts": now})
    return out


async def _client(url: str, token: str, bodies: list[dict], seconds: float, window: int, as_json: bool,
                  lat: list, counts: list) -> None:
    from websockets.asyncio.client import connect

    data = [json.dumps(b) if as_json else encode_batch(b) for b in bodies]
    async with connect(url, additional_headers={"X-API-Key": token}, max_size=None) as ws:
        hello = json.loads(await ws.recv())
        assert hello["type"] == "hello", hello
        sent: dict[int, tuple[float, int]] = {}
        end = time.perf_counter() + seconds
        frame = 0
        slots = asyncio.Semaphore(window)

        async def reader() -> None:
            while True:
                try:
                    msg = json.loads(await asyncio.wait_for(ws.recv(), ACK_TIMEOUT_S))
                except TimeoutError:  # (a dead server never closes the socket: the benchmark would wait forever)
                    raise RuntimeError(f"no acknowledgement for {ACK_TIMEOUT_S:g} s: has the service died? "
                                       "(its stderr, above, says where)") from None
                t_sent, items = sent.pop(msg["frame"])
                lat.append(time.perf_counter() - t_sent)
                counts.append(items - sum(f["kind"] == "Rejected" for f in msg.get("effects", ())) if msg["type"] == "ack" else 0)
                slots.release()
                if not sent and time.perf_counter() >= end:
                    return

        task = asyncio.ensure_future(reader())
        while time.perf_counter() < end:
            await slots.acquire()
            frame += 1
            sent[frame] = (time.perf_counter(), len(bodies[frame % len(bodies)]["item_kind"]))
            await ws.send(data[frame % len(data)])
        await task


def bench_ingest(clients: int, seconds: float, batch: int, window: int, durability: str, as_json: bool, tmp: Path) -> dict:
    journal = str(tmp / "ingest.sqlite")
    proc, base, tokens = start_service(journal, durability, ("risk_officer", "oracle", "sequencer"))
    try:
        h = {"X-API-Key": tokens["risk_officer"]}
        with httpx.Client(base_url=base, timeout=30) as c:
            c.post("/v1/instruments", json={"symbol": "BTC-PERP", "underlying": "BTC", "size_step": "0.001", "tick_size": "0.1",
                                            "margin": {"tiers": [["0", "0.1", "0.05"]]}}, headers=h).raise_for_status()
            for sub in ACCOUNTS:
                c.post("/v1/subaccounts", json={"subaccount": sub}, headers=h).raise_for_status()
                c.post("/v1/deposits", json={"subaccount": sub, "amount": "100000000"}, headers=h).raise_for_status()
            c.post("/v1/prices", json={"instrument": "BTC-PERP", "price": "50000"}, headers={"X-API-Key": tokens["oracle"]}).raise_for_status()
            now = c.get("/v1/state", headers=h).json()["time_ns"]
        per_client = [frames(i, 16, batch, now) for i in range(clients)]
        lat: list[float] = []
        counts: list[int] = []
        url = base.replace("http://", "ws://") + "/v1/ingest"

        async def run() -> float:
            t0 = time.perf_counter()
            await asyncio.gather(*(_client(url, tokens["sequencer"], per_client[i], seconds, window, as_json, lat, counts)
                                   for i in range(clients)))
            return time.perf_counter() - t0

        cpu0, own0 = cpu_seconds(proc.pid), time.process_time()
        wall = asyncio.run(run())
        server_cpu, client_cpu = cpu_seconds(proc.pid) - cpu0, time.process_time() - own0
        prom = {line.split()[0]: float(line.split()[1]) for line in httpx.get(f"{base}/metrics").text.splitlines()
                if line.startswith(("ramparts_commit_events_sum", "ramparts_commit_events_count", "ramparts_commit_seconds_sum", "ramparts_ingest_ack_seconds_sum", "ramparts_ingest_ack_seconds_count"))}
    finally:
        stop_service(proc)
    return {"fills_per_s": sum(counts) / wall, "frames_per_s": len(lat) / wall, "p50_ms": percentile(lat, 0.5) * 1e3,
            "p99_ms": percentile(lat, 0.99) * 1e3, "frames": len(lat), "fills": sum(counts), "refused": sum(1 for x in counts if not x),
            "server_cpu": server_cpu / wall, "client_cpu": client_cpu / wall,
            "per_commit": prom["ramparts_commit_events_sum"] / max(prom["ramparts_commit_events_count"], 1), "bodies": per_client,
            "writer_busy": prom["ramparts_commit_seconds_sum"] / wall,
            "server_ack_ms": 1e3 * prom["ramparts_ingest_ack_seconds_sum"] / max(prom["ramparts_ingest_ack_seconds_count"], 1)}


def bench_direct(bodies: list[dict], seconds: float, durability: str, tmp: Path) -> dict:
    node = Node.open(str(tmp / "direct.sqlite"), durability=durability)
    now = bodies[0]["ts"]
    node.submit({"kind": "Genesis", "ts": 0, "liquidation": {}})
    node.submit(ev.ListInstrument(ts=0, symbol="BTC-PERP", underlying="BTC", size_step="0.001", tick_size="0.1",
                                  margin={"tiers": [["0", "0.1", "0.05"]]}))
    for sub in ACCOUNTS:
        node.submit(ev.OpenSubAccount(ts=0, subaccount=sub))
        node.submit(ev.Deposit(ts=0, subaccount=sub, asset="USDC", amount="100000000"))
    node.submit(ev.OraclePrice(ts=now, instrument="BTC-PERP", price="50000"))
    events = [{"kind": "TradeBatch", **b} for b in bodies]
    lat, fills, k = [], 0, 0
    t_start = time.perf_counter()
    end = t_start + seconds
    while time.perf_counter() < end:
        t0 = time.perf_counter()
        fx = node.submit(events[k % len(events)])
        lat.append(time.perf_counter() - t0)
        fills += len(events[k % len(events)]["item_kind"]) - sum(f["kind"] == "Rejected" for f in fx)
        k += 1
    wall = time.perf_counter() - t_start
    node.close()
    return {"fills_per_s": fills / wall, "p50_ms": percentile(lat, 0.5) * 1e3, "p99_ms": percentile(lat, 0.99) * 1e3, "frames": k}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--batch", type=int, default=1000, help="fills per frame")
    ap.add_argument("--window", type=int, default=8, help="frames a client keeps unacknowledged")
    ap.add_argument("--durability", choices=("full", "normal"), default="normal")
    ap.add_argument("--json", action="store_true", help="JSON text frames instead of Arrow IPC")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        svc = bench_ingest(a.clients, a.seconds, a.batch, a.window, a.durability, a.json, tmp)
        direct = bench_direct([b for bs in svc["bodies"] for b in bs], a.seconds, a.durability, tmp)
    enc = "JSON" if a.json else "Arrow IPC"
    print(f"ingest: {a.clients} clients x {a.seconds:g} s, {a.batch} fills a {enc} frame, window {a.window}, "
          f"SQLite WAL durability={a.durability}")
    print(f"  ingest  : {svc['fills_per_s']:11,.0f} fills/s  {svc['frames_per_s']:7,.0f} frames/s  ack p50 {svc['p50_ms']:7.2f} ms  "
          f"p99 {svc['p99_ms']:7.2f} ms  ({svc['fills']:,} fills, {svc['frames']:,} frames, {svc['refused']} refused)")
    print(f"            CPU cores busy: server {svc['server_cpu']:.2f}, clients {svc['client_cpu']:.2f} (of {os.cpu_count()}); "
          f"{svc['per_commit']:.1f} frames per journal commit; the writer's transactions (apply + commit) busy "
          f"{svc['writer_busy']:.0%} of the time; mean frame received -> ack sent, server side, {svc['server_ack_ms']:.2f} ms")
    print(f"  direct  : {direct['fills_per_s']:11,.0f} fills/s  Node.submit of one batch p50 {direct['p50_ms']:7.2f} ms  "
          f"p99 {direct['p99_ms']:7.2f} ms  ({direct['frames']:,} batches, one commit each)")
    print(f"  ratio ingest/direct fills/s: {svc['fills_per_s'] / direct['fills_per_s']:.2f}x;  targets: >= 100,000 fills/s, ack p99 <= 10 ms")


if __name__ == "__main__":
    main()
