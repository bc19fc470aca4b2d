"""Private proofs of liabilities: Pedersen commitments, bit-decomposition range proofs, the summed-commitment tree.

What is checked:

* the group layer: ``H`` is the documented try-and-increment point (recomputed here with integer
  arithmetic mod p, not curve arithmetic), commitments are homomorphic, encodings are strict;
* the range proof: round trips at the edges of the range, its size, and soundness: a value
  wrapped below zero mod the group order (``Q - 5``), a bit commitment opening to 2, a proof
  whose bits do not sum to the commitment, a tampered byte, and a proof replayed on another
  leaf are all rejected, while the same forger with honest bits is accepted (so each rejection is
  due to the cheat, not to the forger);
* the tree: every account's proof verifies against the published root, root record and tree, for
  sizes 1 to 33 (odd levels promote their last node); a tampered proof, a wrong root, a changed
  sibling, a hidden negative leaf and a replayed leaf are each rejected with their own code; a
  proof reveals no other account's balance;
* the engine: the root's opened total equals the engine's total liabilities (the sum of positive
  equities) to the base unit, and the engine accepts the journaled root;
* the commands: ``prove-liabilities-private``, ``verify-private-proof``, ``verify-private-tree``
  (exit codes 0 / 1 / 2).
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
from pathlib import Path

import pytest
from tests.enginekit import json_leaves
from typer.testing import CliRunner

from ramparts.cli import app
from ramparts.errors import InvalidInput, Rejected
from ramparts.solvency import commitments as cm
from ramparts.solvency import private_proof as pp
from ramparts.solvency import proof as pf
from ramparts.solvency.commitments import G, H, Q, commit, encode_point, encode_scalar, point_add, point_mul
from ramparts.solvency.private_tree import (
    LeafAsset,
    PrivateTree,
    build_private_tree,
    derive_bit_blindings,
    liabilities_from_equities,
)
from ramparts.solvency.range_proof import (
    RangeProofError,
    proof_size,
    prove_range,
    range_challenge,
    verify_range,
)

SECRET = b"a-server-secret-of-32-bytes-long"
ROWS = [(f"acct-{i:02d}", {"USDC": 1_000_003 * i + 17}) for i in range(11)]


@pytest.fixture(scope="module")
def tree():
    return build_private_tree(ROWS, ["USDC"], snapshot_id="snap-1", sequence=42, secret=SECRET)


@pytest.fixture(scope="module")
def published(tree):
    record = tree.root_record()
    res, pub = pp.verify_private_tree(record, tree.tree_file())
    assert res.ok, res
    return record, pub


# ------------------------------------------------------------------------------------------------ the group


def test_H_is_the_try_and_increment_point_of_the_documented_seed():
    for ctr in range(1000):
        x = int.from_bytes(hashlib.sha256(cm.H_SEED + ctr.to_bytes(4, "big")).digest(), "big")
        rhs = (pow(x, 3, cm.P) + 7) % cm.P
        if x < cm.P and pow(rhs, (cm.P - 1) // 2, cm.P) == 1:  # Euler's criterion: a square mod p
            break
    assert ctr == cm.H_COUNTER
    assert cm.H_BYTES == b"\x02" + x.to_bytes(32, "big")
    hx, hy = H.point()
    assert hx == x and hy % 2 == 0 and (hy * hy - hx**3 - 7) % cm.P == 0
    assert cm.G_BYTES.hex() == "0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798"
    assert cm.H_BYTES != cm.G_BYTES


def test_commitments_are_additively_homomorphic_and_hide_behind_the_blinding():
    a, b = commit(1500, 77), commit(2**64 - 1, Q - 5)
    assert cm.points_equal(point_add(a, b), commit(1500 + 2**64 - 1, 72))
    assert not cm.points_equal(commit(1500, 77), commit(1500, 78))
    assert commit(0, 0) is None and point_add(G, cm.NEG_G) is None  # infinity is None
    assert cm.opens_to(commit(-5, 3), Q - 5, 3)  # values live mod Q: -5 IS Q - 5


@pytest.mark.parametrize("raw, why", [
    (b"\x02" + bytes(31), "33 bytes"),
    (b"\x04" + bytes(32), "compressed"),
    (b"\x02" + (cm.P).to_bytes(32, "big"), "not a point"),
])
def test_point_decoding_is_strict(raw, why):
    with pytest.raises(cm.EncodingError, match=why):
        cm.decode_point(raw)


def test_scalar_decoding_refuses_unreduced_values():
    assert cm.decode_scalar(encode_scalar(Q - 1)) == Q - 1
    with pytest.raises(cm.EncodingError):
        cm.decode_scalar(Q.to_bytes(32, "big"))


# ------------------------------------------------------------------------------------------------ range proofs


@pytest.mark.parametrize("value, bits", [(0, 64), (1, 64), (2**64 - 1, 64), (123_456_789_012, 64), (0, 1), (1, 1),
                                         (200, 8), (2**100 + 3, 101)])
def test_range_proof_round_trip(value, bits):
    rp = prove_range(value, bits, b"ctx")
    assert len(rp.proof) == proof_size(bits) == 32 + 129 * bits
    assert cm.opens_to(rp.commitment, value, rp.blinding)
    verify_range(rp.commitment, rp.proof, bits, b"ctx")


@pytest.mark.parametrize("value", [-1, -5, Q - 5, 2**64, 2**64 + 1])
def test_the_honest_prover_refuses_a_value_outside_the_range(value):
    with pytest.raises(ValueError, match=r"\[0, 2\*\*64\)"):
        prove_range(value, 64, b"ctx")


def test_a_fixed_blinding_proves_the_range_of_an_existing_commitment():
    rp = prove_range(1234, 70, b"root", blinding=987654321)
    assert rp.blinding == 987654321 and cm.points_equal(rp.commitment, commit(1234, 987654321))
    verify_range(commit(1234, 987654321), rp.proof, 70, b"root")


def _forge(commitment, openings, bits, context, *, patch=True):
    """A cheating prover: proves each bit commitment ``v_i·G + r_i·H`` whatever ``v_i`` is.

    A bit in {0, 1} gets an honest OR-proof. Any other value has no witness for either branch, so
    both branches are simulated and, after the challenge, the first branch's challenge is patched to
    ``e - e_1`` (the best a prover without a witness can do). With every ``v_i`` in {0, 1} this is
    exactly the honest prover, and its proofs verify.
    """
    cs = [encode_point(commit(v, r)) for v, r in openings]
    pts = [cm.decode_point(c) for c in cs]
    a0s, a1s, state = [], [], []
    for (v, r), c in zip(openings, pts, strict=True):
        k, es, ss, e_other, s_other = (cm.random_scalar() for _ in range(5))
        y1 = point_add(c, cm.NEG_G)
        if v in (0, 1):
            real = point_mul(H, k)
            sim = point_add(point_mul(H, ss), point_mul(c if v else y1, -es))
            a0, a1 = (sim, real) if v else (real, sim)
        else:
            a0 = point_add(point_mul(H, ss), point_mul(c, -es))
            a1 = point_add(point_mul(H, s_other), point_mul(y1, -e_other))
        a0s.append(encode_point(a0))
        a1s.append(encode_point(a1))
        state.append((v, r, k, es, ss, e_other, s_other))
    e = range_challenge(context, bits, commitment, cs, a0s, a1s)
    out = [encode_scalar(e)]
    for c, (v, r, k, es, ss, e_other, s_other) in zip(cs, state, strict=True):
        if v in (0, 1):
            e_real = (e - es) % Q
            s_real = (k + e_real * r) % Q
            e0, s0, s1 = (es, ss, s_real) if v else (e_real, s_real, ss)
        else:
            e0, s0, s1 = ((e - e_other) % Q if patch else es), ss, s_other
        out.append(c + encode_scalar(e0) + encode_scalar(s0) + encode_scalar(s1))
    return b"".join(out)


def _bits_of(value, bits):
    return [((value >> i) & 1, cm.random_scalar()) for i in range(bits)]


def _blinding(openings):
    return sum(r << i for i, (_, r) in enumerate(openings)) % Q


def test_the_forger_is_a_correct_prover_on_honest_bits():
    openings = _bits_of(987_654_321, 64)
    c = commit(987_654_321, _blinding(openings))
    verify_range(c, _forge(c, openings, 64, b"ctx"), 64, b"ctx")


def test_a_bit_commitment_opening_to_2_is_rejected():
    openings = [(2, cm.random_scalar())] + _bits_of(0, 64)[1:]  # C_0 = 2·G + r_0·H; value 2 in total
    assert len(openings) == 64
    c = commit(2, _blinding(openings))
    for patch in (True, False):
        with pytest.raises(RangeProofError) as exc:
            verify_range(c, _forge(c, openings, 64, b"ctx", patch=patch), 64, b"ctx")
        assert exc.value.code == "challenge_mismatch"


def test_a_negative_balance_wrapped_mod_the_group_order_cannot_be_proven():
    """-5 is committed as Q - 5, a 256-bit number: no 64 bits sum to it, so some bit is not a bit."""
    r = cm.random_scalar()
    c = commit(-5, r)  # = commit(Q - 5, r)
    # (a) the honest prover refuses
    with pytest.raises(ValueError):
        prove_range(Q - 5, 64, b"ctx")
    # (b) 63 honest bits and a top "bit" solved so that the weighted sum IS the commitment:
    #     C_63 = (C - Σ 2**i·C_i) / 2**63, which opens to w = (Q - 5 - low) / 2**63 mod Q, not a bit
    low = _bits_of((Q - 5) % 2**63, 63)
    low_sum = sum(b << i for i, (b, _) in enumerate(low))
    inv = pow(2**63, -1, Q)
    w = (Q - 5 - low_sum) * inv % Q
    r63 = (r - _blinding(low)) * inv % Q
    assert w not in (0, 1)
    openings = [*low, (w, r63)]
    assert cm.points_equal(c, commit(sum(v << i for i, (v, _) in enumerate(openings)), _blinding(openings)))
    with pytest.raises(RangeProofError) as exc:
        verify_range(c, _forge(c, openings, 64, b"ctx"), 64, b"ctx")
    assert exc.value.code == "challenge_mismatch"
    # (c) an honest proof of the low 64 bits of Q - 5 does not sum to the commitment
    honest = prove_range((Q - 5) % 2**64, 64, b"ctx")
    with pytest.raises(RangeProofError) as exc:
        verify_range(c, honest.proof, 64, b"ctx")
    assert exc.value.code == "sum_mismatch"
    # (d) nor does any proof of a value in range: binding, the commitment opens to Q - 5 only
    rp = prove_range(2**64 - 5, 64, b"ctx")
    with pytest.raises(RangeProofError, match="weighted sum"):
        verify_range(c, rp.proof, 64, b"ctx")


def test_a_tampered_range_proof_is_rejected():
    rp = prove_range(42, 64, b"ctx")
    for offset in (0, 32 + 33 + 5, 32 + 33 + 32 + 7, len(rp.proof) - 1):  # e, e_0, s_0, s_1 of the last bit
        bad = bytearray(rp.proof)
        bad[offset] ^= 1
        with pytest.raises(RangeProofError) as exc:
            verify_range(rp.commitment, bytes(bad), 64, b"ctx")
        assert exc.value.code in ("challenge_mismatch", "malformed")
    with pytest.raises(RangeProofError) as exc:
        verify_range(rp.commitment, rp.proof[:-1], 64, b"ctx")
    assert exc.value.code == "malformed"
    with pytest.raises(RangeProofError) as exc:  # a bit commitment swapped for another point
        verify_range(rp.commitment, rp.proof[:32] + encode_point(commit(1, 5)) + rp.proof[65:], 64, b"ctx")
    assert exc.value.code == "sum_mismatch"


def test_a_range_proof_replayed_in_another_context_is_rejected(tree):
    a, b = tree.leaf(0)[0], tree.leaf(1)[0]
    acc = [pf.account_commitment(tree._salts[i], tree.account_ids[i]) for i in (0, 1)]
    ctx = [pp.leaf_context(tree.header, 0, i, acc[i]) for i in (0, 1)]
    c_a = cm.decode_point(a.commitment)
    verify_range(c_a, a.range_proof, 64, ctx[0])
    for other in (ctx[1], pp.leaf_context(tree.header, 0, 0, acc[1]), pp.root_context(tree.header, 0)):
        with pytest.raises(RangeProofError) as exc:
            verify_range(c_a, a.range_proof, 64, other)  # the same commitment and proof, another leaf
        assert exc.value.code == "challenge_mismatch"
    assert b.commitment != a.commitment


# ------------------------------------------------------------------------------------------------ the tree


@pytest.mark.parametrize("n", [1, 2, 3, 5, 8, 9, 33])
def test_every_proof_verifies_and_the_root_opens_to_the_exact_total(n):
    rows = [(f"a{i}", {"BTC": i * 3, "USDC": 10**12 + i}) for i in range(n)]
    t = build_private_tree(rows, ["BTC", "USDC"], snapshot_id=f"n{n}", bits=48)
    assert t.totals == {"BTC": sum(i * 3 for i in range(n)), "USDC": n * 10**12 + n * (n - 1) // 2}
    assert t.depth == (n - 1).bit_length()
    record = t.root_record()
    res, pub = pp.verify_private_tree(record, t.tree_file())
    assert res.ok and res.leaves_checked == n and res.totals == t.totals
    for aid, bal in rows:
        r = pp.verify_private_proof(json.dumps(t.proof(aid)), t.root_hash, root_record=record, tree=pub)
        assert r.ok, (n, aid, r)
        assert r.balances == bal and r.totals == t.totals and r.account_id == aid


def test_the_root_is_reproducible_from_the_secret_and_nothing_else(tree):
    again = build_private_tree(list(reversed(ROWS)), ["USDC"], snapshot_id="snap-1", sequence=42, secret=SECRET)
    assert again.root_hash == tree.root_hash and again.account_ids == tree.account_ids  # salt order
    assert again.tree_file() != tree.tree_file()  # fresh range-proof nonces, same commitments
    other = build_private_tree(ROWS, ["USDC"], snapshot_id="snap-1", sequence=42, secret=b"another-secret-16bytes")
    assert other.root_hash != tree.root_hash and other.totals == tree.totals
    random = build_private_tree(ROWS, ["USDC"], snapshot_id="snap-1", sequence=42)
    assert random.root_hash != tree.root_hash
    rs = derive_bit_blindings(SECRET, "snap-1", ROWS[0][0], "USDC", 64)
    assert tree.leaf(ROWS[0][0])[0].blinding == sum(r << i for i, r in enumerate(rs)) % Q


def test_a_proof_reveals_its_owner_and_no_other_balance(tree):
    proof = tree.proof("acct-03")
    text = json.dumps(proof)
    assert not any(aid in text for aid, _ in ROWS if aid != "acct-03")
    amounts = {x for x in json_leaves(proof) if isinstance(x, str) and x.isdigit()}  # every decimal amount the proof shows
    assert amounts == {str(ROWS[3][1]["USDC"]), str(tree.totals["USDC"])}
    assert proof["leaf"]["balances"]["USDC"]["value"] == str(ROWS[3][1]["USDC"])
    # siblings carry only a hash and commitments
    assert all(set(step) == {"level", "side", "hash", "commitments"} for step in proof["path"])
    assert len(proof["path"]) == len(pp.path_shape(proof["leaf"]["index"], tree.account_count))


def _verify(proof, tree, record=None, pub=None):
    return pp.verify_private_proof(json.dumps(proof), tree.root_hash, root_record=record, tree=pub)


def _b64_flip(text, at):
    raw = bytearray(base64.b64decode(text))
    raw[at] ^= 1
    return base64.b64encode(bytes(raw)).decode()


TAMPERINGS = {
    "balance raised": (lambda p: p["leaf"]["balances"]["USDC"].update(value=str(int(p["leaf"]["balances"]["USDC"]["value"]) + 1)),
                       "opening_mismatch"),
    "blinding changed": (lambda p: p["leaf"]["balances"]["USDC"].update(blinding=encode_scalar(7).hex()),
                         "opening_mismatch"),
    "leaf range proof byte": (lambda p: p["leaf"]["balances"]["USDC"].update(
        range_proof=_b64_flip(p["leaf"]["balances"]["USDC"]["range_proof"], 32 + 33 + 3)), "range_proof_invalid"),
    "account id": (lambda p: p["leaf"].update(account_id="mallory"), "range_proof_invalid"),  # bound in the context
    "salt": (lambda p: p["leaf"].update(salt="00" * 32), "range_proof_invalid"),
    "index": (lambda p: p["leaf"].update(index=p["leaf"]["index"] ^ 1), "range_proof_invalid"),
    "index out of range": (lambda p: p["leaf"].update(index=11), "index_out_of_range"),
    "sibling hash": (lambda p: p["path"][0].update(hash="ab" * 32), "path_mismatch"),
    "sibling side": (lambda p: p["path"][0].update(side="left" if p["path"][0]["side"] == "right" else "right"),
                     "path_shape"),
    "sibling dropped": (lambda p: p["path"].pop(), "path_shape"),
    "root total lowered": (lambda p: p["root"]["totals"]["USDC"].update(total=str(int(p["root"]["totals"]["USDC"]["total"]) - 1)),
                           "root_opening_mismatch"),
    "root hash": (lambda p: p["root"].update(hash="cd" * 32), "root_mismatch"),
    "tree hash": (lambda p: p["root"].update(tree_hash="cd" * 32), "path_mismatch"),
    "root range proof byte": (lambda p: p["root"]["totals"]["USDC"].update(
        range_proof=_b64_flip(p["root"]["totals"]["USDC"]["range_proof"], 32 + 33 + 3)), "root_range_proof_invalid"),
    "sequence": (lambda p: p.update(sequence=43), "range_proof_invalid"),
    "account count": (lambda p: p.update(account_count=12), "range_proof_invalid"),
}


@pytest.mark.parametrize("name", TAMPERINGS)
def test_a_tampered_proof_is_rejected(tree, published, name):
    change, code = TAMPERINGS[name]
    proof = copy.deepcopy(tree.proof(5))  # leaf 5: its neighbour 4 is a real leaf
    assert _verify(proof, tree).ok
    change(proof)
    res = _verify(proof, tree)
    assert not res.ok and res.code == code, (name, res)


def test_a_changed_sibling_commitment_is_rejected_even_with_a_recomputed_root(tree, published):
    """The venue lowers a sibling's commitment (say, by hiding -1,000,000 in that subtree)."""
    record, pub = published
    proof = copy.deepcopy(tree.proof("acct-05"))
    step = proof["path"][-1]
    lowered = point_add(cm.decode_point(bytes.fromhex(step["commitments"]["USDC"])), commit(-1_000_000, 0))
    step["commitments"]["USDC"] = encode_point(lowered).hex()
    assert _verify(proof, tree).code == "path_mismatch"  # the hash binds both children
    # even if the venue recomputes every hash up the path and a new root, opened to the lower total ...
    res = _rebuild_root(proof, tree)
    assert res.code == "unexpected_root"  # ... it is not the published root
    assert pp.verify_private_proof(json.dumps(proof), root_record=record).code == "unexpected_root"


