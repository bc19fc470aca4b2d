"""The private proof-of-liabilities tree: building it, its proofs and files, and building it from the engine.

This module owns the prover side of :mod:`ramparts.solvency.private_proof` (which defines the
protocol, the formats and the verifiers):

* :func:`build_private_tree` → :class:`PrivateTree`: a Pedersen commitment and a 64-bit range proof
  (:mod:`ramparts.solvency.range_proof`) per account and asset, the Merkle tree of summed
  commitments and hashes, the root's opening (total and blinding per asset) and its range proof;
  one inclusion proof per account (:meth:`PrivateTree.proof`), the published ``root.json``
  (:meth:`PrivateTree.root_record`) and ``tree.bin`` (:meth:`PrivateTree.tree_file`);
* :func:`write_private_tree`: the folder a venue publishes: ``root.json``, ``tree.bin`` and
  ``proofs/<account>.json`` (file names as :func:`~ramparts.solvency.files.proof_filename`);
* :func:`liabilities_from_equities`: signed equities → what the venue owes (``max(equity, 0)``),
  with the deficits it leaves out (owed *to* the venue; never netted against liabilities);
* :func:`engine_private_tree` / :func:`publish_private_liabilities`: the tree of an engine's
  :meth:`~ramparts.engine.engine.Engine.account_equities` at its current sequence; publishing
  journals a ``LiabilitiesRoot`` event whose root hash is the private root and whose totals are the
  opened root totals (``assets``) and the deficits (``liabilities``), which the engine accepts only
  if both equal its ledger to the unit.

Secrets: with ``secret`` (at least 16 bytes) the salts and every commitment's blinding are derived
from it with HMAC (``salt = HMAC-SHA256(secret, "ramparts-pol-private/salt/v1" || str(snapshot) ||
str(account))``; bit ``i``'s blinding of an asset = ``HMAC-SHA512(secret,
"ramparts-pol-private/blinding/v1" || str(snapshot) || str(account) || str(asset) || u32(i)) mod
(Q - 1) + 1``), so the commitments, the tree and the root hash are reproducible and a proof can be
re-issued later; the range proofs' nonces are always fresh, so re-issued range proofs differ but
verify against the same commitments. Without a secret, everything is random.

Speed: proving is about 4 scalar multiplications per bit (7 ms per account and asset at 64 bits on
one core, see ``benchmarks/bench_solvency_private.py``); ``workers > 1`` proves leaves in that many
processes.
"""

from __future__ import annotations

import base64
import hmac
import json
import numbers
import secrets
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ramparts.errors import InvalidInput, UnknownEntity
from ramparts.solvency import private_proof as pp
from ramparts.solvency import proof as pf
from ramparts.solvency.commitments import (
    G_BYTES,
    H_BYTES,
    H_COUNTER,
    Q,
    decode_point,
    encode_point,
    encode_scalar,
    opens_to,
    point_add,
)
from ramparts.solvency.range_proof import prove_range

SALT_LABEL = b"ramparts-pol-private/salt/v1"
BLINDING_LABEL = b"ramparts-pol-private/blinding/v1"


def derive_salt(secret: bytes, snapshot_id: str, account_id: str) -> bytes:
    """The reproducible 32-byte salt of an account (see the module docstring)."""
    return hmac.digest(secret, SALT_LABEL + pf.encode_str(snapshot_id) + pf.encode_str(account_id), "sha256")


def derive_bit_blindings(secret: bytes, snapshot_id: str, account_id: str, asset: str, bits: int) -> list[int]:
    """The reproducible non-zero bit blindings of one account's commitment to one asset."""
    prefix = BLINDING_LABEL + pf.encode_str(snapshot_id) + pf.encode_str(account_id) + pf.encode_str(asset)
    inner = hmac.new(secret, prefix, "sha512")
    out = []
    for i in range(bits):
        h = inner.copy()
        h.update(i.to_bytes(4, "big"))
        out.append(int.from_bytes(h.digest(), "big") % (Q - 1) + 1)
    return out


