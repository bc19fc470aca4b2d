"""``python -m ramparts``: the ``ramparts`` command line (see :mod:`ramparts.cli`)."""

from ramparts.cli import main

main()
