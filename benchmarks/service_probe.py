"""Helpers the service benchmarks share: a free loopback port, a process's CPU seconds, a percentile of a list,
a service started in its own process with keys of the roles a benchmark needs.

Imported by ``bench_service.py``, ``bench_service_reads.py`` and ``bench_ingest.py`` (run as scripts, so this
folder is on ``sys.path``); not a benchmark itself.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (the OS picks it)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process (Linux ``/proc/<pid>/stat``), or nan elsewhere."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return float("nan")


def percentile(xs: list[float], q: float) -> float:
    """The nearest-rank ``q`` quantile (0 ≤ q ≤ 1) of ``xs``; nan for an empty list."""
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))] if xs else float("nan")


def start_service(journal: str, durability: str, roles: tuple[str, ...]) -> tuple[subprocess.Popen, str, dict[str, str]]:
    """``python -m ramparts.service serve`` on ``journal`` (no rate limit, warnings only) with a key of each of
    ``roles`` made first; returns the process, its base URL and the tokens by role, once ``/healthz`` answers."""
    import httpx

    from ramparts.service.auth import KeyStore

    ks = KeyStore(journal)
    tokens = {role: ks.create_key(role, None, "bench")[1] for role in roles}
    ks.close()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    src = Path(__file__).resolve().parents[1] / "src"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(src), os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.Popen([sys.executable, "-X", "faulthandler", "-m", "ramparts.service", "serve", "--journal", journal, "--port", str(port),
                             "--rate", "0", "--durability", durability, "--log-level", "warning"], env=env)
    deadline = time.time() + 30
    while True:
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return proc, base, tokens
        except httpx.HTTPError:
            if time.time() > deadline:
                proc.kill()
                raise
            time.sleep(0.1)


def stop_service(proc: subprocess.Popen) -> None:
    """SIGTERM, then SIGKILL after 10 s."""
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