def _rebuild_root(proof, tree):
    """Recompute the path hashes, top commitments and root of a doctored proof (what a cheating venue would publish)."""
    acc = pf.account_commitment(bytes.fromhex(proof["leaf"]["salt"]), proof["leaf"]["account_id"])
    c = bytes.fromhex(proof["leaf"]["balances"]["USDC"]["commitment"])
    h, cur = pp.leaf_hash(acc, [c]), cm.decode_point(c)
    for step in proof["path"]:
        sc = bytes.fromhex(step["commitments"]["USDC"])
        sh = bytes.fromhex(step["hash"])
        h = pp.node_hash(sh, [sc], h, [encode_point(cur)]) if step["side"] == "left" else pp.node_hash(h, [encode_point(cur)], sh, [sc])
        cur = point_add(cur, cm.decode_point(sc))
    total = int(proof["root"]["totals"]["USDC"]["total"]) - 1_000_000
    blinding = int(proof["root"]["totals"]["USDC"]["blinding"], 16)
    assert cm.opens_to(cur, total, blinding)
    rbits = pp.root_bits(tree.bits, tree.account_count)
    rp = prove_range(total, rbits, pp.root_context(tree.header, 0), blinding=blinding)
    proof["root"]["tree_hash"] = h.hex()
    proof["root"]["totals"]["USDC"].update(commitment=encode_point(cur).hex(), total=str(total),
                                           range_proof=base64.b64encode(rp.proof).decode())
    proof["root"]["hash"] = pp.root_hash(tree.header, h, [encode_point(cur)]).hex()
    assert pp.verify_private_proof(json.dumps(proof)).ok  # self-consistent, but ...
    return pp.verify_private_proof(json.dumps(proof), tree.root_hash)


