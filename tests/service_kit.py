"""Helpers for the service tests: an app with one key per role, a small venue set up through the API."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

PG_URL = "postgresql://postgres@127.0.0.1:5432/test"
SRC = Path(__file__).resolve().parents[1] / "src"
S = 10**9


def pg_available() -> bool:
    try:
        import psycopg

        with psycopg.connect(PG_URL, connect_timeout=3):
            return True
    except Exception:
        return False


def drop_pg(namespace: str) -> None:
    import psycopg

    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{namespace}" CASCADE')


def new_namespace() -> str:
    return f"svc_{uuid.uuid4().hex[:12]}"


@dataclass
class Keys:
    """One token per role (traders for accounts alice and bob; ``custody`` moves money in and out)."""

    tokens: dict[str, str] = field(default_factory=dict)
    ids: dict[str, str] = field(default_factory=dict)

    def h(self, name: str) -> dict[str, str]:
        return {"X-API-Key": self.tokens[name]}


def make_keys(store) -> Keys:
    keys = Keys()
    for name, role, account in (
        ("risk", "risk_officer", None), ("auditor", "auditor", None), ("oracle", "oracle", None),
        ("matcher", "matcher", None), ("sequencer", "sequencer", None), ("liquidator", "liquidator", "keeper1"),
        ("custody", "custody", None),
        ("alice", "trader", "alice"), ("bob", "trader", "bob"),
    ):
        rec, token = store.create_key(role, account, name, actor="test")
        keys.tokens[name], keys.ids[name] = token, rec.key_id
    return keys


def perp_body(symbol: str = "BTC-PERP", underlying: str = "BTC") -> dict:
    return {"symbol": symbol, "underlying": underlying, "size_step": "0.001", "tick_size": "0.1",
            "margin": {"tiers": [["0", "0.1", "0.05"]], "size_premium": "0"}}


def setup_venue(client, keys: Keys, *, alice: str = "1000", bob: str = "100000", insurance: str = "50000") -> None:
    """BTC-PERP listed, alice/main and bob/main funded, a price of 50,000, the global fund funded."""
    def ok(r):
        assert r.status_code in (200, 201), r.text
        return r.json()

    ok(client.post("/v1/instruments", json=perp_body(), headers=keys.h("risk")))
    for who, amount in (("alice", alice), ("bob", bob)):
        ok(client.post("/v1/subaccounts", json={"subaccount": f"{who}/main"}, headers=keys.h(who)))
        ok(client.post("/v1/deposits", json={"subaccount": f"{who}/main", "amount": amount}, headers=keys.h("custody")))
    ok(client.post("/v1/insurance/deposits", json={"amount": insurance}, headers=keys.h("risk")))
    ok(client.post("/v1/prices", json={"instrument": "BTC-PERP", "price": "50000"}, headers=keys.h("oracle")))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(journal: str, port: int, *, rate: float = 0, durability: str = "full", log=None) -> subprocess.Popen:
    """``python -m ramparts.service serve`` in a subprocess; returns once /healthz answers."""
    import httpx

    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.Popen(
        [sys.executable, "-m", "ramparts.service", "serve", "--journal", journal, "--port", str(port),
         "--rate", str(rate), "--durability", durability, "--log-level", "warning"],
        env=env, stdout=log or subprocess.DEVNULL, stderr=log or subprocess.DEVNULL,
    )
    deadline = time.time() + 30
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("server did not start")
