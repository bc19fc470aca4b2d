"""Writer process for tests/test_journal_crash.py: appends deterministic records and prints each acknowledged seq.

Usage::

    python journal_crash_writer.py URL NAMESPACE MODE [DURABILITY]

``MODE`` is ``single`` (one record per append, the engine's acknowledge-per-event path) or
``batches`` (batches of 1..40 records whose sizes come from :func:`batch_sizes`). After each
``append`` *returns*, the writer prints the last seq it covered and flushes stdout: a printed seq is
an acknowledged one. It writes with ``DURABILITY`` (default ``"full"``) until it is killed (or
1,000,000 records).

The records are a pure function of their seq (:func:`record_for`), so the test can check every
recovered record byte for byte.
"""

from __future__ import annotations

import hashlib
import random
import sys

from ramparts.journal import JournalRecord, open_journal

LIMIT = 1_000_000


def record_for(seq: int) -> JournalRecord:
    """The record the writer appends at ``seq``: payload and effects carry a digest of the seq."""
    digest = hashlib.sha256(str(seq).encode()).hexdigest()
    payload = f'{{"digest":"{digest}","kind":"Fill","seq":{seq},"pad":"{"x" * (seq % 97)}"}}'
    return JournalRecord(seq, 1_700_000_000_000_000_000 + seq * 1_000, "Fill", payload, f'[{{"digest":"{digest[:16]}"}}]')


def batch_sizes(seed: int = 7):
    """The endless, deterministic sequence of batch sizes of ``batches`` mode."""
    rng = random.Random(seed)
    while True:
        yield rng.randint(1, 40)


def batch_ends(limit: int) -> set[int]:
    """The seqs at which a batch of ``batches`` mode ends, up to ``limit``."""
    ends, seq = set(), 0
    for size in batch_sizes():
        seq += size
        if seq > limit:
            return ends
        ends.add(seq)
    return ends  # pragma: no cover - batch_sizes is endless


def main() -> None:
    url, namespace, mode = sys.argv[1], sys.argv[2], sys.argv[3]
    durability = sys.argv[4] if len(sys.argv) > 4 else "full"
    with open_journal(url, durability=durability, namespace=namespace) as journal:
        seq = journal.last_seq()
        sizes = batch_sizes() if mode == "batches" else None
        while seq < LIMIT:
            size = next(sizes) if sizes is not None else 1
            journal.append([record_for(s) for s in range(seq + 1, seq + size + 1)])
            seq += size
            print(seq, flush=True)  # acknowledged: append has returned


if __name__ == "__main__":
    main()
