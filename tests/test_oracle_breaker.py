"""Circuit breakers: trips on a price move inside the window (scripted scenarios), automatic reset
after the cool-down, manual reset, scope per instrument and venue, serialisation and replay,
properties over random price paths, and bad input.

Times in ns (``S`` = one second).
"""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ramparts.engine.events import canonical_json
from ramparts.errors import InvalidInput, Rejected
from ramparts.oracle.breaker import BreakerRule, CircuitBreakers

S = 10**9
MOVE = BreakerRule("btc-move", "price_move", "BTC-PERP", move_ppm=100_000, window_ns=60 * S, cooldown_ns=30 * S)
ORACLE = BreakerRule("btc-oracle", "oracle_invalid", "BTC-PERP", cooldown_ns=10 * S)
INSOLVENT = BreakerRule("venue-insolvent", "insolvency", cooldown_ns=0)
FUND = BreakerRule("venue-fund", "insurance_low", threshold=1_000_000, cooldown_ns=60 * S, auto_reset=False)
CB = CircuitBreakers((MOVE, ORACLE, INSOLVENT, FUND))


def run(cb, script):
    """Apply ``(ts, instrument, kwargs)`` observations; return the state and the effects per step."""
    s, out = cb.initial_state(), []
    for ts, inst, kw in script:
        s, fx = cb.observe(s, ts, inst, **kw) if kw is not None else cb.tick(s, ts)
        out.append([(e["kind"], e["breaker"]) for e in fx])
    return s, out


MOVE_SCENARIOS = [
    # (name, [(ts seconds, price)], expected effects per step, tripped at the end)
    ("−12 % inside 60 s trips", [(0, 1_000), (10, 880)], [[], [("BreakerTripped", "btc-move")]], True),
    ("+11 % inside 60 s trips", [(0, 1_000), (59, 1_110)], [[], [("BreakerTripped", "btc-move")]], True),
    ("exactly −10 % does not trip", [(0, 1_000), (10, 900)], [[], []], False),
    ("+10 % of the lower price: 900 → 990 does not", [(0, 900), (10, 990)], [[], []], False),
    ("the same −12 % over 61 s does not", [(0, 1_000), (61, 880)], [[], []], False),
    ("a slow slide in 5 % steps never trips", [(0, 1_000), (40, 950), (80, 903), (120, 858)], [[], [], [], []], False),
    (
        "two 6 % steps inside the window trip on the second",
        [(0, 1_000), (20, 940), (40, 880)],
        [[], [], [("BreakerTripped", "btc-move")]],
        True,
    ),
    (
        "auto reset: clear at 71 s (1,000 left the window), 30 s cool-down",
        [(0, 1_000), (10, 880), (71, 880), (100, 880), (101, 880)],
        [[], [("BreakerTripped", "btc-move")], [], [], [("BreakerReset", "btc-move")]],
        False,
    ),
    (
        "a new move during the cool-down restarts it",
        # 1,000 at 90 s re-creates a 13.6 % move against the 880 of 71 s, which leaves the window
        # after 131 s: clear again from 132 s, reset 30 s later
        [(0, 1_000), (10, 880), (71, 880), (90, 1_000), (131, 1_000), (132, 1_000), (161, 1_000), (162, 1_000)],
        [[], [("BreakerTripped", "btc-move")], [], [], [], [], [], [("BreakerReset", "btc-move")]],
        False,
    ),
    (
        "trips again after a reset",
        [(0, 1_000), (10, 880), (71, 880), (101, 880), (110, 1_000)],
        [[], [("BreakerTripped", "btc-move")], [], [("BreakerReset", "btc-move")], [("BreakerTripped", "btc-move")]],
        True,
    ),
]


@pytest.mark.parametrize("name,path,effects,tripped", MOVE_SCENARIOS, ids=[c[0] for c in MOVE_SCENARIOS])
def test_price_move_scenarios(name, path, effects, tripped):
    s, out = run(CB, [(t * S, "BTC-PERP", {"price": p}) for t, p in path])
    assert out == effects
    assert s["btc-move"].tripped == tripped
    assert CB.is_paused(s, "BTC-PERP", "risk_increasing_fill") == tripped
    assert not CB.is_paused(s, "BTC-PERP", "liquidation")


def test_tick_resets_without_observations():
    s, _ = run(CB, [(0, "BTC-PERP", {"price": 1_000}), (10 * S, "BTC-PERP", {"price": 880}), (71 * S, "BTC-PERP", {"price": 880})])
    s1, fx = CB.tick(s, 100 * S)
    assert fx == [] and s1["btc-move"].tripped
    s2, fx = CB.tick(s1, 101 * S)
    assert [e["kind"] for e in fx] == ["BreakerReset"] and not s2["btc-move"].tripped
    assert fx[0] == {
        "kind": "BreakerReset",
        "breaker": "btc-move",
        "instrument": "BTC-PERP",
        "layer": "oracle",
        "trigger": "price_move",
        "ts": 101 * S,
        "mode": "auto",
        "tripped_at": 10 * S,
        "by": None,
    }
    assert s2["btc-move"].trips == 1