def test_a_wrong_root_is_rejected(tree, published):
    record, pub = published
    proof = tree.proof("acct-07")
    assert pp.verify_private_proof(proof, tree.root_hash.upper()).ok
    assert pp.verify_private_proof(proof, "00" * 32).code == "unexpected_root"
    other = build_private_tree(ROWS, ["USDC"], snapshot_id="snap-2", sequence=42, secret=SECRET)
    assert pp.verify_private_proof(proof, root_record=other.root_record()).code == "unexpected_root"
    assert pp.verify_private_proof(other.proof("acct-07"), tree.root_hash).code == "unexpected_root"
    bad = copy.deepcopy(record)
    bad["totals"]["USDC"]["total"] = str(int(bad["totals"]["USDC"]["total"]) + 1)
    assert pp.verify_private_root(bad).code == "root_opening_mismatch"
    assert pp.verify_private_proof(proof, root_record=bad).code == "unexpected_root"
    bad = copy.deepcopy(record)
    bad["generators"]["H_counter"] = 1
    assert pp.verify_private_root(bad).code == "generators_mismatch"
    assert pp.verify_private_proof(proof, root_record=bad).code == "generators_mismatch"
    assert pp.verify_private_proof(proof, root_record=record).ok


def _malicious_tree(values, *, negative_at=None, replay=None):
    """A venue's own builder that skips the honest API's checks: a leaf may commit to ``-x``
    (as ``Q - x``) with some range proof, or carry a copy of another leaf's commitment and proof."""
    t = build_private_tree([(f"m{i}", {"USDC": max(v, 0)}) for i, v in enumerate(values)], ["USDC"],
                           snapshot_id="evil", shuffle=False, bits=64)
    leaves = [list(t._leaves[i]) for i in range(t.account_count)]
    if negative_at is not None:
        v = values[negative_at]
        r = cm.random_scalar()
        honest = prove_range(0, 64, b"whatever")  # the best available: some valid-looking proof
        leaves[negative_at] = [LeafAsset(v % Q, r, encode_point(commit(v, r)), honest.proof)]
    if replay is not None:
        src, dst = replay
        leaves[dst] = list(leaves[src])
    return _assemble(t, leaves)


