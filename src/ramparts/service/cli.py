"""The service's command line: create the first risk-officer key, manage keys, serve.

``python -m ramparts.service create-key --store journal.sqlite`` prints a new ``risk_officer``
token once (keys are stored hashed); ``serve`` runs the app under uvicorn with JSON logs. The
functions :func:`create_first_key` and :func:`serve` are the same without typer.
"""

from __future__ import annotations

import typer

from ramparts.errors import RampartsError

app = typer.Typer(add_completion=False, no_args_is_help=True, help="ramparts risk service: keys and server.")


def create_first_key(store: str, *, namespace: str = "ramparts", role: str = "risk_officer", account: str | None = None,
                     label: str = "bootstrap") -> tuple[str, str]:
    """Create a key in the key store at ``store`` (default role risk_officer); returns (key_id, token)."""
    from ramparts.service.auth import KeyStore

    ks = KeyStore(store, namespace=namespace)
    try:
        rec, token = ks.create_key(role, account, label, actor="cli")
    finally:
        ks.close()
    return rec.key_id, token


def serve(journal: str, *, keys: str | None = None, namespace: str = "ramparts", host: str = "127.0.0.1", port: int = 8000,
          durability: str = "full", rate: float = 100.0, burst: float = 200.0, log_level: str = "info") -> None:
    """Run the service under uvicorn (one process: the node has a single writer)."""
    import uvicorn

    from ramparts.service.app import create_app
    from ramparts.service.metrics import configure_logging

    configure_logging(log_level.upper())
    api = create_app(journal, namespace=namespace, api_keys_store=keys, durability=durability, rate_limit=(rate, burst))
    uvicorn.run(api, host=host, port=port, log_level="warning", access_log=False, workers=1)


@app.command("create-key")
def create_key_cmd(
    store: str = typer.Option(..., "--store", help="key store URL: the journal's SQLite path or postgresql:// URL"),
    namespace: str = typer.Option("ramparts", help="journal namespace (PostgreSQL schema)"),
    role: str = typer.Option("risk_officer", help="trader, oracle, matcher, sequencer, liquidator, risk_officer, auditor"),
    account: str = typer.Option(None, help="the trader's account (or the liquidator's keeper name)"),
    label: str = typer.Option("bootstrap", help="a note kept with the key"),
) -> None:
    """Create an API key (by default the first risk-officer key) and print its token once."""
    try:
        key_id, token = create_first_key(store, namespace=namespace, role=role, account=account, label=label)
    except RampartsError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    typer.echo(f"key_id {key_id}", err=True)
    typer.echo(token)


@app.command("revoke-key")
def revoke_key_cmd(key_id: str, store: str = typer.Option(..., "--store"), namespace: str = typer.Option("ramparts")) -> None:
    """Revoke a key (audit-logged)."""
    from ramparts.service.auth import KeyStore

    ks = KeyStore(store, namespace=namespace)
    try:
        if not ks.revoke(key_id, actor="cli"):
            typer.echo(f"error: unknown key {key_id}", err=True)
            raise typer.Exit(2)
    finally:
        ks.close()
    typer.echo(f"revoked {key_id}")


@app.command("serve")
def serve_cmd(
    journal: str = typer.Option(..., "--journal", help="journal URL: SQLite path, sqlite:///path or postgresql://..."),
    keys: str = typer.Option(None, "--keys", help="key store URL (default: the journal's database)"),
    namespace: str = typer.Option("ramparts"),
    host: str = typer.Option("127.0.0.1"),
    port: int = typer.Option(8000),
    durability: str = typer.Option("full", help="full or normal"),
    rate: float = typer.Option(100.0, help="requests per second per key (0: no limit)"),
    burst: float = typer.Option(200.0, help="token-bucket burst per key"),
    log_level: str = typer.Option("info"),
) -> None:
    """Serve the API, the stream, /metrics and the dashboard."""
    try:
        serve(journal, keys=keys, namespace=namespace, host=host, port=port, durability=durability, rate=rate, burst=burst, log_level=log_level)
    except RampartsError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None


__all__ = ["app", "create_first_key", "serve"]
