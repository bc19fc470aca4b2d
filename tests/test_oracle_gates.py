"""Oracle gates: a table of readings × policies → blocked actions, the mark-price guard, the
oracle/TWAP divergence (blocks liquidation, not margin checks), the confidence add-on rounding,
the canonical policy form, and bad input.

Index lot price 100,000 unless stated; times in ns (``S`` = one second).
"""

from __future__ import annotations

import json
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ramparts.errors import InvalidInput, Rejected
from ramparts.oracle.aggregate import IndexReading
from ramparts.oracle.gates import ACTIONS, DEFAULT_BLOCKS, GATES, GatePolicy, confidence_addon, evaluate

S = 10**9


def reading(price=100_000, conf=50, n_valid=3, valid=True, ts=100 * S, oldest=99 * S, rejected=None):
    return IndexReading(
        price=price,
        conf=conf,
        n_valid=n_valid if price is not None else 0,
        rejected=rejected or {},
        valid=valid,
        reason="ok" if valid else "too_few_sources",
        ts_ns=ts,
        oldest_ts_ns=oldest if price is not None else None,
    )


POLICY = GatePolicy(
    min_sources=3,
    max_staleness_ns=5 * S,
    max_conf_ppm=2_000,  # 0.2 %: 200 at 100,000
    max_mark_divergence_ppm=10_000,  # 1 %: 1,000
    max_twap_divergence_ppm=50_000,  # 5 %: of the TWAP
)
NONE: set[str] = set()
ALL = set(ACTIONS)
EXTRACT = {"funding", "withdrawal", "risk_increasing_fill"}

CASES = [
    # (name, reading, mark, twap, now, policy, tripped gates, blocked actions)
    ("all fine", reading(), 100_500, 101_000, None, POLICY, set(), NONE),
    ("too few sources: everything blocked", reading(n_valid=2, valid=False), None, None, None, POLICY, {"min_sources"}, ALL),
    ("valid but fewer than the policy wants", reading(n_valid=2), None, None, None, POLICY, {"min_sources"}, ALL),
    ("stale at use time: 6 s after the oldest source", reading(), None, None, 105 * S, POLICY, {"stale"}, EXTRACT),
    ("exactly at the staleness limit is fresh", reading(), None, None, 104 * S, POLICY, set(), NONE),
    ("wide confidence (201 > 200) blocks extraction, not liquidation", reading(conf=201), None, None, None, POLICY, {"confidence"}, EXTRACT),
    ("confidence at the limit passes", reading(conf=200), None, None, None, POLICY, set(), NONE),
    (
        "wide confidence with a policy that also blocks margin checks",
        reading(conf=201),
        None,
        None,
        None,
        GatePolicy(max_conf_ppm=2_000, blocks={"confidence": ["margin_check", "liquidation"]}),
        {"confidence"},
        {"margin_check", "liquidation"},
    ),
    ("mark guard: mark 1.01 % above the index", reading(), 101_001, None, None, POLICY, {"mark_divergence"}, {"funding", "risk_increasing_fill"}),
    ("mark guard: mark 1.01 % below", reading(), 98_999, None, None, POLICY, {"mark_divergence"}, {"funding", "risk_increasing_fill"}),
    ("mark guard: exactly 1 % passes", reading(), 101_000, None, None, POLICY, set(), NONE),
    ("TWAP divergence blocks liquidation, not margin checks", reading(), None, 95_000, None, POLICY, {"twap_divergence"}, {"liquidation", "withdrawal"}),
    ("TWAP divergence is relative to the TWAP: 4,761/95,239 < 5 %", reading(), None, 95_239, None, POLICY, set(), NONE),
    (
        "TWAP divergence with a policy that blocks only liquidation",
        reading(),
        None,
        120_000,
        None,
        GatePolicy(max_twap_divergence_ppm=50_000, blocks={"twap_divergence": ["liquidation"]}),
        {"twap_divergence"},
        {"liquidation"},
    ),
    ("no TWAP yet: the gate is skipped", reading(), None, None, None, POLICY, set(), NONE),
    (
        "no price at all: every price gate trips",
        reading(price=None, valid=False),
        100_000,
        100_000,
        None,
        POLICY,
        {"min_sources", "stale", "confidence", "mark_divergence", "twap_divergence"},
        ALL,
    ),
    (
        "several gates: blocked lists union, each action names its gates",
        reading(conf=500),
        102_000,
        80_000,
        None,
        POLICY,
        {"confidence", "mark_divergence", "twap_divergence"},
        {"funding", "withdrawal", "risk_increasing_fill", "liquidation"},
    ),
    ("disabled gates never trip", reading(conf=99_000), 200_000, 10_000, 10**6 * S, GatePolicy(), set(), NONE),
    (
        "a gate made informational blocks nothing",
        reading(conf=201),
        None,
        None,
        None,
        GatePolicy(max_conf_ppm=2_000, blocks={"confidence": []}),
        {"confidence"},
        NONE,
    ),
]