def _assemble(t, leaves):
    accs = t._accounts
    level = [(pp.leaf_hash(a, [x.commitment for x in leaf]), [x.commitment for x in leaf])
             for a, leaf in zip(accs, leaves, strict=True)]
    levels = [level]
    while len(level) > 1:
        nxt = []
        for j in range(0, len(level) - 1, 2):
            (lh, lc), (rh, rc) = level[j], level[j + 1]
            s = [encode_point(point_add(cm.decode_point(x), cm.decode_point(y))) for x, y in zip(lc, rc, strict=True)]
            nxt.append((pp.node_hash(lh, lc, rh, rc), s))
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
        levels.append(level)
    total = sum(leaf[0].value for leaf in leaves) % Q
    blinding = sum(leaf[0].blinding for leaf in leaves) % Q
    header = pp.header_digest(t.snapshot_id, t.sequence, t.assets, t.bits, t.account_count)
    rbits = pp.root_bits(t.bits, t.account_count)
    rp = prove_range(total, rbits, pp.root_context(header, 0), blinding=blinding)
    return PrivateTree(snapshot_id=t.snapshot_id, sequence=t.sequence, assets=t.assets, bits=t.bits,
                       account_ids=t.account_ids, salts=t._salts, accounts=accs, leaves=leaves, levels=levels,
                       root_proofs={"USDC": rp.proof}, totals={"USDC": total}, blindings={"USDC": blinding})


