"""Pedersen commitments on secp256k1 and the Fiat–Shamir transcript of the private proofs of liabilities.

This module owns the group layer of :mod:`ramparts.solvency.private_proof`: the two generators,
the canonical byte encodings of points and scalars, Pedersen commitments and the domain-separated
transcript from which every non-interactive challenge is drawn. It does **no curve arithmetic of
its own**: every point operation is one call into libsecp256k1 through `coincurve
<https://github.com/ofek/coincurve>`_ (``PublicKey.multiply`` = ``secp256k1_ec_pubkey_tweak_mul``,
``PublicKey.combine_keys`` = ``secp256k1_ec_pubkey_combine``, ``PublicKey.from_valid_secret`` =
``secp256k1_ec_pubkey_create``, point parsing = ``secp256k1_ec_pubkey_parse``, which checks that a
point is on the curve). What is written here is only the protocol glue around those calls.

Why coincurve: it binds the libsecp256k1 library that Bitcoin Core uses (audited, constant-time,
maintained), ships wheels for every platform (no compiler needed) and is fast: on this project's
machines a variable-base multiplication costs about 25 µs, a fixed-base one 15 µs and an addition
3 µs, against several milliseconds for a pure-Python library such as ``py_ecc``. Its one gap is the
point at infinity, which it cannot represent; this module represents it as ``None`` (see
:func:`point_add`), which only ever arises from a prover's deliberately degenerate choice or with
probability about ``2**-256``.

The group
---------

secp256k1 (SEC 2): the curve ``y**2 = x**3 + 7`` over ``GF(p)``, ``p = 2**256 - 2**32 - 977``, of
prime order ``Q = 0xFFFFFFFF FFFFFFFF FFFFFFFF FFFFFFFE BAAEDCE6 AF48A03B BFD25E8C D0364141``
(cofactor 1, so every point other than infinity generates the group). Scalars are integers mod
``Q``.

* ``G`` is the standard base point.
* ``H`` is a *nothing-up-my-sleeve* second generator, found by **try-and-increment**: for
  ``ctr = 0, 1, 2, ...`` let ``x = SHA-256("ramparts/pedersen/H/secp256k1/v1" || u32(ctr))``; the
  first ``x`` that is the x-coordinate of a curve point (``x < p`` and ``x**3 + 7`` a square mod
  ``p``) gives ``H = (x, y)`` with ``y`` even (compressed encoding ``0x02 || x``). ``H_COUNTER`` is
  that first ``ctr``. Because ``x`` is a hash output, nobody (the venue included) knows ``h`` with
  ``H = h·G``; computing it is the discrete-logarithm problem. (Try-and-increment is not
  constant-time, which does not matter for a public constant.)

Sources: Pedersen, "Non-interactive and information-theoretic secure verifiable secret sharing"
(CRYPTO 1991) for the commitment; try-and-increment hashing to a curve as in Boneh, Lynn and
Shacham, "Short signatures from the Weil pairing" (ASIACRYPT 2001, ``MapToGroup``); Fiat and
Shamir (CRYPTO 1986) for the transcript; SEC 1 / SEC 2 (Certicom) for the curve and encodings.

Pedersen commitment to a value ``v`` with blinding ``r`` (both mod ``Q``)::

    C = commit(v, r) = v·G + r·H

*Perfectly hiding*: for a uniform ``r``, ``C`` is a uniform point whatever ``v``. *Computationally
binding*: two openings ``(v, r) != (v', r')`` of the same ``C`` give ``log_G(H) = (v - v') / (r' - r)``.
*Additively homomorphic*: ``commit(v1, r1) + commit(v2, r2) = commit(v1 + v2, r1 + r2)``, which is
what lets a Merkle tree carry the commitment of each node's sum.

Encodings
---------

* a point: 33 bytes, SEC 1 compressed (``0x02``/``0x03`` || x); the point at infinity, which SEC 1
  encodes as one zero byte, is written as 33 zero bytes so that every point field has a fixed width;
  :func:`decode_point` refuses any other non-canonical form;
* a scalar: 32 bytes big-endian, ``0 <= k < Q`` (a verifier rejects ``k >= Q``: no malleability).

The transcript (Fiat–Shamir)
----------------------------

:class:`Transcript` absorbs labelled messages into SHA-512::

    state = SHA-512 over:  str(domain label) || for each message: str(name) || u32(len(data)) || data

where ``str(s) = u32(len(utf8(s))) || utf8(s)`` and ``u32`` is 4 bytes big-endian. A challenge is
``int(SHA-512(state-so-far || str("challenge") || str(name))) mod Q``: 512 bits reduced mod a
256-bit prime, so its bias is below ``2**-250``. The domain label, the names and the lengths make
the encoding injective, so no transcript of one protocol, or one position, can be reinterpreted as
another (the callers also absorb the statement's full context: see
:mod:`ramparts.solvency.range_proof`).
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable

from coincurve import PublicKey

#: The order of secp256k1's group (SEC 2, "n").
Q = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
#: The field prime of secp256k1.
P = 2**256 - 2**32 - 977

POINT_BYTES = 33
SCALAR_BYTES = 32
#: How the point at infinity is written (33 zero bytes).
INFINITY_BYTES = bytes(POINT_BYTES)

#: The seed of the nothing-up-my-sleeve generator ``H`` (see the module docstring).
H_SEED = b"ramparts/pedersen/H/secp256k1/v1"

#: A point of the group; ``None`` is the point at infinity (the identity).
Point = PublicKey | None


class EncodingError(ValueError):
    """A point or scalar is not canonically encoded (wrong length, not on the curve, ``>= Q``)."""


def _u32(x: int) -> bytes:
    return x.to_bytes(4, "big")


def _str(s: str) -> bytes:
    raw = s.encode("utf-8")
    return _u32(len(raw)) + raw


# --------------------------------------------------------------------------- generators


def _hash_to_curve(seed: bytes) -> tuple[PublicKey, int]:
    """Try-and-increment: the first ``SHA-256(seed || u32(ctr))`` that is an x-coordinate, even ``y``.

    The curve membership test is libsecp256k1's point parser (``x < p`` and ``x**3 + 7`` a square).
    """
    for ctr in range(1 << 16):
        x = hashlib.sha256(seed + _u32(ctr)).digest()
        try:
            return PublicKey(b"\x02" + x), ctr
        except ValueError:
            continue
    raise RuntimeError("no curve point found")  # pragma: no cover - probability 2**-65536


#: The standard base point of secp256k1.
G: PublicKey = PublicKey.from_valid_secret((1).to_bytes(32, "big"))
#: ``-G``.
NEG_G: PublicKey = PublicKey.from_valid_secret((Q - 1).to_bytes(32, "big"))
#: The second generator, of unknown discrete logarithm to base ``G``, and the counter that found it.
H, H_COUNTER = _hash_to_curve(H_SEED)

G_BYTES: bytes = G.format(compressed=True)
H_BYTES: bytes = H.format(compressed=True)


# --------------------------------------------------------------------------- scalars and points


def random_scalar() -> int:
    """A uniform non-zero scalar from :mod:`secrets`."""
    return secrets.randbelow(Q - 1) + 1


def encode_scalar(k: int) -> bytes:
    """32 bytes big-endian of ``k mod Q``."""
    return (k % Q).to_bytes(SCALAR_BYTES, "big")


def decode_scalar(raw: bytes) -> int:
    """A scalar from 32 bytes; :class:`EncodingError` if the length is wrong or the value ``>= Q``."""
    if len(raw) != SCALAR_BYTES:
        raise EncodingError(f"a scalar is {SCALAR_BYTES} bytes, got {len(raw)}")
    k = int.from_bytes(raw, "big")
    if k >= Q:
        raise EncodingError("scalar is not reduced mod the group order")
    return k


def encode_point(pt: Point) -> bytes:
    """33 bytes: SEC 1 compressed, or 33 zero bytes for the point at infinity."""
    return INFINITY_BYTES if pt is None else pt.format(compressed=True)


def decode_point(raw: bytes) -> Point:
    """A point from its 33-byte encoding; :class:`EncodingError` unless canonical and on the curve."""
    if len(raw) != POINT_BYTES:
        raise EncodingError(f"a point is {POINT_BYTES} bytes, got {len(raw)}")
    if raw == INFINITY_BYTES:
        return None
    if raw[0] not in (2, 3):
        raise EncodingError("a point must be SEC 1 compressed (0x02 or 0x03 prefix)")
    try:
        pt = PublicKey(bytes(raw))
    except ValueError:
        raise EncodingError("not a point of secp256k1") from None
    if pt.format(compressed=True) != raw:  # pragma: no cover - the parser refuses x >= p already
        raise EncodingError("non-canonical point encoding")
    return pt


def point_mul(pt: Point, k: int) -> Point:
    """``k·pt`` (``k`` any int, reduced mod ``Q``) by libsecp256k1; infinity when ``k ≡ 0`` or ``pt`` is."""
    k %= Q
    if k == 0 or pt is None:
        return None
    return pt.multiply(k.to_bytes(SCALAR_BYTES, "big"))


def base_mul(k: int) -> Point:
    """``k·G`` with libsecp256k1's fixed-base multiplication."""
    k %= Q
    if k == 0:
        return None
    return PublicKey.from_valid_secret(k.to_bytes(SCALAR_BYTES, "big"))


