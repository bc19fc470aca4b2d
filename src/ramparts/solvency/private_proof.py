"""Private proofs of liabilities: the format, the hashes, and the offline verifiers (per account, root, whole tree).

This module owns everything a third party needs to check a *private* proof of liabilities, in which
no balance other than the reader's own is revealed and every balance is proven non-negative: the
byte-exact hashes, the proof and root JSON formats (version 1), the published tree file, and
:func:`verify_private_proof`, :func:`verify_private_root` and :func:`verify_private_tree`. The tree
*builder* is :mod:`ramparts.solvency.private_tree`; the group and the range proof are
:mod:`ramparts.solvency.commitments` and :mod:`ramparts.solvency.range_proof`.

Why a second tree
-----------------

The version-1 Merkle sum tree (:mod:`ramparts.solvency.proof`) shows each account the exact sums
of every sibling on its path, which leaks other accounts' balances, and it cannot stop a venue from
putting a *negative* balance into a leaf that no real customer checks: that leaf silently lowers
every sum above it. Here, following Provisions (Dagher, Bünz, Bonneau, Clark and Boneh, CCS 2015),
each balance is hidden in a Pedersen commitment and *proven* to lie in ``[0, 2**bits)``.

The tree
--------

Leaves are accounts; each carries, for every asset of the snapshot's ordered list ``a_0 .. a_{k-1}``,
the commitment ``C = v·G + r·H`` to the amount ``v`` the venue owes the account (``max(equity, 0)``
in integer base units; a deficit is owed *to* the venue and is never netted) and a range proof that
``v`` is in ``[0, 2**bits)`` (``bits = 64`` by default). A node carries, per asset, the **sum** of
its children's commitments (so it commits to the sum of their values with the sum of their
blindings: Pedersen commitments are additively homomorphic) and a hash binding both children. A
level with an odd number of nodes promotes its last node unchanged to the next level (no padding
leaves, so there is no leaf that nobody can check). ``depth = ceil(log2(n))``.

The published root opens the top commitments: per asset the total ``T`` and the total blinding
``R`` with ``C_top = T·G + R·H``, so the venue's reserves can be compared with ``T``; it also
carries a range proof of ``C_top`` over ``bits + depth`` bits (which needs no opening, and so also
serves a venue that publishes the commitment alone).

Why no node can be negative, and why the sum cannot wrap
--------------------------------------------------------

Values live modulo the group order ``Q`` (about ``2**256``); a "negative" balance ``-x`` would be
committed as ``Q - x``. Every leaf value is range-proven to be an *integer* in ``[0, 2**bits)``, so
``Q - x`` cannot be a leaf (for it to pass, some bit commitment would have to open to something
other than 0 or 1, which the OR-proofs exclude). A node's commitment is the sum of its leaves'
commitments, so it commits to ``Σ v_i mod Q``; the builder and the verifiers bound the tree so that
``n·(2**bits - 1) < Q`` (at most ``2**32`` accounts and ``bits <= 128``: sums stay below
``2**160``), hence ``Σ v_i`` never reaches ``Q``, the reduction mod ``Q`` never happens, and each
node commits to the exact non-negative integer sum of its leaves. By the binding property of the
commitment, the venue cannot open the root to anything but that sum (an opening to another value
would reveal ``log_G(H)``). The verifier also checks ``0 <= T < 2**(bits + depth)``.

What each reader can check: an **account holder** checks, offline, that their own leaf (account id,
balance, blinding) is in the tree with the published root, their own range proof, and the root's
opening and range proof (:func:`verify_private_proof`); they learn their own balance and blinding
and the commitments and hashes along their path, which hide the other balances perfectly. That a
sibling subtree is a sum of range-proven leaves (and not, say, of a hidden ``Q - x``) is checked by
**anyone** from the published tree file, which holds every leaf's commitments and range proofs but
no balance (:func:`verify_private_tree`); ``ramparts verify-private-proof --tree`` does both.

Canonical encoding
------------------

``H(x)`` is SHA-256; ``u32``/``u64`` are big-endian; ``str(s) = u32(len(utf8(s))) || utf8(s)``;
``pt`` a 33-byte point and ``Cs(node) = pt(C[a_0]) || ... || pt(C[a_{k-1}])`` (format of
:mod:`ramparts.solvency.commitments`)::

    header    = H(0x13 || str("ramparts-private-proof-of-liabilities") || u32(1) || str(snapshot_id)
                  || u64(sequence) || u32(k) || str(a_0) || ... || str(a_{k-1}) || u32(bits)
                  || u64(account_count) || pt(G) || pt(H))
    account   = H(0x03 || salt || str(account_id))                # as in version 1; salt 32 bytes
    leaf_hash = H(0x10 || account || Cs(leaf))
    node_hash = H(0x11 || left_hash || Cs(left) || right_hash || Cs(right))
    root_hash = H(0x12 || header || top_hash || Cs(top))
    leaf range-proof context = 0x20 || header || u32(asset position) || u64(leaf index) || account
    root range-proof context = 0x21 || header || u32(asset position)

Every range proof is thus bound to its snapshot, asset and position: one copied to another leaf
fails (the "replay" test).

Formats (JSON; amounts are canonical decimal strings, scalars and hashes 64 hex, points 66 hex,
range proofs base64 of the bytes of :mod:`ramparts.solvency.range_proof`; unknown and duplicate
keys are rejected)::

    root.json  = {"format", "version": 1, "snapshot_id", "sequence", "assets": [...], "bits",
                  "account_count", "generators": {"G": pt, "H": pt, "H_counter": int},
                  "tree_hash", "hash",
                  "totals": {asset: {"commitment": pt, "total": "..", "blinding": hex,
                                     "range_proof": b64}}}
    proof.json = {"format", "version": 1, "snapshot_id", "sequence", "assets", "bits", "account_count",
                  "leaf": {"account_id", "salt": hex, "index",
                           "balances": {asset: {"value": "..", "blinding": hex, "commitment": pt,
                                                "range_proof": b64}}},
                  "path": [{"level": j, "side": "left" | "right", "hash": hex,
                            "commitments": {asset: pt}}, ...],       # only levels with a sibling
                  "root": {"hash", "tree_hash", "totals": {...as in root.json}}}

The tree file ``tree.bin``: ``b"RPOLPRV1" || u32(len) || the root.json header fields as UTF-8 JSON
(format, version, snapshot_id, sequence, assets, bits, account_count, hash) || one record per leaf
in leaf order: account (32) || for each asset: pt(C) (33) || range proof (32 + 129·bits)``.

Failure codes: ``malformed``, ``unsupported_version``, ``index_out_of_range``, ``value_out_of_range``,
``opening_mismatch``, ``range_proof_invalid``, ``path_shape``, ``path_mismatch`` (the path does not
lead to the tree hash), ``commitment_mismatch`` (nor to the top commitments), ``root_mismatch``,
``unexpected_root``, ``generators_mismatch``, ``root_opening_mismatch``, ``total_out_of_range``,
``root_range_proof_invalid``, ``leaf_range_proof_invalid``, ``tree_mismatch``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ramparts.solvency import proof as pf
from ramparts.solvency.commitments import (
    G_BYTES,
    H_BYTES,
    H_COUNTER,
    EncodingError,
    Point,
    Q,
    decode_point,
    decode_scalar,
    encode_point,
    opens_to,
    point_add,
)
from ramparts.solvency.proof import _malformed, _Reject  # one rejection type for both proof formats
from ramparts.solvency.range_proof import MAX_BITS, RangeProofError, proof_size, verify_range

FORMAT = "ramparts-private-proof-of-liabilities"
VERSION = 1

TAG_LEAF = b"\x10"
TAG_NODE = b"\x11"
TAG_ROOT = b"\x12"
TAG_HEADER = b"\x13"
TAG_LEAF_CONTEXT = b"\x20"
TAG_ROOT_CONTEXT = b"\x21"

#: The default range of a leaf balance: ``[0, 2**64)`` base units.
DEFAULT_BITS = 64
#: The widest leaf range allowed (an 18-decimal token may need more than 64 bits).
MAX_LEAF_BITS = 128
#: The most accounts a tree may hold.
MAX_ACCOUNTS = 2**32
# The overflow bound of the module docstring: no sum of range-proven leaves reaches Q, and the
# root's range proof (bits + depth <= 160 bits) fits the range-proof module.
assert MAX_ACCOUNTS * (2**MAX_LEAF_BITS - 1) < Q and MAX_LEAF_BITS + 32 <= MAX_BITS

TREE_MAGIC = b"RPOLPRV1"
MAX_PROOF_BYTES = pf.MAX_PROOF_BYTES
MALFORMED_CODES = frozenset({"malformed", "unsupported_version"})

_VALUE_RE = re.compile(r"(0|[1-9][0-9]{0,79})\Z")  # up to Q, so an out-of-range value is named as such
_HEX64_RE = re.compile(r"[0-9a-f]{64}\Z")
_HEX66_RE = re.compile(r"[0-9a-f]{66}\Z")


# --------------------------------------------------------------------------- hashes and shapes


def header_digest(
    snapshot_id: str, sequence: int, assets: Sequence[str], bits: int, account_count: int
) -> bytes:
    """The 32-byte snapshot header every hash and range proof of the tree is bound to."""
    parts = [
        TAG_HEADER,
        pf.encode_str(FORMAT),
        pf.encode_u32(VERSION),
        pf.encode_str(snapshot_id),
        pf.encode_u64(sequence),
        pf.encode_u32(len(assets)),
        *(pf.encode_str(a) for a in assets),
        pf.encode_u32(bits),
        pf.encode_u64(account_count),
        G_BYTES,
        H_BYTES,
    ]
    return hashlib.sha256(b"".join(parts)).digest()


def leaf_hash(account: bytes, commitments: Sequence[bytes]) -> bytes:
    """``H(0x10 || account || Cs(leaf))``."""
    return hashlib.sha256(TAG_LEAF + account + b"".join(commitments)).digest()


def node_hash(left: bytes, left_cs: Sequence[bytes], right: bytes, right_cs: Sequence[bytes]) -> bytes:
    """``H(0x11 || left_hash || Cs(left) || right_hash || Cs(right))``."""
    return hashlib.sha256(TAG_NODE + left + b"".join(left_cs) + right + b"".join(right_cs)).digest()


def root_hash(header: bytes, top_hash: bytes, top_cs: Sequence[bytes]) -> bytes:
    """``H(0x12 || header || top_hash || Cs(top))``: the published root hash."""
    return hashlib.sha256(TAG_ROOT + header + top_hash + b"".join(top_cs)).digest()


def leaf_context(header: bytes, asset_pos: int, index: int, account: bytes) -> bytes:
    """The range-proof context of a leaf's commitment to asset number ``asset_pos``."""
    return TAG_LEAF_CONTEXT + header + pf.encode_u32(asset_pos) + pf.encode_u64(index) + account


