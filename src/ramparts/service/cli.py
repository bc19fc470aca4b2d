"""The service's command line: ``ramparts serve`` and ``ramparts service create-key | revoke-key | serve``.

This module owns the command line of :mod:`ramparts.service`: one ``serve`` command (the same
function, hence the same options, as ``ramparts serve`` and ``ramparts service serve``), key
creation and revocation, and the checks that run before anything is opened, so that a bad path is
one clear line and never a traceback:

* ``serve --journal PATH`` starts a new journal only in an existing, writable folder (that is how a
  venue starts) and refuses a read-only journal; the journal and key store are opened once before
  the server starts, so a corrupt or unreachable journal is reported here, not in the server's log;
* ``create-key --store PATH`` may create the key store (the bootstrap of a new venue, before its
  first ``serve``) in an existing folder; ``revoke-key`` refuses a store that does not exist;
* ``serve`` then takes the journal's writer lease and recovers the node (latest snapshot plus the
  events after it) *before* the server starts: a second ``serve`` on the same journal, or any
  journal that cannot be opened, is one line and exit code 2; on success it prints one line with
  the recovery time, the snapshot used and the number of events replayed.

``serve``'s hardening options: ``--snapshot-every N`` (events between snapshots, default 100,000;
0: never by count) and ``--snapshot-interval SECONDS`` (also snapshot when that long passed and
events arrived; default 0: off) bound the replay at the next start; ``--max-body-bytes`` (default
1 MiB) caps a request body (413); ``--max-ws-per-key`` (default 8) caps one key's WebSocket
streams and ``--ws-queue`` (default 1024) the messages a stream may fall behind before it is closed;
``--custody-cap`` (default: none) is the most a custody key may deposit or withdraw in one request
(:mod:`ramparts.service.custody`).

``python -m ramparts.service`` runs :data:`app` (the ``service`` group alone). The functions
:func:`create_first_key` and :func:`serve` are the same without typer. fastapi and uvicorn (the
``service`` extra) are imported only when a server starts.
"""

from __future__ import annotations

import typer

from ramparts.cli_common import console, fail, journal_to_create, new_app, store_to_read, user_errors

app = new_app("The risk service: API keys and the server (FastAPI, WebSocket stream, metrics, dashboard).")

LOG_LEVELS = ("debug", "info", "warning", "error", "critical")


def create_first_key(store: str, *, namespace: str = "ramparts", role: str = "risk_officer",
                     account: str | None = None, label: str = "bootstrap") -> tuple[str, str]:
    """Create a key in the key store at ``store`` (default role risk_officer); returns (key_id, token)."""
    from ramparts.service.auth import KeyStore

    ks = KeyStore(store, namespace=namespace)
    try:
        rec, token = ks.create_key(role, account, label, actor="cli")
    finally:
        ks.close()
    return rec.key_id, token


def serve(journal: str, *, keys: str | None = None, namespace: str = "ramparts", host: str = "127.0.0.1",
          port: int = 8000, durability: str = "full", rate: float = 100.0, burst: float = 200.0,
          log_level: str = "info", max_clock_skew: float = 300.0, snapshot_every: int = 100_000,
          snapshot_interval: float = 0.0, max_body_bytes: int = 1024 * 1024, max_ws_per_key: int = 8,
          ws_queue: int = 1024, custody_cap: str | None = None) -> None:
    """Run the service under uvicorn (one process: the node has a single writer).

    The writer's lease and the recovery happen here, before uvicorn starts, so their errors are the
    caller's (``serve_cmd`` makes them one line) and the recovery is printed on stderr."""
    import uvicorn

    from ramparts.engine.node import freeze_heap
    from ramparts.service.app import create_app
    from ramparts.service.metrics import configure_logging

    configure_logging(log_level.upper())
    api = create_app(journal, namespace=namespace, api_keys_store=keys, durability=durability,
                     rate_limit=(rate, burst), max_clock_skew_s=max_clock_skew, snapshot_every=snapshot_every,
                     snapshot_interval_s=snapshot_interval, max_body_bytes=max_body_bytes,
                     max_ws_per_key=max_ws_per_key, ws_queue=ws_queue, custody_cap=custody_cap)
    svc = api.state.svc
    try:
        rec = svc.writer.open()
    except BaseException:
        svc.keys.close()
        raise
    typer.echo(recovery_line(journal, rec), err=True)
    freeze_heap()  # this process serves this one engine until it stops
    uvicorn.run(api, host=host, port=port, log_level="warning", access_log=False, workers=1)


def recovery_line(journal: str, rec: dict) -> str:
    """What the start took, in one line (printed by ``serve``)."""
    where = journal.split("@")[-1] if "://" in journal else journal
    snap = f"snapshot at seq {rec['snapshot_seq']:,}" if rec["snapshot_seq"] else "no snapshot"
    boot = f", {rec['bootstrapped']} bootstrap event(s) journaled" if rec.get("bootstrapped") else ""
    return (f"journal {where} recovered to seq {rec['seq']:,} in {rec['seconds']:.3f} s "
            f"({snap}, {rec['replayed']:,} events replayed{boot})")