def test_trip_effect_is_journal_ready():
    _, fx = CB.observe(CB.initial_state(), 0, "BTC-PERP", price=1_000)
    s, fx = CB.observe(_, 10 * S, "BTC-PERP", price=880)
    assert fx == [
        {
            "kind": "BreakerTripped",
            "breaker": "btc-move",
            "instrument": "BTC-PERP",
            "layer": "oracle",
            "trigger": "price_move",
            "ts": 10 * S,
            "reason": f"price 880 moved 120000 ppm from 1000 within {60 * S} ns (limit 100000)",
            "pauses": ["risk_increasing_fill"],
        }
    ]
    canonical_json(fx)  # JSON-able


def test_manual_reset_and_rebased_window():
    s, _ = run(CB, [(0, "BTC-PERP", {"price": 1_000}), (10 * S, "BTC-PERP", {"price": 880})])
    s, fx = CB.reset(s, "btc-move", 20 * S, by="alice")
    assert [(e["kind"], e["mode"], e["by"]) for e in fx] == [("BreakerReset", "manual", "alice")]
    assert not s["btc-move"].tripped and s["btc-move"].window == ((10 * S, 880),)
    s, fx = CB.observe(s, 30 * S, "BTC-PERP", price=885)  # the old 1,000 is forgotten: no re-trip
    assert fx == [] and not CB.is_paused(s, "BTC-PERP", "risk_increasing_fill")
    with pytest.raises(Rejected, match="not tripped"):
        CB.reset(s, "btc-move", 40 * S)


def test_manual_only_breaker_needs_an_operator():
    s, fx = CB.observe(CB.initial_state(), 0, "*", insurance_fund=999_999)
    assert [e["kind"] for e in fx] == ["BreakerTripped"]
    s, fx = CB.observe(s, 10 * S, "*", insurance_fund=5_000_000)
    s, fx = CB.tick(s, 10**6 * S)
    assert fx == [] and s["venue-fund"].tripped  # auto_reset=False
    s, fx = CB.reset(s, "venue-fund", 10**6 * S)
    assert [(e["kind"], e["mode"]) for e in fx] == [("BreakerReset", "manual")]


def test_oracle_invalid_pauses_liquidations_of_its_instrument_only():
    s, fx = CB.observe(CB.initial_state(), 0, "BTC-PERP", oracle_valid=False)
    assert [e["breaker"] for e in fx] == ["btc-oracle"]
    assert CB.is_paused(s, "BTC-PERP", "liquidation") and CB.is_paused(s, "BTC-PERP", "risk_increasing_fill")
    assert not CB.is_paused(s, "ETH-PERP", "liquidation")
    with pytest.raises(Rejected) as e:
        CB.check(s, "BTC-PERP", "liquidation")
    assert e.value.reason == "circuit_breaker" and "btc-oracle" in e.value.message
    CB.check(s, "ETH-PERP", "liquidation")
    s, fx = CB.observe(s, 5 * S, "BTC-PERP", oracle_valid=True)
    assert fx == [] and s["btc-oracle"].clear_since == 5 * S
    s, fx = CB.observe(s, 15 * S, "BTC-PERP", oracle_valid=True)
    assert [e["kind"] for e in fx] == ["BreakerReset"]


def test_venue_insolvency_pauses_withdrawals_everywhere_and_resets_at_once():
    s, fx = CB.observe(CB.initial_state(), 0, "*", insolvent=True)
    assert [e["breaker"] for e in fx] == ["venue-insolvent"]
    for inst in ("BTC-PERP", "ETH-PERP"):
        assert CB.paused_by(s, inst, "withdrawal") == ("venue-insolvent",)
    s, fx = CB.observe(s, 1, "*", insolvent=False)  # cool-down 0: reset in the same step
    assert [e["kind"] for e in fx] == ["BreakerReset"] and not CB.is_paused(s, "BTC-PERP", "withdrawal")


def test_observations_only_feed_their_instrument():
    s, fx = CB.observe(CB.initial_state(), 0, "ETH-PERP", price=1_000, oracle_valid=False, insolvent=True)
    assert fx == [] and s.rules == CB.initial_state().rules


def test_serialisation_round_trip_and_replay():
    script = [
        (0, "BTC-PERP", {"price": 1_000}),
        (10 * S, "BTC-PERP", {"price": 880, "oracle_valid": False}),
        (11 * S, "*", {"insurance_fund": 10}),
    ]
    s, _ = run(CB, script)
    cfg = CircuitBreakers.from_dict(json.loads(json.dumps(CB.to_dict())))
    assert cfg == CB
    text = canonical_json(s.to_dict())
    restored = cfg.state_from_dict(json.loads(text))
    assert restored == s and canonical_json(restored.to_dict()) == text
    tail = [(71 * S, "BTC-PERP", {"price": 880, "oracle_valid": True}), (200 * S, "*", {"insurance_fund": 10**9})]
    a, b = s, restored
    for ts, inst, kw in tail:
        a, fa = CB.observe(a, ts, inst, **kw)
        b, fb = cfg.observe(b, ts, inst, **kw)
        assert fa == fb
    assert a == b


