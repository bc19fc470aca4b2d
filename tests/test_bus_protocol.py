"""The bus's message format and its exactly-once bookkeeping, without a NATS server.

Decoding of input messages (every dead-letter reason), the effect and dead-letter messages, and the
side tables of :mod:`ramparts.bus.cursor`: written in the journal's transaction, matched to the
staged messages when some are refused, the cursor only moving forward, a second application of a
message refused by the database, and nothing written when the append fails.
"""

from __future__ import annotations

import json
import sqlite3

import pytest

from ramparts.bus.cursor import Staged, open_bus_journal
from ramparts.bus.protocol import (
    CHANNELS,
    DeadLetter,
    Subjects,
    channel_for,
    dead_letter_message,
    decode_input,
    effect_message,
    input_message,
)
from ramparts.bus.sample import sample_stream
from ramparts.engine import events as ev
from ramparts.engine.node import Node, replay
from ramparts.errors import EventFailed, InvalidInput, Rejected, UnknownEntity
from ramparts.journal import open_journal

SJ = Subjects()


def _fill(ts=1, **kw):
    base = {"kind": "Fill", "ts": ts, "instrument": "BTC-PERP", "buyer": "a/main", "seller": "b/main", "price": "100.0", "size": "1"}
    return {**base, **kw}


def test_every_kind_has_a_narrowest_channel_and_admin_carries_all():
    assert CHANNELS["admin"] == frozenset(ev.EVENT_TYPES)
    for kind in ev.EVENT_TYPES:
        ch = channel_for(kind)
        assert kind in CHANNELS[ch]
        assert SJ.input_for(kind) == f"ramparts.in.{ch}"
    assert channel_for("Fill") == "fills" and channel_for("OraclePrice") == "prices" and channel_for("Tick") == "funding"
    assert channel_for("Deposit") == "admin"


def test_decode_input_gives_the_event_or_the_reason():
    good = decode_input(SJ, "ramparts.in.fills", json.dumps(_fill()).encode())
    assert isinstance(good, ev.Fill) and str(good.price) == "100.0"
    cases = {
        b"\xff\xfe\x00": ("undecodable", None),
        b"not json": ("undecodable", None),
        b"[1, 2]": ("invalid", "event"),
        json.dumps({"kind": "Nope", "ts": 1}).encode(): ("invalid", "kind"),
        json.dumps({k: v for k, v in _fill().items() if k != "ts"}).encode(): ("invalid", "Fill.ts"),
        json.dumps(_fill(price=100.5)).encode(): ("invalid", "Fill.price"),  # a JSON float: decimals are strings
    }
    for data, (reason, field) in cases.items():
        got = decode_input(SJ, "ramparts.in.fills", data)
        assert isinstance(got, DeadLetter) and got.reason == reason, (data, got)
        if field is not None:
            assert got.field == field, (data, got)
    wrong = decode_input(SJ, "ramparts.in.fills", json.dumps({"kind": "Deposit", "ts": 1, "subaccount": "a/main",
                                                               "asset": "USDC", "amount": "1"}).encode())
    assert wrong.reason == "not_allowed" and "ramparts.in.admin" in wrong.message
    unknown = decode_input(SJ, "ramparts.in.other", json.dumps(_fill()).encode())
    assert unknown.reason == "not_allowed" and unknown.field == "subject"
    assert isinstance(decode_input(SJ, "ramparts.in.admin", json.dumps(_fill()).encode()), ev.Fill)


def test_dead_letters_of_engine_errors():
    assert DeadLetter.from_error(Rejected("initial_margin", "too big")) == DeadLetter("refused", "Rejected", "initial_margin: too big", code="initial_margin")
    assert DeadLetter.from_error(UnknownEntity("buyer", "no x")).field == "buyer"
    assert DeadLetter.from_error(InvalidInput("size", "bad")).reason == "refused"
    failed = DeadLetter.from_error(EventFailed(ZeroDivisionError()))
    assert failed.reason == "failed" and failed.code == "ZeroDivisionError"


def test_messages_carry_their_ids():
    subject, data, headers = input_message(SJ, ev.Fill(**_fill()), msg_id="fill-1")
    assert subject == "ramparts.in.fills" and headers == {"Nats-Msg-Id": "fill-1"}
    assert ev.parse_event(data) == ev.Fill(**_fill())
    subject, data, headers = effect_message(SJ, seq=7, index=2, ts=5, event_kind="OraclePrice", stream_seq=9,
                                            effect={"kind": "MarginCall", "subaccount": "a/main"})
    assert subject == "ramparts.fx.MarginCall" and headers["Nats-Msg-Id"] == "ramparts:fx:7:2"
    assert json.loads(data) == {"seq": 7, "index": 2, "ts": 5, "event": "OraclePrice", "stream_seq": 9,
                                "effect": {"kind": "MarginCall", "subaccount": "a/main"}}
    subject, data, headers = dead_letter_message(SJ, DeadLetter("undecodable", "ValueError", "x"), stream="RAMPARTS_IN",
                                                 stream_seq=4, subject="ramparts.in.fills", data=b"\xff")
    body = json.loads(data)
    assert subject == "ramparts.dlq.undecodable" and body["data_b64"] == "/w==" and body["stream_seq"] == 4
    assert headers["Nats-Msg-Id"] == "ramparts:dlq:RAMPARTS_IN:4"
    with pytest.raises(InvalidInput):
        Subjects(prefix="a.>")


