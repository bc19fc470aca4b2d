"""The snapshot container (``ramparts.engine.snapshot``): a restore rebuilds the very state the snapshot was taken of,
over random venues of every kind; a damaged or mismatched container is refused as a corrupt snapshot and restores
nothing; the JSON snapshots written before it still restore, checked byte for byte against the journaled hash."""

from __future__ import annotations

import json
import zlib

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ramparts.engine import Engine, snapshot
from ramparts.engine import events as ev
from ramparts.engine.engine import snapshot_version
from ramparts.engine.presets import genesis, perpetual
from ramparts.errors import InvalidInput, JournalCorrupt, RampartsError
from test_integration_fuzz import _events as _fuzz_stream
from test_integration_fuzz import _venue as _fuzz_venue


def _venue(n: int = 6) -> Engine:
    e = Engine()
    events = [genesis(ts=0), perpetual("BTC-PERP", "BTC", ts=0), perpetual("ETH-PERP", "ETH", ts=0),
              ev.OraclePrice(ts=0, instrument="BTC-PERP", price="50000"), ev.OraclePrice(ts=0, instrument="ETH-PERP", price="3000")]
    for k in range(n):
        events += [ev.OpenSubAccount(ts=0, subaccount=f"t{k}/main"), ev.Deposit(ts=0, subaccount=f"t{k}/main", asset="USDC", amount="100000")]
    events += [ev.OpenSubAccount(ts=0, subaccount="iso/x", mode="isolated", instrument="ETH-PERP"),
               ev.Deposit(ts=0, subaccount="iso/x", asset="USDC", amount="5000")]
    for k in range(0, n - 1, 2):
        events.append(ev.Fill(ts=1, instrument="BTC-PERP" if k % 4 else "ETH-PERP", buyer=f"t{k}/main", seller=f"t{k + 1}/main",
                              price="50000" if k % 4 else "3000", size="0.5", buyer_fee="1.5"))
    events.append(ev.Fill(ts=1, instrument="ETH-PERP", buyer="iso/x", seller="t0/main", price="3000", size="1"))
    for x in events:
        e.apply(x)
    return e


def _restored_equal(e: Engine) -> None:
    h, blob = e.snapshot_and_hash()
    assert h == e.state_hash() and snapshot.is_container(blob)
    r = Engine.restore(blob, expect_hash=h)
    assert r.canonical_state() == e.canonical_state()
    assert r.seq == e.seq and r.time_ns == e.time_ns


def test_a_venue_restores_to_its_own_canonical_state_and_goes_on_alike():
    e = _venue()
    _restored_equal(e)
    r = Engine.restore(e.snapshot())
    nxt = [ev.OraclePrice(ts=2, instrument="BTC-PERP", price="41000"), ev.OraclePrice(ts=2, instrument="ETH-PERP", price="2400"),
           ev.Fill(ts=3, instrument="BTC-PERP", buyer="t2/main", seller="t4/main", price="41000", size="0.1")]
    for x in nxt:  # the restored engine's caches and indexes are those of the original: the same effects after
        assert r.apply(x) == e.apply(x)
    assert r.state_hash() == e.state_hash()


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**31), n=st.integers(20, 300))
def test_random_venues_restore_to_their_canonical_state(seed, n):
    """Perpetuals, options, portfolio and isolated sub-accounts, collateral, funding, liquidations (the integration
    fuzz's streams, which also restore every 100 events), snapshotted at a random point."""
    _restored_equal(fuzzed(seed, n))


def fuzzed(seed: int, n: int) -> Engine:
    """The integration fuzz's venue after ``n`` events of its stream ``seed`` (refusals skipped)."""
    e, _ = _fuzz_venue()
    for x in _fuzz_stream(seed, n):
        try:
            e.apply(x)
        except RampartsError:
            pass
    return e


def test_the_tables_travel_as_arrays_and_the_rest_as_the_canonical_header():
    e = _venue()
    state_hash, state, arrays = snapshot.unpack(e.snapshot())
    assert state_hash == e.state_hash()
    full = json.loads(e.canonical_state())
    assert {k: v for k, v in full.items() if k not in ("subs", "positions", "ledger")} == {
        k: v for k, v in state.items() if k != "ledger"}
    assert arrays["positions"].T.tolist() == full["positions"]
    assert arrays["sub_names"].tobytes().decode().split("\n") == [r[0] for r in full["subs"]]
    cash = [[int(s), int(v)] for s, v in zip(arrays["cash_subs"], arrays["cash"], strict=True)]
    assert cash == [[k, v] for a, k, v in full["ledger"] if isinstance(k, int) and a == "USDC"]
    assert state["ledger"] == [r for r in full["ledger"] if not (isinstance(r[1], int) and r[0] == "USDC")]
    assert snapshot_version(e.snapshot()) == full["version"]


