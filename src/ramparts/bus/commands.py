"""The bus's command: ``ramparts run --journal URL --nats nats://HOST:PORT``.

This module owns the command line of :mod:`ramparts.bus`. ``run`` takes the journal's writer lease
(a second ``run`` or a ``serve`` on the same journal is refused, exit 2), recovers the node, connects
to NATS, creates the three streams if they are missing, publishes again whatever effects a previous
run could not confirm, and consumes until ``SIGINT`` / ``SIGTERM`` (it finishes the group in hand,
records where it stopped, and prints what it did). A journal that does not exist is started in an
existing, writable folder, as ``serve`` does. ``--failover`` makes the process a candidate of
:mod:`ramparts.bus.failover` (primary or hot standby, by a lease in JetStream's key-value store). ``nats-py`` (the ``bus`` extra) is imported only here.
"""

from __future__ import annotations

import typer

from ramparts.cli_common import console, fail, journal_to_create, user_errors


def run(
    journal: str = typer.Option(..., "--journal", help="the journal: a SQLite path, sqlite:///path or postgresql://..."),
    nats: str = typer.Option("nats://127.0.0.1:4222", "--nats", help="the NATS server (JetStream enabled); a cluster's "
                             "nodes comma-separated"),
    namespace: str = typer.Option("ramparts", help="journal namespace (PostgreSQL schema, SQLite table prefix)"),
    durability: str = typer.Option("full", help="journal durability: full (fsync per group commit) or normal"),
    prefix: str = typer.Option("ramparts", help="subject prefix: PREFIX.in.*, PREFIX.fx.*, PREFIX.dlq.*"),
    stream_prefix: str = typer.Option("RAMPARTS", help="stream names: PREFIX_IN, PREFIX_FX, PREFIX_DLQ"),
    durable: str = typer.Option("ramparts-engine", help="the durable consumer's name"),
    batch: int = typer.Option(1000, min=1, max=100_000, help="most messages in one group commit"),
    ack_wait: float = typer.Option(30.0, min=0.1, help="seconds JetStream waits for an ack before redelivering"),
    duplicate_window: float = typer.Option(120.0, min=0.0, help="seconds of publish deduplication (streams created here)"),
    snapshot_every: int = typer.Option(100_000, min=0, help="events between snapshots (0: never)"),
    effects: str = typer.Option("", help="effect kinds to publish, comma-separated (default: all)"),
    connect_timeout: float = typer.Option(10.0, min=0.1, help="seconds to keep trying the first connection to NATS"),
    log_level: str = typer.Option("info", help="debug, info, warning or error"),
    failover: bool = typer.Option(False, "--failover", help="take part in failover: hold the engine's lease in JetStream's "
                                  "key-value store, or stand by following the journal and take over when it expires"),
    lease_ttl: float = typer.Option(3.0, "--lease-ttl", help="with --failover: seconds a lease lasts unrenewed "
                                    "(the same for every candidate)"),
    replicas: int = typer.Option(1, "--replicas", min=1, max=5, help="copies of each stream and lease bucket this "
                                 "process creates (3 on a three-node JetStream cluster)"),
) -> None:
    """Apply the events of NATS JetStream through the journaled engine and publish their effects."""
    import asyncio
    import logging
    import signal

    if durability not in ("full", "normal"):
        fail(f"--durability: {durability!r} is not one of full, normal")
    if log_level.lower() not in ("debug", "info", "warning", "error"):
        fail(f"--log-level: {log_level!r} is not one of debug, info, warning, error")
    try:
        import nats as _nats  # noqa: F401
    except ImportError:
        fail("ramparts run needs nats-py: pip install 'ramparts[bus]'")
    from ramparts.bus.protocol import Subjects
    from ramparts.bus.runner import BusConfig, BusRunner

    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    with user_errors():
        journal_to_create(journal, "--journal")
        config = BusConfig(nats_url=nats, subjects=Subjects(prefix, stream_prefix), durable=durable, batch=batch,
                           ack_wait_s=ack_wait, duplicate_window_s=duplicate_window, connect_timeout_s=connect_timeout,
                           effects=frozenset(k.strip() for k in effects.split(",") if k.strip()) or None,
                           replicas=replicas)
        def make_runner() -> BusRunner:
            return BusRunner(journal, config, namespace=namespace, durability=durability, snapshot_every=snapshot_every)

        runner = make_runner()
        if failover:
            from ramparts.bus.failover import Failover, FailoverConfig

            candidate = Failover(make_runner, FailoverConfig(ttl_s=lease_ttl))

        async def main():
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, candidate.stop if failover else runner.stop)
            return await (candidate.run() if failover else runner.run())

        stats = asyncio.run(main())
    if failover:
        terms = stats.takeovers
        console.print(
            f"stopped: {len(terms)} term(s) as primary ({sum(t.stepped_down for t in terms)} stepped down), "
            f"{stats.applied:,} events applied, {stats.rows_followed:,} journal rows followed as standby",
            soft_wrap=True, highlight=False)
        return
    console.print(
        f"stopped at stream seq {runner.high}: {stats.applied:,} events applied, {stats.refused:,} refused, "
        f"{stats.dead_letters - stats.refused:,} dead-lettered undecoded, {stats.duplicates:,} redeliveries skipped, "
        f"{stats.effects_published:,} effects published, {stats.resyncs} consumer (re)starts",
        soft_wrap=True, highlight=False)


def register(app: typer.Typer) -> None:
    """Add the bus's command to the root app."""
    app.command("run")(run)


__all__ = ["register", "run"]
