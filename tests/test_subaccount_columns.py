"""The sub-account register kept as columns (:class:`ramparts.domain.accounts.SubAccounts`, issue 24
item 5) reads as the list of :class:`SubAccount` records it replaced: by index (negative and numpy
indices, slices), by iteration, by name and by id, and the engine's snapshot rows and restore agree."""

from __future__ import annotations

import numpy as np
import pytest

from ramparts.bus.sample import sample_stream
from ramparts.domain.accounts import MarginMode, SubAccount, SubAccountId, SubAccounts
from ramparts.engine import Engine
from ramparts.errors import RampartsError


def _register():
    reg = SubAccounts()
    plain: list[SubAccount] = []
    for k, (text, mode, instr, system) in enumerate([("alice/main", MarginMode.CROSS, None, False),
                                                     ("alice/iso-1", MarginMode.ISOLATED, 3, False),
                                                     ("bob/pm", MarginMode.PORTFOLIO, None, False),
                                                     ("backstop/vault", MarginMode.CROSS, None, True)]):
        sid = SubAccountId.parse(text)
        assert reg.add(sid if k % 2 else text, mode, instr, system) == k
        plain.append(SubAccount(k, sid, mode, instr, system))
    return reg, plain


def test_the_register_reads_as_the_list_of_records():
    reg, plain = _register()
    assert len(reg) == len(plain) and list(reg) == plain
    for k in range(-len(plain), len(plain)):
        assert reg[k] == plain[k]
    assert reg[np.int64(2)] == plain[2] and reg[1:3] == plain[1:3] and reg[::-1] == plain[::-1]
    with pytest.raises(IndexError):
        reg[len(plain)]
    for r in plain:
        assert reg.name(r.index) == str(r.id)
        assert reg.by_name[str(r.id)] == r.index and reg.by_id[r.id] == r.index and r.id in reg.by_id
    assert SubAccountId.parse("nobody/main") not in reg.by_id and reg.by_id.get(SubAccountId.parse("nobody/main")) is None
    assert "alice/main" not in reg.by_id  # the id map takes ids, not texts
    assert reg.rows() == [[str(r.id), r.mode.value, r.instrument, r.system] for r in plain]


def test_the_engine_register_survives_a_snapshot_and_looks_up_as_before():
    e = Engine()
    for event in sample_stream(traders=12, steps=20):
        try:
            e.apply(event)
        except RampartsError:  # the sample's refusals are part of it
            pass
    assert len(e.subs) > 3
    again = Engine.restore(e.snapshot())
    assert again.state_hash() == e.state_hash()
    assert list(again.subs) == list(e.subs) and again.subs.rows() == e.subs.rows()
    for s in range(len(e.subs)):
        text = e.subs.name(s)
        assert e.sub_index(text) == s == e.sub_index(SubAccountId.parse(text)) == again.sub_index(text)
