"""Proof-of-liabilities wire format, canonical encoding and the offline inclusion-proof verifier.

This module owns everything a third party needs to check an inclusion proof: the byte-exact
encoding of every hashed field, the domain-separated hash functions, the JSON proof format
(version 1) and :func:`verify_proof`. It depends on the Python standard library only (``hashlib``,
``hmac``, ``json``, ``re``), never on numpy or on the rest of ramparts, so an account holder can copy
this single file and run ``python proof.py my_proof.json [--root HEX]`` on any machine with
Python >= 3.11, offline. The tree *builder* (:mod:`ramparts.solvency.merkle_sum`) imports its
encoders from here, so the builder and the verifier cannot drift apart.

The tree
--------

A Merkle **sum** tree over every account's net equity per asset at one snapshot. Assets are an
ordered list ``assets = [a_0, ..., a_{k-1}]`` fixed for the snapshot (published in the root). For
each account and each asset the signed equity ``e`` (int base units) is split into two
**non-negative** numbers::

    asset_sum     = max(e, 0)      # what the venue owes the account
    liability_sum = max(-e, 0)     # what the account owes the venue (a deficit)

and every node of the tree carries, per asset, the pair ``(asset_sum, liability_sum)``. A parent's
pair is the exact (unbounded integer) sum of its two children's pairs. Because both halves are
non-negative and summed separately, a deficit can never be netted against another account's
balance out of sight: the root reports the gross asset sum *and* the gross liability sum of every
asset, and a verifier rejects any negative number anywhere and any leaf whose asset and liability
are both positive for the same asset.

The leaves are the accounts in the order the builder received them (leaf index ``0 .. n-1``). The
tree has depth ``d = ceil(log2(n))`` (``(n - 1).bit_length()``; a single account gives ``d = 0`` and
the leaf is the top node). It is conceptually padded on the right to ``2**d`` leaves with **zero
leaves** (account commitment = 32 zero bytes, all sums 0); a builder may equivalently append, at
every level with an odd number of nodes, the padding node of that level, ``PAD_0 = zero leaf hash``
and ``PAD_{j+1} = node_hash(PAD_j, zeros, PAD_j, zeros)``. Padding leaves can never be presented as
an account: a proof's leaf index must be ``< account_count``, and the count is committed in the root.

Canonical encoding (every hashed byte)
--------------------------------------

``H(x)`` is SHA-256. ``||`` is byte concatenation. Integers are big-endian, unsigned, fixed width:

* ``u32(x)``: 4 bytes, ``0 <= x < 2**32``; ``u64(x)``: 8 bytes, ``0 <= x < 2**64``;
* ``u128(x)``: 16 bytes, ``0 <= x < 2**128``; every asset or liability sum, at every node, must be
  in this range (a builder refuses a tree whose sums would overflow, a verifier rejects it);
* ``str(s)``: ``u32(len(utf8(s))) || utf8(s)`` (strict UTF-8, no normalisation);
* ``sums(S)`` for a node: ``u128(asset_sum[a_0]) || u128(liability_sum[a_0]) || ... ||
  u128(asset_sum[a_{k-1}]) || u128(liability_sum[a_{k-1}])``: ``32 * k`` bytes, asset order.

The hashes, each starting with a one-byte domain tag so that no hash of one kind can be replayed
as another kind (second-preimage protection between leaves, nodes, roots and commitments)::

    account_commitment = H(0x03 || salt || str(account_id))          # salt: exactly 32 bytes
    leaf_hash          = H(0x00 || account_commitment || sums(leaf))  # 33 + 32k bytes hashed
    node_hash          = H(0x01 || left_hash || sums(left) || right_hash || sums(right))
    root_hash          = H(0x02 || str("ramparts-proof-of-liabilities") || u32(1)
                              || str(snapshot_id) || u64(sequence)
                              || u32(k) || str(a_0) || ... || str(a_{k-1})
                              || u64(account_count) || top_hash || sums(top))

A node hash commits to *both* children's sums separately (not only to their total), which closes
the known flaw of the original Maxwell sum tree where a prover could show different splits of the
same total to different users. ``top_hash`` is the hash of the single top node (the leaf itself
when ``n = 1``); the published **root hash** additionally binds the snapshot id, the sequence
number, the asset list, the account count and the totals.

The salt hides balances: without it a leaf hash of a small account could be brute-forced from the
account id and a guessed balance. It is 32 bytes, either random (``secrets``) or derived
reproducibly from a server secret: ``salt = HMAC-SHA256(secret, b"ramparts-pol/salt/v1" ||
str(snapshot_id) || str(account_id))`` (a fresh salt per snapshot, so leaves cannot be linked
across snapshots). Siblings in a proof reveal only their hash and sums, never an account id.

Proof format (JSON, version 1)
------------------------------

A UTF-8 JSON object; every amount is a JSON **string** holding a canonical decimal integer
(``"0"``, ``"-5"``, ``"1234"``; no ``+``, no leading zeros, no ``"-0"``), so that no JSON library
rounds it through a float. Hashes and salts are 64 hex characters. Unknown keys and duplicate keys
are rejected::

    {
      "format": "ramparts-proof-of-liabilities",
      "version": 1,
      "snapshot_id": "2024-06-30T00:00:00Z",
      "sequence": 812345,                     # JSON int, 0 <= sequence < 2**64
      "assets": ["BTC", "USDC"],              # the ordered asset list of the snapshot
      "account_count": 1000000,               # JSON int, number of real leaves
      "leaf": {
        "account_id": "alice",
        "salt": "<64 hex>",
        "index": 17,                          # leaf position; bit j = 1 means "right child at level j"
        "balances": {"BTC":  {"equity": "-5", "assets": "0", "liabilities": "5"},
                     "USDC": {"equity": "100", "assets": "100", "liabilities": "0"}}
      },
      "path": [                               # exactly depth entries, from the leaf level upwards
        {"side": "left" | "right",            # where the SIBLING sits relative to the running node
         "hash": "<64 hex>",
         "sums": {"BTC": {"assets": "..", "liabilities": ".."}, "USDC": {...}}},
        ...
      ],
      "root": {
        "hash": "<64 hex>",                   # the published root hash
        "totals": {"BTC": {"assets": "..", "liabilities": "..", "net": ".."}, ...}
      }
    }

Verification algorithm (what :func:`verify_proof` does, in order)
-----------------------------------------------------------------

1. Parse strictly (types, key sets, canonical amounts, hex); any violation is ``malformed``; a
   different format name or version is ``unsupported_version``.
2. ``0 <= index < account_count`` (else ``index_out_of_range``).
3. Leaf: per asset, ``equity == assets - liabilities`` (``leaf_inconsistent``); no negative sum
   (``negative_sum``); not both positive (``asset_and_liability``); every sum ``< 2**128``
   (``out_of_range``).
4. ``len(path) == (account_count - 1).bit_length()`` (``path_length``).
5. Walk up: at level ``j`` the sibling's side must be ``"left"`` iff bit ``j`` of ``index`` is 1
   (``position_mismatch``); sibling sums non-negative and in range; parent sums are the exact sums,
   in range; parent hash per ``node_hash``.
6. The computed top sums must equal ``root.totals`` and ``net == assets - liabilities`` there
   (``totals_mismatch``).
7. The recomputed root hash must equal ``root.hash`` (``root_mismatch``), and, if the caller knows
   the published root hash, equal that too (``unexpected_root``).

A passing proof shows that the account's exact balances are included, once, in a tree whose
published totals are the exact sums of non-negative per-node asset and liability sums. It does
not, alone, show that *other* accounts are included: that is why every account holder should
verify their own proof against the same published root.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

#: The ``format`` string of a proof and of a root record.
FORMAT = "ramparts-proof-of-liabilities"
#: The proof format version this module writes and verifies.
VERSION = 1

TAG_LEAF = b"\x00"
TAG_NODE = b"\x01"
TAG_ROOT = b"\x02"
TAG_ACCOUNT = b"\x03"
#: HMAC message prefix for reproducible salts.
SALT_LABEL = b"ramparts-pol/salt/v1"

SALT_BYTES = 32
HASH_BYTES = 32
AMOUNT_BYTES = 16
#: Every asset/liability sum must be strictly below this bound (fits ``u128``).
AMOUNT_LIMIT = 2**128
U32_LIMIT = 2**32
U64_LIMIT = 2**64

#: Limits that keep a hostile proof from exhausting the verifier.
MAX_ACCOUNT_ID_BYTES = 1024
MAX_SNAPSHOT_ID_BYTES = 1024
MAX_ASSET_BYTES = 64
MAX_ASSETS = 256
MAX_PROOF_BYTES = 16 * 1024 * 1024

#: Failure codes that mean "the file is not a proof we can read" (the CLI exits 2 on these).
MALFORMED_CODES = frozenset({"malformed", "unsupported_version"})

_AMOUNT_RE = re.compile(r"(0|-?[1-9][0-9]{0,59})\Z")  # \Z: "$" would let a trailing newline through
_HEX64_RE = re.compile(r"[0-9a-fA-F]{64}\Z")


class EncodingError(ValueError):
    """A value cannot be canonically encoded (out of range, wrong type, wrong length)."""


# --------------------------------------------------------------------------- canonical encoding


def encode_u32(value: int) -> bytes:
    """``u32``: 4-byte big-endian unsigned; raises :class:`EncodingError` outside ``[0, 2**32)``."""
    if type(value) is not int or not 0 <= value < U32_LIMIT:
        raise EncodingError(f"u32 out of range: {value!r}")
    return value.to_bytes(4, "big")


def encode_u64(value: int) -> bytes:
    """``u64``: 8-byte big-endian unsigned; raises :class:`EncodingError` outside ``[0, 2**64)``."""
    if type(value) is not int or not 0 <= value < U64_LIMIT:
        raise EncodingError(f"u64 out of range: {value!r}")
    return value.to_bytes(8, "big")


def encode_u128(value: int) -> bytes:
    """``u128``: 16-byte big-endian unsigned; raises :class:`EncodingError` outside ``[0, 2**128)``."""
    if type(value) is not int or not 0 <= value < AMOUNT_LIMIT:
        raise EncodingError(f"amount out of the u128 range: {value!r}")
    return value.to_bytes(AMOUNT_BYTES, "big")


def encode_str(value: str) -> bytes:
    """``str``: ``u32(byte length) || strict UTF-8 bytes``."""
    if not isinstance(value, str):
        raise EncodingError(f"expected a string, got {type(value).__name__}")
    try:
        raw = value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise EncodingError(f"not encodable as UTF-8: {value!r}") from exc
    return encode_u32(len(raw)) + raw


def encode_sums(sums: Sequence[tuple[int, int]]) -> bytes:
    """``sums``: ``u128(asset) || u128(liability)`` for each asset, in the snapshot's asset order."""
    return b"".join(encode_u128(a) + encode_u128(li) for a, li in sums)