def test_a_hidden_negative_balance_is_rejected():
    """Four customers are owed 100 each; the venue adds a fake account at -300 to publish a total of 100."""
    evil = _malicious_tree([100, 100, -300, 100, 100], negative_at=2)
    assert evil.totals["USDC"] == 100  # the sum wrapped: Q - 300 + 400 ≡ 100
    record = evil.root_record()
    assert pp.verify_private_root(record).ok  # the root alone is consistent: the lie is in a leaf
    res, _ = pp.verify_private_tree(record, evil.tree_file())
    assert res.code == "leaf_range_proof_invalid" and "leaf 2 " in res.reason
    for i in (0, 1, 3, 4):  # honest customers' own proofs pass: the published tree is what catches it
        assert pp.verify_private_proof(evil.proof(i), evil.root_hash).ok
    assert pp.verify_private_proof(evil.proof(2), evil.root_hash).code == "value_out_of_range"
    fake = evil.proof(2)
    fake["leaf"]["balances"]["USDC"]["value"] = "0"
    assert pp.verify_private_proof(fake, evil.root_hash).code == "opening_mismatch"


def test_a_leaf_replayed_onto_another_position_is_rejected():
    evil = _malicious_tree([5, 6, 7, 8], replay=(0, 3))
    res, _ = pp.verify_private_tree(evil.root_record(), evil.tree_file())
    assert res.code == "leaf_range_proof_invalid" and "leaf 3 " in res.reason
    assert pp.verify_private_proof(evil.proof(3), evil.root_hash).code == "range_proof_invalid"
    assert pp.verify_private_proof(evil.proof(0), evil.root_hash).ok