@given(
    path=st.lists(st.tuples(st.integers(0, 20 * S), st.integers(500, 1_500)), min_size=1, max_size=40),
    cut=st.integers(0, 40),
)
@settings(max_examples=150, deadline=None)
def test_random_paths(path, cut):
    s, ts, hist, kinds = CB.initial_state(), 0, [], []
    for i, (dt, p) in enumerate(path):
        if i == cut:  # a snapshot and restore in the middle changes nothing
            s = CB.state_from_dict(json.loads(canonical_json(s.to_dict())))
        ts += dt
        s, fx = CB.observe(s, ts, "BTC-PERP", price=p)
        kinds += [e["kind"] for e in fx]
        hist.append((ts, p))
        window = [q for t, q in hist if t >= ts - MOVE.window_ns]
        moved = any(abs(p - q) * 10**6 > MOVE.move_ppm * q for q in window)
        if moved:
            assert s["btc-move"].tripped  # a move inside the window always leaves it tripped
        if not s["btc-move"].tripped:
            assert not moved
    # trips and resets alternate, starting with a trip
    assert all(k == ("BreakerTripped" if i % 2 == 0 else "BreakerReset") for i, k in enumerate(kinds))
    assert s["btc-move"].trips == kinds.count("BreakerTripped")


BAD = [
    ("time going backwards", lambda s: CB.observe(CB.observe(s, 10, "*", insolvent=False)[0], 9, "*", insolvent=False), "now_ns"),
    ("NaN price", lambda s: CB.observe(s, 0, "BTC-PERP", price=float("nan")), "price"),
    ("negative price", lambda s: CB.observe(s, 0, "BTC-PERP", price=-1), "price"),
    ("validity not a bool", lambda s: CB.observe(s, 0, "BTC-PERP", oracle_valid=1), "oracle_valid"),
    ("empty instrument", lambda s: CB.observe(s, 0, "", price=1), "instrument"),
    ("unknown breaker reset", lambda s: CB.reset(s, "nope", 0), "breaker"),
    ("unknown action", lambda s: CB.is_paused(s, "BTC-PERP", "trade"), "action"),
    ("foreign state", lambda s: CB.observe(CircuitBreakers((ORACLE,)).initial_state(), 0, "*"), "breaker_state"),
    ("state rules mismatch", lambda s: CB.state_from_dict({"last_ts": None, "rules": {}}), "breaker_state.rules"),
]


@pytest.mark.parametrize("name,call,field", BAD, ids=[c[0] for c in BAD])
def test_bad_input(name, call, field):
    s = CB.initial_state()
    before = canonical_json(s.to_dict())
    with pytest.raises(InvalidInput) as e:
        call(s)
    assert e.value.field == field
    assert canonical_json(s.to_dict()) == before


BAD_RULES = [
    ("unknown trigger", dict(name="x", trigger="volume"), "breaker[x].trigger"),
    ("move without a window", dict(name="x", trigger="price_move", move_ppm=1), "breaker[x].window_ns"),
    ("threshold on a move rule", dict(name="x", trigger="price_move", move_ppm=1, window_ns=1, threshold=5), "breaker[x].threshold"),
    ("insurance rule without threshold", dict(name="x", trigger="insurance_low"), "breaker[x].threshold"),
    ("unknown action", dict(name="x", trigger="insolvency", pauses=["trade"]), "breaker[x].pauses"),
    ("unknown layer", dict(name="x", trigger="insolvency", layer="kernel"), "breaker[x].layer"),
    ("negative cool-down", dict(name="x", trigger="insolvency", cooldown_ns=-1), "breaker[x].cooldown_ns"),
    ("NaN move", dict(name="x", trigger="price_move", move_ppm=float("nan"), window_ns=1), "breaker[x].move_ppm"),
    ("auto_reset not a bool", dict(name="x", trigger="insolvency", auto_reset="yes"), "breaker[x].auto_reset"),
    ("empty name", dict(name="", trigger="insolvency"), "breaker.name"),
]


@pytest.mark.parametrize("name,kw,field", BAD_RULES, ids=[c[0] for c in BAD_RULES])
def test_bad_rules(name, kw, field):
    with pytest.raises(InvalidInput) as e:
        BreakerRule(**kw)
    assert e.value.field == field


def test_duplicate_rule_names():
    with pytest.raises(InvalidInput, match="duplicate"):
        CircuitBreakers((ORACLE, ORACLE))
