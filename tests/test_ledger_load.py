"""Ledger.load, the one-pass restore of a snapshot's balances: equal to the postings that made them, and every
malformed table refused before anything is written."""

from __future__ import annotations

import random

import numpy as np
import pytest

from ramparts.fixedpoint import MAX_BALANCE
from ramparts.ledger.ledger import Ledger, _canonical_order


def _posted(seed: int, subs: int = 6) -> Ledger:
    """A ledger made by random balanced postings over sub-accounts, venue accounts and a second asset."""
    rng = random.Random(seed)
    led = Ledger("USDC")
    for _ in range(subs):
        led.add_sub()
    keys = [*range(subs), "external", "fees", "insurance:global", "vm:BTC-PERP", "liquidator:k1"]
    for _ in range(60):
        asset = rng.choice(["USDC", "USDC", "ETH", "ZRX"])  # assets sorting before and after the settlement asset
        a, b = rng.sample(keys, 2)
        led.transfer(asset, a, b, rng.randrange(0, 10**9))
    return led


@pytest.mark.parametrize("seed", range(8))
def test_load_reproduces_the_postings(seed):
    src = _posted(seed)
    dst = Ledger("USDC")
    assert dst.add_subs(src.n_subs) == 0
    dst.load([list(r) for r in src.items()])
    rows = list(src.items())
    assert rows == sorted(rows, key=_canonical_order)  # the canonical order, which the state hash reads
    assert {r[0] for r in rows} == {"ETH", "USDC", "ZRX"} and any(isinstance(r[1], int) and r[0] != "USDC" for r in rows)
    assert list(dst.items()) == rows
    assert np.array_equal(dst.sub_cash[: src.n_subs], src.sub_cash[: src.n_subs])
    for asset in ("USDC", "ETH", "ZRX"):
        assert dst.totals(asset) == src.totals(asset)


BAD = [
    ("unbalanced", lambda rows: rows[0].__setitem__(2, rows[0][2] + 1), "does not balance"),
    ("unknown sub-account", lambda rows: rows.append(["USDC", 99, 0]), "names no sub-account"),
    ("negative index", lambda rows: rows.append(["USDC", -1, 0]), "names no sub-account"),
    ("float amount", lambda rows: rows.append(["USDC", "fees", 0.0]), "not an amount"),
    ("overflow", lambda rows: rows.extend([["USDC", "fees", MAX_BALANCE + 1], ["USDC", "external", -MAX_BALANCE - 1]]), "not an amount"),
    ("repeated venue balance", lambda rows: rows.extend([["ETH", "fees", 5], ["ETH", "fees", -5]]), "repeats a balance"),
    ("repeated sub balance", lambda rows: rows.extend([["USDC", 0, 5], ["USDC", 0, -5]]), "appears twice"),
    ("bad key", lambda rows: rows.append(["USDC", 1.5, 0]), "no valid key"),
]


@pytest.mark.parametrize("name,spoil,match", BAD, ids=[b[0] for b in BAD])
def test_a_malformed_table_is_refused_and_nothing_is_written(name, spoil, match):
    src = _posted(1)
    rows = [list(r) for r in src.items()]
    spoil(rows)
    dst = Ledger("USDC")
    dst.add_subs(src.n_subs)
    with pytest.raises(ValueError, match=match):
        dst.load(rows)
    assert list(dst.items()) == [] and not dst.sub_cash.any()


def test_load_needs_an_empty_ledger():
    led = _posted(2)
    with pytest.raises(ValueError, match="no balance yet"):
        led.load([])