def root_context(header: bytes, asset_pos: int) -> bytes:
    """The range-proof context of the root's commitment to asset number ``asset_pos``."""
    return TAG_ROOT_CONTEXT + header + pf.encode_u32(asset_pos)


def root_bits(bits: int, account_count: int) -> int:
    """The width of the root's range proof: ``bits + depth`` (``n·(2**bits - 1) < 2**(bits + depth)``)."""
    return bits + pf.tree_depth(account_count)


def level_sizes(account_count: int) -> list[int]:
    """Nodes per level, leaves first: ``n, ceil(n/2), ..., 1``."""
    sizes = [account_count]
    while sizes[-1] > 1:
        sizes.append((sizes[-1] + 1) // 2)
    return sizes


def path_shape(index: int, account_count: int) -> list[tuple[int, str]]:
    """``[(level, side of the sibling)]`` for the levels where leaf ``index`` has a sibling."""
    out = []
    for j, m in enumerate(level_sizes(account_count)[:-1]):
        pos = index >> j
        if pos ^ 1 < m:
            out.append((j, "left" if pos & 1 else "right"))
    return out


def check_tree_bounds(bits: int, account_count: int) -> None:
    """:class:`ValueError` unless ``1 <= bits <= 128`` and ``1 <= account_count <= 2**32``."""
    if type(bits) is not int or not 1 <= bits <= MAX_LEAF_BITS:
        raise ValueError(f"bits must be an int in [1, {MAX_LEAF_BITS}], got {bits!r}")
    if type(account_count) is not int or not 1 <= account_count <= MAX_ACCOUNTS:
        raise ValueError(f"account_count must be in [1, 2**32], got {account_count!r}")


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class PrivateVerificationResult:
    """The outcome of a private verification: ``ok``, or a failure ``code`` and a precise ``reason``.

    The other fields are filled as far as parsing got. ``balances`` is the account's own committed
    amount per asset (base units); ``totals`` the opened root totals.
    """

    ok: bool
    code: str
    reason: str
    account_id: str | None = None
    snapshot_id: str | None = None
    sequence: int | None = None
    root_hash: str | None = None
    account_count: int | None = None
    bits: int | None = None
    balances: dict[str, int] | None = None
    totals: dict[str, int] | None = field(default=None)
    leaves_checked: int = 0

    @property
    def malformed(self) -> bool:
        """True when the input is not a readable version-1 private proof at all."""
        return self.code in MALFORMED_CODES




# --------------------------------------------------------------------------- strict parsing


def _obj(value: Any, where: str, keys: set[str]) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _malformed(f"{where}: expected a JSON object")
    missing = keys - value.keys()
    if missing:
        raise _malformed(f"{where}: missing key(s) {', '.join(sorted(missing))}")
    extra = value.keys() - keys
    if extra:
        raise _malformed(f"{where}: unexpected key(s) {', '.join(sorted(map(str, extra)))}")
    return value


def _int(value: Any, where: str, lo: int, hi: int) -> int:
    if type(value) is not int or not lo <= value <= hi:
        raise _malformed(f"{where}: expected a JSON integer in [{lo}, {hi}], got {value!r}"[:300])
    return value


def _text(value: Any, where: str, max_bytes: int) -> str:
    if not isinstance(value, str) or not value:
        raise _malformed(f"{where}: expected a non-empty string")
    try:
        n = len(value.encode("utf-8"))
    except UnicodeEncodeError:
        raise _malformed(f"{where}: not valid UTF-8") from None
    if n > max_bytes:
        raise _malformed(f"{where}: longer than {max_bytes} bytes")
    return value


def _hex32(value: Any, where: str) -> bytes:
    if not isinstance(value, str) or not _HEX64_RE.match(value):
        raise _malformed(f"{where}: expected 64 lower-case hex characters")
    return bytes.fromhex(value)


def _scalar(value: Any, where: str) -> int:
    try:
        return decode_scalar(_hex32(value, where))
    except EncodingError as exc:
        raise _malformed(f"{where}: {exc}") from None


def _point(value: Any, where: str) -> tuple[bytes, Point]:
    if not isinstance(value, str) or not _HEX66_RE.match(value):
        raise _malformed(f"{where}: expected a point, 66 lower-case hex characters")
    raw = bytes.fromhex(value)
    try:
        return raw, decode_point(raw)
    except EncodingError as exc:
        raise _malformed(f"{where}: {exc}") from None


def _value(value: Any, where: str) -> int:
    if not isinstance(value, str) or not _VALUE_RE.match(value):
        raise _malformed(f"{where}: expected a non-negative decimal integer string")
    return int(value)


def _b64(value: Any, where: str, size: int) -> bytes:
    if not isinstance(value, str):
        raise _malformed(f"{where}: expected a base64 string")
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise _malformed(f"{where}: not valid base64") from None
    if base64.b64encode(raw).decode("ascii") != value:
        raise _malformed(f"{where}: non-canonical base64")
    if len(raw) != size:
        raise _malformed(f"{where}: a range proof of this width is {size} bytes, got {len(raw)}")
    return raw


def _assets(value: Any) -> list[str]:
    if not isinstance(value, list) or not value or len(value) > pf.MAX_ASSETS:
        raise _malformed(f"assets: expected a list of 1 to {pf.MAX_ASSETS} symbols")
    out = [_text(a, "assets[]", pf.MAX_ASSET_BYTES) for a in value]
    if len(set(out)) != len(out):
        raise _malformed("assets: duplicate symbol")
    return out


def _per_asset(value: Any, where: str, assets: list[str]) -> dict[str, Any]:
    if not isinstance(value, dict) or set(value) != set(assets):
        raise _malformed(f"{where}: expected one entry per asset of the snapshot {assets}")
    return value


def _load(doc: Any) -> Any:
    if isinstance(doc, str | bytes | bytearray):
        if len(doc) > MAX_PROOF_BYTES:
            raise _malformed(f"larger than {MAX_PROOF_BYTES} bytes")
        try:
            return pf.parse_json(doc)
        except (ValueError, UnicodeDecodeError) as exc:
            raise _malformed(f"not valid JSON: {exc}") from None
    return doc


@dataclass
class _Header:
    snapshot_id: str
    sequence: int
    assets: list[str]
    bits: int
    account_count: int
    digest: bytes


def _header(doc: dict[str, Any]) -> _Header:
    if doc.get("format") != FORMAT:
        raise _Reject("unsupported_version", f"format is {doc.get('format')!r}, expected {FORMAT!r}")
    if type(doc.get("version")) is not int or doc["version"] != VERSION:
        raise _Reject("unsupported_version", f"version {doc.get('version')!r} is not supported (expected {VERSION})")
    sid = _text(doc["snapshot_id"], "snapshot_id", pf.MAX_SNAPSHOT_ID_BYTES)
    seq = _int(doc["sequence"], "sequence", 0, pf.U64_LIMIT - 1)
    assets = _assets(doc["assets"])
    bits = _int(doc["bits"], "bits", 1, MAX_LEAF_BITS)
    n = _int(doc["account_count"], "account_count", 1, MAX_ACCOUNTS)
    return _Header(sid, seq, assets, bits, n, header_digest(sid, seq, assets, bits, n))


@dataclass
class _RootTotal:
    commitment_bytes: bytes
    commitment: Point
    total: int
    blinding: int
    range_proof: bytes


def _root_totals(value: Any, where: str, h: _Header) -> dict[str, _RootTotal]:
    rbits = root_bits(h.bits, h.account_count)
    out = {}
    for a, t in _per_asset(value, where, h.assets).items():
        w = f"{where}.{a}"
        t = _obj(t, w, {"commitment", "total", "blinding", "range_proof"})
        raw, pt = _point(t["commitment"], f"{w}.commitment")
        out[a] = _RootTotal(
            raw,
            pt,
            _value(t["total"], f"{w}.total"),
            _scalar(t["blinding"], f"{w}.blinding"),
            _b64(t["range_proof"], f"{w}.range_proof", proof_size(rbits)),
        )
    return out


def _check_root(h: _Header, tree_hash: bytes, totals: dict[str, _RootTotal], claimed_hash: bytes) -> None:
    """The root hash, the openings of the top commitments and their range proofs."""
    computed = root_hash(h.digest, tree_hash, [totals[a].commitment_bytes for a in h.assets])
    if computed != claimed_hash:
        raise _Reject("root_mismatch", f"the root hash is {computed.hex()}, not the claimed {claimed_hash.hex()}")
    rbits = root_bits(h.bits, h.account_count)
    for pos, a in enumerate(h.assets):
        t = totals[a]
        if t.total >= 1 << rbits:
            raise _Reject("total_out_of_range", f"{a}: total {t.total} is not below 2**{rbits}")
        if not opens_to(t.commitment, t.total, t.blinding):
            raise _Reject("root_opening_mismatch", f"{a}: the root commitment does not open to total {t.total}")
        try:
            verify_range(t.commitment, t.range_proof, rbits, root_context(h.digest, pos))
        except RangeProofError as exc:
            raise _Reject("root_range_proof_invalid", f"{a}: root range proof [{exc.code}]: {exc.reason}") from None


# --------------------------------------------------------------------------- the root record


def verify_private_root(record: Mapping[str, Any] | str | bytes) -> PrivateVerificationResult:
    """Check a published private ``root.json``: generators, root hash, openings, root range proofs."""
    info: dict[str, Any] = {}
    try:
        _verify_root(_load(record), info)
    except _Reject as rej:
        return PrivateVerificationResult(False, rej.code, rej.reason, **info)
    return PrivateVerificationResult(True, "ok", "the root record is consistent", **info)


_ROOT_KEYS = {"format", "version", "snapshot_id", "sequence", "assets", "bits", "account_count",
              "generators", "tree_hash", "hash", "totals"}


def _check_generators(doc: dict[str, Any]) -> None:
    gens = _obj(doc["generators"], "generators", {"G", "H", "H_counter"})
    if (gens["G"], gens["H"], gens["H_counter"]) != (G_BYTES.hex(), H_BYTES.hex(), H_COUNTER):
        raise _Reject("generators_mismatch", "the record's generators are not this protocol's G and H")


def _verify_root(doc: Any, info: dict[str, Any]) -> tuple[_Header, bytes, dict[str, _RootTotal], bytes]:
    if not isinstance(doc, dict):
        raise _malformed("a root record is a JSON object")
    h = _header(_obj(doc, "root record", _ROOT_KEYS))
    info.update(snapshot_id=h.snapshot_id, sequence=h.sequence, account_count=h.account_count, bits=h.bits)
    _check_generators(doc)
    tree_hash = _hex32(doc["tree_hash"], "tree_hash")
    claimed = _hex32(doc["hash"], "hash")
    info["root_hash"] = claimed.hex()
    totals = _root_totals(doc["totals"], "totals", h)
    _check_root(h, tree_hash, totals, claimed)
    info["totals"] = {a: totals[a].total for a in h.assets}
    return h, tree_hash, totals, claimed


# --------------------------------------------------------------------------- one account's proof


def verify_private_proof(
    proof: Mapping[str, Any] | str | bytes,
    expected_root: str | None = None,
    *,
    root_record: Mapping[str, Any] | None = None,
    tree: PublishedTree | None = None,
) -> PrivateVerificationResult:
    """Verify one account's private inclusion proof, offline.

    ``expected_root`` is the published root hash (hex): a proof leading anywhere else is rejected.
    ``root_record`` is the published ``root.json``: it is checked (:func:`verify_private_root`) and
    the proof's root section must equal it. ``tree`` is the published tree, already checked by
    :func:`verify_private_tree`: the proof's leaf and path must be the ones in it.
    """
    info: dict[str, Any] = {}
    try:
        _verify(_load(proof), expected_root, root_record, tree, info)
    except _Reject as rej:
        return PrivateVerificationResult(False, rej.code, rej.reason, **info)
    return PrivateVerificationResult(True, "ok", "the account's balances are in the tree with this root", **info)


_PROOF_KEYS = {"format", "version", "snapshot_id", "sequence", "assets", "bits", "account_count",
               "leaf", "path", "root"}


def _verify(
    doc: Any,
    expected_root: str | None,
    root_record: Mapping[str, Any] | None,
    tree: PublishedTree | None,
    info: dict[str, Any],
) -> None:
    if not isinstance(doc, dict):
        raise _malformed("a proof is a JSON object")
    h = _header(_obj(doc, "proof", _PROOF_KEYS))
    info.update(snapshot_id=h.snapshot_id, sequence=h.sequence, account_count=h.account_count, bits=h.bits)

    leaf = _obj(doc["leaf"], "leaf", {"account_id", "salt", "index", "balances"})
    account_id = _text(leaf["account_id"], "leaf.account_id", pf.MAX_ACCOUNT_ID_BYTES)
    info["account_id"] = account_id
    salt = _hex32(leaf["salt"], "leaf.salt")
    index = _int(leaf["index"], "leaf.index", 0, pf.U64_LIMIT - 1)
    balances = {}
    for a, b in _per_asset(leaf["balances"], "leaf.balances", h.assets).items():
        w = f"leaf.balances.{a}"
        b = _obj(b, w, {"value", "blinding", "commitment", "range_proof"})
        balances[a] = (
            _value(b["value"], f"{w}.value"),
            _scalar(b["blinding"], f"{w}.blinding"),
            _point(b["commitment"], f"{w}.commitment"),
            _b64(b["range_proof"], f"{w}.range_proof", proof_size(h.bits)),
        )
    info["balances"] = {a: balances[a][0] for a in h.assets}

    if not isinstance(doc["path"], list) or len(doc["path"]) > 64:
        raise _malformed("path: expected a list of at most 64 entries")
    path = []
    for j, step in enumerate(doc["path"]):
        w = f"path[{j}]"
        step = _obj(step, w, {"level", "side", "hash", "commitments"})
        if step["side"] not in ("left", "right"):
            raise _malformed(f"{w}.side: expected 'left' or 'right'")
        cs = _per_asset(step["commitments"], f"{w}.commitments", h.assets)
        path.append((
            _int(step["level"], f"{w}.level", 0, 63),
            step["side"],
            _hex32(step["hash"], f"{w}.hash"),
            [_point(cs[a], f"{w}.commitments.{a}") for a in h.assets],
        ))

    root = _obj(doc["root"], "root", {"hash", "tree_hash", "totals"})
    claimed_root = _hex32(root["hash"], "root.hash")
    info["root_hash"] = claimed_root.hex()
    tree_hash = _hex32(root["tree_hash"], "root.tree_hash")
    totals = _root_totals(root["totals"], "root.totals", h)
    info["totals"] = {a: totals[a].total for a in h.assets}
    if expected_root is not None and not _HEX64_RE.match(expected_root.strip().lower()):
        raise _malformed("the expected root must be 64 hex characters")

    # ---- the leaf: index, the account's identity, openings and range proofs
    if index >= h.account_count:
        raise _Reject("index_out_of_range", f"leaf index {index} is not below the account count {h.account_count}")
    account = pf.account_commitment(salt, account_id)
    for pos, a in enumerate(h.assets):
        value, blinding, (_, c), rp = balances[a]
        if value >= 1 << h.bits:
            raise _Reject("value_out_of_range", f"{a}: balance {value} is not below 2**{h.bits}")
        if not opens_to(c, value, blinding):
            raise _Reject("opening_mismatch", f"{a}: the leaf commitment does not open to balance {value}")
        try:
            verify_range(c, rp, h.bits, leaf_context(h.digest, pos, index, account))
        except RangeProofError as exc:
            raise _Reject("range_proof_invalid", f"{a}: leaf range proof [{exc.code}]: {exc.reason}") from None

    # ---- the path
    shape = path_shape(index, h.account_count)
    if [(lv, side) for lv, side, _, _ in path] != shape:
        raise _Reject(
            "path_shape",
            f"leaf {index} of {h.account_count} needs siblings at (level, side) {shape}, the proof gives "
            f"{[(lv, side) for lv, side, _, _ in path]}",
        )
    cur_hash = leaf_hash(account, [balances[a][2][0] for a in h.assets])
    cur = [balances[a][2][1] for a in h.assets]
    if tree is not None:
        tree.check_leaf(index, account, [balances[a][2][0] for a in h.assets])
    for level, side, sib_hash, sib in path:
        sib_raw = [r for r, _ in sib]
        if tree is not None:
            tree.check_node(level, (index >> level) ^ 1, sib_hash, sib_raw)
        cur_raw = [encode_point(p) for p in cur]
        if side == "left":
            cur_hash = node_hash(sib_hash, sib_raw, cur_hash, cur_raw)
        else:
            cur_hash = node_hash(cur_hash, cur_raw, sib_hash, sib_raw)
        cur = [point_add(x, y) for x, (_, y) in zip(cur, sib, strict=True)]
    if cur_hash != tree_hash:
        raise _Reject("path_mismatch", "the path does not lead to the tree hash (a leaf or sibling was changed)")
    for a, c in zip(h.assets, cur, strict=True):
        if encode_point(c) != totals[a].commitment_bytes:
            raise _Reject("commitment_mismatch", f"{a}: the path's commitments do not sum to the root commitment")

    # ---- the root: hash, published root, openings and range proofs
    _check_root(h, tree_hash, totals, claimed_root)
    if expected_root is not None and claimed_root.hex() != expected_root.strip().lower():
        raise _Reject("unexpected_root", f"the proof leads to root {claimed_root.hex()}, not the published {expected_root}")
    if root_record is not None:
        # the proof's root section is verified above; the record must be that very root (then its
        # openings and range proofs are verified too, without checking them twice)
        rec_doc = _load(root_record)
        if not isinstance(rec_doc, dict):
            raise _malformed("the root record is not a JSON object")
        _obj(rec_doc, "root record", _ROOT_KEYS)
        _check_generators(rec_doc)
        mine = {"hash": root["hash"], "tree_hash": root["tree_hash"], "totals": root["totals"]}
        theirs = {k: rec_doc[k] for k in ("hash", "tree_hash", "totals")}
        header_keys = ("format", "version", "snapshot_id", "sequence", "assets", "bits", "account_count")
        if mine != theirs or any(doc[k] != rec_doc[k] for k in header_keys):
            raise _Reject("unexpected_root", "the proof's root is not the published root record")
    if tree is not None and tree.root_hash != claimed_root:
        raise _Reject("tree_mismatch", "the published tree has another root")


# --------------------------------------------------------------------------- the published tree


@dataclass
class PublishedTree:
    """A published tree file, checked by :func:`verify_private_tree`: its nodes, for cross-checks."""

    assets: list[str]
    root_hash: bytes
    accounts: list[bytes]
    #: ``levels[j][i] = (hash, [33-byte commitment per asset])``
    levels: list[list[tuple[bytes, list[bytes]]]]

    def check_leaf(self, index: int, account: bytes, commitments: list[bytes]) -> None:
        """:class:`_Reject` ``tree_mismatch`` unless leaf ``index`` is this account with these commitments."""
        if index >= len(self.accounts) or self.accounts[index] != account or self.levels[0][index][1] != commitments:
            raise _Reject("tree_mismatch", f"leaf {index} of the published tree is not this account's leaf")

    def check_node(self, level: int, pos: int, node_hash_: bytes, commitments: list[bytes]) -> None:
        """:class:`_Reject` ``tree_mismatch`` unless node ``pos`` of ``level`` has this hash and these commitments."""
        if pos >= len(self.levels[level]) or self.levels[level][pos] != (node_hash_, commitments):
            raise _Reject("tree_mismatch", f"the sibling at level {level} is not the published tree's node {pos}")


def parse_tree_file(raw: bytes) -> tuple[dict[str, Any], list[tuple[bytes, list[bytes], list[bytes]]]]:
    """``(header, [(account, [commitment per asset], [range proof per asset])])`` from ``tree.bin``."""
    if raw[:8] != TREE_MAGIC or len(raw) < 12:
        raise _malformed("not a private tree file (bad magic)")
    n_head = int.from_bytes(raw[8:12], "big")
    try:
        head = pf.parse_json(raw[12 : 12 + n_head])
    except (ValueError, UnicodeDecodeError) as exc:
        raise _malformed(f"tree header: {exc}") from None
    if not isinstance(head, dict):
        raise _malformed("tree header: expected a JSON object")
    h = _header(_obj(head, "tree header", {"format", "version", "snapshot_id", "sequence", "assets", "bits",
                                           "account_count", "hash"}))
    k, size = len(h.assets), proof_size(h.bits)
    rec = 32 + k * (33 + size)
    body = raw[12 + n_head :]
    if len(body) != rec * h.account_count:
        raise _malformed(f"tree file: {h.account_count} leaves need {rec * h.account_count} bytes, got {len(body)}")
    leaves = []
    for i in range(h.account_count):
        r = body[i * rec : (i + 1) * rec]
        cs, rps = [], []
        pos = 32
        for _ in range(k):
            cs.append(r[pos : pos + 33])
            rps.append(r[pos + 33 : pos + 33 + size])
            pos += 33 + size
        leaves.append((r[:32], cs, rps))
    return head, leaves


def _check_leaf_batch(args: tuple[int, bytes, int, list[tuple[bytes, list[bytes], list[bytes]]]]) -> list[tuple[int, str]]:
    """Verify the range proofs of a batch of leaves; ``[(index, reason)]`` of the failures (picklable)."""
    start, header, bits, batch = args
    bad = []
    for i, (account, cs, rps) in enumerate(batch, start):
        for pos, (c, rp) in enumerate(zip(cs, rps, strict=True)):
            try:
                verify_range(decode_point(c), rp, bits, leaf_context(header, pos, i, account))
            except (RangeProofError, EncodingError) as exc:
                bad.append((i, f"asset #{pos}: {exc}"))
    return bad


def verify_private_tree(
    root_record: Mapping[str, Any] | str | bytes, tree_file: bytes, *, workers: int = 1
) -> tuple[PrivateVerificationResult, PublishedTree | None]:
    """Check a whole published tree: every leaf range proof, every node, and the root record.

    This is the check that makes "every node is a sum of range-proven leaves" true for every
    account holder at once; anyone can run it (the file reveals no balance). ``workers > 1``
    verifies the range proofs in that many processes. Returns the result and, when it passed,
    the :class:`PublishedTree` (for :func:`verify_private_proof` ``tree=``).
    """
    info: dict[str, Any] = {}
    try:
        h, tree_hash, totals, claimed = _verify_root(_load(root_record), info)
        head, leaves = parse_tree_file(bytes(tree_file))
        hh = _header(head)
        if (hh.digest, head["hash"]) != (h.digest, claimed.hex()):
            raise _Reject("tree_mismatch", "the tree file's header is not the root record's")
        batches = [(s, h.digest, h.bits, leaves[s : s + 256]) for s in range(0, len(leaves), 256)]
        if workers > 1 and len(batches) > 1:
            from concurrent.futures import ProcessPoolExecutor

            with ProcessPoolExecutor(workers) as ex:
                results = list(ex.map(_check_leaf_batch, batches))
        else:
            results = [_check_leaf_batch(b) for b in batches]
        bad = [x for r in results for x in r]
        if bad:
            i, why = bad[0]
            raise _Reject("leaf_range_proof_invalid", f"leaf {i} (and {len(bad) - 1} more): {why}")
        level = []
        for account, cs, _ in leaves:
            try:
                for c in cs:
                    decode_point(c)
            except EncodingError as exc:
                raise _malformed(f"tree file: {exc}") from None
            level.append((leaf_hash(account, cs), cs))
        levels = [level]
        while len(level) > 1:
            nxt = []
            for i in range(0, len(level) - 1, 2):
                (lh, lc), (rh, rc) = level[i], level[i + 1]
                sums = [encode_point(point_add(decode_point(x), decode_point(y))) for x, y in zip(lc, rc, strict=True)]
                nxt.append((node_hash(lh, lc, rh, rc), sums))
            if len(level) % 2:
                nxt.append(level[-1])
            level = nxt
            levels.append(level)
        top_hash, top_cs = level[0]
        if top_hash != tree_hash:
            raise _Reject("tree_mismatch", "the tree file does not hash to the root record's tree hash")
        if top_cs != [totals[a].commitment_bytes for a in h.assets]:
            raise _Reject("tree_mismatch", "the tree file's leaves do not sum to the root commitments")
    except _Reject as rej:
        return PrivateVerificationResult(False, rej.code, rej.reason, **info), None
    info["leaves_checked"] = len(leaves)
    tree = PublishedTree(h.assets, claimed, [a for a, _, _ in leaves], levels)
    return PrivateVerificationResult(True, "ok", "every leaf is range-proven and the tree sums to the root", **info), tree


def dumps(obj: Any) -> str:
    """The JSON text of a proof or root record as written to disk."""
    return json.dumps(obj, indent=1, ensure_ascii=False) + "\n"


__all__ = [
    "DEFAULT_BITS",
    "FORMAT",
    "MAX_ACCOUNTS",
    "MAX_LEAF_BITS",
    "TREE_MAGIC",
    "VERSION",
    "PrivateVerificationResult",
    "PublishedTree",
    "check_tree_bounds",
    "header_digest",
    "leaf_context",
    "leaf_hash",
    "level_sizes",
    "node_hash",
    "parse_tree_file",
    "path_shape",
    "root_bits",
    "root_context",
    "root_hash",
    "verify_private_proof",
    "verify_private_root",
    "verify_private_tree",
]
