"""The margin-call / insolvency flag transition has one home (``batch_kernel.call_transition``),
used by the compiled full re-margin (``_reprice_flags``) and the lazy tick (``tick_slack.lazy_tick``).

Its compiled form and its plain-Python twin (``call_transition.py_func``) are checked against the
engine's own vectorised rule (``Engine.margin_calls``: numpy masks over the whole set), which
shares no code with them, over every combination of flags and of the equity's position relative
to zero and to the maintenance margin (equal included, on both sides).
"""

from __future__ import annotations

import itertools

import numpy as np

from ramparts.domain.accounts import MarginMode, SubAccountId
from ramparts.engine import Engine
from ramparts.engine.batch_kernel import call_transition
from ramparts.engine.presets import genesis

# (equity, maintenance): below, at and above zero, each below, at and above M (M ≥ 0)
_CASES = [(e, m) for m in (0, 5, 100) for e in (-101, -1, 0, 1, 4, 5, 6, 99, 100, 101)]
_FLAGS = list(itertools.product((False, True), repeat=3))  # system, margin-called, insolvent


def _engine_reference() -> list[tuple[int, bool, bool]]:
    """``Engine.margin_calls`` on one sub-account per case: (flags, called, insolvent) after it."""
    rows = [(eq, mm, system, called, ins) for eq, mm in _CASES for system, called, ins in _FLAGS]
    e = Engine()
    e.apply(genesis(ts=0))
    first = e._add_subs([(SubAccountId(f"t{k}", "main"), MarginMode.CROSS, None, r[2]) for k, r in enumerate(rows)])
    subs = np.arange(first, first + len(rows), dtype=np.int64)
    for s, (eq, mm, _system, called, ins) in zip(subs.tolist(), rows, strict=True):
        e.ledger.sub_cash[s] = eq  # no positions, cost or collateral: equity is the cash
        e.sub_mm[s] = mm
        e.margin_called[s] = called
        if ins:
            e.insolvent.add(s)
    before_called = e.margin_called[subs].copy()
    before_ins = e.insolvent.mask(len(e.subs))[subs].copy()
    effects = e.margin_calls(subs)
    newly = {x["subaccount"] for x in effects if x["kind"] == "MarginCall"}
    out = []
    for k, s in enumerate(subs.tolist()):
        called, ins = bool(e.margin_called[s]), s in e.insolvent
        f = (1 if str(e.subs[s].id) in newly else 0) | (2 if ins and not before_ins[k] else 0) | (4 if before_ins[k] and not ins else 0)
        assert called or not before_called[k]  # a call is never withdrawn here
        out.append((f, called, ins))
    return out


def test_the_compiled_transition_and_its_python_twin_equal_the_engines_rule():
    expected = _engine_reference()
    k = 0
    seen = set()
    for eq, mm in _CASES:
        for system, called, ins in _FLAGS:
            got = call_transition(np.int64(eq), np.int64(mm), system, called, ins)
            twin = call_transition.py_func(eq, mm, system, called, ins)
            assert (int(got[0]), bool(got[1]), bool(got[2])) == expected[k] == twin, (eq, mm, system, called, ins)
            seen.add(expected[k][0])
            k += 1
    # every outcome met: 3 a fresh call into insolvency, 5 a fresh call of a sub-account whose equity came back to ≥ 0
    assert seen == {0, 1, 2, 3, 4, 5}