def _tables(path: str, prefix: str = "") -> dict[str, list]:
    db = sqlite3.connect(path)
    try:
        return {t: db.execute(f"SELECT * FROM {prefix}bus_{t} ORDER BY 1, 2").fetchall() for t in ("cursor", "applied", "refused")}
    finally:
        db.close()


def test_side_tables_are_written_with_the_journal_rows(tmp_path):
    path = str(tmp_path / "j.db")
    events = sample_stream(3, traders=8, steps=20)
    node = Node(open_bus_journal(path, durability="normal"))
    # stage each chunk as if message i of the stream carried event i (stream seqs 1..n)
    stream_seq = 0
    refused_direct = []
    for k in range(0, len(events), 25):
        chunk = events[k:k + 25]
        staged = Staged("IN", [(stream_seq + 1 + i, e) for i, e in enumerate(chunk)], stream_seq + len(chunk), 0)
        node.journal.stage(staged)
        outcomes = node.submit_batch(chunk)
        if not any(o.accepted for o in outcomes):
            node.journal.commit_cursor(staged)
        refused_direct += [stream_seq + 1 + i for i, o in enumerate(outcomes) if not o.accepted]
        stream_seq += len(chunk)
    node.close()
    assert refused_direct, "the sample refuses some fills"
    t = _tables(path)
    j = open_journal(path)
    assert t["cursor"] == [("IN", len(events), j.last_seq(), 0)]
    assert [r[0] for r in t["applied"]] == list(range(1, j.last_seq() + 1))
    assert sorted(r[1] for r in t["refused"]) == refused_direct
    applied_sseqs = [r[2] for r in t["applied"]]
    assert sorted(applied_sseqs + refused_direct) == list(range(1, len(events) + 1))
    # each journal row is the event of the stream seq it is mapped to
    by_seq = {r[0]: r[2] for r in t["applied"]}
    for rec in j.read():
        assert ev.encode_event(events[by_seq[rec.seq] - 1]) == rec.payload
    # a refusal's after_seq is where the engine stood: replaying to it and applying refuses again
    for sseq, after, _end in open_bus_journal(path).refused("IN"):
        with pytest.raises(Rejected):
            replay(j, to_seq=after).apply(events[sseq - 1])
    j.close()


def test_the_cursor_only_moves_forward_and_a_failed_append_writes_nothing(tmp_path):
    path = str(tmp_path / "j.db")
    events = sample_stream(3, traders=4, steps=2)
    journal = open_bus_journal(path, namespace="shard1", durability="normal")
    node = Node(journal)
    journal.stage(Staged("IN", [(i + 1, e) for i, e in enumerate(events[:5])], 5, 0))
    node.submit_batch(events[:5])
    # the same messages again (a redelivery the runner failed to recognise): refused by the database
    journal.stage(Staged("IN", [(5, events[5])], 5, 0))
    with pytest.raises(InvalidInput, match="already dealt with"):
        node.submit_batch([events[5]])
    assert journal.last_seq() == 5 and node.engine.seq == 5  # rebuilt from the journal, nothing kept
    assert journal.cursor("IN").stream_seq == 5
    # a journal row already holding a stream seq under another number: the unique key refuses it
    db = sqlite3.connect(path)
    db.execute("UPDATE shard1_bus_cursor SET stream_seq = 0")
    db.commit()
    db.close()
    journal.stage(Staged("IN", [(3, events[5])], 6, 0))
    with pytest.raises(Exception, match="UNIQUE"):
        node.submit_batch([events[5]])
    assert journal.last_seq() == 5 and _tables(path, "shard1_")["cursor"][0][1] == 0
    node.close()


def test_the_bus_refuses_an_in_memory_journal():
    with pytest.raises(InvalidInput, match="durable journal"):
        open_bus_journal(":memory:")


def test_ramparts_run_refuses_bad_places_in_one_line(tmp_path):
    pytest.importorskip("nats", reason="nats-py is in the test extra")
    from typer.testing import CliRunner

    from ramparts.bus.server import free_port
    from ramparts.cli import app

    cli = CliRunner()
    missing = cli.invoke(app, ["run", "--journal", str(tmp_path / "nope" / "j.db")])
    assert missing.exit_code == 2 and "does not exist" in missing.output
    down = cli.invoke(app, ["run", "--journal", str(tmp_path / "j.db"), "--nats", f"nats://127.0.0.1:{free_port()}",
                            "--connect-timeout", "0.3"])
    assert down.exit_code == 2 and "cannot connect to NATS" in down.output, down.output
    assert "Traceback" not in down.output
    bad = cli.invoke(app, ["run", "--journal", str(tmp_path / "j.db"), "--prefix", "a.>"])
    assert bad.exit_code == 2 and "--prefix" in bad.output, bad.output