@pytest.mark.parametrize("name,rd,mark,twap,now,policy,tripped,blocked", CASES, ids=[c[0] for c in CASES])
def test_gate_table(name, rd, mark, twap, now, policy, tripped, blocked):
    d = evaluate(rd, mark, twap, policy, now_ns=now)
    assert set(d.tripped) == tripped
    assert set(d.blocked) == blocked
    assert list(d.tripped) == [g for g in GATES if g in tripped]
    assert list(d.blocked) == [a for a in ACTIONS if a in blocked]
    for a in ACTIONS:
        assert d.allows(a) == (a not in blocked)
        assert set(d.blocked.get(a, ())) == {g for g in tripped if a in policy.blocks[g]}
    assert d.ok == (not tripped)


def test_require_raises_rejected_with_the_reasons():
    d = evaluate(reading(), None, 95_000, POLICY)
    d.require("margin_check")
    with pytest.raises(Rejected) as e:
        d.require("liquidation")
    assert e.value.reason == "oracle_gate"
    assert "twap_divergence" in e.value.message and "95000" in e.value.message


def test_default_blocks_follow_drift():
    assert DEFAULT_BLOCKS["min_sources"] == frozenset(ACTIONS)
    assert "liquidation" in DEFAULT_BLOCKS["twap_divergence"] and "margin_check" not in DEFAULT_BLOCKS["twap_divergence"]
    for g in ("stale", "confidence"):
        assert "liquidation" not in DEFAULT_BLOCKS[g] and "withdrawal" in DEFAULT_BLOCKS[g]


@given(
    price=st.integers(1, 10**12),
    other=st.integers(1, 10**12),
    limit=st.integers(0, 10**6),
    tighter=st.integers(0, 10**6),
)
@settings(max_examples=200, deadline=None)
def test_tighter_limits_never_unblock(price, other, limit, tighter):
    lo, hi = sorted((limit, tighter))
    rd = reading(price=price, conf=other % (10 * price + 1))
    loose = evaluate(rd, other, other, GatePolicy(max_conf_ppm=hi, max_mark_divergence_ppm=hi, max_twap_divergence_ppm=hi))
    tight = evaluate(rd, other, other, GatePolicy(max_conf_ppm=lo, max_mark_divergence_ppm=lo, max_twap_divergence_ppm=lo))
    assert set(loose.tripped) <= set(tight.tripped)
    # exactness of the mark guard
    assert ("mark_divergence" in tight.tripped) == (Fraction(abs(other - price), price) > Fraction(lo, 10**6))


# ---------------------------------------------------------------------------- confidence add-on

ADDON_CASES = [
    # (price, conf, notional, multiplier, expected, working)
    (100_000, 50, 1_000_000, 10**6, 500, "exact: 1e6 · 50 / 1e5"),
    (3_000, 7, 1_000_000, 10**6, 2_334, "2,333.3… rounds up"),
    (3_000, 7, 1_000_000, 2 * 10**6, 4_667, "twice the interval: 4,666.6… up"),
    (3_000, 0, 1_000_000, 10**6, 0, "no uncertainty"),
    (3_000, 7, 0, 10**6, 0, "no notional"),
    (3, 1, 1, 10**6, 1, "a third of a unit rounds up to one"),
]


@pytest.mark.parametrize("price,conf,notional,mult,expected,working", ADDON_CASES, ids=[c[5] for c in ADDON_CASES])
def test_confidence_addon_rounds_up(price, conf, notional, mult, expected, working):
    assert confidence_addon(reading(price=price, conf=conf), notional, multiplier_ppm=mult) == expected