# --------------------------------------------------------------------------- hashes


def account_commitment(salt: bytes, account_id: str) -> bytes:
    """``H(0x03 || salt || str(account_id))``: the account's identity, hidden behind its salt."""
    if not isinstance(salt, bytes | bytearray) or len(salt) != SALT_BYTES:
        raise EncodingError(f"salt must be exactly {SALT_BYTES} bytes")
    return hashlib.sha256(TAG_ACCOUNT + bytes(salt) + encode_str(account_id)).digest()


def leaf_hash(commitment: bytes, sums: Sequence[tuple[int, int]]) -> bytes:
    """``H(0x00 || account_commitment || sums(leaf))``."""
    if len(commitment) != HASH_BYTES:
        raise EncodingError("account commitment must be 32 bytes")
    return hashlib.sha256(TAG_LEAF + bytes(commitment) + encode_sums(sums)).digest()


def node_hash(
    left_hash: bytes,
    left_sums: Sequence[tuple[int, int]],
    right_hash: bytes,
    right_sums: Sequence[tuple[int, int]],
) -> bytes:
    """``H(0x01 || left_hash || sums(left) || right_hash || sums(right))``."""
    if len(left_hash) != HASH_BYTES or len(right_hash) != HASH_BYTES:
        raise EncodingError("child hashes must be 32 bytes")
    return hashlib.sha256(
        TAG_NODE + bytes(left_hash) + encode_sums(left_sums) + bytes(right_hash) + encode_sums(right_sums)
    ).digest()


