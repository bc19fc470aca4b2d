"""Mark price models: hand-worked EMA steps (table-driven), the clamp, decay without a book, the
deterministic integer alpha, the canonical form and bad input.

Times are ns (``S`` = one second). Index lot price 1,000,000 throughout unless stated; the basis
cap 1 % is then 10,000.
"""

from __future__ import annotations

import json

import pytest

from ramparts.errors import InvalidInput
from ramparts.oracle.mark import ClampedBasisEMAMark, IndexMark, MarkModel, MarkState, mark_model_from_dict

S = 10**9
EMA = ClampedBasisEMAMark(half_life_seconds=60, basis_cap_ppm=10_000)

ALPHA_CASES = [
    # (elapsed seconds, alpha ppm, working: 1 − 2^(−Δt/60))
    (0, 0, "no time, no weight"),
    (1, 11_486, "1 − 2^(−1/60) = 0.0114858…"),
    (10, 109_101, "1 − 2^(−1/6) = 0.1091012…"),
    (30, 292_893, "1 − 2^(−1/2) = 0.2928932…"),
    (60, 500_000, "one half-life"),
    (120, 750_000, "two half-lives"),
    (600, 999_023, "1 − 2^(−10) = 0.9990234…"),
    (1_260, 1_000_000, "21 half-lives: 1 − 4.8e-7 rounds to 1"),
    (10**6, 1_000_000, "long gap"),
]


@pytest.mark.parametrize("seconds,alpha,working", ALPHA_CASES, ids=[c[2] for c in ALPHA_CASES])
def test_alpha_ppm(seconds, alpha, working):
    assert EMA.alpha_ppm(seconds * S) == alpha


def test_alpha_agrees_with_floating_point_away_from_ties():
    for dt in range(0, 3_600 * S, 7_919 * 10**6):
        exact = 1e6 * (1 - 2 ** (-dt / (60 * S)))
        if abs(exact - round(exact) - 0.5) > 1e-6 and abs(exact - round(exact) + 0.5) > 1e-6:
            assert EMA.alpha_ppm(dt) == round(exact)


STEPS = [
    # (ts, index, book, expected mark, expected ema, working)
    (0, 1_000_000, 1_001_000, 1_000_000, 0, "first update: the EMA starts at 0, mark = index"),
    (60 * S, 1_000_000, 1_001_000, 1_000_500, 500, "one half-life: (0 + 1,000)/2"),
    (60 * S, 1_000_000, 1_001_000, 1_000_500, 500, "same instant again: alpha 0, unchanged"),
    (120 * S, 1_000_000, 1_001_000, 1_000_750, 750, "(500 + 1,000)/2"),
    (240 * S, 1_000_000, None, 1_000_188, 188, "no book for two half-lives: 750/4 = 187.5 → 188 (half-even)"),
    (300 * S, 1_000_000, None, 1_000_094, 94, "188/2"),
    (330 * S, 2_000_000, 1_990_000, 1_997_138, -2_862, "index doubles, basis −10,000: (94 × 707,107 − 10,000 × 292,893)/1e6 = −2,862.46"),
    (330 * S + 64 * 60 * S, 1_000_000, 1_100_000, 1_010_000, 100_000, "long gap: EMA = basis 100,000, clamped to +1 %"),
    (330 * S + 128 * 60 * S, 1_000_000, 800_000, 990_000, -200_000, "EMA −200,000, clamped to −1 %"),
    (330 * S + 128 * 60 * S + 60 * S, 1_000_000, None, 990_000, -100_000, "decaying: −100,000, still clamped"),
    (330 * S + 128 * 60 * S + 300 * S, 1_000_000, None, 993_750, -6_250, "four half-lives more: −100,000/16, inside the cap"),
]


def test_clamped_basis_ema_steps():
    state = None
    for ts, index, book, mark, ema, working in STEPS:
        new = EMA.update(state, index, book, ts)
        assert (new.mark, new.ema_basis, new.last_ts) == (mark, ema, ts), working
        state = new


def test_negative_basis_decays_symmetrically():
    up = EMA.update(MarkState(1_000_750, 750, 0), 1_000_000, None, 120 * S)
    down = EMA.update(MarkState(999_250, -750, 0), 1_000_000, None, 120 * S)
    assert (up.ema_basis, down.ema_basis) == (188, -188)