def _in(blob: bytes, codec: str) -> bytes:
    """The container ``blob`` written with ``codec`` (``zlib``: the first container, v3, still read)."""
    h, state, arrays = snapshot.unpack(blob)
    return snapshot.pack(h, state, dict(arrays), codec=codec)


@pytest.mark.parametrize("codec", ["zstd", "zlib"])
@pytest.mark.parametrize("damage", ["a body byte", "the digest", "the length", "truncated", "trailing bytes", "the magic"])
def test_a_damaged_container_is_a_corrupt_snapshot(damage, codec):
    e = _venue()
    h, blob = e.snapshot_and_hash()
    b = bytearray(_in(blob, codec))
    assert b.startswith(snapshot.MAGIC if codec == "zstd" else snapshot.MAGIC_ZLIB)
    if damage == "a body byte":
        b[len(b) // 2] ^= 0x40
    elif damage == "the digest":
        b[len(snapshot.MAGIC) + 3] ^= 1
    elif damage == "the length":  # (v3 has none: its first body byte)
        b[len(snapshot.MAGIC) + 32] ^= 1
    elif damage == "truncated":
        del b[-20:]
    elif damage == "trailing bytes":
        b += b"\x00"
    else:
        b[0] ^= 1
    with pytest.raises(JournalCorrupt):
        Engine.restore(bytes(b), expect_hash=h)


def test_a_container_of_another_state_hash_is_refused():
    e = _venue()
    blob = e.snapshot()
    with pytest.raises(JournalCorrupt, match="another state hash"):
        Engine.restore(blob, expect_hash="0" * 64)


def _repacked(e: Engine, change) -> bytes:
    h, state, arrays = snapshot.unpack(e.snapshot())
    arrays = {k: np.array(v) for k, v in arrays.items()}
    change(state, arrays)
    return snapshot.pack(h, state, arrays)


@pytest.mark.parametrize(("change", "error"), [
    (lambda s, a: a.__setitem__("sub_names", np.frombuffer(a["sub_names"].tobytes().replace(b"t1/main", b"t1/ma n"), np.uint8)), InvalidInput),
    (lambda s, a: a.__setitem__("sub_flags", np.full_like(a["sub_flags"], 3)), JournalCorrupt),  # no fourth margin mode
    (lambda s, a: a.__setitem__("cash", a["cash"] + 1), JournalCorrupt),  # the ledger no longer balances
    (lambda s, a: a.__setitem__("cash_subs", np.zeros_like(a["cash_subs"])), JournalCorrupt),  # one sub-account's cash twice
    (lambda s, a: a.__setitem__("positions", a["positions"][:4].copy()), JournalCorrupt),  # not five columns
    (lambda s, a: a.__setitem__("positions", np.where(a["positions"] == a["positions"][0, 0], 10**6, a["positions"])), JournalCorrupt),
    (lambda s, a: a.pop("cash"), JournalCorrupt),
])  # fmt: skip
def test_a_container_the_engine_did_not_write_is_refused(change, error):
    """A container with a valid digest but contents no engine writes (a bad text, an unknown mode, an unbalanced
    ledger, a position of nobody): refused, as the same faults in a JSON snapshot are."""
    with pytest.raises(error):
        Engine.restore(_repacked(_venue(), change))


def test_the_container_holds_integers_and_bytes_only():
    with pytest.raises(TypeError):
        snapshot.pack("0" * 64, {}, {"x": np.zeros(2, dtype=object)})
    with pytest.raises(TypeError):
        snapshot.pack("0" * 64, {}, {"x": np.zeros(2, dtype=np.float64)})
    blob = snapshot.pack("ab", {"k": [1, "x"]}, {"a": np.arange(6, dtype=np.int64).reshape(2, 3), "b": np.zeros(0, dtype=np.uint8)})
    h, state, arrays = snapshot.unpack(blob)
    assert (h, state) == ("ab", {"k": [1, "x"]}) and arrays["a"].tolist() == [[0, 1, 2], [3, 4, 5]] and arrays["b"].size == 0
    assert snapshot.peek_state(blob) == {"k": [1, "x"]} and snapshot.peek_state(b"junk") is None


def test_a_first_container_written_with_zlib_still_restores():
    e = _venue()
    h, blob = e.snapshot_and_hash()
    old = _in(blob, "zlib")
    assert old.startswith(snapshot.MAGIC_ZLIB) and blob.startswith(snapshot.MAGIC)
    assert Engine.restore(old, expect_hash=h).canonical_state() == e.canonical_state()
    assert snapshot.peek_state(old) == snapshot.peek_state(blob) and snapshot_version(old) == snapshot_version(blob)
    with pytest.raises(ValueError):
        snapshot.pack(h, {}, {}, codec="lz4")


def test_a_json_snapshot_of_the_same_state_still_restores():
    e = _venue()
    h = e.state_hash()
    r = Engine.restore(zlib.compress(e.canonical_state()), expect_hash=h)
    assert r.canonical_state() == e.canonical_state()