def _prove_batch(args: tuple[int, list[tuple[int, list[int] | None, bytes]]]) -> list[tuple[bytes, int, bytes]]:
    """Prove a batch of leaf commitments: ``[(commitment, blinding, range proof)]`` (picklable for a pool)."""
    bits, jobs = args
    out = []
    for value, rs, ctx in jobs:
        rp = prove_range(value, bits, ctx, rs)
        out.append((encode_point(rp.commitment), rp.blinding, rp.proof))
    return out


@dataclass(frozen=True)
class LeafAsset:
    """One account's commitment to one asset: the opening and its range proof."""

    value: int
    blinding: int
    commitment: bytes
    range_proof: bytes


class PrivateTree:
    """A built private proof-of-liabilities tree at one snapshot. Create it with :func:`build_private_tree`.

    * ``snapshot_id``, ``sequence``, ``assets``, ``bits``, ``account_count``, ``depth``: the header;
    * ``account_ids``: the accounts in leaf order;
    * ``totals``: ``{asset: int}`` the exact sums of the leaf values (the root's opening), and
      ``blindings``: ``{asset: int}`` the root blindings;
    * ``tree_hash`` (bytes) and ``root_hash`` (hex): the top node hash and the published root hash.
    """

    def __init__(
        self,
        *,
        snapshot_id: str,
        sequence: int,
        assets: tuple[str, ...],
        bits: int,
        account_ids: list[str],
        salts: list[bytes],
        accounts: list[bytes],
        leaves: list[list[LeafAsset]],
        levels: list[list[tuple[bytes, list[bytes]]]],
        root_proofs: dict[str, bytes],
        totals: dict[str, int],
        blindings: dict[str, int],
    ):
        self.snapshot_id = snapshot_id
        self.sequence = sequence
        self.assets = assets
        self.bits = bits
        self.account_ids = account_ids
        self.account_count = len(account_ids)
        self.depth = pf.tree_depth(self.account_count)
        self._salts = salts
        self._accounts = accounts
        self._leaves = leaves
        self._levels = levels
        self._root_proofs = root_proofs
        self.totals = totals
        self.blindings = blindings
        self._index = {a: i for i, a in enumerate(account_ids)}
        self.header = pp.header_digest(snapshot_id, sequence, assets, bits, self.account_count)
        self.tree_hash, top = levels[-1][0]
        self.top_commitments = dict(zip(assets, top, strict=True))
        self.root_hash = pp.root_hash(self.header, self.tree_hash, top).hex()

    def index_of(self, account_id: str) -> int:
        """Leaf index of ``account_id``; :class:`~ramparts.errors.UnknownEntity` if absent."""
        try:
            return self._index[account_id]
        except (KeyError, TypeError):
            raise UnknownEntity("account_id", f"{account_id!r} is not in this snapshot") from None

    def _i(self, account: str | int) -> int:
        if isinstance(account, int) and not isinstance(account, bool):
            if not 0 <= account < self.account_count:
                raise UnknownEntity("account", f"leaf index {account} is not in 0..{self.account_count - 1}")
            return account
        return self.index_of(account)  # type: ignore[arg-type]

    def balances(self, account: str | int) -> dict[str, int]:
        """The committed amount per asset of one account (by id or leaf index)."""
        return {a: la.value for a, la in zip(self.assets, self._leaves[self._i(account)], strict=True)}

    def leaf(self, account: str | int) -> list[LeafAsset]:
        """The commitments, openings and range proofs of one account, in asset order."""
        return list(self._leaves[self._i(account)])

    def _header_json(self) -> dict[str, Any]:
        return {
            "format": pp.FORMAT,
            "version": pp.VERSION,
            "snapshot_id": self.snapshot_id,
            "sequence": self.sequence,
            "assets": list(self.assets),
            "bits": self.bits,
            "account_count": self.account_count,
        }

    def _totals_json(self) -> dict[str, Any]:
        return {
            a: {
                "commitment": self.top_commitments[a].hex(),
                "total": str(self.totals[a]),
                "blinding": encode_scalar(self.blindings[a]).hex(),
                "range_proof": _b64(self._root_proofs[a]),
            }
            for a in self.assets
        }

    def proof(self, account: str | int) -> dict[str, Any]:
        """The inclusion proof (JSON-ready) of one account; :func:`~ramparts.solvency.private_proof.verify_private_proof` accepts it."""
        i = self._i(account)
        path = []
        for level, side in pp.path_shape(i, self.account_count):
            h, cs = self._levels[level][(i >> level) ^ 1]
            path.append({"level": level, "side": side, "hash": h.hex(),
                         "commitments": {a: c.hex() for a, c in zip(self.assets, cs, strict=True)}})
        return {
            **self._header_json(),
            "leaf": {
                "account_id": self.account_ids[i],
                "salt": self._salts[i].hex(),
                "index": i,
                "balances": {
                    a: {
                        "value": str(la.value),
                        "blinding": encode_scalar(la.blinding).hex(),
                        "commitment": la.commitment.hex(),
                        "range_proof": _b64(la.range_proof),
                    }
                    for a, la in zip(self.assets, self._leaves[i], strict=True)
                },
            },
            "path": path,
            "root": {"hash": self.root_hash, "tree_hash": self.tree_hash.hex(), "totals": self._totals_json()},
        }

    def root_record(self) -> dict[str, Any]:
        """The published ``root.json`` (see :mod:`ramparts.solvency.private_proof`)."""
        return {
            **self._header_json(),
            "generators": {"G": G_BYTES.hex(), "H": H_BYTES.hex(), "H_counter": H_COUNTER},
            "tree_hash": self.tree_hash.hex(),
            "hash": self.root_hash,
            "totals": self._totals_json(),
        }

    def tree_file(self) -> bytes:
        """The published ``tree.bin``: every leaf's account commitment, commitments and range proofs."""
        raw = json.dumps({**self._header_json(), "hash": self.root_hash}, ensure_ascii=False).encode("utf-8")
        parts = [pp.TREE_MAGIC, len(raw).to_bytes(4, "big"), raw]
        for acc, leaf in zip(self._accounts, self._leaves, strict=True):
            parts.append(acc)
            for la in leaf:
                parts.append(la.commitment)
                parts.append(la.range_proof)
        return b"".join(parts)


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


