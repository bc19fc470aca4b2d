"""The Merkle-sum-tree builder, inclusion-proof generation and the reserves attestation.

This module owns building the proof-of-liabilities tree at a snapshot (:func:`build_tree`), the
resulting :class:`MerkleSumTree` (root hash, per-asset totals, one inclusion proof per account)
and comparing the tree's liabilities with the venue's holdings (:func:`attest_reserves`).

The byte-exact encoding, the hash functions and the proof format are defined (and documented for
third-party re-implementation) in :mod:`ramparts.solvency.proof`; this module uses those very
functions for everything that is hashed once (commitments, the root) and a vectorised equivalent
for the bulk levels, which the tests cross-check against the scalar reference.

How the build is made fast (1,000,000 accounts, 2 assets, well under 10 s on two cores)
-------------------------------------------------------------------------------------

Hashing with ``hashlib`` is the irreducible cost (about 3 hashes per account: the account
commitment, the leaf and, amortised, one internal node). Everything around it is batched:

* balances are validated once and turned into numpy ``uint64`` limb pairs (``hi``, ``lo``) of the
  non-negative asset and liability sums (exact 128-bit arithmetic with explicit carries and
  overflow detection, so sums are never rounded and never wrap);
* each level is laid out as one contiguous ``uint8`` array of fixed-width records (tag, child
  hashes, big-endian ``u128`` sums written through a ``'>u8'`` view), and a tight list
  comprehension hashes ``memoryview`` slices of it with ``hashlib.sha256`` (no per-node Python
  object other than the digest);
* an odd level is completed with the precomputed padding node of that level (equivalent to
  padding the leaves to a power of two with zero leaves, without hashing the padding).

Exactness: all sums are exact integers below ``2**128``; a tree whose sums would not fit is refused
with :class:`~ramparts.errors.InvalidInput`.

Privacy notes: salts hide balances behind leaf hashes, but a proof necessarily reveals the exact
sums of each sibling node, including the *neighbouring leaf's* balances (not its identity). Pass
``shuffle=True`` (the CLI does) to put the leaves in a pseudo-random order (sorted by salt), so
that a leaf's neighbour is not, e.g., the account opened just before it.
"""

from __future__ import annotations

import gc
import hashlib
import numbers
import secrets
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np

from ramparts.errors import InvalidInput, UnknownEntity
from ramparts.solvency import proof as pf
from ramparts.solvency.proof import AssetTotals

_U64 = np.uint64
_MASK64 = (1 << 64) - 1


# --------------------------------------------------------------------------- bulk helpers


def _hash_rows(records: np.ndarray) -> np.ndarray:
    """SHA-256 of every row of a C-contiguous ``(m, w)`` uint8 array → ``(m, 32)`` uint8 digests."""
    m, w = records.shape
    if m == 0:
        return np.empty((0, pf.HASH_BYTES), dtype=np.uint8)
    mv = memoryview(np.ascontiguousarray(records)).cast("B")
    sha = hashlib.sha256
    digests = b"".join([sha(mv[i : i + w]).digest() for i in range(0, m * w, w)])
    return np.frombuffer(digests, dtype=np.uint8).reshape(m, pf.HASH_BYTES)


def _encode_sums(hi: np.ndarray, lo: np.ndarray) -> np.ndarray:
    """``(m, 2k)`` limb pairs → ``(m, 32k)`` uint8: ``u128`` big-endian per column, column order."""
    m, c = hi.shape
    out = np.empty((m, c, 2), dtype=">u8")
    out[:, :, 0] = hi
    out[:, :, 1] = lo
    return out.view(np.uint8).reshape(m, c * 16)


