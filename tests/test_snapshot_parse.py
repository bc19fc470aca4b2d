"""The restore's fast paths (``ramparts.engine.engine._parse_state`` and ``_sub_rows``): the positions' table of a
hash-checked snapshot parsed by numpy, the sub-accounts' texts checked in one pass; the same engine as the general
``json.loads`` path, and the same refusals."""

from __future__ import annotations

import json
import zlib

import numpy as np
import pytest

from ramparts.domain.accounts import MarginMode, SubAccounts
from ramparts.engine import Engine
from ramparts.engine import events as ev
from ramparts.engine.engine import _parse_state, _sub_rows
from ramparts.engine.presets import genesis, perpetual
from ramparts.errors import InvalidInput, JournalCorrupt


def _venue() -> Engine:
    e = Engine()
    e.apply(genesis(ts=0))
    for k in range(3):
        e.apply(perpetual(f"P{k}-PERP", f"U{k}", ts=0))
        e.apply(ev.OraclePrice(ts=0, instrument=f"P{k}-PERP", price=f"{100 + 10 * k}"))
    for name in ("a/main", "b/main", "c.x/y-z", "d@e/f:g"):
        e.apply(ev.OpenSubAccount(ts=1, subaccount=name))
        e.apply(ev.Deposit(ts=1, subaccount=name, asset="USDC", amount="100000"))
    e.apply(ev.Fill(ts=2, instrument="P0-PERP", buyer="a/main", seller="b/main", price="100", size="3"))
    e.apply(ev.Fill(ts=2, instrument="P2-PERP", buyer="c.x/y-z", seller="a/main", price="120", size="1.5"))
    e.apply(ev.Fill(ts=2, instrument="P1-PERP", buyer="d@e/f:g", seller="c.x/y-z", price="110", size="2"))
    e.apply(ev.OraclePrice(ts=3, instrument="P0-PERP", price="93.5"))
    return e


def test_a_trusted_snapshot_parses_its_positions_as_the_json_path_does():
    e = _venue()
    raw = e.canonical_state()
    fast, slow = _parse_state(raw, trusted=True), json.loads(raw)
    assert isinstance(fast["positions"], np.ndarray) and fast["positions"].dtype == np.int64
    assert fast["positions"].tolist() == slow["positions"] and (fast["positions"] < 0).any()
    assert {k: v for k, v in fast.items() if k != "positions"} == {k: v for k, v in slow.items() if k != "positions"}
    assert isinstance(_parse_state(raw, trusted=False)["positions"], list)  # unchecked bytes: the general path


def test_both_paths_restore_the_same_engine():
    e = _venue()
    h, blob = e.snapshot_and_hash()
    checked, unchecked = Engine.restore(blob, expect_hash=h), Engine.restore(blob)
    assert checked.state_hash() == unchecked.state_hash() == h
    assert np.array_equal(checked.equity_array(), e.equity_array())


def test_an_integer_beyond_int64_is_not_saturated_by_the_fast_path():
    d = json.loads(_venue().canonical_state())
    d["positions"][0][3] = 2**63  # numpy's text parser would clamp it to 2**63 - 1
    raw = json.dumps(d, sort_keys=True, separators=(",", ":")).encode()
    assert _parse_state(raw, trusted=True)["positions"][0][3] == 2**63  # the general path, which keeps it exact
    with pytest.raises(JournalCorrupt):
        Engine.restore(zlib.compress(raw))


def test_no_positions_and_a_nested_positions_key_take_the_general_path():
    e = Engine()
    e.apply(genesis(ts=0))
    raw = e.canonical_state()
    assert _parse_state(raw, trusted=True)["positions"] == []
    d = json.loads(_venue().canonical_state())
    d["portfolio"] = {"positions": [[1, 2, 3, 4, 5]]}  # a free dict before the table holding the same key
    raw = json.dumps(d, sort_keys=True, separators=(",", ":")).encode()
    assert _parse_state(raw, trusted=True) == json.loads(raw)


