"""Proof of liabilities at an engine snapshot: build the tree from the engine, journal its root.

This module owns the bridge between the engine and the Merkle sum tree:

* :func:`publish_liabilities` takes a journaled :class:`~ramparts.engine.node.Node`, builds the
  tree over :meth:`Engine.account_equities <ramparts.engine.engine.Engine.account_equities>`
  (equity per sub-account, settlement asset; a deficit in one
  sub-account is never netted against its owner's others) at the current sequence, writes ``root.json``
  and one proof per account, and then journals a
  :class:`~ramparts.engine.events.LiabilitiesRoot` event carrying the root hash and totals. The
  engine recomputes the totals from its ledger and rejects the event unless they agree to the
  unit, so every journaled root is tied to the exact state it covers, and replaying the journal
  reproduces it.
* :func:`reserves_attestation` compares the tree's totals with what the venue holds: the
  settlement asset deposited and not withdrawn (``−external`` in the ledger). The surplus is the
  venue's own capital (insurance funds and fees) less any recorded bad debt.

Salts are derived from a server secret with HMAC (see
:func:`~ramparts.solvency.proof.derive_salt`), so the venue can re-issue any proof later without
storing them; the secret never enters the journal.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from ramparts.engine import events as ev
from ramparts.engine.engine import Engine
from ramparts.errors import InvalidInput
from ramparts.solvency.merkle_sum import Attestation, MerkleSumTree, attest_reserves, build_tree


@dataclass(frozen=True)
class PublishedRoot:
    """What :func:`publish_liabilities` did: the tree, the journaled record, the attestation."""

    tree: MerkleSumTree
    record: dict
    attestation: Attestation
    build_seconds: float
    proofs_written: int


def engine_tree(engine: Engine, *, snapshot_id: str, salt_secret: bytes, shuffle: bool = True) -> MerkleSumTree:
    """The Merkle sum tree of ``engine``'s account equities at its current sequence."""
    if engine.settlement is None:
        raise InvalidInput("journal", "the journal has no Genesis: nothing to prove")
    if not isinstance(salt_secret, bytes) or len(salt_secret) < 16:
        raise InvalidInput("salt_secret", "the secret must hold at least 16 bytes")
    equities = engine.account_equities()
    assets = sorted({a for balances in equities.values() for a in balances} | {engine.settlement.symbol})
    return build_tree(equities.items(), assets, snapshot_id=snapshot_id, sequence=engine.seq, salt_secret=salt_secret, shuffle=shuffle)


def reserves_attestation(engine: Engine, tree: MerkleSumTree) -> Attestation:
    """Reserves (each asset deposited and not withdrawn) against the tree's liabilities."""
    holdings = {a: max(-engine.ledger.balance(a, "external"), 0) for a in (t for t in tree.totals)}
    return attest_reserves(tree.totals, holdings)


def publish_liabilities(
    node,
    out_dir: str | Path | None,
    *,
    salt_secret: bytes,
    snapshot_id: str | None = None,
    shuffle: bool = True,
    accounts: list[str] | None = None,
) -> PublishedRoot:
    """Build the tree at the node's current state, write it under ``out_dir``, journal its root.

    ``snapshot_id`` defaults to ``seq-<sequence>``. ``out_dir=None`` writes nothing (the proofs can
    be re-issued later from the same secret and journal). ``accounts`` limits the proofs written.
    The ``LiabilitiesRoot`` event is appended only after the files are written; if the engine
    rejects it (totals differ from the ledger) the error propagates and nothing is journaled.
    """
    from ramparts.solvency.files import write_tree

    engine = node.engine
    sid = snapshot_id or f"seq-{engine.seq}"
    t0 = time.perf_counter()
    tree = engine_tree(engine, snapshot_id=sid, salt_secret=salt_secret, shuffle=shuffle)
    built = time.perf_counter() - t0
    written = 0
    if out_dir is not None:
        written = len(write_tree(tree, Path(out_dir), accounts))
    event = ev.LiabilitiesRoot(
        ts=engine.time_ns,
        snapshot_id=sid,
        sequence=tree.sequence,
        root_hash=tree.root_hash,
        account_count=tree.account_count,
        totals={a: {"assets": str(t.assets), "liabilities": str(t.liabilities)} for a, t in tree.totals.items()},
    )
    effects = node.submit(event)
    record = {k: v for k, v in effects[0].items() if k != "kind"}
    return PublishedRoot(tree, record, reserves_attestation(engine, tree), built, written)
