"""Writer process for the crash test: journals the seeded fuzz stream, printing each acknowledged seq.

Usage: python crash_writer.py URL NAMESPACE SEED
"""

from __future__ import annotations

import sys

from ramparts.engine.node import Node
from ramparts.errors import RampartsError
from ramparts.journal import open_journal
from test_properties import _fuzz_events, build


def main() -> None:
    url, namespace, seed = sys.argv[1], sys.argv[2], int(sys.argv[3])
    node = Node(open_journal(url, durability="full", namespace=namespace))
    _, setup = build()
    for event in [*setup, *_fuzz_events(seed, 100_000)]:
        try:
            node.submit(event)
        except RampartsError:
            continue
        print(node.engine.seq, flush=True)  # acknowledged: the journal append has returned


if __name__ == "__main__":
    main()