# --------------------------------------------------------------------------- building


def _utf8_len(value: Any) -> int:
    """Byte length of a string's strict UTF-8 encoding; -1 for a non-string or an unencodable one."""
    if not isinstance(value, str):
        return -1
    try:
        return len(value.encode("utf-8"))
    except UnicodeEncodeError:
        return -1


def _check_header(assets: Sequence[str], snapshot_id: str, sequence: int, bits: int) -> tuple[str, ...]:
    if isinstance(assets, str) or not isinstance(assets, Sequence) or not assets:
        raise InvalidInput("assets", "expected a non-empty sequence of asset symbols")
    out = tuple(assets)
    if len(out) > pf.MAX_ASSETS or len(set(out)) != len(out):
        raise InvalidInput("assets", f"at most {pf.MAX_ASSETS} distinct asset symbols")
    for a in out:
        if not 0 < _utf8_len(a) <= pf.MAX_ASSET_BYTES:
            raise InvalidInput("assets", f"asset symbols are non-empty UTF-8 strings of at most {pf.MAX_ASSET_BYTES} bytes, got {a!r}")
    if not 0 < _utf8_len(snapshot_id) <= pf.MAX_SNAPSHOT_ID_BYTES:
        raise InvalidInput("snapshot_id", "expected a non-empty UTF-8 string of at most 1024 bytes")
    if type(sequence) is not int or not 0 <= sequence < pf.U64_LIMIT:
        raise InvalidInput("sequence", f"expected an int in [0, 2**64), got {sequence!r}")
    if type(bits) is not int or not 1 <= bits <= pp.MAX_LEAF_BITS:
        raise InvalidInput("bits", f"expected an int in [1, {pp.MAX_LEAF_BITS}], got {bits!r}")
    return out


