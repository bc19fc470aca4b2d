"""Proof of solvency: Merkle-sum-tree proofs of liabilities that any account holder verifies offline.

This package owns the proof-of-liabilities feature:

* :mod:`ramparts.solvency.merkle_sum`: building the tree at a snapshot (:func:`build_tree` →
  :class:`MerkleSumTree`: root hash, exact per-asset asset/liability totals, one inclusion proof
  per account) and the reserves attestation (:func:`attest_reserves` → :class:`Attestation`);
* :mod:`ramparts.solvency.proof`: the canonical byte encoding, the proof JSON format (version 1)
  and the offline verifier (:func:`verify_proof` → :class:`VerificationResult`,
  :func:`verify_root_record`); standard library only, and runnable as a standalone script;
* :mod:`ramparts.solvency.files`: the balances CSV a tree is built from and the layout of the
  published ``root.json`` and proofs;
* :mod:`ramparts.solvency.commands`: the ``ramparts verify-proof`` and ``prove-liabilities``
  commands (and ``verify_proof_command`` / ``build_tree_command``, the same as plain functions).

The builder names (which need numpy) are imported lazily, so ``from ramparts.solvency import
verify_proof`` works on a machine without numpy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ramparts.solvency.proof import (
    FORMAT,
    VERSION,
    AssetTotals,
    VerificationResult,
    verify_proof,
    verify_root_record,
)

if TYPE_CHECKING:  # pragma: no cover
    from ramparts.solvency.merkle_sum import (
        AssetAttestation,
        Attestation,
        MerkleSumTree,
        attest_reserves,
        build_tree,
    )

_LAZY = {"AssetAttestation", "Attestation", "MerkleSumTree", "attest_reserves", "build_tree"}

__all__ = [
    "FORMAT",
    "VERSION",
    "AssetAttestation",
    "AssetTotals",
    "Attestation",
    "MerkleSumTree",
    "VerificationResult",
    "attest_reserves",
    "build_tree",
    "verify_proof",
    "verify_root_record",
]


def __getattr__(name: str) -> Any:
    """Import the numpy-backed builder names on first use (PEP 562)."""
    if name in _LAZY:
        from ramparts.solvency import merkle_sum

        return getattr(merkle_sum, name)
    raise AttributeError(f"module 'ramparts.solvency' has no attribute {name!r}")