def root_hash(
    snapshot_id: str,
    sequence: int,
    assets: Sequence[str],
    account_count: int,
    top_hash: bytes,
    top_sums: Sequence[tuple[int, int]],
) -> bytes:
    """The published root hash: binds the snapshot header, the top node hash and the totals."""
    if len(top_hash) != HASH_BYTES:
        raise EncodingError("top hash must be 32 bytes")
    if len(top_sums) != len(assets):
        raise EncodingError("one (assets, liabilities) pair per asset is required")
    parts = [
        TAG_ROOT,
        encode_str(FORMAT),
        encode_u32(VERSION),
        encode_str(snapshot_id),
        encode_u64(sequence),
        encode_u32(len(assets)),
        *(encode_str(a) for a in assets),
        encode_u64(account_count),
        bytes(top_hash),
        encode_sums(top_sums),
    ]
    return hashlib.sha256(b"".join(parts)).digest()


def derive_salt(secret: bytes, snapshot_id: str, account_id: str) -> bytes:
    """Reproducible salt: ``HMAC-SHA256(secret, "ramparts-pol/salt/v1" || str(snapshot) || str(id))``."""
    return hmac.digest(secret, SALT_LABEL + encode_str(snapshot_id) + encode_str(account_id), "sha256")


def tree_depth(account_count: int) -> int:
    """Depth of the tree over ``account_count >= 1`` leaves: ``ceil(log2(n))``, 0 for one leaf."""
    if account_count < 1:
        raise EncodingError("a tree needs at least one account")
    return (account_count - 1).bit_length()