def test_the_published_tree_must_hold_the_proofs_leaf_and_siblings(tree, published):
    record, pub = published
    other = build_private_tree(ROWS, ["USDC"], snapshot_id="snap-1", sequence=42, secret=b"another-secret-16bytes")
    res = pp.verify_private_proof(other.proof("acct-01"), root_record=record, tree=pub)
    assert not res.ok and res.code in ("tree_mismatch", "unexpected_root")
    raw = bytearray(tree.tree_file())
    raw[-5] ^= 1  # the last leaf's range proof
    res, none = pp.verify_private_tree(record, bytes(raw))
    assert res.code == "leaf_range_proof_invalid" and none is None
    assert pp.verify_private_tree(record, bytes(raw[:-1]))[0].code == "malformed"
    assert pp.verify_private_tree(other.root_record(), tree.tree_file())[0].code == "tree_mismatch"


@pytest.mark.parametrize("text", ["", "{", "[]", '{"format": "ramparts-private-proof-of-liabilities"}',
                                  '{"a": 1, "a": 2}'])
def test_unreadable_proofs_are_malformed(text):
    res = pp.verify_private_proof(text)
    assert not res.ok and res.malformed, res


def test_strict_fields(tree):
    proof = tree.proof("acct-02")
    for change in (
        lambda p: p.update(extra=1),
        lambda p: p["leaf"]["balances"]["USDC"].update(value="-1"),
        lambda p: p["leaf"]["balances"]["USDC"].update(value="01"),
        lambda p: p["leaf"]["balances"]["USDC"].update(blinding=Q.to_bytes(32, "big").hex()),
        lambda p: p["leaf"]["balances"]["USDC"].update(commitment="02" + "00" * 32),
        lambda p: p["leaf"]["balances"]["USDC"].update(range_proof=p["leaf"]["balances"]["USDC"]["range_proof"][:-4]),
        lambda p: p["leaf"]["balances"]["USDC"].update(range_proof=p["leaf"]["balances"]["USDC"]["range_proof"] + "\n"),
        lambda p: p.update(bits=129),
    ):
        bad = copy.deepcopy(proof)
        change(bad)
        assert pp.verify_private_proof(bad).code == "malformed"
    bad = copy.deepcopy(proof)
    bad["version"] = 2
    assert pp.verify_private_proof(bad).code == "unsupported_version"


