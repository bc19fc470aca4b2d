"""Benchmark: the risk service under load on loopback, against direct ``Node.submit`` in process.

* **service**: ``python -m ramparts.service serve`` (uvicorn, one process) over a SQLite WAL
  journal; N concurrent async httpx clients post for T seconds, each request either a batch of
  ``--fills`` fills (matcher key) or, one time in five, an oracle price; every request is
  acknowledged only after its journal transaction committed (the writer group-commits what is
  waiting). Events/s counts acknowledged events; latency is per request, client-side.
* **baseline**: the same event mix through ``Node.submit`` one event at a time in this process,
  on a fresh SQLite journal of the same durability (one commit per event), for T seconds.

Each service is warmed up for a second of the same requests first (not counted: in a fresh clone the first fills
compile the engine's kernels). Run: ``python benchmarks/bench_service.py [--clients 8 --seconds 5 --fills 1 --durability full]``.
Client and server share the machine's cores, so the service figure includes the clients' cost: it is measured
twice, with httpx clients (about a millisecond of client CPU a request) and with clients that write the same
requests by hand on keep-alive HTTP/1.1 connections (tens of microseconds), each against a fresh service.
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
from ramparts.engine.presets import genesis, perpetual
from ramparts.errors import RampartsError

ACCOUNTS = [f"t{i:03d}/main" for i in range(64)]


def _fill(rng: random.Random, price: float) -> dict:
    b, s = rng.sample(ACCOUNTS, 2)
    return {"instrument": "BTC-PERP", "buyer": b, "seller": s, "size": f"{rng.randint(1, 20) / 1000:.3f}",
            "price": f"{price + rng.randint(-20, 20) / 10:.1f}"}


def _requests(seed: int, keys: dict, n_fills: int):
    """Each client's endless mix: one time in five an oracle price (a small random step), otherwise a batch of
    ``n_fills`` fills near it; yields ``(path, body, headers)``."""
    rng = random.Random(seed)
    price = 50000.0
    while True:
        if rng.random() < 0.2:
            price = round(price * (1 + rng.uniform(-0.001, 0.001)), 1)
            yield "/v1/prices", {"instrument": "BTC-PERP", "price": f"{price:.1f}"}, keys["oracle"]
        else:
            yield "/v1/fills", {"fills": [_fill(rng, price) for _ in range(n_fills)]}, keys["matcher"]


def _acknowledged(path: str, status: int, answer) -> int:
    """Events a request's answer says were applied and journaled."""
    if path == "/v1/prices":
        return 1 if status == 201 else 0
    return answer()["accepted"] if status == 200 else 0


async def _client(base: str, keys: dict, seconds: float, n_fills: int, seed: int, lat: list, counts: list) -> None:
    async with httpx.AsyncClient(base_url=base, timeout=30) as c:
        end = time.perf_counter() + seconds
        for path, body, headers in _requests(seed, keys, n_fills):
            if time.perf_counter() >= end:
                break
            t0 = time.perf_counter()
            r = await c.post(path, json=body, headers=headers)
            lat.append(time.perf_counter() - t0)
            counts.append(_acknowledged(path, r.status_code, r.json))


async def _raw_client(base: str, keys: dict, seconds: float, n_fills: int, seed: int, lat: list, counts: list) -> None:
    """The same requests as :func:`_client`, written by hand on one keep-alive HTTP/1.1 connection (tens of
    microseconds a request, against about a millisecond of httpx's): what the server alone can take."""
    host, port = base.removeprefix("http://").rsplit(":", 1)
    reader, writer = await asyncio.open_connection(host, int(port))
    end = time.perf_counter() + seconds
    try:
        for path, body, headers in _requests(seed, keys, n_fills):
            if time.perf_counter() >= end:
                break
            data = json.dumps(body).encode()
            head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
            t0 = time.perf_counter()
            writer.write(f"POST {path} HTTP/1.1\r\nHost: {host}\r\n{head}Content-Type: application/json\r\n"
                         f"Content-Length: {len(data)}\r\n\r\n".encode() + data)
            status_line, *lines = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
            length = next(int(h.split(":", 1)[1]) for h in lines if h.lower().startswith("content-length:"))
            answer = await reader.readexactly(length)
            lat.append(time.perf_counter() - t0)
            counts.append(_acknowledged(path, int(status_line.split()[1]), lambda a=answer: json.loads(a)))
    finally:
        writer.close()