def padding_hashes(depth: int, n_assets: int) -> list[bytes]:
    """``[PAD_0, ..., PAD_depth]``: the hash of an all-padding subtree of height ``j``."""
    zeros = [(0, 0)] * n_assets
    pads = [leaf_hash(bytes(HASH_BYTES), zeros)]
    for _ in range(depth):
        pads.append(node_hash(pads[-1], zeros, pads[-1], zeros))
    return pads


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class AssetTotals:
    """Gross per-asset sums of a tree (or a node): both non-negative; ``net = assets - liabilities``."""

    assets: int
    liabilities: int

    @property
    def net(self) -> int:
        """Net liabilities of the venue in this asset: what it owes minus what it is owed."""
        return self.assets - self.liabilities

    def to_json(self) -> dict[str, str]:
        """The root-record form: decimal strings for ``assets``, ``liabilities`` and ``net``."""
        return {"assets": str(self.assets), "liabilities": str(self.liabilities), "net": str(self.net)}


@dataclass(frozen=True)
class VerificationResult:
    """The outcome of :func:`verify_proof`.

    ``ok`` is true only if every check passed; otherwise ``code`` is a short machine-readable
    failure code (see the module docstring) and ``reason`` says precisely what failed. The other
    fields are filled in as far as parsing got (``None`` when the proof could not be read).
    """

    ok: bool
    code: str
    reason: str
    account_id: str | None = None
    snapshot_id: str | None = None
    sequence: int | None = None
    root_hash: str | None = None
    account_count: int | None = None
    #: The account's signed equity per asset (base units), when the leaf parsed.
    balances: dict[str, int] | None = None
    #: The root totals the proof claims, when they parsed.
    totals: dict[str, AssetTotals] | None = field(default=None)

    @property
    def malformed(self) -> bool:
        """True when the input is not a readable version-1 proof at all (as opposed to a false one)."""
        return self.code in MALFORMED_CODES


class _Reject(Exception):
    def __init__(self, code: str, reason: str):
        super().__init__(reason)
        self.code = code
        self.reason = reason


def _malformed(reason: str) -> _Reject:
    return _Reject("malformed", reason)


# --------------------------------------------------------------------------- strict parsing


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            raise ValueError(f"duplicate key {k!r}")
        out[k] = v
    return out