def test_the_builder_refuses_negative_and_oversized_balances_and_bounds_the_tree():
    with pytest.raises(InvalidInput, match="negative"):
        build_private_tree([("a", {"USDC": -1})], ["USDC"], snapshot_id="s")
    with pytest.raises(InvalidInput, match="2\\*\\*64"):
        build_private_tree([("a", {"USDC": 2**64})], ["USDC"], snapshot_id="s")
    with pytest.raises(InvalidInput, match="bits"):
        build_private_tree([("a", {"USDC": 1})], ["USDC"], snapshot_id="s", bits=129)
    with pytest.raises(InvalidInput, match="int base units"):
        build_private_tree([("a", {"USDC": 1.5})], ["USDC"], snapshot_id="s")
    with pytest.raises(InvalidInput, match="duplicate"):
        build_private_tree([("a", {"USDC": 1}), ("a", {"USDC": 2})], ["USDC"], snapshot_id="s")
    # the overflow bound: n·(2**bits - 1) < Q for every allowed tree, so sums never wrap
    assert pp.MAX_ACCOUNTS * (2**pp.MAX_LEAF_BITS - 1) < Q
    # a full small tree: 5 leaves at the top of an 8-bit range, the root proven over 8 + 3 bits
    t = build_private_tree([(f"a{i}", {"X": 255}) for i in range(5)], ["X"], snapshot_id="full", bits=8)
    assert t.totals["X"] == 1275 and pp.root_bits(8, 5) == 11 and pp.verify_private_root(t.root_record()).ok


def test_liabilities_from_equities_counts_deficits_apart():
    rows, deficits = liabilities_from_equities([("a", {"USDC": 10, "BTC": -2}), ("b", {"USDC": -7})])
    assert rows == [("a", {"USDC": 10, "BTC": 0}), ("b", {"USDC": 0})]
    assert deficits == {"BTC": (1, 2), "USDC": (1, 7)}


def test_parallel_proving_gives_a_tree_that_verifies():
    rows = [(f"p{i}", {"USDC": i}) for i in range(9)]
    t = build_private_tree(rows, ["USDC"], snapshot_id="par", bits=16, secret=SECRET, workers=2)
    serial = build_private_tree(rows, ["USDC"], snapshot_id="par", bits=16, secret=SECRET)
    assert t.root_hash == serial.root_hash
    res, _ = pp.verify_private_tree(t.root_record(), t.tree_file(), workers=2)
    assert res.ok and res.leaves_checked == 9


# ------------------------------------------------------------------------------------------------ the engine


def _venue(path: Path):
    from ramparts.engine import events as ev
    from ramparts.engine.node import Node
    from ramparts.engine.presets import genesis, perpetual
    from ramparts.journal import open_journal

    s = 10**9
    node = Node(open_journal(f"sqlite:///{path}"))
    events = [genesis(ts=0), perpetual("BTC-PERP", "BTC", ts=0), ev.FundInsurance(ts=0, amount="1000"),
              ev.OraclePrice(ts=0, instrument="BTC-PERP", price="50000")]
    for sub, cash in (("alice/main", "3000"), ("alice/hedge", "500"), ("bob/main", "100000"), ("carol/main", "520")):
        events += [ev.OpenSubAccount(ts=0, subaccount=sub), ev.Deposit(ts=0, subaccount=sub, asset="USDC", amount=cash)]
    events += [
        ev.Fill(ts=s, instrument="BTC-PERP", buyer="alice/main", seller="bob/main", price="50000", size="0.5", buyer_fee="5"),
        ev.Fill(ts=s, instrument="BTC-PERP", buyer="carol/main", seller="bob/main", price="50000", size="0.1"),
        ev.Withdraw(ts=2 * s, subaccount="bob/main", asset="USDC", amount="1000"),
        ev.OraclePrice(ts=3 * s, instrument="BTC-PERP", price="44000"),  # carol and alice/main under water
    ]
    for e in events:
        node.submit(e)
    return node


def test_the_opened_root_equals_the_engines_total_liabilities_and_is_journaled(tmp_path):
    from ramparts.solvency.engine_snapshot import engine_tree
    from ramparts.solvency.private_tree import engine_private_tree, publish_private_liabilities

    node = _venue(tmp_path / "j.sqlite")
    e = node.engine
    eq = e.account_equities()
    assert eq["carol/main"]["USDC"] < 0 < eq["bob/main"]["USDC"]
    owed = sum(max(b["USDC"], 0) for b in eq.values())
    tree, deficits = engine_private_tree(e, snapshot_id="check", secret=SECRET)
    v1 = engine_tree(e, snapshot_id="check", salt_secret=SECRET)
    assert tree.totals["USDC"] == owed == v1.totals["USDC"].assets  # exactly, in base units
    assert deficits["USDC"] == (2, v1.totals["USDC"].liabilities)
    assert tree.balances("carol/main") == {"USDC": 0}

    seq = e.seq
    pub = publish_private_liabilities(node, tmp_path / "out", secret=SECRET)
    assert pub.tree.totals == tree.totals and pub.tree.sequence == seq
    rec = e.liabilities_roots[-1]
    assert rec["root_hash"] == pub.tree.root_hash and rec["snapshot_id"] == f"seq-{seq}-private"
    assert rec["totals"]["USDC"] == {"assets": str(owed), "liabilities": str(deficits["USDC"][1])}
    row = pub.attestation.by_asset()["USDC"]
    assert row.holdings == -e.ledger.balance("USDC", "external") and row.surplus == row.holdings - owed
    root = json.loads((tmp_path / "out" / "root.json").read_text())
    res, published = pp.verify_private_tree(root, (tmp_path / "out" / "tree.bin").read_bytes())
    assert res.ok and res.totals == {"USDC": owed}
    from ramparts.solvency.files import proof_filename

    for aid in eq:
        proof = (tmp_path / "out" / "proofs" / proof_filename(aid)).read_text()
        r = pp.verify_private_proof(proof, rec["root_hash"], root_record=root, tree=published)
        assert r.ok and r.balances == {"USDC": max(eq[aid]["USDC"], 0)}, aid
    # a second root for the same snapshot is refused by the engine
    with pytest.raises(Rejected):
        publish_private_liabilities(node, None, secret=SECRET, snapshot_id=rec["snapshot_id"])