def point_add(*points: Point) -> Point:
    """The sum of the points (``None`` terms skipped) by ``secp256k1_ec_pubkey_combine``.

    libsecp256k1 reports a sum equal to the point at infinity as an error, which is returned as
    ``None``. (Its combine handles equal summands, i.e. doubling, correctly.)
    """
    pts = [p for p in points if p is not None]
    if not pts:
        return None
    if len(pts) == 1:
        return pts[0]
    try:
        return PublicKey.combine_keys(pts)
    except ValueError:
        return None


def point_sum(points: Iterable[Point]) -> Point:
    """:func:`point_add` over an iterable."""
    return point_add(*points)


def points_equal(a: Point, b: Point) -> bool:
    """Equality of two points (``None`` is infinity)."""
    return encode_point(a) == encode_point(b)


def commit(value: int, blinding: int) -> Point:
    """The Pedersen commitment ``value·G + blinding·H`` (both mod ``Q``)."""
    return point_add(base_mul(value), point_mul(H, blinding))


def opens_to(commitment: Point, value: int, blinding: int) -> bool:
    """True iff ``commitment == value·G + blinding·H``."""
    return points_equal(commitment, commit(value, blinding))


# --------------------------------------------------------------------------- transcript


class Transcript:
    """A domain-separated Fiat–Shamir transcript over SHA-512 (format in the module docstring)."""

    __slots__ = ("_h",)

    def __init__(self, domain: str):
        self._h = hashlib.sha512(_str(domain))

    def append(self, name: str, data: bytes) -> None:
        """Absorb one labelled message."""
        self._h.update(_str(name) + _u32(len(data)) + data)

    def append_point(self, name: str, pt: Point) -> None:
        """Absorb a point in its 33-byte encoding."""
        self.append(name, encode_point(pt))

    def challenge(self, name: str) -> int:
        """A challenge scalar in ``[0, Q)`` from everything absorbed so far (the state is not consumed)."""
        h = self._h.copy()
        h.update(_str("challenge") + _str(name))
        return int.from_bytes(h.digest(), "big") % Q


__all__ = [
    "G",
    "G_BYTES",
    "H",
    "H_BYTES",
    "H_COUNTER",
    "H_SEED",
    "INFINITY_BYTES",
    "NEG_G",
    "P",
    "POINT_BYTES",
    "Q",
    "SCALAR_BYTES",
    "EncodingError",
    "Point",
    "Transcript",
    "base_mul",
    "commit",
    "decode_point",
    "decode_scalar",
    "encode_point",
    "encode_scalar",
    "opens_to",
    "point_add",
    "point_mul",
    "point_sum",
    "points_equal",
    "random_scalar",
]