def _amount(v: Any, account_id: str, asset: str, bits: int) -> int:
    if isinstance(v, bool) or not isinstance(v, numbers.Integral):
        raise InvalidInput("balances", f"account {account_id!r} asset {asset}: expected int base units, got {v!r}")
    v = int(v)
    if v < 0:
        raise InvalidInput(
            "balances",
            f"account {account_id!r} asset {asset}: {v} is negative; a proof of liabilities commits to what "
            "the venue owes, max(equity, 0) (see liabilities_from_equities), and cannot prove a negative value",
        )
    if v >= 1 << bits:
        raise InvalidInput("balances", f"account {account_id!r} asset {asset}: {v} is not below 2**{bits} (raise bits)")
    return v


def build_private_tree(
    accounts: Iterable[tuple[str, Mapping[str, int]]],
    assets: Sequence[str],
    *,
    snapshot_id: str,
    sequence: int = 0,
    bits: int = pp.DEFAULT_BITS,
    secret: bytes | None = None,
    shuffle: bool = True,
    workers: int = 1,
) -> PrivateTree:
    """Build the private tree of a snapshot.

    ``accounts`` yields ``(account_id, {asset: amount})`` with amounts non-negative ints below
    ``2**bits`` (a missing asset is 0; a negative amount is refused: pass
    :func:`liabilities_from_equities` of signed equities). Account ids are unique non-empty strings;
    at most ``2**32`` accounts (the overflow bound). ``secret`` makes the salts and blindings
    reproducible (module docstring); ``shuffle`` orders the leaves by salt; ``workers`` proves the
    range proofs in that many processes.
    """
    assets = _check_header(assets, snapshot_id, sequence, bits)
    if secret is not None and (not isinstance(secret, bytes | bytearray) or len(secret) < 16):
        raise InvalidInput("secret", "the secret must be at least 16 bytes")
    ids: list[str] = []
    values: list[list[int]] = []
    known = set(assets)
    for pair in accounts:
        try:
            aid, bal = pair
        except (TypeError, ValueError):
            raise InvalidInput("accounts", "every entry must be an (account_id, balances mapping) pair") from None
        if not 0 < _utf8_len(aid) <= pf.MAX_ACCOUNT_ID_BYTES:
            raise InvalidInput("account_id", f"account ids are non-empty UTF-8 strings of at most 1024 bytes, got {aid!r}"[:300])
        if not isinstance(bal, Mapping):
            raise InvalidInput("balances", f"account {aid!r}: balances must be a mapping asset -> int")
        extra = set(bal) - known
        if extra:
            raise UnknownEntity("asset", f"account {aid!r} holds {sorted(map(str, extra))[0]!r}, not in {list(assets)}")
        ids.append(aid)
        values.append([_amount(bal.get(a, 0), aid, a, bits) for a in assets])
    n = len(ids)
    if n == 0:
        raise InvalidInput("accounts", "a proof of liabilities needs at least one account")
    if n > pp.MAX_ACCOUNTS:
        raise InvalidInput("accounts", f"at most 2**32 accounts (the overflow bound n·2**bits < Q), got {n}")
    if len(set(ids)) != n:
        raise InvalidInput("account_id", "duplicate account id")

    key = bytes(secret) if secret is not None else None
    salts = [derive_salt(key, snapshot_id, a) if key else secrets.token_bytes(32) for a in ids]
    order = sorted(range(n), key=salts.__getitem__) if shuffle else list(range(n))
    ids = [ids[i] for i in order]
    values = [values[i] for i in order]
    salts = [salts[i] for i in order]
    accs = [pf.account_commitment(s, a) for s, a in zip(salts, ids, strict=True)]
    header = pp.header_digest(snapshot_id, sequence, assets, bits, n)

    jobs = []
    for i, (aid, acc, vals) in enumerate(zip(ids, accs, values, strict=True)):
        for pos, (a, v) in enumerate(zip(assets, vals, strict=True)):
            rs = derive_bit_blindings(key, snapshot_id, aid, a, bits) if key else None
            jobs.append((v, rs, pp.leaf_context(header, pos, i, acc)))
    size = max(1, min(512, -(-len(jobs) // max(1, workers * 4))))
    batches = [(bits, jobs[s : s + size]) for s in range(0, len(jobs), size)]
    if workers > 1 and len(batches) > 1:
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(workers) as ex:
            proved = [x for r in ex.map(_prove_batch, batches) for x in r]
    else:
        proved = [x for b in batches for x in _prove_batch(b)]
    k = len(assets)
    leaves = []
    for i in range(n):
        row = []
        for p in range(k):
            commitment, blinding, range_proof = proved[i * k + p]
            row.append(LeafAsset(values[i][p], blinding, commitment, range_proof))
        leaves.append(row)

    # ---- the levels: hashes and summed commitments; an odd last node is promoted unchanged
    level = [(pp.leaf_hash(acc, [la.commitment for la in leaf]), [la.commitment for la in leaf])
             for acc, leaf in zip(accs, leaves, strict=True)]
    points = [[decode_point(la.commitment) for la in leaf] for leaf in leaves]
    levels = [level]
    while len(level) > 1:
        nxt, nxt_pts = [], []
        for j in range(0, len(level) - 1, 2):
            (lh, lc), (rh, rc) = level[j], level[j + 1]
            sums = [point_add(x, y) for x, y in zip(points[j], points[j + 1], strict=True)]
            nxt.append((pp.node_hash(lh, lc, rh, rc), [encode_point(s) for s in sums]))
            nxt_pts.append(sums)
        if len(level) % 2:
            nxt.append(level[-1])
            nxt_pts.append(points[-1])
        level, points = nxt, nxt_pts
        levels.append(level)

    # ---- the root: opening and range proof of each top commitment
    totals = {a: sum(leaf[p].value for leaf in leaves) for p, a in enumerate(assets)}
    blindings = {a: sum(leaf[p].blinding for leaf in leaves) % Q for p, a in enumerate(assets)}
    rbits = pp.root_bits(bits, n)
    root_proofs = {}
    for p, a in enumerate(assets):
        if not opens_to(points[0][p], totals[a], blindings[a]):  # pragma: no cover - internal inconsistency
            raise InvalidInput("tree", f"{a}: the root commitment does not open to the total")
        rp = prove_range(totals[a], rbits, pp.root_context(header, p), blinding=blindings[a])
        assert encode_point(rp.commitment) == level[0][1][p]
        root_proofs[a] = rp.proof
    return PrivateTree(
        snapshot_id=snapshot_id, sequence=sequence, assets=assets, bits=bits, account_ids=ids, salts=salts,
        accounts=accs, leaves=leaves, levels=levels, root_proofs=root_proofs, totals=totals, blindings=blindings,
    )


def liabilities_from_equities(
    equities: Iterable[tuple[str, Mapping[str, int]]],
) -> tuple[list[tuple[str, dict[str, int]]], dict[str, tuple[int, int]]]:
    """Signed equities → ``([(account, {asset: max(equity, 0)})], {asset: (accounts in deficit, deficit total)})``.

    A deficit (negative equity) is owed *to* the venue: it is a receivable, not a liability, and it
    is never netted against what the venue owes (that is the hidden negative this tree excludes).
    """
    rows: list[tuple[str, dict[str, int]]] = []
    deficits: dict[str, list[int]] = {}
    for aid, bal in equities:
        row = {}
        for a, v in bal.items():
            if isinstance(v, bool) or not isinstance(v, numbers.Integral):
                raise InvalidInput("balances", f"account {aid!r} asset {a}: expected int base units, got {v!r}")
            v = int(v)
            row[a] = max(v, 0)
            if v < 0:
                d = deficits.setdefault(a, [0, 0])
                d[0] += 1
                d[1] += -v
        rows.append((aid, row))
    return rows, {a: (c, t) for a, (c, t) in sorted(deficits.items())}


# --------------------------------------------------------------------------- files


def write_private_tree(tree: PrivateTree, out_dir: Path, accounts: Iterable[str] | None = None) -> list[str]:
    """Write ``root.json``, ``tree.bin`` and ``proofs/<name>.json`` for ``accounts`` (default all) under ``out_dir``
    (the one proof-folder writer, :func:`ramparts.solvency.files.write_tree`, with this format's root check)."""
    from ramparts.solvency.files import write_tree

    return write_tree(tree, out_dir, accounts, verify_root=pp.verify_private_root, dumps=pp.dumps,
                      extra={"tree.bin": tree.tree_file})


# --------------------------------------------------------------------------- the engine


def engine_private_tree(
    engine: Any, *, snapshot_id: str, secret: bytes, bits: int = pp.DEFAULT_BITS, shuffle: bool = True, workers: int = 1
) -> tuple[PrivateTree, dict[str, tuple[int, int]]]:
    """The private tree of ``engine``'s account equities at its current sequence, and the deficits left out."""
    if engine.settlement is None:
        raise InvalidInput("journal", "the journal has no Genesis: nothing to prove")
    if not isinstance(secret, bytes) or len(secret) < 16:
        raise InvalidInput("secret", "the secret must hold at least 16 bytes")
    equities = engine.account_equities()
    assets = sorted({a for b in equities.values() for a in b} | {engine.settlement.symbol})
    rows, deficits = liabilities_from_equities(equities.items())
    tree = build_private_tree(rows, assets, snapshot_id=snapshot_id, sequence=engine.seq, bits=bits, secret=secret,
                              shuffle=shuffle, workers=workers)
    return tree, deficits


@dataclass(frozen=True)
class PublishedPrivateRoot:
    """What :func:`publish_private_liabilities` did."""

    tree: PrivateTree
    deficits: dict[str, tuple[int, int]]
    record: dict
    attestation: Any
    build_seconds: float
    proofs_written: int


def publish_private_liabilities(
    node: Any,
    out_dir: str | Path | None,
    *,
    secret: bytes,
    snapshot_id: str | None = None,
    bits: int = pp.DEFAULT_BITS,
    shuffle: bool = True,
    workers: int = 1,
    accounts: list[str] | None = None,
) -> PublishedPrivateRoot:
    """Build the private tree at the node's state, write it under ``out_dir``, journal its root.

    ``snapshot_id`` defaults to ``seq-<sequence>-private``. The ``LiabilitiesRoot`` event carries the
    private root hash, the opened totals as ``assets`` and the deficits as ``liabilities``; the
    engine rejects it unless both equal its ledger. The attestation compares the reserves with the
    opened totals, crediting no deficit.
    """
    from ramparts.engine import events as ev
    from ramparts.solvency.merkle_sum import attest_reserves

    engine = node.engine
    sid = snapshot_id or f"seq-{engine.seq}-private"
    t0 = time.perf_counter()
    tree, deficits = engine_private_tree(engine, snapshot_id=sid, secret=secret, bits=bits, shuffle=shuffle,
                                         workers=workers)
    built = time.perf_counter() - t0
    written = len(write_private_tree(tree, Path(out_dir), accounts)) if out_dir is not None else 0
    event = ev.LiabilitiesRoot(
        ts=engine.time_ns,
        snapshot_id=sid,
        sequence=tree.sequence,
        root_hash=tree.root_hash,
        account_count=tree.account_count,
        totals={a: {"assets": str(tree.totals[a]), "liabilities": str(deficits.get(a, (0, 0))[1])} for a in tree.assets},
    )
    effects = node.submit(event)
    record = {k: v for k, v in effects[0].items() if k != "kind"}
    holdings = {a: max(-engine.ledger.balance(a, "external"), 0) for a in tree.assets}
    attestation = attest_reserves({a: (tree.totals[a], 0) for a in tree.assets}, holdings, credit_deficits=False)
    return PublishedPrivateRoot(tree, deficits, record, attestation, built, written)



__all__ = [
    "LeafAsset",
    "PrivateTree",
    "PublishedPrivateRoot",
    "build_private_tree",
    "derive_bit_blindings",
    "derive_salt",
    "engine_private_tree",
    "liabilities_from_equities",
    "publish_private_liabilities",
    "write_private_tree",
]
