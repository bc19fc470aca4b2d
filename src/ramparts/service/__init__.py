"""The risk service: the engine behind an HTTP/WebSocket API, with keys, metrics and a dashboard.

Modules: :mod:`~ramparts.service.app` (``create_app``: the FastAPI app around one journaled node,
the stream endpoint, the dashboard and its security headers), :mod:`~ramparts.service.api` (the
``/v1`` routes, stream tickets), :mod:`~ramparts.service.guard` (keys in headers only,
authentication before the body, the body limit), :mod:`~ramparts.service.writer` (the single
writer thread, group commit, the journal's writer lease, snapshots and recovery),
:mod:`~ramparts.service.readview` (the read side: published views of the engine, the state hash
in a forked child, ``?min_seq=``), :mod:`~ramparts.service.reads` (the dashboard's read routes, the
seq header), :mod:`~ramparts.service.history` (counters, prices and insurance funds from the
journal), :mod:`~ramparts.service.views` (read views of a live engine), :mod:`~ramparts.service.models`
(request/response models), :mod:`~ramparts.service.auth` (API keys, roles, rate limit,
failed-login throttling, stream tickets, audit log), :mod:`~ramparts.service.custody` (the traders'
deposit and withdrawal requests, the custody cap, the ledger account ``external``),
:mod:`~ramparts.service.stream` (the live
stream and its limits), :mod:`~ramparts.service.metrics` (Prometheus, JSON logs),
:mod:`~ramparts.service.cli` (``serve``, ``create-key``, ``revoke-key``). Needs the ``service``
extra (fastapi, uvicorn, prometheus-client).
"""


def __getattr__(name: str):
    # lazy, so that ``ramparts.service.cli`` (and the main CLI that wires it) import without fastapi
    if name == "create_app":
        from ramparts.service.app import create_app

        return create_app
    raise AttributeError(name)


__all__ = ["create_app"]