def _reject_constant(name: str) -> Any:
    raise ValueError(f"non-standard JSON constant {name}")


def parse_json(text: str | bytes) -> Any:
    """Strict JSON: duplicate keys, ``NaN`` and ``Infinity`` are errors (:class:`ValueError`)."""
    if isinstance(text, bytes | bytearray):
        text = bytes(text).decode("utf-8")
    return json.loads(text, object_pairs_hook=_no_duplicate_keys, parse_constant=_reject_constant)


def _obj(value: Any, where: str, keys: set[str]) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _malformed(f"{where}: expected a JSON object, got {_jtype(value)}")
    missing = keys - value.keys()
    if missing:
        raise _malformed(f"{where}: missing key(s) {', '.join(sorted(missing))}")
    extra = value.keys() - keys
    if extra:
        raise _malformed(f"{where}: unexpected key(s) {', '.join(sorted(map(str, extra)))}")
    return value


def _jtype(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a float"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _int_field(value: Any, where: str, limit: int) -> int:
    if type(value) is not int:
        raise _malformed(f"{where}: expected a JSON integer, got {_jtype(value)}")
    if not 0 <= value < limit:
        raise _malformed(f"{where}: {value} is outside [0, {limit})")
    return value


def _str_field(value: Any, where: str, max_bytes: int, *, allow_empty: bool = False) -> str:
    if not isinstance(value, str):
        raise _malformed(f"{where}: expected a string, got {_jtype(value)}")
    try:
        n = len(value.encode("utf-8"))
    except UnicodeEncodeError:
        raise _malformed(f"{where}: not valid UTF-8") from None
    if n == 0 and not allow_empty:
        raise _malformed(f"{where}: must not be empty")
    if n > max_bytes:
        raise _malformed(f"{where}: longer than {max_bytes} bytes")
    return value


def _hex32(value: Any, where: str) -> bytes:
    if not isinstance(value, str) or not _HEX64_RE.match(value):
        raise _malformed(f"{where}: expected 64 hex characters")
    return bytes.fromhex(value)


def _amount(value: Any, where: str) -> int:
    """A canonical decimal-integer string; sign and range are checked by the caller."""
    if not isinstance(value, str):
        raise _malformed(f"{where}: amounts are decimal strings, got {_jtype(value)}")
    if not _AMOUNT_RE.match(value):
        raise _malformed(f"{where}: {value[:80]!r} is not a canonical decimal integer")
    return int(value)


def _sum_value(value: Any, where: str) -> int:
    v = _amount(value, where)
    if v < 0:
        raise _Reject(
            "negative_sum", f"{where} is negative ({v}); every asset and liability sum must be >= 0"
        )
    if v >= AMOUNT_LIMIT:
        raise _Reject("out_of_range", f"{where} = {v} does not fit the u128 encoding")
    return v


def _check_range(v: int, where: str) -> int:
    if v >= AMOUNT_LIMIT:
        raise _Reject("out_of_range", f"{where} = {v} does not fit the u128 encoding")
    return v


def _parse_assets(value: Any) -> list[str]:
    if not isinstance(value, list) or not value:
        raise _malformed("assets: expected a non-empty array of asset symbols")
    if len(value) > MAX_ASSETS:
        raise _malformed(f"assets: more than {MAX_ASSETS} assets")
    out = [_str_field(a, f"assets[{i}]", MAX_ASSET_BYTES) for i, a in enumerate(value)]
    if len(set(out)) != len(out):
        raise _malformed("assets: duplicate asset symbol")
    return out


def _sums_obj(value: Any, where: str, assets: list[str]) -> list[tuple[int, int]]:
    obj = _obj(value, where, set(assets))
    out = []
    for a in assets:
        pair = _obj(obj[a], f"{where}.{a}", {"assets", "liabilities"})
        out.append(
            (
                _sum_value(pair["assets"], f"{where}.{a}.assets"),
                _sum_value(pair["liabilities"], f"{where}.{a}.liabilities"),
            )
        )
    return out


# --------------------------------------------------------------------------- the verifier


def verify_proof(
    proof: Mapping[str, Any] | str | bytes, *, expected_root: str | None = None
) -> VerificationResult:
    """Verify an inclusion proof offline; never raises on bad input, returns the verdict.

    ``proof`` is the parsed JSON object (or its JSON text). ``expected_root`` is the root hash
    (hex) the venue published out of band; when given, the proof must lead to exactly that root.
    See the module docstring for the checks and the failure codes.
    """
    info: dict[str, Any] = {}
    try:
        if isinstance(proof, str | bytes | bytearray):
            if len(proof) > MAX_PROOF_BYTES:
                raise _malformed(f"proof larger than {MAX_PROOF_BYTES} bytes")
            try:
                proof = parse_json(proof)
            except (ValueError, RecursionError) as exc:
                raise _malformed(f"not valid JSON: {exc}") from None
        _verify(proof, expected_root, info)
    except _Reject as rej:
        return VerificationResult(False, rej.code, rej.reason, **info)
    except (TypeError, ValueError, KeyError, AttributeError, OverflowError, RecursionError) as exc:
        # Defence in depth: the explicit checks above should make this unreachable.
        return VerificationResult(
            False, "malformed", f"unreadable proof: {type(exc).__name__}: {exc}", **info
        )
    return VerificationResult(
        True, "ok", "the account is included in the tree with the published root", **info
    )


def _verify(proof: Any, expected_root: str | None, info: dict[str, Any]) -> None:
    if not isinstance(proof, dict):
        raise _malformed(f"a proof is a JSON object, got {_jtype(proof)}")
    if proof.get("format") != FORMAT:
        raise _Reject(
            "unsupported_version", f"format is {str(proof.get('format'))[:80]!r}, expected {FORMAT!r}"
        )
    if proof.get("version") != VERSION or type(proof.get("version")) is not int:
        raise _Reject(
            "unsupported_version",
            f"version {str(proof.get('version'))[:20]} is not supported (this verifier reads {VERSION})",
        )
    top = _obj(
        proof,
        "proof",
        {"format", "version", "snapshot_id", "sequence", "assets", "account_count", "leaf", "path", "root"},
    )

    snapshot_id = _str_field(top["snapshot_id"], "snapshot_id", MAX_SNAPSHOT_ID_BYTES, allow_empty=True)
    sequence = _int_field(top["sequence"], "sequence", U64_LIMIT)
    assets = _parse_assets(top["assets"])
    count = _int_field(top["account_count"], "account_count", U64_LIMIT)
    if count < 1:
        raise _malformed("account_count: must be at least 1")
    info.update(snapshot_id=snapshot_id, sequence=sequence, account_count=count)

    root = _obj(top["root"], "root", {"hash", "totals"})
    claimed_root = _hex32(root["hash"], "root.hash")
    info["root_hash"] = claimed_root.hex()
    totals_obj = _obj(root["totals"], "root.totals", set(assets))
    totals: list[tuple[int, int]] = []
    for a in assets:
        t = _obj(totals_obj[a], f"root.totals.{a}", {"assets", "liabilities", "net"})
        ta = _sum_value(t["assets"], f"root.totals.{a}.assets")
        tl = _sum_value(t["liabilities"], f"root.totals.{a}.liabilities")
        tn = _amount(t["net"], f"root.totals.{a}.net")
        if tn != ta - tl:
            raise _Reject("totals_mismatch", f"root.totals.{a}: net {tn} != assets {ta} - liabilities {tl}")
        totals.append((ta, tl))
    info["totals"] = {a: AssetTotals(ta, tl) for a, (ta, tl) in zip(assets, totals, strict=True)}

    leaf = _obj(top["leaf"], "leaf", {"account_id", "salt", "index", "balances"})
    account_id = _str_field(leaf["account_id"], "leaf.account_id", MAX_ACCOUNT_ID_BYTES)
    info["account_id"] = account_id
    salt = _hex32(leaf["salt"], "leaf.salt")
    index = _int_field(leaf["index"], "leaf.index", U64_LIMIT)
    bal_obj = _obj(leaf["balances"], "leaf.balances", set(assets))
    leaf_sums: list[tuple[int, int]] = []
    equities: dict[str, int] = {}
    for a in assets:
        b = _obj(bal_obj[a], f"leaf.balances.{a}", {"equity", "assets", "liabilities"})
        eq = _amount(b["equity"], f"leaf.balances.{a}.equity")
        la = _amount(b["assets"], f"leaf.balances.{a}.assets")
        ll = _amount(b["liabilities"], f"leaf.balances.{a}.liabilities")
        if la < 0 or ll < 0:
            raise _Reject(
                "negative_sum", f"leaf.balances.{a}: assets {la} and liabilities {ll} must both be >= 0"
            )
        if la > 0 and ll > 0:
            raise _Reject(
                "asset_and_liability",
                f"leaf.balances.{a}: asset {la} and liability {ll} are both positive; an account in deficit "
                "cannot also claim a positive balance of the same asset",
            )
        if eq != la - ll:
            raise _Reject(
                "leaf_inconsistent", f"leaf.balances.{a}: equity {eq} != assets {la} - liabilities {ll}"
            )
        _check_range(la, f"leaf.balances.{a}.assets")
        _check_range(ll, f"leaf.balances.{a}.liabilities")
        leaf_sums.append((la, ll))
        equities[a] = eq
    info["balances"] = equities
    if index >= count:
        raise _Reject(
            "index_out_of_range", f"leaf.index {index} is not below account_count {count} (a padding slot)"
        )

    path = top["path"]
    if not isinstance(path, list):
        raise _malformed(f"path: expected an array, got {_jtype(path)}")
    depth = tree_depth(count)
    if len(path) != depth:
        raise _Reject("path_length", f"path has {len(path)} levels, a tree of {count} accounts has {depth}")

    try:
        running_hash = leaf_hash(account_commitment(salt, account_id), leaf_sums)
    except EncodingError as exc:  # unreachable after the checks above; kept for safety
        raise _Reject("out_of_range", str(exc)) from None
    running_sums = leaf_sums
    for j, step in enumerate(path):
        where = f"path[{j}]"
        s = _obj(step, where, {"side", "hash", "sums"})
        side = s["side"]
        if side not in ("left", "right"):
            raise _malformed(f"{where}.side: expected 'left' or 'right', got {str(side)[:40]!r}")
        sib_hash = _hex32(s["hash"], f"{where}.hash")
        sib_sums = _sums_obj(s["sums"], f"{where}.sums", assets)
        expected_side = "left" if (index >> j) & 1 else "right"
        if side != expected_side:
            raise _Reject(
                "position_mismatch",
                f"{where}: sibling is on the {side} but leaf index {index} puts it on the {expected_side} at level {j}",
            )
        parent_sums = [
            (
                _check_range(ra + sa, f"{where} parent assets"),
                _check_range(rl + sl, f"{where} parent liabilities"),
            )
            for (ra, rl), (sa, sl) in zip(running_sums, sib_sums, strict=True)
        ]
        if side == "left":
            running_hash = node_hash(sib_hash, sib_sums, running_hash, running_sums)
        else:
            running_hash = node_hash(running_hash, running_sums, sib_hash, sib_sums)
        running_sums = parent_sums

    for a, (ca, cl), (ta, tl) in zip(assets, running_sums, totals, strict=True):
        if (ca, cl) != (ta, tl):
            raise _Reject(
                "totals_mismatch",
                f"{a}: the path sums to assets {ca} / liabilities {cl} but the root claims {ta} / {tl}",
            )
    computed = root_hash(snapshot_id, sequence, assets, count, running_hash, running_sums)
    if not hmac.compare_digest(computed, claimed_root):
        raise _Reject(
            "root_mismatch", f"the path leads to root {computed.hex()}, the proof claims {claimed_root.hex()}"
        )
    if expected_root is not None:
        if not isinstance(expected_root, str) or not _HEX64_RE.match(expected_root.strip()):
            raise _malformed("expected root: expected 64 hex characters")
        if bytes.fromhex(expected_root.strip()) != computed:
            raise _Reject(
                "unexpected_root",
                f"the proof is internally consistent but leads to root {computed.hex()}, not the published {expected_root.strip().lower()}",
            )


def verify_root_record(record: Mapping[str, Any]) -> VerificationResult:
    """Check a published ``root.json`` record: its ``hash`` must be the root hash of its own fields.

    A root record is ``{"format", "version", "snapshot_id", "sequence", "assets", "account_count",
    "tree_hash", "hash", "totals"}`` (``totals`` as in a proof). This does not look at any account;
    it checks that the header, the top hash and the totals really are what the root hash binds.
    """
    info: dict[str, Any] = {}
    try:
        if not isinstance(record, dict):
            raise _malformed(f"a root record is a JSON object, got {_jtype(record)}")
        if (
            record.get("format") != FORMAT
            or record.get("version") != VERSION
            or type(record.get("version")) is not int
        ):
            raise _Reject("unsupported_version", "not a version-1 ramparts root record")
        r = _obj(
            record,
            "root",
            {
                "format",
                "version",
                "snapshot_id",
                "sequence",
                "assets",
                "account_count",
                "tree_hash",
                "hash",
                "totals",
            },
        )
        snapshot_id = _str_field(r["snapshot_id"], "snapshot_id", MAX_SNAPSHOT_ID_BYTES, allow_empty=True)
        sequence = _int_field(r["sequence"], "sequence", U64_LIMIT)
        assets = _parse_assets(r["assets"])
        count = _int_field(r["account_count"], "account_count", U64_LIMIT)
        if count < 1:
            raise _malformed("account_count: must be at least 1")
        top = _hex32(r["tree_hash"], "tree_hash")
        claimed = _hex32(r["hash"], "hash")
        info.update(snapshot_id=snapshot_id, sequence=sequence, account_count=count, root_hash=claimed.hex())
        tobj = _obj(r["totals"], "totals", set(assets))
        totals = []
        for a in assets:
            t = _obj(tobj[a], f"totals.{a}", {"assets", "liabilities", "net"})
            ta = _sum_value(t["assets"], f"totals.{a}.assets")
            tl = _sum_value(t["liabilities"], f"totals.{a}.liabilities")
            if _amount(t["net"], f"totals.{a}.net") != ta - tl:
                raise _Reject("totals_mismatch", f"totals.{a}: net != assets - liabilities")
            totals.append((ta, tl))
        info["totals"] = {a: AssetTotals(ta, tl) for a, (ta, tl) in zip(assets, totals, strict=True)}
        computed = root_hash(snapshot_id, sequence, assets, count, top, totals)
        if computed != claimed:
            raise _Reject(
                "root_mismatch", f"the record's fields hash to {computed.hex()}, it claims {claimed.hex()}"
            )
    except _Reject as rej:
        return VerificationResult(False, rej.code, rej.reason, **info)
    return VerificationResult(True, "ok", "the root record is self-consistent", **info)


def _main(argv: list[str]) -> int:
    """``python proof.py PROOF.json [--root HEX]``: plain-text verdict; exit 0 ok, 1 false, 2 unreadable."""
    import argparse

    parser = argparse.ArgumentParser(
        description="Verify a ramparts proof-of-liabilities inclusion proof offline."
    )
    parser.add_argument("proof", help="the proof JSON file")
    parser.add_argument("--root", default=None, help="the root hash the venue published (hex)")
    args = parser.parse_args(argv)
    try:
        with open(args.proof, "rb") as fh:
            raw = fh.read(MAX_PROOF_BYTES + 1)
    except OSError as exc:
        print(f"cannot read {args.proof}: {exc.strerror or exc}")
        return 2
    res = verify_proof(raw, expected_root=args.root)
    if res.ok:
        print(
            f"VERIFIED: account {res.account_id} is included in snapshot {res.snapshot_id!r} (root {res.root_hash})"
        )
        for asset, eq in (res.balances or {}).items():
            print(f"  {asset}: {eq}")
        return 0
    print(f"{'MALFORMED' if res.malformed else 'REJECTED'} [{res.code}]: {res.reason}")
    return 2 if res.malformed else 1


if __name__ == "__main__":  # pragma: no cover - exercised through a subprocess in the tests
    sys.exit(_main(sys.argv[1:]))
