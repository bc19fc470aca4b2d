"""Bit-decomposition range proofs: a Pedersen commitment opens to a value in ``[0, 2**L)``, and nothing more.

This module owns the range proof of the private proofs of liabilities
(:mod:`ramparts.solvency.private_proof`): :func:`prove_range` (the prover), :func:`verify_range`
(the verifier), the byte format, and :func:`range_challenge`, the transcript both of them hash. The
group operations are :mod:`ramparts.solvency.commitments` (libsecp256k1 through coincurve).

The protocol
------------

Sources: the OR-composition of Σ-protocols of Cramer, Damgård and Schoenmakers, "Proofs of partial
knowledge and simplified design of witness hiding protocols" (CRYPTO 1994), applied to a bit
commitment as in Boneh and Shoup, *A Graduate Course in Applied Cryptography*, ch. 19 (Σ-protocols,
OR-proofs, Fiat–Shamir) and 20; the bit-by-bit range proof is the one used for range-proven proofs
of liabilities in Provisions (Dagher, Bünz, Bonneau, Clark and Boneh, CCS 2015, §4 and appendix);
non-interactive by the Fiat–Shamir transform (Fiat and Shamir, CRYPTO 1986).

Statement: ``C = v·G + r·H`` with ``0 <= v < 2**L``. Witness: ``v`` and ``r``.

1. The prover writes ``v = Σ b_i·2**i`` (``b_i`` in ``{0, 1}``), picks non-zero blindings ``r_i``
   and publishes ``C_i = b_i·G + r_i·H`` for ``i = 0 .. L-1``, with ``r = Σ r_i·2**i mod Q`` so that
   ``Σ 2**i·C_i = C`` exactly (the verifier checks this equation).
2. For each ``C_i`` it proves *"``C_i = r_i·H`` or ``C_i - G = r_i·H``"* with a CDS OR-proof of two
   Schnorr proofs of knowledge of a discrete logarithm to base ``H``, ``Y_0 = C_i`` and
   ``Y_1 = C_i - G``: for its true branch ``b`` it picks a nonce ``k_i`` and sends ``A_b = k_i·H``;
   for the other branch it *simulates*: random ``e_{1-b}``, ``s_{1-b}``, and
   ``A_{1-b} = s_{1-b}·H - e_{1-b}·Y_{1-b}``.
3. One challenge for all bits (Fiat–Shamir): ``e = range_challenge(...)``, the hash of the
   statement's context, ``L``, ``C``, every ``C_i`` and every ``(A_0, A_1)``.
4. For every bit, ``e_b = e - e_{1-b} mod Q`` and ``s_b = k_i + e_b·r_i mod Q``.

The proof is ``e`` and, per bit, ``(C_i, e_0, s_0, s_1)`` (``e_1 = e - e_0`` is implied). The
verifier recomputes ``A_0 = s_0·H - e_0·C_i`` and ``A_1 = s_1·H - e_1·(C_i - G)`` for every bit and
accepts iff ``Σ 2**i·C_i == C`` and the challenge recomputed from those ``A``'s equals ``e``.

Why it is sound: the OR-proof has special soundness — two accepting transcripts with the same
``A``'s and different ``e`` give different ``(e_0, e_1)`` splits in at least one branch, hence a
discrete logarithm ``r_i`` of ``C_i`` or of ``C_i - G`` to base ``H``, i.e. an opening of ``C_i``
to 0 or to 1 (the forking lemma turns this into soundness of the Fiat–Shamir version in the random
oracle model). So each ``C_i`` opens to a bit; then ``C = Σ 2**i·C_i`` opens to
``Σ b_i·2**i`` in ``[0, 2**L)``, and by binding, to nothing else. In particular a "negative"
``v = Q - x`` (``0 < x < Q - 2**255``) exceeds ``2**255`` and has no such decomposition for any
``L <= MAX_BITS``: a forged proof fails
either the sum equation or some bit's OR-proof (the tests try both). Zero knowledge: the
OR-proof is special honest-verifier zero knowledge (a simulated branch is distributed exactly as a
real one), so the proof reveals nothing about ``v`` beyond the range; the ``C_i`` are perfectly
hiding Pedersen commitments.

Binding the context: the transcript absorbs the caller's ``context`` bytes (for a leaf of the tree:
the snapshot header, the asset, the leaf index and the account commitment), so a proof is valid
for one position only: a proof copied onto another leaf, asset or snapshot is rejected even when it
is attached to the very same commitment (a *replay*).

The byte format (``32 + 129·L`` bytes)::

    e (32) || for i = 0 .. L-1 (least significant bit first): C_i (33) || e_0 (32) || s_0 (32) || s_1 (32)

Costs with coincurve: 4 scalar multiplications per bit to prove and to verify (about 7 ms for
``L = 64`` on one core of this project's machines).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ramparts.solvency.commitments import (
    G_BYTES,
    H_BYTES,
    NEG_G,
    POINT_BYTES,
    SCALAR_BYTES,
    EncodingError,
    G,
    H,
    Point,
    Q,
    Transcript,
    commit,
    decode_point,
    decode_scalar,
    encode_point,
    encode_scalar,
    point_add,
    point_mul,
    random_scalar,
)

#: The domain label of the range-proof transcript.
DOMAIN = "ramparts/pol-private/range-proof/v1"
#: The most bits a range proof may cover (``2**160`` is far below ``Q``, see the tree's overflow bound).
MAX_BITS = 160
#: The size of one bit's record: ``C_i``, ``e_0``, ``s_0``, ``s_1``.
BIT_RECORD_BYTES = POINT_BYTES + 3 * SCALAR_BYTES


def proof_size(bits: int) -> int:
    """The size in bytes of a range proof over ``bits`` bits."""
    return SCALAR_BYTES + BIT_RECORD_BYTES * bits


class RangeProofError(ValueError):
    """A range proof is rejected; ``code`` is ``malformed``, ``sum_mismatch`` or ``challenge_mismatch``."""

    def __init__(self, code: str, reason: str):
        super().__init__(reason)
        self.code = code
        self.reason = reason


@dataclass(frozen=True)
class RangeProof:
    """A proved commitment: ``commitment = value·G + blinding·H`` and the proof bytes (format above)."""

    commitment: Point
    value: int
    blinding: int
    proof: bytes


def _check_bits(bits: int) -> None:
    if type(bits) is not int or not 1 <= bits <= MAX_BITS:
        raise ValueError(f"bits must be an int in [1, {MAX_BITS}], got {bits!r}")


def range_challenge(
    context: bytes,
    bits: int,
    commitment: Point,
    bit_commitments: Sequence[bytes],
    a0: Sequence[bytes],
    a1: Sequence[bytes],
) -> int:
    """The Fiat–Shamir challenge ``e`` of a range proof (points as 33-byte encodings).

    Absorbed in this order: the generators ``G`` and ``H``, ``L``, the caller's context, ``C``,
    every ``C_i``, then every ``(A_0, A_1)`` pair, all under the domain label :data:`DOMAIN`.
    """
    t = Transcript(DOMAIN)
    t.append("G", G_BYTES)
    t.append("H", H_BYTES)
    t.append("bits", bits.to_bytes(4, "big"))
    t.append("context", bytes(context))
    t.append_point("C", commitment)
    t.append("bit_commitments", b"".join(bit_commitments))
    t.append("first_messages", b"".join(x + y for x, y in zip(a0, a1, strict=True)))
    return t.challenge("e")


def prove_range(
    value: int,
    bits: int,
    context: bytes,
    bit_blindings: Sequence[int] | None = None,
    *,
    blinding: int | None = None,
) -> RangeProof:
    """Commit to ``value`` and prove ``0 <= value < 2**bits`` (see the module docstring).

    ``bit_blindings`` (``bits`` non-zero scalars, e.g. derived from a secret so that the commitment
    is reproducible) default to fresh random ones; the commitment's blinding is
    ``Σ bit_blindings[i]·2**i mod Q``. ``blinding`` instead fixes that total (to prove the range of
    an existing commitment, such as a tree's root): the bit blindings are then random except the
    lowest, which is solved for. The OR-proof nonces and simulated values are always fresh from
    :mod:`secrets`. Raises :class:`ValueError` when ``value`` is outside the range: an honest
    prover cannot prove a negative (or too large) value, and the verifier rejects any attempt.
    """
    _check_bits(bits)
    if type(value) is not int or not 0 <= value < (1 << bits):
        raise ValueError(f"value must be an int in [0, 2**{bits}), got {value!r}")
    fixed = bit_blindings is not None or blinding is not None
    if blinding is not None:
        if bit_blindings is not None:
            raise ValueError("give bit_blindings or blinding, not both")
        while True:
            rs = [0] + [random_scalar() for _ in range(bits - 1)]
            rs[0] = (blinding - sum(r << i for i, r in enumerate(rs))) % Q
            if rs[0]:
                break
    elif bit_blindings is None:
        rs = [random_scalar() for _ in range(bits)]
    else:
        rs = [int(r) % Q for r in bit_blindings]
        if len(rs) != bits or any(r == 0 for r in rs):
            raise ValueError(f"expected {bits} non-zero bit blindings")
    blinding = sum(r << i for i, r in enumerate(rs)) % Q
    c = commit(value, blinding)
    while c is None:  # pragma: no cover - value 0 and blinding ≡ 0: probability 2**-256
        if fixed:
            raise ValueError("the blinding is 0 for value 0: the commitment is the point at infinity")
        rs = [random_scalar() for _ in range(bits)]
        blinding = sum(r << i for i, r in enumerate(rs)) % Q
        c = commit(value, blinding)

    cs: list[bytes] = []
    a0s: list[bytes] = []
    a1s: list[bytes] = []
    secrets_: list[tuple[int, int, int, int]] = []  # (bit, k, simulated e, simulated s)
    for i, r in enumerate(rs):
        b = (value >> i) & 1
        ci = point_mul(H, r)  # r·H, never infinity (r != 0)
        if b:
            ci = point_add(G, ci)
        cs.append(encode_point(ci))
        k = random_scalar()
        e_sim, s_sim = random_scalar(), random_scalar()
        real = point_mul(H, k)
        if b:  # simulate branch 0: A_0 = s·H - e·C_i
            sim = point_add(point_mul(H, s_sim), point_mul(ci, -e_sim))
            a0s.append(encode_point(sim))
            a1s.append(encode_point(real))
        else:  # simulate branch 1: A_1 = s·H - e·(C_i - G)
            sim = point_add(point_mul(H, s_sim), point_mul(point_add(ci, NEG_G), -e_sim))
            a0s.append(encode_point(real))
            a1s.append(encode_point(sim))
        secrets_.append((b, k, e_sim, s_sim))
    e = range_challenge(context, bits, c, cs, a0s, a1s)

    out = [encode_scalar(e)]
    for (b, k, e_sim, s_sim), r, ci in zip(secrets_, rs, cs, strict=True):
        e_real = (e - e_sim) % Q
        s_real = (k + e_real * r) % Q
        e0, s0, s1 = (e_sim, s_sim, s_real) if b else (e_real, s_real, s_sim)
        out.append(ci + encode_scalar(e0) + encode_scalar(s0) + encode_scalar(s1))
    return RangeProof(c, value, blinding, b"".join(out))


def parse_range_proof(proof: bytes, bits: int) -> tuple[int, list[bytes], list[tuple[int, int, int]]]:
    """``(e, [C_i encodings], [(e_0, s_0, s_1)])``; :class:`RangeProofError` ``malformed`` on a bad layout."""
    _check_bits(bits)
    if not isinstance(proof, bytes | bytearray) or len(proof) != proof_size(bits):
        size = len(proof) if isinstance(proof, bytes | bytearray) else type(proof).__name__
        raise RangeProofError("malformed", f"a {bits}-bit range proof is {proof_size(bits)} bytes, got {size}")
    proof = bytes(proof)
    try:
        e = decode_scalar(proof[:SCALAR_BYTES])
        cs, scalars = [], []
        pos = SCALAR_BYTES
        for _ in range(bits):
            ci = proof[pos : pos + POINT_BYTES]
            if ci == bytes(POINT_BYTES):
                raise EncodingError("a bit commitment is the point at infinity")
            decode_point(ci)
            pos += POINT_BYTES
            e0, s0, s1 = (decode_scalar(proof[pos + j * SCALAR_BYTES : pos + (j + 1) * SCALAR_BYTES]) for j in range(3))
            pos += 3 * SCALAR_BYTES
            cs.append(ci)
            scalars.append((e0, s0, s1))
    except EncodingError as exc:
        raise RangeProofError("malformed", f"range proof: {exc}") from None
    return e, cs, scalars


def verify_range(commitment: Point, proof: bytes, bits: int, context: bytes) -> None:
    """Check that ``proof`` shows ``commitment`` opens to a value in ``[0, 2**bits)`` for ``context``.

    Returns ``None`` when it does; raises :class:`RangeProofError` otherwise, with ``code``
    ``malformed`` (layout, encodings), ``sum_mismatch`` (``Σ 2**i·C_i != C``) or
    ``challenge_mismatch`` (some bit's OR-proof fails, or the proof was made for another context).
    """
    e, cs, scalars = parse_range_proof(proof, bits)
    points = [decode_point(ci) for ci in cs]
    # Σ 2**i·C_i by Horner's rule with additions only: acc = 2·acc + C_i from the top bit down
    acc: Point = None
    for ci in reversed(points):
        acc = point_add(acc, acc, ci)
    if encode_point(acc) != encode_point(commitment):
        raise RangeProofError("sum_mismatch", "the weighted sum of the bit commitments is not the commitment")
    a0s, a1s = [], []
    for ci, (e0, s0, s1) in zip(points, scalars, strict=True):
        e1 = (e - e0) % Q
        a0s.append(encode_point(point_add(point_mul(H, s0), point_mul(ci, -e0))))
        a1s.append(encode_point(point_add(point_mul(H, s1), point_mul(point_add(ci, NEG_G), -e1))))
    if range_challenge(context, bits, commitment, cs, a0s, a1s) != e:
        raise RangeProofError(
            "challenge_mismatch",
            "a bit commitment's OR-proof does not verify (a bit that is not 0 or 1, a tampered "
            "proof, or a proof made for another position)",
        )


__all__ = [
    "BIT_RECORD_BYTES",
    "DOMAIN",
    "MAX_BITS",
    "RangeProof",
    "RangeProofError",
    "parse_range_proof",
    "proof_size",
    "prove_range",
    "range_challenge",
    "verify_range",
]