@pytest.mark.parametrize("name", ["a/b/c", "ab", "a /b", "a/b\n", "/b", "a/", "-a/b", "a/" + "x" * 65, 7])
def test_sub_account_texts_are_checked_as_one_by_one(name):
    with pytest.raises(InvalidInput):
        _sub_rows([["ok/main", "cross", None, False], [name, "cross", None, False]])


def test_sub_rows_keep_texts_modes_and_flags():
    rows = [["ok/main", "cross", None, False], ["a.b/c@d", "isolated", 2, False], ["v/x", "portfolio", None, True]]
    names, instruments, flags = _sub_rows(rows)
    modes = [m.value for m in MarginMode]
    assert [(n, modes[f & 3], None if i < 0 else i, bool(f & 4)) for n, i, f in zip(names, instruments.tolist(), flags, strict=True)] \
        == [tuple(r) for r in rows]
    assert [len(c) for c in _sub_rows([])] == [0, 0, 0]
    with pytest.raises(KeyError):
        _sub_rows([["ok/main", "crossed", None, False]])


def test_the_register_refuses_a_text_twice_and_changes_nothing():
    subs = SubAccounts()
    subs.extend(["a/main", "b/main"], [-1, 3], bytes([0, 1]))
    for names in (["c/main", "c/main"], ["a/main"]):
        with pytest.raises(ValueError):
            subs.extend(names, [-1] * len(names), bytes(len(names)))
    with pytest.raises(ValueError):
        subs.extend(["d/main"], [-1], bytes([3]))  # no fourth margin mode
    assert subs.rows() == [["a/main", "cross", None, False], ["b/main", "isolated", 3, False]] and len(subs.by_name) == 2


def test_a_snapshot_with_a_bad_sub_account_or_mode_is_corrupt():
    d = json.loads(_venue().canonical_state())
    for sub, mode, error in (("a/b/c", "cross", InvalidInput), ("x/main", "crossed", JournalCorrupt)):
        bad = json.loads(json.dumps(d))
        bad["subs"][2][:2] = [sub, mode]
        with pytest.raises(error):
            Engine.restore(zlib.compress(json.dumps(bad, sort_keys=True, separators=(",", ":")).encode()))


def test_a_restored_lazy_engine_starts_with_its_indices_built_and_acts_as_the_live_one(monkeypatch):
    """``TickSlackOps._lz_prime``: a restore computes every band and builds each instrument's slack index, so
    the first tick of an instrument is a lazy one; effects and state are those of the live engine and of a full
    re-margin, and the lazy engine's own invariants hold."""
    monkeypatch.setattr(Engine, "lazy_min_positions", 0)
    monkeypatch.setattr(Engine, "lazy_min_holders", 0)
    live = _venue()
    restored = Engine.restore(live.snapshot())
    assert restored._lz_index.ok[:3].all() and restored._lz_was_on
    full = Engine.restore(live.snapshot())
    full.lazy_remargin = False
    rng = np.random.default_rng(5)
    px = [93.5, 110.0, 120.0]
    names = ["a/main", "b/main", "c.x/y-z", "d@e/f:g"]
    for t in range(4, 200):
        k = int(rng.integers(3))
        if rng.random() < 0.7:
            px[k] = round(px[k] * (1 + rng.normal(0, 0.03)), 1)
            event = ev.OraclePrice(ts=t, instrument=f"P{k}-PERP", price=f"{px[k]:.1f}")
        else:
            a, b = rng.choice(4, 2, replace=False)
            event = ev.Fill(ts=t, instrument=f"P{k}-PERP", buyer=names[a], seller=names[b], price=f"{px[k]:.1f}", size="0.5")
        outs = []
        for e in (live, restored, full):
            try:
                outs.append(e.apply(event))
            except Exception as exc:  # noqa: BLE001 - refused alike by all three
                outs.append(type(exc).__name__)
        assert outs[0] == outs[1] == outs[2], (t, outs)
        assert live.state_hash() == restored.state_hash() == full.state_hash()
    restored.lazy_check()
    assert restored.lazy_stats["full_ticks"] == 0 and restored.lazy_stats["lazy_ticks"] > 0
