"""The engine on a message bus: ``ramparts run`` consumes NATS JetStream and publishes effects.

This package owns the bus side of a live venue, and nothing of the engine: it feeds events to a
journaled :class:`~ramparts.engine.node.Node` and publishes what they produced.

* :mod:`ramparts.bus.protocol` — the message format: input subjects and channels, the JSON of an
  event, effect and dead-letter messages, stream names.
* :mod:`ramparts.bus.cursor` — exactly-once bookkeeping: the ``bus_*`` side tables (the input
  stream sequence of every journal row, the cursor, refusals) written in the journal's own
  transaction.
* :mod:`ramparts.bus.runner` — :class:`BusRunner`: the durable pull consumer, delivery-order
  checks, group commits, dead letters, effect publishing and its catch-up after a crash.
* :mod:`ramparts.bus.commands` — the ``ramparts run`` command.
* :mod:`ramparts.bus.server` — a private ``nats-server`` for the tests and the benchmark.
* :mod:`ramparts.bus.sample` — a seeded stream of fills, prices and ticks (tests, benchmark).

``nats-py`` (the ``bus`` extra) is imported only when a runner connects.
"""

from ramparts.bus.cursor import Cursor, open_bus_journal
from ramparts.bus.protocol import CHANNELS, DeadLetter, Subjects, channel_for, decode_input, input_message
from ramparts.bus.runner import BusConfig, BusRunner, BusStats, BusUnavailable, Faults, ensure_streams

__all__ = [
    "CHANNELS",
    "BusConfig",
    "BusRunner",
    "BusStats",
    "BusUnavailable",
    "Cursor",
    "DeadLetter",
    "Faults",
    "Subjects",
    "channel_for",
    "decode_input",
    "ensure_streams",
    "input_message",
    "open_bus_journal",
]