def _add128(
    a_hi: np.ndarray, a_lo: np.ndarray, b_hi: np.ndarray, b_lo: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Exact 128-bit addition of limb pairs; raises :class:`InvalidInput` if any sum reaches ``2**128``."""
    lo = a_lo + b_lo
    carry = (lo < a_lo).astype(_U64)
    t = a_hi + b_hi
    hi = t + carry
    if bool(np.any((t < a_hi) | (hi < t))):
        raise InvalidInput("balances", "a per-asset sum reaches 2**128; it cannot be encoded as u128")
    return hi, lo


def _limbs_to_int(hi: Any, lo: Any) -> int:
    return (int(hi) << 64) | int(lo)


# --------------------------------------------------------------------------- input validation


def _check_assets(assets: Sequence[str]) -> tuple[str, ...]:
    if isinstance(assets, str) or not isinstance(assets, Sequence):
        raise InvalidInput("assets", "expected a sequence of asset symbols")
    out = tuple(assets)
    if not out:
        raise InvalidInput("assets", "at least one asset is required")
    if len(out) > pf.MAX_ASSETS:
        raise InvalidInput("assets", f"at most {pf.MAX_ASSETS} assets")
    for a in out:
        if not isinstance(a, str) or not a:
            raise InvalidInput("assets", f"asset symbols are non-empty strings, got {a!r}")
        try:
            if len(a.encode("utf-8")) > pf.MAX_ASSET_BYTES:
                raise InvalidInput(
                    "assets", f"asset symbol longer than {pf.MAX_ASSET_BYTES} bytes: {a[:20]!r}..."
                )
        except UnicodeEncodeError:
            raise InvalidInput("assets", f"asset symbol is not valid UTF-8: {a!r}") from None
    if len(set(out)) != len(out):
        raise InvalidInput("assets", "duplicate asset symbol")
    return out


def _coerce_column(col: list[Any], asset: str, ids: list[Any]) -> list[int]:
    """Make every balance of one asset a plain ``int`` (numpy integers accepted; bools, floats, strings refused)."""
    if set(map(type, col)) <= {int}:
        return col
    out = []
    for pos, v in enumerate(col):
        if type(v) is not int:
            if isinstance(v, bool) or not isinstance(v, numbers.Integral):
                raise InvalidInput(
                    "balances",
                    f"account {ids[pos]!r} asset {asset}: expected int base units, got {type(v).__name__} {v!r}",
                )
            v = int(v)
        out.append(v)
    return out


def _split_sums(
    cols: list[list[int]], ids: list[Any], assets: tuple[str, ...]
) -> tuple[np.ndarray, np.ndarray]:
    """Signed equities, one list per asset → leaf limb arrays ``(n, 2k)``: columns ``A0, L0, A1, L1, ...``."""
    n, k = len(ids), len(assets)
    hi = np.zeros((n, 2 * k), dtype=_U64)
    lo = np.empty((n, 2 * k), dtype=_U64)
    for j, col in enumerate(cols):
        try:
            eq = np.array(col, dtype=np.int64)
        except OverflowError:
            eq = None
        if eq is not None:
            neg = eq < 0
            lo[:, 2 * j] = np.where(neg, 0, eq).astype(_U64)
            # -x for x < 0 without int64 overflow at -2**63: (~x) = -x - 1 >= 0, then + 1 in uint64.
            lo[:, 2 * j + 1] = np.where(neg, (~eq).astype(_U64) + _U64(1), _U64(0))
            continue
        # Slow path: some balance of this asset does not fit int64; split exact Python ints into limbs.
        a_hi, a_lo, l_hi, l_lo = [], [], [], []
        for pos, v in enumerate(col):
            a, li = (v, 0) if v >= 0 else (0, -v)
            if a >= pf.AMOUNT_LIMIT or li >= pf.AMOUNT_LIMIT:
                raise InvalidInput(
                    "balances", f"account {ids[pos]!r} asset {assets[j]}: {v} does not fit u128"
                )
            a_hi.append(a >> 64)
            a_lo.append(a & _MASK64)
            l_hi.append(li >> 64)
            l_lo.append(li & _MASK64)
        hi[:, 2 * j] = np.array(a_hi, dtype=_U64)
        hi[:, 2 * j + 1] = np.array(l_hi, dtype=_U64)
        lo[:, 2 * j] = np.array(a_lo, dtype=_U64)
        lo[:, 2 * j + 1] = np.array(l_lo, dtype=_U64)
    return hi, lo


def _gather(
    accounts: Iterable[tuple[str, Mapping[str, int]]], assets: tuple[str, ...]
) -> tuple[list[Any], list[list[Any]]]:
    """One pass over the input: the ids and one column of raw balances per asset (0 where absent)."""
    try:
        pairs = [(a, b) for a, b in accounts]
    except (TypeError, ValueError):
        raise InvalidInput("accounts", "every entry must be an (account_id, balances mapping) pair") from None
    ids = [p[0] for p in pairs]
    bals = [p[1] for p in pairs]
    del pairs
    for t in set(map(type, bals)):
        if not issubclass(t, Mapping):
            pos = next(i for i, b in enumerate(bals) if type(b) is t)
            raise InvalidInput(
                "balances", f"account {ids[pos]!r}: balances must be a mapping asset -> int, got {t.__name__}"
            )
    unknown = set().union(*bals) - set(assets) if bals else set()
    if unknown:
        sym = sorted(map(str, unknown))[0]
        pos = next(i for i, b in enumerate(bals) if any(str(s) == sym for s in b))
        raise UnknownEntity(
            "asset", f"account {ids[pos]!r} holds {sym!r}, which is not in the asset list {list(assets)}"
        )
    cols = [[b.get(a, 0) for b in bals] for a in assets]
    return ids, cols


def _fast_hmac_sha256(key: bytes, prefix: bytes, messages: list[bytes]) -> bytes:
    """``b"".join(HMAC-SHA256(key, prefix + m) for m in messages)``, RFC 2104, with the pads hashed once.

    Bit-identical to :func:`hmac.digest` (the tests check it); about 2.5x faster in bulk because
    the keyed inner and outer SHA-256 states are computed once and copied per message.
    """
    block = 64
    if len(key) > block:
        key = hashlib.sha256(key).digest()
    key = key.ljust(block, b"\0")
    inner = hashlib.sha256(bytes(x ^ 0x36 for x in key) + prefix)
    outer = hashlib.sha256(bytes(x ^ 0x5C for x in key))
    out: list[bytes] = []
    append = out.append
    for m in messages:
        i = inner.copy()
        i.update(m)
        o = outer.copy()
        o.update(i.digest())
        append(o.digest())
    return b"".join(out)


def _encode_ids(ids: list[Any]) -> list[bytes]:
    if not set(map(type, ids)) <= {str}:
        bad = next(a for a in ids if type(a) is not str)
        raise InvalidInput("account_id", f"account ids are strings, got {type(bad).__name__} {bad!r}")
    try:
        raw = [a.encode("utf-8") for a in ids]
    except UnicodeEncodeError:
        bad = next(a for a in ids if not _utf8_ok(a))
        raise InvalidInput("account_id", f"account id is not valid UTF-8: {bad!r}") from None
    lengths = list(map(len, raw))
    if min(lengths) == 0:
        raise InvalidInput("account_id", "an account id is empty")
    if max(lengths) > pf.MAX_ACCOUNT_ID_BYTES:
        bad = ids[lengths.index(max(lengths))]
        raise InvalidInput(
            "account_id", f"account id longer than {pf.MAX_ACCOUNT_ID_BYTES} bytes: {bad[:40]!r}..."
        )
    if len(set(ids)) != len(ids):
        seen: set[str] = set()
        for a in ids:
            if a in seen:
                raise InvalidInput("account_id", f"duplicate account id {a!r}")
            seen.add(a)
    return raw


def _utf8_ok(s: str) -> bool:
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


# --------------------------------------------------------------------------- the tree


class MerkleSumTree:
    """A built proof-of-liabilities tree at one snapshot. Create it with :func:`build_tree`.

    Attributes (read-only by convention):

    * ``snapshot_id``, ``sequence``, ``assets``: the snapshot header;
    * ``account_ids``: the accounts in leaf order (leaf ``i`` is ``account_ids[i]``);
    * ``account_count``, ``depth``: ``n`` and ``(n - 1).bit_length()``;
    * ``tree_hash``: the top node hash (bytes); ``root_hash``: the published root hash (hex str);
    * ``totals``: ``{asset: AssetTotals(assets, liabilities)}``: the exact gross sums.
    """

    def __init__(
        self,
        *,
        snapshot_id: str,
        sequence: int,
        assets: tuple[str, ...],
        account_ids: list[str],
        salts: bytes,
        hashes: list[np.ndarray],
        sums_hi: list[np.ndarray],
        sums_lo: list[np.ndarray],
        pads: list[bytes],
    ):
        self.snapshot_id = snapshot_id
        self.sequence = sequence
        self.assets = assets
        self.account_ids = account_ids
        self._salts = salts
        self._hashes = hashes
        self._hi = sums_hi
        self._lo = sums_lo
        self._pads = pads
        self._index: dict[str, int] | None = None
        self.account_count = len(account_ids)
        self.depth = len(hashes) - 1
        self.tree_hash: bytes = hashes[-1][0].tobytes()
        top = self._sums(self.depth, 0)
        self.totals: dict[str, AssetTotals] = {
            a: AssetTotals(ta, tl) for a, (ta, tl) in zip(assets, top, strict=True)
        }
        self.root_hash: str = pf.root_hash(
            snapshot_id, sequence, assets, self.account_count, self.tree_hash, top
        ).hex()

    # ---- lookups

    def index_of(self, account_id: str) -> int:
        """Leaf index of ``account_id``; :class:`~ramparts.errors.UnknownEntity` if it is not in the tree."""
        if self._index is None:
            self._index = {a: i for i, a in enumerate(self.account_ids)}
        try:
            return self._index[account_id]
        except (KeyError, TypeError):
            raise UnknownEntity("account_id", f"{account_id!r} is not in this snapshot") from None

    def salt(self, index: int) -> bytes:
        """The 32-byte salt of leaf ``index``."""
        return self._salts[index * pf.SALT_BYTES : (index + 1) * pf.SALT_BYTES]

    def _sums(self, level: int, i: int) -> list[tuple[int, int]]:
        hi, lo = self._hi[level][i], self._lo[level][i]
        vals = [_limbs_to_int(h, low) for h, low in zip(hi.tolist(), lo.tolist(), strict=True)]
        return [(vals[2 * j], vals[2 * j + 1]) for j in range(len(self.assets))]

    def balances(self, account: str | int) -> dict[str, int]:
        """Signed equity per asset of one account (by id or leaf index), as committed in its leaf."""
        i = account if isinstance(account, int) else self.index_of(account)
        return {a: ta - tl for a, (ta, tl) in zip(self.assets, self._sums(0, i), strict=True)}

    # ---- proofs

    def _sums_json(self, sums: list[tuple[int, int]]) -> dict[str, dict[str, str]]:
        return {
            a: {"assets": str(ta), "liabilities": str(tl)}
            for a, (ta, tl) in zip(self.assets, sums, strict=True)
        }

    def proof(self, account: str | int) -> dict[str, Any]:
        """The version-1 inclusion proof (a JSON-ready dict) of one account, by id or leaf index.

        The format is documented in :mod:`ramparts.solvency.proof`; :func:`~ramparts.solvency.proof.verify_proof`
        accepts it offline.
        """
        if isinstance(account, int) and not isinstance(account, bool):
            if not 0 <= account < self.account_count:
                raise UnknownEntity("account", f"leaf index {account} is not in 0..{self.account_count - 1}")
            i = account
        else:
            i = self.index_of(account)  # type: ignore[arg-type]
        zeros = [(0, 0)] * len(self.assets)
        leaf_sums = self._sums(0, i)
        path = []
        for j in range(self.depth):
            pos = i >> j
            sib = pos ^ 1
            if sib < len(self._hashes[j]):
                h, s = self._hashes[j][sib].tobytes(), self._sums(j, sib)
            else:
                h, s = self._pads[j], zeros
            path.append({"side": "left" if pos & 1 else "right", "hash": h.hex(), "sums": self._sums_json(s)})
        return {
            "format": pf.FORMAT,
            "version": pf.VERSION,
            "snapshot_id": self.snapshot_id,
            "sequence": self.sequence,
            "assets": list(self.assets),
            "account_count": self.account_count,
            "leaf": {
                "account_id": self.account_ids[i],
                "salt": self.salt(i).hex(),
                "index": i,
                "balances": {
                    a: {"equity": str(ta - tl), "assets": str(ta), "liabilities": str(tl)}
                    for a, (ta, tl) in zip(self.assets, leaf_sums, strict=True)
                },
            },
            "path": path,
            "root": {"hash": self.root_hash, "totals": {a: t.to_json() for a, t in self.totals.items()}},
        }

    def root_record(self) -> dict[str, Any]:
        """The public ``root.json``: header, top hash, root hash and totals (see :func:`~ramparts.solvency.proof.verify_root_record`)."""
        return {
            "format": pf.FORMAT,
            "version": pf.VERSION,
            "snapshot_id": self.snapshot_id,
            "sequence": self.sequence,
            "assets": list(self.assets),
            "account_count": self.account_count,
            "tree_hash": self.tree_hash.hex(),
            "hash": self.root_hash,
            "totals": {a: t.to_json() for a, t in self.totals.items()},
        }


def build_tree(
    accounts: Iterable[tuple[str, Mapping[str, int]]],
    assets: Sequence[str],
    *,
    snapshot_id: str,
    sequence: int = 0,
    salt_secret: bytes | None = None,
    shuffle: bool = False,
) -> MerkleSumTree:
    """Build the Merkle sum tree of a snapshot.

    ``accounts`` yields ``(account_id, balances)`` with ``balances`` mapping asset symbol → signed
    int equity in base units (a missing asset is 0; an asset not in ``assets`` is an
    :class:`~ramparts.errors.UnknownEntity`). Account ids are unique non-empty strings of at most
    1024 UTF-8 bytes. ``assets`` fixes the asset order of every hashed sum. ``snapshot_id`` (a
    string) and ``sequence`` (``0 <= sequence < 2**64``, e.g. the journal sequence number) are bound
    into the root hash.

    Salts: 32 random bytes per account from :mod:`secrets` by default; with ``salt_secret`` (at
    least 16 bytes) they are ``HMAC-SHA256(secret, label || str(snapshot_id) || str(account_id))``
    and the whole tree is reproducible. ``shuffle=True`` orders the leaves by salt (random order,
    or reproducible with a secret) instead of the input order.

    Raises :class:`~ramparts.errors.InvalidInput` for malformed input, duplicate ids, non-int
    balances and sums that would not fit ``u128``.
    """
    with _gc_paused():
        return _build(accounts, assets, snapshot_id, sequence, salt_secret, shuffle)


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while millions of small objects are created.

    The build allocates no reference cycles; without the pause CPython runs repeated full
    collections over the growing input lists, which costs about a second per million accounts.
    The previous state is restored on exit, exceptions included.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _build(
    accounts: Iterable[tuple[str, Mapping[str, int]]],
    assets: Sequence[str],
    snapshot_id: str,
    sequence: int,
    salt_secret: bytes | None,
    shuffle: bool,
) -> MerkleSumTree:
    assets = _check_assets(assets)
    if not isinstance(snapshot_id, str):
        raise InvalidInput("snapshot_id", f"expected a string, got {type(snapshot_id).__name__}")
    try:
        pf.encode_str(snapshot_id)
    except pf.EncodingError as exc:
        raise InvalidInput("snapshot_id", str(exc)) from None
    if len(snapshot_id.encode("utf-8")) > pf.MAX_SNAPSHOT_ID_BYTES:
        raise InvalidInput("snapshot_id", f"longer than {pf.MAX_SNAPSHOT_ID_BYTES} bytes")
    if type(sequence) is not int or not 0 <= sequence < pf.U64_LIMIT:
        raise InvalidInput("sequence", f"expected an int in [0, 2**64), got {sequence!r}")
    if salt_secret is not None and (not isinstance(salt_secret, bytes | bytearray) or len(salt_secret) < 16):
        raise InvalidInput("salt_secret", "the salt secret must be at least 16 bytes")

    # ---- gather and validate: ids, one balance column per asset, limb arrays of the leaf sums
    k = len(assets)
    ids, cols = _gather(accounts, assets)
    n = len(ids)
    if n == 0:
        raise InvalidInput("accounts", "a proof of liabilities needs at least one account")
    raw_ids = _encode_ids(ids)
    cols = [_coerce_column(c, a, ids) for c, a in zip(cols, assets, strict=True)]
    hi, lo = _split_sums(cols, ids, assets)
    del cols
    # str(account_id) encodings, shared by the salt derivation and the commitment
    id_fields = [len(r).to_bytes(4, "big") + r for r in raw_ids]
    del raw_ids

    # ---- salts: random, or HMAC-SHA256(secret, label || str(snapshot_id) || str(account_id))
    if salt_secret is None:
        salts = secrets.token_bytes(pf.SALT_BYTES * n)
    else:
        salts = _fast_hmac_sha256(bytes(salt_secret), pf.SALT_LABEL + pf.encode_str(snapshot_id), id_fields)
    if shuffle:
        order = np.argsort(np.frombuffer(salts, dtype="S32"), kind="stable")
        ids = np.array(ids, dtype=object)[order].tolist()
        id_fields = np.array(id_fields, dtype=object)[order].tolist()
        hi, lo = hi[order], lo[order]
        salts = np.frombuffer(salts, dtype=np.uint8).reshape(n, pf.SALT_BYTES)[order].tobytes()

    # ---- account commitments: H(0x03 || salt || str(account_id))
    sha = hashlib.sha256
    tag = pf.TAG_ACCOUNT
    salt_list = [salts[i : i + pf.SALT_BYTES] for i in range(0, n * pf.SALT_BYTES, pf.SALT_BYTES)]
    commits = b"".join([sha(tag + s + f).digest() for s, f in zip(salt_list, id_fields, strict=True)])
    del salt_list, id_fields

    # ---- leaves: H(0x00 || commitment || sums)
    leaf_w = 1 + pf.HASH_BYTES + 32 * k
    rec = np.empty((n, leaf_w), dtype=np.uint8)
    rec[:, 0] = pf.TAG_LEAF[0]
    rec[:, 1 : 1 + pf.HASH_BYTES] = np.frombuffer(commits, dtype=np.uint8).reshape(n, pf.HASH_BYTES)
    rec[:, 1 + pf.HASH_BYTES :] = _encode_sums(hi, lo)
    level_hash = _hash_rows(rec)
    del rec

    # ---- internal levels: H(0x01 || hL || sums(L) || hR || sums(R)), odd levels padded with PAD_j
    depth = pf.tree_depth(n)
    pads = pf.padding_hashes(depth, k)
    hashes, his, los = [level_hash], [hi], [lo]
    node_half = pf.HASH_BYTES + 32 * k
    for j in range(depth):
        h, a_hi, a_lo = hashes[-1], his[-1], los[-1]
        m = len(h)
        if m % 2:
            h = np.vstack([h, np.frombuffer(pads[j], dtype=np.uint8)[None, :]])
            a_hi = np.vstack([a_hi, np.zeros((1, 2 * k), dtype=_U64)])
            a_lo = np.vstack([a_lo, np.zeros((1, 2 * k), dtype=_U64)])
        enc = _encode_sums(a_hi, a_lo)
        half = len(h) // 2
        rec = np.empty((half, 1 + 2 * node_half), dtype=np.uint8)
        rec[:, 0] = pf.TAG_NODE[0]
        rec[:, 1 : 1 + pf.HASH_BYTES] = h[0::2]
        rec[:, 1 + pf.HASH_BYTES : 1 + node_half] = enc[0::2]
        rec[:, 1 + node_half : 1 + node_half + pf.HASH_BYTES] = h[1::2]
        rec[:, 1 + node_half + pf.HASH_BYTES :] = enc[1::2]
        p_hi, p_lo = _add128(a_hi[0::2], a_lo[0::2], a_hi[1::2], a_lo[1::2])
        hashes.append(_hash_rows(rec))
        his.append(p_hi)
        los.append(p_lo)
    return MerkleSumTree(
        snapshot_id=snapshot_id,
        sequence=sequence,
        assets=assets,
        account_ids=list(ids),
        salts=salts,
        hashes=hashes,
        sums_hi=his,
        sums_lo=los,
        pads=pads,
    )


# --------------------------------------------------------------------------- reserves


@dataclass(frozen=True)
class AssetAttestation:
    """One asset of a reserves attestation (all int base units).

    ``liabilities_counted`` is ``assets - liabilities`` (net, the default) or ``assets`` (gross,
    when deficits are not credited); ``surplus = holdings - liabilities_counted`` (negative: a
    shortfall of that size).
    """

    asset: str
    assets: int
    liabilities: int
    net_liabilities: int
    liabilities_counted: int
    holdings: int
    surplus: int

    @property
    def deficit(self) -> int:
        """The shortfall in this asset (0 when covered)."""
        return max(-self.surplus, 0)

    @property
    def covered(self) -> bool:
        """True when holdings cover the counted liabilities of this asset."""
        return self.surplus >= 0


@dataclass(frozen=True)
class Attestation:
    """Reserves against liabilities, per asset; ``solvent`` iff every asset is covered."""

    rows: tuple[AssetAttestation, ...]
    solvent: bool
    credit_deficits: bool

    def by_asset(self) -> dict[str, AssetAttestation]:
        """The rows keyed by asset symbol."""
        return {r.asset: r for r in self.rows}


def _as_totals(asset: str, value: Any) -> AssetTotals:
    if isinstance(value, AssetTotals):
        t = value
    elif isinstance(value, Mapping):
        try:
            t = AssetTotals(
                _strict_int(value["assets"], f"{asset}.assets"),
                _strict_int(value["liabilities"], f"{asset}.liabilities"),
            )
        except KeyError:
            raise InvalidInput(f"root_totals.{asset}", "expected 'assets' and 'liabilities'") from None
    elif isinstance(value, tuple) and len(value) == 2:
        t = AssetTotals(
            _strict_int(value[0], f"{asset}.assets"), _strict_int(value[1], f"{asset}.liabilities")
        )
    else:
        raise InvalidInput(
            f"root_totals.{asset}", f"expected AssetTotals, (assets, liabilities) or a mapping, got {value!r}"
        )
    if t.assets < 0 or t.liabilities < 0:
        raise InvalidInput(f"root_totals.{asset}", "asset and liability sums are non-negative")
    return t


def _strict_int(value: Any, field: str) -> int:
    if isinstance(value, bool):
        raise InvalidInput(field, f"expected int base units, got {value!r}")
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, str) and pf._AMOUNT_RE.match(value):
        return int(value)
    raise InvalidInput(field, f"expected int base units, got {value!r}")


def attest_reserves(
    root_totals: Mapping[str, Any],
    holdings: Mapping[str, int],
    *,
    credit_deficits: bool = True,
) -> Attestation:
    """Compare, per asset, the tree's liabilities with the venue's ``holdings`` (int base units).

    ``root_totals`` is ``tree.totals`` (``{asset: AssetTotals}``), or the ``totals`` object of a
    ``root.json`` / proof (decimal strings), or ``{asset: (assets, liabilities)}``. With
    ``credit_deficits=True`` (the default) the liabilities counted are the **net** liabilities
    ``assets - liabilities``: accounts in deficit are treated as owing the venue. With ``False``
    the gross ``assets`` sum is counted (the conservative view: deficits may never be recovered).
    An asset held but absent from the tree is pure surplus; an asset in the tree but not held has
    holdings 0. ``solvent`` is true iff no asset has a shortfall.
    """
    totals = {str(a): _as_totals(str(a), v) for a, v in root_totals.items()}
    held = {}
    for a, v in holdings.items():
        h = _strict_int(v, f"holdings.{a}")
        if h < 0:
            raise InvalidInput(f"holdings.{a}", f"holdings are non-negative, got {h}")
        held[a] = h
    rows = []
    for a in [*totals, *(a for a in held if a not in totals)]:
        t = totals.get(a, AssetTotals(0, 0))
        counted = t.net if credit_deficits else t.assets
        h = held.get(a, 0)
        rows.append(AssetAttestation(a, t.assets, t.liabilities, t.net, counted, h, h - counted))
    return Attestation(tuple(rows), all(r.surplus >= 0 for r in rows), credit_deficits)