def create_key_cmd(
    store: str = typer.Option(..., "--store", help="key store URL: the journal's SQLite path (created in an "
                                                   "existing folder if missing) or postgresql:// URL"),
    namespace: str = typer.Option("ramparts", help="journal namespace (PostgreSQL schema)"),
    role: str = typer.Option("risk_officer",
                             help="trader, oracle, matcher, sequencer, liquidator, custody, risk_officer, auditor"),
    account: str = typer.Option(None, help="the trader's account (or the liquidator's keeper name)"),
    label: str = typer.Option("bootstrap", help="a note kept with the key"),
) -> None:
    """Create an API key (by default the first risk-officer key) and print its token once."""
    with user_errors():
        journal_to_create(store, "--store", what="key store")
        key_id, token = create_first_key(store, namespace=namespace, role=role, account=account, label=label)
    typer.echo(f"key_id {key_id}", err=True)
    typer.echo(token)


def revoke_key_cmd(
    key_id: str = typer.Argument(..., help="the key's id (the part after rk_ in its token)"),
    store: str = typer.Option(..., "--store", help="the key store URL the key was created in"),
    namespace: str = typer.Option("ramparts", help="journal namespace (PostgreSQL schema)"),
) -> None:
    """Revoke a key (audit-logged)."""
    from ramparts.service.auth import KeyStore

    with user_errors():
        store_to_read(store, "--store")
        ks = KeyStore(store, namespace=namespace)
        try:
            revoked = ks.revoke(key_id, actor="cli")
        finally:
            ks.close()
    if not revoked:
        fail(f"KEY_ID: unknown key {key_id}")
    console.print(f"revoked {key_id}", highlight=False)


def serve_cmd(
    journal: str = typer.Option("ramparts.sqlite", "--journal",
                                help="journal URL: a SQLite path (a new journal is started in an existing "
                                     "folder), sqlite:///path or postgresql://..."),
    keys: str = typer.Option(None, "--keys", help="key store URL (default: the journal's database)"),
    namespace: str = typer.Option("ramparts", help="journal namespace (PostgreSQL schema)"),
    host: str = typer.Option("127.0.0.1", help="address to listen on"),
    port: int = typer.Option(8000, min=0, max=65535, help="port to listen on"),
    durability: str = typer.Option("full", help="full (fsync per commit) or normal"),
    rate: float = typer.Option(100.0, min=0.0, help="requests per second per key (0: no limit)"),
    burst: float = typer.Option(200.0, min=1.0, help="token-bucket burst per key"),
    log_level: str = typer.Option("info", help="debug, info, warning, error or critical"),
    max_clock_skew: float = typer.Option(300.0, min=0.0, help="seconds a request's own ts may be ahead of this "
                                                                "machine's clock (a later ts is refused)"),
    snapshot_every: int = typer.Option(100_000, min=0, help="events between two snapshots (a restart replays at "
                                                            "most about this many; 0: never by count)"),
    snapshot_interval: float = typer.Option(0.0, min=0.0, help="also snapshot when this many seconds passed since "
                                                               "the last one and events arrived (0: off)"),
    max_body_bytes: int = typer.Option(1024 * 1024, min=1, help="largest request body in bytes (413 beyond; checked "
                                                                "after authentication, before parsing)"),
    max_ws_per_key: int = typer.Option(8, min=1, help="WebSocket streams one key may hold at once"),
    ws_queue: int = typer.Option(1024, min=1, help="messages a WebSocket stream may fall behind before it is "
                                                   "closed (code 4008)"),
    custody_cap: str = typer.Option(None, "--custody-cap", help="the most a custody key may deposit or withdraw in one "
                                                                "request, in whole units (above it: a risk officer's key)"),
) -> None:
    """Run the risk service: one journaled engine behind an HTTP / WebSocket API, metrics, a dashboard at /."""
    from ramparts.journal import DURABILITIES, open_journal

    if durability not in DURABILITIES:
        fail(f"--durability: {durability!r} is not one of {', '.join(DURABILITIES)}")
    if log_level.lower() not in LOG_LEVELS:
        fail(f"--log-level: {log_level!r} is not one of {', '.join(LOG_LEVELS)}")
    with user_errors():
        journal_to_create(journal, "--journal")
        if keys:
            journal_to_create(keys, "--keys", what="key store")
        try:
            import fastapi  # noqa: F401
            import uvicorn  # noqa: F401
        except ImportError as exc:
            fail(f"the service needs its extra: pip install 'ramparts[service]' ({exc})")
        with open_journal(journal, durability=durability, namespace=namespace):
            pass  # a read-only, corrupt or unreachable journal is reported here, before the server starts
        serve(journal, keys=keys, namespace=namespace, host=host, port=port, durability=durability, rate=rate,
              burst=burst, log_level=log_level.lower(), max_clock_skew=max_clock_skew, snapshot_every=snapshot_every,
              snapshot_interval=snapshot_interval, max_body_bytes=max_body_bytes, max_ws_per_key=max_ws_per_key,
              ws_queue=ws_queue, custody_cap=custody_cap)


app.command("create-key")(create_key_cmd)
app.command("revoke-key")(revoke_key_cmd)
app.command("serve")(serve_cmd)


def register(root: typer.Typer) -> None:
    """Add ``serve`` and the ``service`` group to the root app."""
    root.command("serve")(serve_cmd)
    root.add_typer(app, name="service",
                   help="The risk service: create-key, revoke-key, serve (API, stream, dashboard).")


__all__ = ["app", "create_first_key", "recovery_line", "register", "serve"]