def test_zero_cap_pins_the_mark_to_the_index():
    m = ClampedBasisEMAMark(half_life_seconds=1, basis_cap_ppm=0)
    s = m.update(None, 1_000, 2_000, 0)
    s = m.update(s, 1_000, 2_000, 100 * S)
    assert (s.mark, s.ema_basis) == (1_000, 1_000)


def test_cap_rounds_toward_the_index():
    m = ClampedBasisEMAMark(half_life_seconds=1, basis_cap_ppm=333_333)
    s = m.update(MarkState(10, 0, 0), 10, 1, 100 * S)  # basis −9, cap ⌊10 × 0.333333⌋ = 3
    assert (s.mark, s.ema_basis) == (7, -9)


def test_index_mark():
    m = IndexMark()
    s = m.update(None, 5_000, 6_000, 3)
    assert s == MarkState(5_000, 0, 3)
    assert m.update(s, 4_000, None, 1) == MarkState(4_000, 0, 1)  # does not use time


def test_update_is_pure_and_deterministic():
    s0 = MarkState(1_000_000, 400, 0)
    a = EMA.update(s0, 1_000_000, 1_003_000, 17 * S)
    b = EMA.update(s0, 1_000_000, 1_003_000, 17 * S)
    assert a == b and hash(a) == hash(b) and s0 == MarkState(1_000_000, 400, 0)
    assert all(type(v) is int for v in (a.mark, a.ema_basis, a.last_ts))


def test_protocol_and_canonical_form():
    for m in (IndexMark(), EMA):
        assert isinstance(m, MarkModel)
        d = json.loads(json.dumps(m.to_dict()))
        assert mark_model_from_dict(d) == m
    assert EMA.to_dict() == {"model": "clamped_basis_ema", "half_life_seconds": 60, "basis_cap_ppm": 10_000}


BAD_DICTS = [
    ({"model": "vwap"}, "mark.model"),
    ({}, "mark.model"),
    ("index", "mark"),
    ({"model": "index", "x": 1}, "mark"),
    ({"model": "clamped_basis_ema", "half_life_seconds": 60}, "mark.basis_cap_ppm"),
    ({"model": "clamped_basis_ema", "half_life_seconds": 0, "basis_cap_ppm": 1}, "mark.half_life_seconds"),
    ({"model": "clamped_basis_ema", "half_life_seconds": 1.5, "basis_cap_ppm": 1}, "mark.half_life_seconds"),
    ({"model": "clamped_basis_ema", "half_life_seconds": 60, "basis_cap_ppm": 1_000_000}, "mark.basis_cap_ppm"),
    ({"model": "clamped_basis_ema", "half_life_seconds": 60, "basis_cap_ppm": -1}, "mark.basis_cap_ppm"),
    ({"model": "clamped_basis_ema", "half_life_seconds": True, "basis_cap_ppm": 1}, "mark.half_life_seconds"),
]


@pytest.mark.parametrize("d,field", BAD_DICTS, ids=[f"{i}:{c[1]}" for i, c in enumerate(BAD_DICTS)])
def test_bad_model_dict(d, field):
    with pytest.raises(InvalidInput) as err:
        mark_model_from_dict(d)
    assert err.value.field == field


BAD_UPDATES = [
    (dict(index_price=0), "price"),
    (dict(index_price=-1), "price"),
    (dict(index_price=1.5), "price"),
    (dict(book_price=0), "book_price"),
    (dict(book_price="5"), "book_price"),
    (dict(ts=5 * S - 1), "ts"),
    (dict(ts=None), "ts"),
    (dict(state=(1, 2, 3)), "mark_state"),
]


@pytest.mark.parametrize("override,field", BAD_UPDATES, ids=[f"{i}:{c[1]}" for i, c in enumerate(BAD_UPDATES)])
def test_bad_update(override, field):
    args = dict(state=MarkState(1_000, 0, 5 * S), index_price=1_000, book_price=1_001, ts=6 * S)
    args.update(override)
    with pytest.raises(InvalidInput) as err:
        EMA.update(**args)
    assert err.value.field == field
