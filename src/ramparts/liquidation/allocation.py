"""Exact pro-rata allocation of an integer amount (largest-remainder method).

Used wherever an integer must be split without creating or losing a base unit: bankruptcy
deficits across positions, socialised loss over open interest, ADL quotes over counterparties.
"""

from __future__ import annotations

from collections.abc import Sequence


def allocate_pro_rata(total: int, weights: Sequence[int]) -> list[int]:
    """Split ``total`` (any sign) in proportion to non-negative int ``weights``; the parts sum to ``total``.

    Each part is the floor of its exact share; the units left over go one each to the largest
    fractional remainders (ties to the lower index), so the result is deterministic. A zero
    weight always gets zero. Raises ``ValueError`` if all weights are zero and total ≠ 0.
    """
    if any(w < 0 for w in weights):
        raise ValueError("negative weight")
    wsum = sum(weights)
    if wsum == 0:
        if total:
            raise ValueError("cannot allocate a non-zero total over zero weights")
        return [0] * len(weights)
    sign = -1 if total < 0 else 1
    t = abs(total)
    parts = [t * w // wsum for w in weights]
    left = t - sum(parts)
    if left:
        order = sorted(range(len(weights)), key=lambda i: (-((t * weights[i]) % wsum), i))
        for i in order[:left]:
            parts[i] += 1
    return [sign * p for p in parts]
