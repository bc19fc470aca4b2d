"""Benchmark: reads never block writes (issue 23, item 7). A matcher's fill rate on a big venue, alone
and while others read or hammer the service, as ratios against the baseline of the same run.

The venue (``--subaccounts``, default 200,000, each funded and holding a BTC-PERP position) is built
straight through a :class:`~ramparts.engine.node.Node` on a SQLite journal: bulk ``OpenSubAccount`` /
``Deposit`` batches and ``TradeBatch`` events of up to 25,000 fills, then a snapshot, so the service
restores it in seconds. ``python -m ramparts.service serve`` (uvicorn, one process, durability
``full``, no snapshot during the run) serves it. One legitimate matcher (a process of its own,
httpx) posts one fill per request, back to back, for the whole run; around it, phases of
``--seconds`` alternate between nothing else (the baseline) and one of:

* **4 auditors polling /v1/state**: four auditor processes asking ``GET /v1/state`` back to back,
  each answer the state hash of the last commit at the request's arrival (a fresh hash each time,
  computed in a forked child: what an auditor gets by default);
* **4 auditors, /v1/state?min_seq=0**: the same accepting the last hash published (no wait): the
  read path at its cheapest, the event loop at its busiest;
* **4 dashboard pages open**: each ``GET /v1/dashboard`` + ``GET /v1/history`` every half second, as
  the page does while the stream is busy (histogram, queues, nearest accounts and ADL over the
  200,000 accounts, the journal's series);
* **failed-auth flood, one address**: four processes sending requests with random wrong keys from
  127.0.0.1, as ``tests/test_service_hardening.py`` does (after five failures the address is
  throttled: 429 without scrypt);
* **failed-auth flood, 1,000 addresses**: the same rotating over random loopback addresses
  (127.x.y.z), so that most requests cost a scrypt verification before any throttle applies.

Every scenario runs ``--rounds`` times, each time between two baseline phases; its ratio is the
median over rounds of its fills/s over the mean of the two baselines around it (the machine's load
drifts: this project's machines have 2 cores shared with other work). Each line gives the matcher's
fills/s and p50 / p99 latency, what the others did, the views and state-hash forks the read side
had the writer thread make, the share of the writer thread's time they took (from ``/metrics``) and
the server's CPU. The other clients run at ``nice`` 10, standing for tenants on other machines, so
that what is measured is the server, not the matcher's own client starved of a core.

Run: ``python benchmarks/bench_service_reads.py [--subaccounts 200000 --seconds 5 --rounds 3]``
(about four minutes at 200,000 on 2 cores, one of them building the venue; ``--journal PATH`` keeps
the venue for the next run).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from service_probe import cpu_seconds, free_port, percentile

from ramparts.engine import events as ev
from ramparts.engine.node import Node
from ramparts.engine.presets import genesis, perpetual
from ramparts.service.auth import KeyStore

SRC = Path(__file__).resolve().parents[1] / "src"
TRADERS = 2000  # the matcher's fills go between the first TRADERS sub-accounts


def sub(i: int) -> str:
    return f"u{i:07d}/main"


# ------------------------------------------------------------------------------------------- the venue
def build_venue(journal: str, n: int) -> dict:
    """``n`` funded sub-accounts, each long or short 0.01 BTC-PERP, journaled, then a snapshot."""
    t0 = time.perf_counter()
    node = Node.open(journal, durability="normal")
    node.submit_batch([genesis(ts=0), perpetual("BTC-PERP", "BTC", ts=0), ev.OraclePrice(ts=0, instrument="BTC-PERP", price="50000")])
    chunk = 10_000
    for lo in range(0, n, chunk):
        batch = []
        for i in range(lo, min(n, lo + chunk)):
            batch += [ev.OpenSubAccount(ts=0, subaccount=sub(i)), ev.Deposit(ts=0, subaccount=sub(i), asset="USDC", amount="100000")]
        assert all(o.accepted for o in node.submit_batch(batch))
    built_accounts = time.perf_counter() - t0
    pairs = n // 2
    per = 25_000
    for lo in range(0, pairs, per):
        k = min(pairs, lo + per) - lo
        names = [sub(i) for i in range(2 * lo, 2 * (lo + k))]
        fx = node.submit(ev.TradeBatch(ts=1, instruments=["BTC-PERP"], subaccounts=names, item_kind="F" * k, time=[1] * k,
                                       instrument=[0] * k, buyer=list(range(0, 2 * k, 2)), seller=list(range(1, 2 * k, 2)),
                                       price=[500_000] * k, size=[10] * k))
        assert not [f for f in fx if f["kind"] == "Rejected"], fx[:3]
    node.submit(ev.OraclePrice(ts=2, instrument="BTC-PERP", price="50010"))
    seq = node.engine.seq
    positions = len(node.engine.book)
    t1 = time.perf_counter()
    node.take_snapshot()
    snap = time.perf_counter() - t1
    node.close()
    return {"seq": seq, "positions": positions, "seconds": time.perf_counter() - t0, "accounts_s": built_accounts, "snapshot_s": snap}


# ------------------------------------------------------------------------------------------- clients (processes)
def _matcher(base: str, token: str, stop, out) -> None:
    """The legitimate client: one fill per request, back to back, until ``stop``; reports the end time
    and latency of every request (the phases are cut out of them afterwards)."""
    rng = random.Random(1)
    done: list[tuple[float, float, int]] = []
    with httpx.Client(base_url=base, timeout=60, headers={"X-API-Key": token}) as c:
        while not stop.is_set():
            b, s = rng.sample(range(TRADERS), 2)
            body = {"fills": [{"instrument": "BTC-PERP", "buyer": sub(b), "seller": sub(s), "size": "0.001",
                               "price": f"{50000 + rng.randint(-20, 20) / 10:.1f}"}]}
            t0 = time.perf_counter()
            r = c.post("/v1/fills", json=body)
            lat = time.perf_counter() - t0
            done.append((time.time(), lat, r.json()["accepted"] if r.status_code == 200 else -1))
    out.put(done)


def _background() -> None:
    try:
        os.nice(10)
    except OSError:
        pass


def _reader(base: str, token: str, end: float, path: str, out) -> None:
    _background()
    lat, seqs, codes = [], set(), {}
    with httpx.Client(base_url=base, timeout=120, headers={"X-API-Key": token}) as c:
        while time.time() < end:
            t0 = time.perf_counter()
            r = c.get(path)
            lat.append(time.perf_counter() - t0)
            codes[r.status_code] = codes.get(r.status_code, 0) + 1
            if r.status_code == 200 and "x-ramparts-seq" in r.headers:
                seqs.add(int(r.headers["x-ramparts-seq"]))
    out.put({"reads": len(lat), "lat": lat, "seqs": seqs, "codes": codes})


def _dashboard(base: str, token: str, end: float, out, every: float = 0.5) -> None:
    """What an open dashboard page asks while the stream is busy: ``/v1/dashboard`` and the new
    points of ``/v1/history`` every half second (its refresh, debounced on the stream's messages)."""
    _background()
    lat, n, after = [], 0, 0
    with httpx.Client(base_url=base, timeout=120, headers={"X-API-Key": token}) as c:
        while time.time() < end:
            t0 = time.perf_counter()
            c.get("/v1/dashboard").raise_for_status()
            after = c.get("/v1/history", params={"after_seq": after}).json()["seq"]
            lat.append(time.perf_counter() - t0)
            n += 1
            time.sleep(max(0.0, every - (time.perf_counter() - t0)))
    out.put({"reads": n, "lat": lat, "seqs": set(), "codes": {}})


def _flood(base: str, end: float, idx: int, rotate: bool, out) -> None:
    """Requests with random wrong keys (as ``tests/test_service_hardening.py``): from one address, which
    the failed-login throttle answers 429 without scrypt after five failures; or ``rotate``-ing over
    250 loopback addresses a process, five scrypt verifications each before the throttle."""
    _background()
    rng = random.Random()  # key ids never seen before, run after run
    codes: dict[int, int] = {}
    clients = {}
    try:
        k = 0
        while time.time() < end:
            addr = f"127.{1 + idx}.{rng.randrange(256)}.{2 + k % 250}" if rotate else "127.0.0.1"
            k += 1
            c = clients.get(addr)
            if c is None:
                c = clients[addr] = httpx.Client(base_url=base, timeout=60, transport=httpx.HTTPTransport(local_address=addr))
            r = c.get("/v1/markets", headers={"X-API-Key": f"rk_{rng.getrandbits(64):016x}_guess"})
            codes[r.status_code] = codes.get(r.status_code, 0) + 1
            if len(clients) > 64:
                for x in clients.values():
                    x.close()
                clients.clear()
    finally:
        for c in clients.values():
            c.close()
    out.put({"reads": 0, "lat": [], "seqs": set(), "codes": codes})


# ------------------------------------------------------------------------------------------- the run
SCENARIOS = [
    ("4 auditors polling /v1/state", [("reader", "/v1/state")] * 4),
    ("4 auditors, /v1/state?min_seq=0", [("reader", "/v1/state?min_seq=0")] * 4),
    ("4 dashboard pages open", [("dashboard", None)] * 4),
    ("failed-auth flood, one address", [("flood", False)] * 4),
    ("failed-auth flood, 1,000 addresses", [("flood", True)] * 4),
]


def _metrics(base: str) -> dict[str, float]:
    out = {}
    for line in httpx.get(f"{base}/metrics", timeout=60).text.splitlines():
        if line.startswith(("ramparts_read_", "ramparts_state_hash")) and not line.startswith("#"):
            name, value = line.split()[:2]
            out[name] = float(value)
    return out


def _phase(base: str, tokens: dict, pid: int, seconds: float, others: list) -> dict:
    """``seconds`` of whatever ``others`` do beside the running matcher; returns the window and what they did."""
    ctx = mp.get_context("fork")
    out = ctx.Queue()
    m0, cpu0, t0 = _metrics(base), cpu_seconds(pid), time.time()
    end = t0 + seconds
    procs = []
    for i, (kind, arg) in enumerate(others):
        if kind == "reader":
            procs.append(ctx.Process(target=_reader, args=(base, tokens["auditor"], end, arg, out)))
        elif kind == "dashboard":
            procs.append(ctx.Process(target=_dashboard, args=(base, tokens["auditor"], end, out)))
        else:
            procs.append(ctx.Process(target=_flood, args=(base, end, i, arg, out)))
    for p in procs:
        p.start()
    results = [out.get(timeout=seconds + 300) for _ in procs]
    while time.time() < end:
        time.sleep(0.01)
    t1 = time.time()
    cpu, m1 = (cpu_seconds(pid) - cpu0) / (t1 - t0), _metrics(base)
    for p in procs:
        p.join(30)
    d = {k: m1.get(k, 0.0) - m0.get(k, 0.0) for k in m1}
    codes: dict[int, int] = {}
    for r in results:
        for k, v in r["codes"].items():
            codes[k] = codes.get(k, 0) + v
    writer_s = sum(d.get(k, 0.0) for k in ("ramparts_read_capture_seconds_total", "ramparts_state_hash_fork_seconds_total",
                                             "ramparts_state_hash_inline_seconds_total"))
    return {"t0": t0, "t1": t1, "reads": sum(r["reads"] for r in results), "read_lat": [x for r in results for x in r["lat"]],
            "seqs": len(set().union(*[r["seqs"] for r in results])) if results else 0, "codes": codes, "cpu": cpu,
            "views": d.get("ramparts_read_views_total", 0.0), "forks": d.get("ramparts_state_hash_forks_total", 0.0),
            "fork_s": d.get("ramparts_state_hash_fork_seconds_total", 0.0), "child_s": d.get("ramparts_state_hash_child_seconds_total", 0.0),
            "writer_share": writer_s / (t1 - t0)}


def _cut(done: list, phase: dict) -> dict:
    """The matcher's requests that ended inside ``phase``'s window (its first 0.5 s left out: the others starting)."""
    lo, hi = phase["t0"] + 0.5, phase["t1"]
    mine = [(lat, n) for t, lat, n in done if lo <= t < hi]
    return {"fills_s": sum(max(n, 0) for _, n in mine) / (hi - lo), "lat": [lat for lat, _ in mine],
            "errors": sum(1 for _, n in mine if n < 0)}


def run(base: str, tokens: dict, pid: int, seconds: float, rounds: int) -> tuple[list, dict]:
    """``rounds`` times: a baseline phase before each scenario's phase and one at the end (the matcher runs throughout)."""
    ctx = mp.get_context("fork")
    stop, out = ctx.Event(), ctx.Queue()
    matcher = ctx.Process(target=_matcher, args=(base, tokens["matcher"], stop, out))
    matcher.start()
    time.sleep(2.0)  # warm
    phases: list[tuple[str, dict]] = []
    for _ in range(rounds):
        for name, others in SCENARIOS:
            phases.append(("baseline", _phase(base, tokens, pid, seconds, [])))
            phases.append((name, _phase(base, tokens, pid, seconds, others)))
    phases.append(("baseline", _phase(base, tokens, pid, seconds, [])))
    stop.set()
    done = out.get(timeout=120)
    matcher.join(30)
    for _, ph in phases:
        ph.update(_cut(done, ph))
    return phases, {"requests": len(done)}


def _median(xs: list[float]) -> float:
    xs = sorted(xs)
    n = len(xs)
    return float("nan") if not n else (xs[n // 2] if n % 2 else (xs[n // 2 - 1] + xs[n // 2]) / 2)


def report(phases: list, rounds: int, seconds: float) -> None:
    bases = [ph for name, ph in phases if name == "baseline"]
    base_rate = _median([b["fills_s"] for b in bases])
    blat = [x for b in bases for x in b["lat"]]
    print(f"{'scenario':36} {'fills/s':>8} {'ratio':>6} {'(rounds)':>17} {'p50 ms':>7} {'p99 ms':>7} {'reads/s':>8} {'read p50':>9} "
          f"{'hashes':>6} {'views':>5} {'writer %':>8} {'cpu':>5}  their answers")
    print(f"{'matcher alone (median of ' + str(len(bases)) + ')':36} {base_rate:8.0f} {1:6.2f} {'':>17} {percentile(blat, .5) * 1e3:7.2f} "
          f"{percentile(blat, .99) * 1e3:7.2f} {'':>8} {'':>9} {0:6.0f} {sum(b['views'] for b in bases) / len(bases):5.0f} "
          f"{100 * _median([b['writer_share'] for b in bases]):7.2f}% {_median([b['cpu'] for b in bases]):5.2f}")
    for name, _ in SCENARIOS:
        idx = [i for i, (n, _) in enumerate(phases) if n == name]
        runs = [phases[i][1] for i in idx]
        ratios = [phases[i][1]["fills_s"] / ((phases[i - 1][1]["fills_s"] + phases[i + 1][1]["fills_s"]) / 2) for i in idx]
        lat = [x for r in runs for x in r["lat"]]
        rlat = [x for r in runs for x in r["read_lat"]]
        codes: dict[int, int] = {}
        for r in runs:
            for k, v in r["codes"].items():
                codes[k] = codes.get(k, 0) + v
        forks = sum(r["forks"] for r in runs)
        print(f"{name:36} {_median([r['fills_s'] for r in runs]):8.0f} {_median(ratios):6.2f} "
              f"{'(' + ' '.join(f'{x:.2f}' for x in ratios) + ')':>17} {percentile(lat, .5) * 1e3:7.2f} {percentile(lat, .99) * 1e3:7.2f} "
              f"{sum(r['reads'] for r in runs) / (len(runs) * seconds):8.1f} {percentile(rlat, .5) * 1e3:8.1f}ms {forks / len(runs):6.1f} "
              f"{sum(r['views'] for r in runs) / len(runs):5.0f} {100 * _median([r['writer_share'] for r in runs]):7.2f}% "
              f"{_median([r['cpu'] for r in runs]):5.2f}  {', '.join(f'{k}: {v}' for k, v in sorted(codes.items()))}")
    forked = [r for n, r in phases if r["forks"]]
    if forked:
        f = sum(r["forks"] for r in forked)
        print(f"state hash: {1e3 * sum(r['fork_s'] for r in forked) / f:.1f} ms a fork on the writer thread, "
              f"{sum(r['child_s'] for r in forked) / f:.2f} s a child in another process (nice 10), one child at a time")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--subaccounts", type=int, default=200_000)
    ap.add_argument("--seconds", type=float, default=5.0, help="length of each phase")
    ap.add_argument("--rounds", type=int, default=3, help="times each scenario runs, between two baselines")
    ap.add_argument("--journal", help="reuse (or keep) the venue's journal at this path")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        journal = a.journal or str(Path(d) / "venue.sqlite")
        built = None if a.journal and Path(journal).exists() else build_venue(journal, a.subaccounts)
        ks = KeyStore(journal)
        tokens = {role: ks.create_key(role, None, "bench")[1] for role in ("matcher", "auditor")}
        ks.close()
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")]))
        t0 = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-m", "ramparts.service", "serve", "--journal", journal, "--port", str(port),
                                 "--rate", "0", "--durability", "full", "--snapshot-every", "0", "--log-level", "warning"], env=env)
        try:
            deadline = time.time() + 600
            while True:
                try:
                    if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.time() > deadline or proc.poll() is not None:
                    raise SystemExit("the server did not start")
                time.sleep(0.2)
            started = time.perf_counter() - t0
            while not httpx.get(f"{base}/v1/history", params={"points": 1}, headers={"X-API-Key": tokens["auditor"]},
                                timeout=60).json()["ready"]:
                time.sleep(0.5)
            ready = time.perf_counter() - t0
            load0 = os.getloadavg()[0]
            phases, info = run(base, tokens, proc.pid, a.seconds, a.rounds)
            load1 = os.getloadavg()[0]
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
    print(f"venue: {a.subaccounts:,} sub-accounts", end="")
    if built:
        print(f", {built['positions']:,} positions, journal seq {built['seq']:,}: built in {built['seconds']:.1f} s "
              f"(accounts {built['accounts_s']:.1f} s, snapshot {built['snapshot_s']:.1f} s)", end="")
    print(f"; server up in {started:.1f} s, history read back from the journal at {ready:.1f} s")
    print(f"{os.cpu_count()} CPUs, load average {load0:.1f} at the start and {load1:.1f} at the end; phases of {a.seconds:g} s, "
          f"{a.rounds} rounds; one matcher posting one fill per request throughout ({info['requests']:,} requests); "
          "SQLite WAL, durability full")
    report(phases, a.rounds, a.seconds)


if __name__ == "__main__":
    main()
