"""``python -m ramparts.service``: the service command line (see :mod:`ramparts.service.cli`)."""

from ramparts.service.cli import app

app()