@given(price=st.integers(1, 10**12), conf=st.integers(0, 10**12), notional=st.integers(0, 4 * 10**15))
@settings(max_examples=200, deadline=None)
def test_confidence_addon_is_the_ceiling(price, conf, notional):
    a = confidence_addon(reading(price=price, conf=conf), notional)
    exact = Fraction(notional * conf, price)
    assert exact <= a < exact + 1


def test_confidence_addon_vectorised_matches_scalar():
    rd = reading(price=3_000, conf=7)
    notionals = np.array([0, 1, 2_999, 1_000_000, 4 * 10**15], dtype=np.int64)
    out = confidence_addon(rd, notionals)
    assert out.dtype == np.int64 and out.tolist() == [confidence_addon(rd, int(n)) for n in notionals]


def test_confidence_addon_without_a_price_is_rejected():
    with pytest.raises(Rejected, match="oracle_invalid"):
        confidence_addon(reading(price=None, valid=False), 1_000)


# ------------------------------------------------------------------------- policy and bad input


def test_policy_round_trip():
    p = GatePolicy(min_sources=2, max_conf_ppm=100, blocks={"stale": ["withdrawal", "funding"]})
    d = p.to_dict()
    assert list(d["blocks"]) == list(GATES) and d["blocks"]["stale"] == ["funding", "withdrawal"]
    again = GatePolicy.from_dict(json.loads(json.dumps(d)))
    assert again == p and again.to_dict() == d
    assert p.blocked_by("twap_divergence") == DEFAULT_BLOCKS["twap_divergence"]


BAD = [
    ("NaN mark", lambda: evaluate(reading(), float("nan"), None, POLICY), InvalidInput, "mark"),
    ("negative mark", lambda: evaluate(reading(), -1, None, POLICY), InvalidInput, "mark"),
    ("negative TWAP", lambda: evaluate(reading(), None, -5, POLICY), InvalidInput, "twap"),
    ("zero TWAP", lambda: evaluate(reading(), None, 0, POLICY), InvalidInput, "twap"),
    ("used before it was read", lambda: evaluate(reading(), None, None, POLICY, now_ns=99 * S), InvalidInput, "now_ns"),
    ("not a reading", lambda: evaluate({"price": 1}, None, None, POLICY), InvalidInput, "reading"),
    ("not a policy", lambda: evaluate(reading(), None, None, {}), InvalidInput, "policy"),
    ("unknown gate", lambda: GatePolicy(blocks={"volatility": ["funding"]}), InvalidInput, "policy.blocks"),
    ("unknown action", lambda: GatePolicy(blocks={"stale": ["trading"]}), InvalidInput, "policy.blocks.stale"),
    ("actions as a string", lambda: GatePolicy(blocks={"stale": "funding"}), InvalidInput, "policy.blocks.stale"),
    ("negative threshold", lambda: GatePolicy(max_conf_ppm=-1), InvalidInput, "policy.max_conf_ppm"),
    ("NaN threshold", lambda: GatePolicy(max_mark_divergence_ppm=float("nan")), InvalidInput, "policy.max_mark_divergence_ppm"),
    ("zero min sources", lambda: GatePolicy(min_sources=0), InvalidInput, "policy.min_sources"),
    ("unknown policy key", lambda: GatePolicy.from_dict({"max_conf": 1}), InvalidInput, "policy"),
    ("unknown action queried", lambda: evaluate(reading(), None, None, POLICY).allows("trade"), InvalidInput, "action"),
    ("negative notional", lambda: confidence_addon(reading(), -1), InvalidInput, "notional"),
    ("float notional", lambda: confidence_addon(reading(), 1.5), InvalidInput, "notional"),
    ("float notional array", lambda: confidence_addon(reading(), np.array([1.0])), InvalidInput, "notional"),
    ("negative multiplier", lambda: confidence_addon(reading(), 1, multiplier_ppm=-1), InvalidInput, "multiplier_ppm"),
]


@pytest.mark.parametrize("name,call,exc,field", BAD, ids=[c[0] for c in BAD])
def test_bad_input(name, call, exc, field):
    with pytest.raises(exc) as e:
        call()
    assert e.value.field == field