def bench_service(clients: int, seconds: float, n_fills: int, durability: str, tmp: Path, raw: bool = False) -> dict:
    journal = str(tmp / ("service-raw.sqlite" if raw else "service.sqlite"))
    proc, base, tokens = start_service(journal, durability, ("risk_officer", "oracle", "matcher"))
    keys = {"risk": {"X-API-Key": tokens["risk_officer"]}, "oracle": {"X-API-Key": tokens["oracle"]}, "matcher": {"X-API-Key": tokens["matcher"]}}
    try:
        with httpx.Client(base_url=base, timeout=30) as c:
            c.post("/v1/instruments", json={"symbol": "BTC-PERP", "underlying": "BTC", "size_step": "0.001", "tick_size": "0.1",
                                            "margin": {"tiers": [["0", "0.1", "0.05"]]}}, headers=keys["risk"]).raise_for_status()
            for sub in ACCOUNTS:
                c.post("/v1/subaccounts", json={"subaccount": sub}, headers=keys["risk"]).raise_for_status()
                c.post("/v1/deposits", json={"subaccount": sub, "amount": "10000000"}, headers=keys["risk"]).raise_for_status()
            c.post("/v1/prices", json={"instrument": "BTC-PERP", "price": "50000"}, headers=keys["oracle"]).raise_for_status()
        lat: list[float] = []
        counts: list[int] = []

        async def run(seconds: float, seed: int) -> float:
            t0 = time.perf_counter()
            client = _raw_client if raw else _client
            await asyncio.gather(*(client(base, keys, seconds, n_fills, seed + i, lat, counts) for i in range(clients)))
            return time.perf_counter() - t0

        asyncio.run(run(1.0, 1000))  # warm-up, not counted: the first fills compile the engine's kernels in a fresh clone
        lat.clear()
        counts.clear()
        cpu0, own0 = cpu_seconds(proc.pid), time.process_time()
        wall = asyncio.run(run(seconds, 0))
        server_cpu, client_cpu = cpu_seconds(proc.pid) - cpu0, time.process_time() - own0
        prom = {line.split()[0]: float(line.split()[1]) for line in httpx.get(f"{base}/metrics").text.splitlines()
                if line.startswith(("ramparts_tick_to_decision_seconds_sum", "ramparts_tick_to_decision_seconds_count",
                                    "ramparts_commit_events_sum", "ramparts_commit_events_count"))}
    finally:
        stop_service(proc)
    return {"events_per_s": sum(counts) / wall, "requests_per_s": len(lat) / wall, "p50_ms": percentile(lat, 0.5) * 1e3,
            "p99_ms": percentile(lat, 0.99) * 1e3, "requests": len(lat), "events": sum(counts),
            "server_cpu": server_cpu / wall, "client_cpu": client_cpu / wall,
            "tick_ms": 1e3 * prom["ramparts_tick_to_decision_seconds_sum"] / max(prom["ramparts_tick_to_decision_seconds_count"], 1),
            "per_commit": prom["ramparts_commit_events_sum"] / max(prom["ramparts_commit_events_count"], 1)}


def bench_direct(seconds: float, durability: str, tmp: Path) -> dict:
    node = Node.open(str(tmp / "direct.sqlite"), durability=durability)
    node.submit(genesis(ts=0))
    node.submit(perpetual("BTC-PERP", "BTC"))
    for sub in ACCOUNTS:
        node.submit(ev.OpenSubAccount(ts=0, subaccount=sub))
        node.submit(ev.Deposit(ts=0, subaccount=sub, asset="USDC", amount="10000000"))
    node.submit(ev.OraclePrice(ts=1, instrument="BTC-PERP", price="50000"))
    rng = random.Random(0)
    price, lat, n = 50000.0, [], 0
    end = time.perf_counter() + seconds
    t_start = time.perf_counter()
    while time.perf_counter() < end:
        ts = time.time_ns()
        if rng.random() < 0.2:
            price = round(price * (1 + rng.uniform(-0.001, 0.001)), 1)
            event = {"kind": "OraclePrice", "ts": ts, "instrument": "BTC-PERP", "price": f"{price:.1f}"}
        else:
            event = {"kind": "Fill", "ts": ts, **_fill(rng, price)}
        t0 = time.perf_counter()
        try:
            node.submit(event)
            n += 1
        except RampartsError:
            pass
        lat.append(time.perf_counter() - t0)
    wall = time.perf_counter() - t_start
    node.close()
    return {"events_per_s": n / wall, "p50_ms": percentile(lat, 0.5) * 1e3, "p99_ms": percentile(lat, 0.99) * 1e3, "events": n}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--fills", type=int, default=1, help="fills per fill request")
    ap.add_argument("--durability", choices=("full", "normal"), default="full")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        runs = {"httpx": bench_service(a.clients, a.seconds, a.fills, a.durability, tmp),
                "raw": bench_service(a.clients, a.seconds, a.fills, a.durability, tmp, raw=True)}
        direct = bench_direct(a.seconds, a.durability, tmp)
    print(f"service: {a.clients} clients x {a.seconds:g}s, {a.fills} fill(s)/request + 20% prices, SQLite WAL durability={a.durability}")
    for name, svc in runs.items():
        print(f"  service ({name:5s} clients): {svc['events_per_s']:9,.0f} events/s  {svc['requests_per_s']:8,.0f} req/s  "
              f"p50 {svc['p50_ms']:7.2f} ms  p99 {svc['p99_ms']:7.2f} ms  ({svc['events']:,} events, {svc['requests']:,} requests)")
        print(f"            CPU cores busy: server {svc['server_cpu']:.2f}, clients {svc['client_cpu']:.2f} (of {os.cpu_count()}); "
              f"server CPU {1e3 * svc['server_cpu'] / svc['requests_per_s']:.2f} ms a request; mean tick-to-decision {svc['tick_ms']:.2f} ms;"
              f" {svc['per_commit']:.1f} events per journal commit (group commit)")
    print(f"  direct  : {direct['events_per_s']:9,.0f} events/s  Node.submit p50 {direct['p50_ms']:7.3f} ms  p99 {direct['p99_ms']:7.3f} ms"
          f"  ({direct['events']:,} events, one commit each)")
    for name, svc in runs.items():
        print(f"  ratio service ({name} clients) / direct events/s: {svc['events_per_s'] / direct['events_per_s']:.2f}x")
    if a.fills == 1:
        best = max(svc["events_per_s"] for svc in runs.values())
        print(f"target (the performance issue): the JSON route, one fill per request, {a.clients} clients >= 3,000 events/s: "
              f"{best:,.0f} {'MEETS' if best >= 3000 else 'MISSES'}")


if __name__ == "__main__":
    main()
