"""Proof of solvency: Merkle-sum-tree build, inclusion proofs, the offline verifier, reserves, CLI.

The reference used to cross-check the builder (``spec_*`` below) is written from the encoding
documented in ``ramparts.solvency.proof`` with ``hashlib`` only, so a drift between the docstring,
the vectorised builder and the scalar verifier fails here. Attacks are simulated with
``reseal``: a forger who rewrites a proof and recomputes every hash and total consistently, so
that only the structural checks (signs, ranges, positions) can catch the forgery.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import ramparts.solvency as solvency
from ramparts.errors import InvalidInput, UnknownEntity
from ramparts.solvency import proof as pf
from ramparts.solvency.commands import build_tree_command, verify_proof_command
from ramparts.solvency.files import proof_filename
from ramparts.solvency.merkle_sum import _fast_hmac_sha256, attest_reserves, build_tree
from ramparts.solvency.proof import AssetTotals, verify_proof, verify_root_record

ASSETS = ["BTC", "USDC"]
SECRET = b"0123456789abcdef0123456789abcdef"

# --------------------------------------------------------------------------- an independent spec


def sha(b: bytes) -> bytes:
    return hashlib.sha256(b).digest()


def spec_str(s: str) -> bytes:
    raw = s.encode("utf-8")
    return len(raw).to_bytes(4, "big") + raw


def spec_sums(sums, modular: bool = False) -> bytes:
    out = b""
    for a, li in sums:
        if modular:  # a forger's encoding: reduce mod 2**128 instead of refusing
            a, li = a % 2**128, li % 2**128
        out += a.to_bytes(16, "big") + li.to_bytes(16, "big")
    return out


def spec_leaf(salt: bytes, account_id: str, sums) -> bytes:
    return sha(b"\x00" + sha(b"\x03" + salt + spec_str(account_id)) + spec_sums(sums))


def spec_node(hl, sl, hr, sr, modular: bool = False) -> bytes:
    return sha(b"\x01" + hl + spec_sums(sl, modular) + hr + spec_sums(sr, modular))


def spec_root(snapshot, seq, assets, count, top, sums, modular: bool = False) -> bytes:
    head = b"\x02" + spec_str("ramparts-proof-of-liabilities") + (1).to_bytes(4, "big") + spec_str(snapshot)
    head += seq.to_bytes(8, "big") + len(assets).to_bytes(4, "big") + b"".join(spec_str(a) for a in assets)
    return sha(head + count.to_bytes(8, "big") + top + spec_sums(sums, modular))


def split(e: int) -> tuple[int, int]:
    return (e, 0) if e >= 0 else (0, -e)


def spec_tree_root(tree, accounts: dict[str, dict[str, int]]) -> str:
    """Root hash recomputed naively: leaves padded to a power of two with zero leaves, level by level."""
    assets = list(tree.assets)
    level = []
    for i, aid in enumerate(tree.account_ids):
        sums = [split(accounts[aid].get(a, 0)) for a in assets]
        level.append((spec_leaf(tree.salt(i), aid, sums), sums))
    zero = [(0, 0)] * len(assets)
    width = 1
    while width < len(level):
        width *= 2
    level += [(sha(b"\x00" + bytes(32) + spec_sums(zero)), zero)] * (width - len(level))
    while len(level) > 1:
        nxt = []
        for (hl, sl), (hr, sr) in zip(level[0::2], level[1::2], strict=True):
            nxt.append(
                (spec_node(hl, sl, hr, sr), [(a + c, b + d) for (a, b), (c, d) in zip(sl, sr, strict=True)])
            )
        level = nxt
    top, sums = level[0]
    return spec_root(tree.snapshot_id, tree.sequence, assets, len(tree.account_ids), top, sums).hex()


def reseal(proof: dict) -> dict:
    """A forger's recomputation: totals and root hash rebuilt from the (tampered) leaf and path.

    No checks at all; out-of-range values are encoded modulo 2**128, the sides are taken as
    written. What the verifier still rejects after this, it rejects on structure alone.
    """
    p = copy.deepcopy(proof)
    assets = p["assets"]
    leaf = p["leaf"]
    sums = [(int(leaf["balances"][a]["assets"]), int(leaf["balances"][a]["liabilities"])) for a in assets]
    commit = sha(b"\x03" + bytes.fromhex(leaf["salt"]) + spec_str(leaf["account_id"]))
    h = sha(b"\x00" + commit + spec_sums(sums, modular=True))
    for step in p["path"]:
        ss = [(int(step["sums"][a]["assets"]), int(step["sums"][a]["liabilities"])) for a in assets]
        sh = bytes.fromhex(step["hash"])
        h = spec_node(sh, ss, h, sums, True) if step["side"] == "left" else spec_node(h, sums, sh, ss, True)
        sums = [(a + c, b + d) for (a, b), (c, d) in zip(sums, ss, strict=True)]
    shown = [(x % 2**128, y % 2**128) for x, y in sums]  # what a wrapping verifier would display
    p["root"]["totals"] = {
        a: {"assets": str(x), "liabilities": str(y), "net": str(x - y)}
        for a, (x, y) in zip(assets, shown, strict=True)
    }
    p["root"]["hash"] = spec_root(
        p["snapshot_id"], p["sequence"], assets, p["account_count"], h, sums, True
    ).hex()
    return p


def roundtrip(obj):
    return json.loads(json.dumps(obj))


# --------------------------------------------------------------------------- fixtures

BALANCES = {
    "alice": {"BTC": 150_000_000, "USDC": 2_000_000_000},
    "bob": {"BTC": -40_000_000, "USDC": 9_500_000_000},  # BTC in deficit
    "carol": {"USDC": -125_000_000},  # deficit, no BTC
    "dave": {"BTC": 0, "USDC": 0},
    "erin": {"BTC": 1, "USDC": 77},
    "frank": {"BTC": 2**62, "USDC": -1},
    "grace": {"BTC": 12_345, "USDC": 67_890},
    "heidi": {"BTC": -3, "USDC": 4},
    "ivan": {"BTC": 5, "USDC": -6},
    "judy": {"BTC": 10**9, "USDC": 10**12},
    "mallory": {"BTC": 7, "USDC": 7},
}


@pytest.fixture(scope="module")
def tree():
    return build_tree(
        list(BALANCES.items()),
        ASSETS,
        snapshot_id="2024-06-30T00:00:00Z",
        sequence=812_345,
        salt_secret=SECRET,
    )


@pytest.fixture()
def proof(tree):
    # leaf 5 = frank: index bits 1,0,1,0 -> sides left, right, left, right (depth 4, 11 accounts)
    assert tree.index_of("frank") == 5
    p = roundtrip(tree.proof("frank"))
    assert verify_proof(p).ok
    return p


# --------------------------------------------------------------------------- honest proofs


balance = st.one_of(
    st.integers(-1000, 1000),
    st.integers(-(2**63), 2**63 - 1),
    st.integers(-(2**100), 2**100),
    st.sampled_from([0, -(2**63), 2**63 - 1, 2**64, -(2**64)]),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    n=st.integers(1, 40),
    n_assets=st.integers(1, 3),
    data=st.data(),
    shuffle=st.booleans(),
    seq=st.integers(0, 2**64 - 1),
)
def test_every_honest_proof_verifies_and_totals_are_exact(n, n_assets, data, shuffle, seq):
    assets = ["BTC", "ETH", "USDC"][:n_assets]
    accounts = {}
    for i in range(n):
        present = data.draw(st.lists(st.sampled_from(assets), unique=True), label=f"assets of a{i}")
        accounts[f"a{i}"] = {a: data.draw(balance, label=f"a{i}.{a}") for a in present}
    t = build_tree(list(accounts.items()), assets, snapshot_id="snap-é", sequence=seq, shuffle=shuffle)
    assert t.account_count == n and t.depth == (n - 1).bit_length()
    assert sorted(t.account_ids) == sorted(accounts)
    for a in assets:
        eqs = [b.get(a, 0) for b in accounts.values()]
        assert t.totals[a].assets == sum(e for e in eqs if e > 0)
        assert t.totals[a].liabilities == sum(-e for e in eqs if e < 0)
        assert t.totals[a].net == sum(eqs)
    assert t.root_hash == spec_tree_root(t, accounts)
    for i, aid in enumerate(t.account_ids):
        res = verify_proof(roundtrip(t.proof(i)), expected_root=t.root_hash)
        assert res.ok, res
        assert res.account_id == aid
        assert res.balances == {a: accounts[aid].get(a, 0) for a in assets}
        assert t.balances(aid) == res.balances
        assert res.totals == t.totals


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 7, 8, 9, 16, 17, 33])
def test_builder_matches_the_documented_encoding(n):
    accounts = {f"u{i}": {"BTC": (i * 7919) % 1000 - 500, "USDC": i * 10**15 - 3} for i in range(n)}
    t = build_tree(list(accounts.items()), ASSETS, snapshot_id="s", sequence=n, salt_secret=SECRET)
    assert t.root_hash == spec_tree_root(t, accounts)
    assert t.root_record()["tree_hash"] != t.root_hash
    assert verify_root_record(roundtrip(t.root_record())).ok


def test_single_account_tree_has_an_empty_path():
    t = build_tree([("solo", {"BTC": -5})], ASSETS, snapshot_id="s")
    p = t.proof("solo")
    assert p["path"] == [] and t.depth == 0
    assert verify_proof(p).ok
    assert t.totals == {"BTC": AssetTotals(0, 5), "USDC": AssetTotals(0, 0)}


def test_salts_are_reproducible_with_a_secret_and_random_without(tree):
    again = build_tree(
        list(BALANCES.items()),
        ASSETS,
        snapshot_id="2024-06-30T00:00:00Z",
        sequence=812_345,
        salt_secret=SECRET,
    )
    assert again.root_hash == tree.root_hash
    i = tree.index_of("bob")
    msg = b"ramparts-pol/salt/v1" + spec_str("2024-06-30T00:00:00Z") + spec_str("bob")
    assert tree.salt(i) == hmac.digest(SECRET, msg, "sha256")
    other_snapshot = build_tree(
        list(BALANCES.items()), ASSETS, snapshot_id="next", sequence=812_345, salt_secret=SECRET
    )
    assert other_snapshot.salt(i) != tree.salt(i)
    r1 = build_tree(list(BALANCES.items()), ASSETS, snapshot_id="x")
    r2 = build_tree(list(BALANCES.items()), ASSETS, snapshot_id="x")
    assert r1.root_hash != r2.root_hash and r1.salt(0) != r2.salt(0)
    assert r1.totals == r2.totals == tree.totals


@pytest.mark.parametrize("key_len", [0, 16, 32, 64, 65, 200])
def test_fast_hmac_is_bit_identical_to_hmac_digest(key_len):
    key = bytes(range(256))[:key_len]
    msgs = [b"", b"a", os.urandom(100), b"x" * 64]
    expected = b"".join(hmac.digest(key, b"pre" + m, "sha256") for m in msgs)
    assert _fast_hmac_sha256(key, b"pre", msgs) == expected


def test_shuffle_orders_leaves_by_salt_reproducibly():
    accounts = [(f"acct{i:03d}", {"BTC": i}) for i in range(50)]
    a = build_tree(accounts, ["BTC"], snapshot_id="s", salt_secret=SECRET, shuffle=True)
    b = build_tree(accounts, ["BTC"], snapshot_id="s", salt_secret=SECRET, shuffle=True)
    assert a.account_ids == b.account_ids and a.root_hash == b.root_hash
    assert a.account_ids != [aid for aid, _ in accounts]
    salts = [a.salt(i) for i in range(50)]
    assert salts == sorted(salts)
    for aid, bal in accounts:
        assert a.balances(aid) == bal
        assert verify_proof(a.proof(aid)).ok


def test_int64_edges_and_numpy_integers_are_exact():
    t = build_tree(
        [("lo", {"BTC": -(2**63)}), ("hi", {"BTC": np.int64(2**63 - 1)}), ("big", {"BTC": 2**127 - 1})],
        ["BTC"],
        snapshot_id="s",
    )
    assert t.totals["BTC"] == AssetTotals(2**63 - 1 + 2**127 - 1, 2**63)
    assert t.balances("lo") == {"BTC": -(2**63)}
    for aid in ("lo", "hi", "big"):
        assert verify_proof(roundtrip(t.proof(aid))).ok


# --------------------------------------------------------------------------- tampering (table-driven)


def _set_balance(p, asset, equity):
    a, li = split(equity)
    p["leaf"]["balances"][asset] = {"equity": str(equity), "assets": str(a), "liabilities": str(li)}


def _bump_sibling(p, level, asset, key, delta):
    s = p["path"][level]["sums"][asset]
    s[key] = str(int(s[key]) + delta)


def _flip(p, level):
    p["path"][level]["side"] = "left" if p["path"][level]["side"] == "right" else "right"


def t_balance(p):
    _set_balance(p, "BTC", 2**62 + 1_000_000)


def t_balance_and_totals(p):
    t_balance(p)
    tot = p["root"]["totals"]["BTC"]
    tot["assets"] = str(int(tot["assets"]) + 1_000_000)
    tot["net"] = str(int(tot["net"]) + 1_000_000)


def t_equity_field(p):
    p["leaf"]["balances"]["USDC"]["equity"] = "5"


def t_sibling_sum(p):
    _bump_sibling(p, 2, "USDC", "assets", -1)


def t_sibling_sum_and_totals(p):
    _bump_sibling(p, 2, "USDC", "assets", -1)
    tot = p["root"]["totals"]["USDC"]
    tot["assets"] = str(int(tot["assets"]) - 1)
    tot["net"] = str(int(tot["net"]) - 1)


def t_sibling_hash(p):
    h = p["path"][1]["hash"]
    p["path"][1]["hash"] = ("0" if h[0] != "0" else "1") + h[1:]


def t_swap_side(p):
    _flip(p, 0)


def t_swap_side_and_index(p):
    _flip(p, 0)
    p["leaf"]["index"] ^= 1


def t_reorder_same_side_levels(p):
    assert p["path"][0]["side"] == p["path"][2]["side"]
    p["path"][0], p["path"][2] = p["path"][2], p["path"][0]


def t_reorder_adjacent_levels(p):
    p["path"][0], p["path"][1] = p["path"][1], p["path"][0]


def t_wrong_root(p):
    p["root"]["hash"] = "ab" * 32


def t_totals_net(p):
    p["root"]["totals"]["BTC"]["net"] = "0"


def t_negative_sibling(p):
    p["path"][0]["sums"]["BTC"]["assets"] = "-1"


def t_negative_leaf(p):
    p["leaf"]["balances"]["USDC"] = {"equity": "1", "assets": "-1", "liabilities": "-2"}


def t_asset_and_liability(p):
    p["leaf"]["balances"]["USDC"] = {"equity": "-1", "assets": "10", "liabilities": "11"}


def t_truncated_path(p):
    p["path"].pop()


def t_extra_level(p):
    p["path"].append(copy.deepcopy(p["path"][-1]))


def t_count_same_depth(p):
    p["account_count"] = 12


def t_count_smaller_depth(p):
    p["account_count"] = 6


def t_index_past_count(p):
    p["leaf"]["index"] = 11


def t_account_id(p):
    p["leaf"]["account_id"] = "frank2"


def t_salt(p):
    p["leaf"]["salt"] = "00" * 32


def t_snapshot(p):
    p["snapshot_id"] = "2024-07-01T00:00:00Z"


def t_sequence(p):
    p["sequence"] += 1


def t_asset_order(p):
    p["assets"] = ["USDC", "BTC"]


def t_sibling_out_of_range(p):
    p["path"][3]["sums"]["BTC"]["assets"] = str(2**128)


def t_version(p):
    p["version"] = 2


def t_format(p):
    p["format"] = "someone-else"


def t_amount_as_number(p):
    p["path"][0]["sums"]["BTC"]["assets"] = 5


def t_amount_not_canonical(p):
    p["leaf"]["balances"]["BTC"]["assets"] = "0" + p["leaf"]["balances"]["BTC"]["assets"]


def t_bad_hex(p):
    p["path"][0]["hash"] = "zz" * 32


def t_missing_key(p):
    del p["leaf"]["salt"]


def t_extra_key(p):
    p["leaf"]["note"] = "trust me"


def t_bad_side(p):
    p["path"][0]["side"] = "up"


def t_bool_sequence(p):
    p["sequence"] = True


def t_missing_asset(p):
    del p["path"][1]["sums"]["USDC"]


TAMPERS = [
    # (tamper, expected failure code)
    (t_balance, "totals_mismatch"),
    (t_balance_and_totals, "root_mismatch"),
    (t_equity_field, "leaf_inconsistent"),
    (t_sibling_sum, "totals_mismatch"),
    (t_sibling_sum_and_totals, "root_mismatch"),
    (t_sibling_hash, "root_mismatch"),
    (t_swap_side, "position_mismatch"),
    (t_swap_side_and_index, "root_mismatch"),
    (t_reorder_same_side_levels, "root_mismatch"),
    (t_reorder_adjacent_levels, "position_mismatch"),
    (t_wrong_root, "root_mismatch"),
    (t_totals_net, "totals_mismatch"),
    (t_negative_sibling, "negative_sum"),
    (t_negative_leaf, "negative_sum"),
    (t_asset_and_liability, "asset_and_liability"),
    (t_truncated_path, "path_length"),
    (t_extra_level, "path_length"),
    (t_count_same_depth, "root_mismatch"),
    (t_count_smaller_depth, "path_length"),
    (t_index_past_count, "index_out_of_range"),
    (t_account_id, "root_mismatch"),
    (t_salt, "root_mismatch"),
    (t_snapshot, "root_mismatch"),
    (t_sequence, "root_mismatch"),
    (t_asset_order, "root_mismatch"),
    (t_sibling_out_of_range, "out_of_range"),
    (t_version, "unsupported_version"),
    (t_format, "unsupported_version"),
    (t_amount_as_number, "malformed"),
    (t_amount_not_canonical, "malformed"),
    (t_bad_hex, "malformed"),
    (t_missing_key, "malformed"),
    (t_extra_key, "malformed"),
    (t_bad_side, "malformed"),
    (t_bool_sequence, "malformed"),
    (t_missing_asset, "malformed"),
]


@pytest.mark.parametrize(("tamper", "code"), TAMPERS, ids=[t.__name__[2:] for t, _ in TAMPERS])
def test_each_tamper_is_rejected(proof, tamper, code):
    tamper(proof)
    res = verify_proof(proof)
    assert not res.ok
    assert res.code == code, res.reason
    assert res.malformed == (code in {"malformed", "unsupported_version"})


def test_expected_root_catches_a_fully_resealed_forgery(proof, tree):
    forged = copy.deepcopy(proof)
    _set_balance(forged, "BTC", 1)  # the venue shows frank a smaller balance...
    forged = reseal(forged)  # ...and recomputes everything consistently
    assert verify_proof(forged).ok  # self-consistent, but:
    res = verify_proof(forged, expected_root=tree.root_hash)
    assert not res.ok and res.code == "unexpected_root"
    assert verify_proof(proof, expected_root=tree.root_hash).ok


def test_verifier_survives_junk_input():
    for junk in [
        None,
        5,
        "x",
        [],
        {},
        {"format": pf.FORMAT, "version": 1},
        b"\xff\xfe",
        "{",
        '{"a": 1, "a": 2}',
        "NaN",
    ]:
        res = verify_proof(junk)  # type: ignore[arg-type]
        assert not res.ok and res.malformed, junk


# --------------------------------------------------------------------------- hidden deficits


def test_deficits_are_reported_gross_not_netted(tree):
    # bob's BTC deficit is not netted against alice's BTC: both show in the root.
    btc = [b.get("BTC", 0) for b in BALANCES.values()]
    assert tree.totals["BTC"].liabilities == 40_000_000 + 3 == sum(-e for e in btc if e < 0)
    assert tree.totals["BTC"].assets == sum(e for e in btc if e > 0)
    res = verify_proof(roundtrip(tree.proof("bob")))
    assert res.ok and res.balances["BTC"] == -40_000_000
    assert json.loads(json.dumps(tree.proof("bob")))["leaf"]["balances"]["BTC"] == {
        "equity": "-40000000",
        "assets": "0",
        "liabilities": "40000000",
    }


def test_deficit_account_cannot_be_shown_as_netted_in_its_leaf(tree):
    # The venue hides bob's BTC deficit behind a phantom asset (60 in, 100 out) and reseals.
    p = roundtrip(tree.proof("bob"))
    p["leaf"]["balances"]["BTC"] = {"equity": "-40000000", "assets": "60000000", "liabilities": "100000000"}
    res = verify_proof(reseal(p))
    assert not res.ok and res.code == "asset_and_liability"


def test_negative_node_sum_cannot_cancel_liabilities(proof):
    # Maxwell's attack: a sibling with a negative asset sum lowers the published total.
    _bump_sibling(proof, 3, "USDC", "assets", -(10**13))
    assert int(proof["path"][3]["sums"]["USDC"]["assets"]) < 0
    res = verify_proof(reseal(proof))
    assert not res.ok and res.code == "negative_sum"


def test_wraparound_sum_cannot_cancel_liabilities(proof):
    # The same attack through u128 wrap-around: (2**128 - x) encodes like -x modulo 2**128.
    total = int(proof["root"]["totals"]["USDC"]["assets"])
    old = int(proof["path"][3]["sums"]["USDC"]["assets"])
    proof["path"][3]["sums"]["USDC"]["assets"] = str(2**128 - 1000 + old)
    forged = reseal(proof)
    assert int(forged["root"]["totals"]["USDC"]["assets"]) == total - 1000  # 1000 units hidden mod 2**128
    res = verify_proof(forged)
    assert not res.ok and res.code == "out_of_range"


def test_deficit_moved_into_a_sibling_liability_still_counts(proof):
    # Shifting a sibling's deficit into a smaller asset sum keeps the net but is caught by the root.
    _bump_sibling(proof, 1, "BTC", "liabilities", -3)
    _bump_sibling(proof, 1, "BTC", "assets", -3)
    res = verify_proof(proof)
    assert not res.ok and res.code == "totals_mismatch"


# --------------------------------------------------------------------------- builder input errors


@pytest.mark.parametrize(
    ("accounts", "assets", "error", "field"),
    [
        ([], ASSETS, InvalidInput, "accounts"),
        ([("a", {"BTC": 1}), ("a", {"BTC": 2})], ASSETS, InvalidInput, "account_id"),
        ([("a", {"DOGE": 1})], ASSETS, UnknownEntity, "asset"),
        ([("a", {"BTC": 1.5})], ASSETS, InvalidInput, "balances"),
        ([("a", {"BTC": True})], ASSETS, InvalidInput, "balances"),
        ([("a", {"BTC": "5"})], ASSETS, InvalidInput, "balances"),
        ([("", {"BTC": 1})], ASSETS, InvalidInput, "account_id"),
        ([(7, {"BTC": 1})], ASSETS, InvalidInput, "account_id"),
        ([("\ud800", {"BTC": 1})], ASSETS, InvalidInput, "account_id"),
        ([("a", [("BTC", 1)])], ASSETS, InvalidInput, "balances"),
        ([("a", {"BTC": 1}, "extra")], ASSETS, InvalidInput, "accounts"),
        ([("a", {"BTC": 2**128})], ASSETS, InvalidInput, "balances"),
        ([("a", {"BTC": -(2**128)})], ASSETS, InvalidInput, "balances"),
        ([("a", {"BTC": 2**127}), ("b", {"BTC": 2**127})], ASSETS, InvalidInput, "balances"),
        ([("a", {"BTC": 1})], [], InvalidInput, "assets"),
        ([("a", {"BTC": 1})], ["BTC", "BTC"], InvalidInput, "assets"),
    ],
)
def test_bad_builder_input_is_refused(accounts, assets, error, field):
    with pytest.raises(error) as info:
        build_tree(accounts, assets, snapshot_id="s")
    assert info.value.field == field


def test_sum_just_below_u128_is_accepted():
    t = build_tree([("a", {"BTC": 2**127}), ("b", {"BTC": 2**127 - 1})], ["BTC"], snapshot_id="s")
    assert t.totals["BTC"].assets == 2**128 - 1
    assert verify_proof(roundtrip(t.proof("a"))).ok


def test_unknown_account_proof_is_an_error(tree):
    with pytest.raises(UnknownEntity):
        tree.proof("nobody")
    with pytest.raises(UnknownEntity):
        tree.proof(tree.account_count)


# --------------------------------------------------------------------------- reserves


def test_reserves_attestation_surplus_and_deficit():
    totals = {"BTC": AssetTotals(100, 40), "USDC": AssetTotals(500, 0)}
    att = attest_reserves(totals, {"BTC": 70, "USDC": 400, "ETH": 3})
    rows = att.by_asset()
    assert rows["BTC"].net_liabilities == 60 and rows["BTC"].surplus == 10 and rows["BTC"].covered
    assert rows["USDC"].surplus == -100 and rows["USDC"].deficit == 100 and not rows["USDC"].covered
    assert rows["ETH"].surplus == 3 and rows["ETH"].liabilities_counted == 0
    assert not att.solvent
    assert attest_reserves(totals, {"BTC": 60, "USDC": 500}).solvent  # exactly covered
    assert not attest_reserves(totals, {"BTC": 59, "USDC": 500}).solvent  # one unit short
    gross = attest_reserves(totals, {"BTC": 70, "USDC": 500}, credit_deficits=False)
    assert gross.by_asset()["BTC"].surplus == -30 and not gross.solvent


def test_reserves_from_a_tree_and_from_root_json(tree):
    holdings = {a: t.net for a, t in tree.totals.items()}
    assert attest_reserves(tree.totals, holdings).solvent
    from_json = attest_reserves(roundtrip(tree.root_record())["totals"], holdings)
    assert from_json == attest_reserves(tree.totals, holdings)
    short = dict(holdings, USDC=holdings["USDC"] - 1)
    att = attest_reserves(tree.totals, short)
    assert not att.solvent and att.by_asset()["USDC"].deficit == 1 and att.by_asset()["BTC"].surplus == 0
    assert not attest_reserves(tree.totals, {"BTC": holdings["BTC"]}).solvent  # USDC missing = 0 held


@pytest.mark.parametrize(
    ("totals", "holdings"),
    [
        ({"BTC": AssetTotals(1, 0)}, {"BTC": -1}),
        ({"BTC": AssetTotals(1, 0)}, {"BTC": 1.0}),
        ({"BTC": (-1, 0)}, {"BTC": 1}),
        ({"BTC": {"assets": "1.5", "liabilities": "0"}}, {"BTC": 1}),
        ({"BTC": "junk"}, {"BTC": 1}),
    ],
)
def test_reserves_bad_input(totals, holdings):
    with pytest.raises(InvalidInput):
        attest_reserves(totals, holdings)


# --------------------------------------------------------------------------- offline, no numpy


def _write_proof(tmp_path: Path, obj) -> Path:
    path = tmp_path / "proof.json"
    path.write_text(json.dumps(obj), encoding="utf-8")
    return path


def test_verifier_runs_without_numpy(tmp_path, proof):
    path = _write_proof(tmp_path, proof)
    code = (
        "import sys; sys.modules['numpy'] = None\n"
        "from ramparts.solvency import verify_proof\n"
        f"r = verify_proof(open({str(path)!r}, 'rb').read())\n"
        "assert r.ok, r\n"
        "assert 'numpy' not in sys.modules or sys.modules['numpy'] is None\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


def test_proof_module_is_a_standalone_verifier(tmp_path, proof, tree):
    standalone = tmp_path / "verifier" / "proof.py"
    standalone.parent.mkdir()
    shutil.copy(pf.__file__, standalone)
    good = _write_proof(tmp_path, proof)
    cmd = [sys.executable, "-I", str(standalone), str(good), "--root", tree.root_hash]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.startswith("VERIFIED")
    t_sibling_hash(proof)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(proof))
    out = subprocess.run(
        [sys.executable, "-I", str(standalone), str(bad)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert out.returncode == 1 and "root_mismatch" in out.stdout


# --------------------------------------------------------------------------- CLI


def _csv(tmp_path: Path, rows: list[str], name: str = "balances.csv") -> Path:
    path = tmp_path / name
    path.write_text("account_id,asset,amount_units\n" + "".join(r + "\n" for r in rows), encoding="utf-8")
    return path


CSV_ROWS = [
    "alice,BTC,150000000",
    "alice,USDC,2000000000",
    "bob,BTC,-40000000",
    "bob,USDC, +9500000000 ",
    "",
    "carol,USDC,-125000000",
    "team/ops,USDC,1",
]


def test_cli_build_then_verify(tmp_path, capsys):
    src = _csv(tmp_path, CSV_ROWS)
    secret = tmp_path / "secret"
    secret.write_bytes(SECRET + b"\n")
    out = tmp_path / "out"
    assert build_tree_command(src, out, sequence=9, salt_secret_file=secret) == 0
    root = json.loads((out / "root.json").read_text())
    assert verify_root_record(root).ok
    assert root["snapshot_id"] == "balances" and root["sequence"] == 9 and root["account_count"] == 4
    assert root["totals"]["BTC"] == {"assets": "150000000", "liabilities": "40000000", "net": "110000000"}
    assert root["totals"]["USDC"]["net"] == str(2_000_000_000 + 9_500_000_000 - 125_000_000 + 1)
    files = sorted(p.name for p in (out / "proofs").iterdir())
    assert files == sorted(proof_filename(a) for a in ["alice", "bob", "carol", "team/ops"])
    assert proof_filename("team/ops") == "team+ops.json"  # a sub-account id
    assert proof_filename("team/ops/x").startswith("_") and proof_filename("@liquidator/k").startswith("_")
    for f in files:
        assert verify_proof_command(out / "proofs" / f, root["hash"]) == 0
    text = capsys.readouterr().out
    assert "VERIFIED" in text and root["hash"] in text
    # reproducible with the secret: a second build gives the same root
    out2 = tmp_path / "out2"
    assert build_tree_command(src, out2, sequence=9, salt_secret_file=secret) == 0
    assert json.loads((out2 / "root.json").read_text())["hash"] == root["hash"]


def test_cli_tampered_proof_exits_1(tmp_path, capsys):
    out = tmp_path / "out"
    assert build_tree_command(_csv(tmp_path, CSV_ROWS), out) == 0
    path = out / "proofs" / "bob.json"
    p = json.loads(path.read_text())
    _set_balance(p, "BTC", 0)  # bob pretends he has no deficit
    path.write_text(json.dumps(p))
    capsys.readouterr()
    assert verify_proof_command(path) == 1
    text = capsys.readouterr().out
    assert "REJECTED" in text and "[totals_mismatch]" in text and "Traceback" not in text
    # a valid proof against a different published root is rejected too
    assert verify_proof_command(out / "proofs" / "alice.json", "00" * 32) == 1
    assert "unexpected_root" in capsys.readouterr().out


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"not json",
        b"[1, 2]",
        b'{"format": "ramparts-proof-of-liabilities", "version": 1}',
        b"\xff\xfe\x00",
        b'{"a": NaN}',
    ],
)
def test_cli_malformed_proof_exits_2(tmp_path, capsys, content):
    path = tmp_path / "proof.json"
    path.write_bytes(content)
    assert verify_proof_command(path) == 2
    text = capsys.readouterr().out
    assert "malformed" in text and "Traceback" not in text


def test_cli_missing_file_and_bad_root_exit_2(tmp_path, capsys, proof):
    assert verify_proof_command(tmp_path / "nope.json") == 2
    assert "cannot read" in capsys.readouterr().out
    assert verify_proof_command(_write_proof(tmp_path, proof), "not-hex") == 2
    assert verify_proof_command(tmp_path) == 2  # a directory


def test_cli_selected_accounts_only(tmp_path):
    out = tmp_path / "out"
    assert build_tree_command(_csv(tmp_path, CSV_ROWS), out, accounts=["carol"], snapshot_id="snap-1") == 0
    assert [p.name for p in (out / "proofs").iterdir()] == ["carol.json"]
    res = verify_proof(json.loads((out / "proofs" / "carol.json").read_text()))
    assert res.ok and res.snapshot_id == "snap-1" and res.balances == {"BTC": 0, "USDC": -125_000_000}


@pytest.mark.parametrize(
    ("rows", "header", "message"),
    [
        (["alice,BTC,1.5"], None, "balances.csv:2"),
        (["alice,BTC,1", "alice,BTC,2"], None, "duplicate row"),
        (["alice,BTC"], None, "expected 3 fields"),
        ([",BTC,1"], None, "account_id is empty"),
        (["alice,BTC,1"], "id,asset,amount", "header"),
        ([], None, "no account rows"),
    ],
)
def test_cli_bad_csv_exits_2(tmp_path, capsys, rows, header, message):
    path = _csv(tmp_path, rows)
    if header:
        path.write_text(header + "\n" + "".join(r + "\n" for r in rows))
    out = tmp_path / "out"
    assert build_tree_command(path, out) == 2
    text = capsys.readouterr().out
    assert message in text and "Traceback" not in text
    assert not (out / "root.json").exists()


def test_cli_build_errors_exit_2(tmp_path, capsys):
    src = _csv(tmp_path, CSV_ROWS)
    assert build_tree_command(tmp_path / "missing.csv", tmp_path / "o1") == 2
    assert build_tree_command(src, tmp_path / "o2", accounts=["zed"]) == 2
    assert not (tmp_path / "o2").exists()
    assert build_tree_command(src, tmp_path / "o3", assets=["BTC"]) == 2  # USDC rows outside the list
    short = tmp_path / "short-secret"
    short.write_bytes(b"tiny")
    assert build_tree_command(src, tmp_path / "o4", salt_secret_file=short) == 2
    (tmp_path / "blocker").write_text("a file where the output dir should go")
    assert build_tree_command(src, tmp_path / "blocker") == 2
    assert "Traceback" not in capsys.readouterr().out


def test_package_exports():
    for name in solvency.__all__:
        assert getattr(solvency, name) is not None
    assert solvency.build_tree is build_tree
    with pytest.raises(AttributeError):
        _ = solvency.no_such_name