# ------------------------------------------------------------------------------------------------ the commands


def _run(*args):
    return CliRunner().invoke(app, list(args), env={"COLUMNS": "200"})


def test_cli_prove_verify_and_reject(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("b.csv").write_text("account_id,asset,amount_units\nalice,USDC,1500\nbob,USDC,-20\ncarol,USDC,0\n"
                             "dave,BTC,7\n")
    Path("secret").write_text("a-secret-of-at-least-16-bytes\n")
    res = _run("prove-liabilities-private", "b.csv", "--secret-file", "secret", "--out", "pub")
    assert res.exit_code == 0, res.output
    assert "1,500" in res.output and "1: 20" in res.output
    assert sorted(p.name for p in Path("pub/proofs").iterdir()) == ["alice.json", "bob.json", "carol.json", "dave.json"]
    root = json.loads(Path("pub/root.json").read_text())
    assert root["totals"]["USDC"]["total"] == "1500" and root["totals"]["BTC"]["total"] == "7"

    res = _run("verify-private-proof", "pub/proofs/alice.json", "--tree", "pub")
    assert res.exit_code == 0 and "VERIFIED" in res.output and "4 leaves" in res.output, res.output
    res = _run("verify-private-proof", "pub/proofs/bob.json", "--root", root["hash"])
    assert res.exit_code == 0 and "matches the published root" in res.output, res.output
    res = _run("verify-private-tree", "pub")
    assert res.exit_code == 0 and "VERIFIED" in res.output, res.output

    res = _run("verify-private-proof", "pub/proofs/bob.json", "--root", "00" * 32)
    assert res.exit_code == 1 and "unexpected_root" in res.output, res.output
    doctored = json.loads(Path("pub/proofs/carol.json").read_text())
    doctored["leaf"]["balances"]["USDC"]["value"] = "5"
    Path("carol.json").write_text(json.dumps(doctored))
    res = _run("verify-private-proof", "carol.json", "--root-file", "pub/root.json")
    assert res.exit_code == 1 and "opening_mismatch" in res.output, res.output
    Path("junk.json").write_text("not json")
    assert _run("verify-private-proof", "junk.json").exit_code == 2
    assert _run("verify-private-proof", "pub/proofs/alice.json", "--root", "xyz").exit_code == 2
    raw = bytearray(Path("pub/tree.bin").read_bytes())
    raw[-3] ^= 1
    Path("pub/tree.bin").write_bytes(bytes(raw))
    res = _run("verify-private-tree", "pub")
    assert res.exit_code == 1 and "leaf_range_proof_invalid" in res.output, res.output
    res = _run("verify-private-proof", "pub/proofs/alice.json", "--tree", "pub")
    assert res.exit_code == 1, res.output


def test_cli_prove_private_from_a_journal(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _venue(tmp_path / "j.sqlite").close()
    Path("secret").write_bytes(SECRET)
    res = _run("prove-liabilities-private", "--journal", str(tmp_path / "j.sqlite"), "--secret-file", "secret",
               "--out", "o")
    assert res.exit_code == 0, res.output
    assert "journaled LiabilitiesRoot" in res.output
    res = _run("verify-private-proof", "o/proofs/carol+main.json", "--tree", "o")
    assert res.exit_code == 0, res.output


def test_cli_bad_input_exits_2(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("b.csv").write_text("account_id,asset,amount_units\nalice,USDC,1.5\n")
    res = _run("prove-liabilities-private", "b.csv", "--out", "o")
    assert res.exit_code == 2 and "error:" in res.output and not Path("o").exists(), res.output
    Path("c.csv").write_text("account_id,asset,amount_units\nalice,USDC,99999999999999999999999\n")
    res = _run("prove-liabilities-private", "c.csv", "--out", "o")
    assert res.exit_code == 2 and "2**64" in res.output, res.output
    assert _run("prove-liabilities-private").exit_code == 2
