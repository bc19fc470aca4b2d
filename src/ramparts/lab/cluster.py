"""Running the lab's tasks beyond one process: Dask distributed, with retries, progress and checkpoints.

This module owns the ``--cluster`` option of ``ramparts stress`` and ``ramparts calibrate``. Both
split their work into picklable tasks evaluated by a pure module-level function
(:func:`ramparts.lab.stress.run_task`, :func:`ramparts.lab.calibrate.evaluate_task`); a
:class:`TaskRunner` evaluates such a list and returns the rows **in task order**, so the
result does not depend on where or in which order the tasks ran:

=======================  =====================================================================
``--cluster ''``         in process (the default)
``--cluster local:N``    a Dask ``LocalCluster`` of N worker processes on this machine, started
                         and stopped with the run
``--cluster tcp://h:p``  an existing Dask scheduler (``dask scheduler`` / ``dask worker``)
=======================  =====================================================================

Determinism: every task carries its own seed (stress path ``i`` draws from
``SeedSequence([seed, i])``), the engine is deterministic, and rows are re-ordered by task index,
so a distributed run equals the in-process run exactly (the tests compare them).

Failures: a task that raises is retried (``retries``, default 2); a worker that dies takes its
tasks with it and the scheduler re-runs them elsewhere. Partial results are kept: with a
``checkpoint`` file every finished row is appended as one JSON line as soon as it arrives, and a
later run with the same checkpoint skips the tasks already done.

Why Dask rather than Ray: measured here (``python benchmarks/bench_cluster.py``), see
``docs/scaling.md``: the tasks are coarse (0.05–2 s of engine work each) and independent, which
both schedulers handle; Dask's local cluster starts faster, needs no separate object store, and is
a pure-Python dependency.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ramparts.errors import InvalidInput

__all__ = ["TaskRunner", "parse_cluster", "run_tasks"]


def parse_cluster(spec: str | None) -> tuple[str, Any]:
    """``("inprocess", None)``, ``("local", n_workers)`` or ``("address", "tcp://host:port")``."""
    if spec is None or spec.strip() in ("", "none", "inprocess"):
        return "inprocess", None
    s = spec.strip()
    if s.startswith("local:"):
        try:
            n = int(s.split(":", 1)[1])
        except ValueError:
            raise InvalidInput("cluster", f"expected local:<workers>, got {spec!r}") from None
        if not 1 <= n <= 256:
            raise InvalidInput("cluster", f"local clusters take 1 to 256 workers, got {n}")
        return "local", n
    if s.startswith(("tcp://", "tls://")):
        return "address", s
    if s.startswith("ray://"):
        raise InvalidInput("cluster", "Ray is not the lab's distributed engine (see docs/scaling.md); use a Dask scheduler address tcp://host:port")
    raise InvalidInput("cluster", f"expected '', local:<workers> or tcp://host:port, got {spec!r}")


class TaskRunner:
    """Evaluates ``fn(task)`` for every task, in process or on a Dask cluster; rows in task order.

    Parameters
    ----------
    fn : callable
        A module-level (picklable) function of one task.
    cluster : str
        See :func:`parse_cluster`.
    progress : callable, optional
        ``progress(done, total)`` after each finished task (counted across workers).
    checkpoint : path, optional
        A JSON-lines file of finished rows (``{"task": i, "row": {...}}``); resumed if it exists.
    retries : int
        Times a failing task is retried before the run fails.
    """

    def __init__(self, fn: Callable[[Any], dict], cluster: str | None = None, *, progress: Callable[[int, int], None] | None = None,
                 checkpoint: str | Path | None = None, retries: int = 2):
        self.fn = fn
        self.kind, self.target = parse_cluster(cluster)
        self.progress = progress
        self.checkpoint = Path(checkpoint) if checkpoint else None
        if not isinstance(retries, int) or retries < 0:
            raise InvalidInput("retries", f"must be a non-negative int, got {retries!r}")
        self.retries = retries

    # ------------------------------------------------------------------ checkpoint
    def _load(self, n: int) -> dict[int, dict]:
        done: dict[int, dict] = {}
        if self.checkpoint is None or not self.checkpoint.exists():
            return done
        raw = self.checkpoint.read_bytes()
        good = 0  # bytes of complete records
        for line_no, line in enumerate(raw.splitlines(keepends=True), 1):
            if not line.strip():
                good += len(line)
                continue
            try:
                rec = json.loads(line)
                i, row = int(rec["task"]), rec["row"]
            except (ValueError, KeyError, TypeError):
                if line.endswith(b"\n"):
                    raise InvalidInput("checkpoint", f"{self.checkpoint}:{line_no} is not a checkpoint record") from None
                break  # a torn last line from a killed run: dropped below
            if not 0 <= i < n:
                raise InvalidInput("checkpoint", f"{self.checkpoint} belongs to another run (task {i} of {n})")
            done[i] = row
            good += len(line)
        if good < len(raw):
            with self.checkpoint.open("r+b") as fh:
                fh.truncate(good)
        return done

    def _save(self, fh, i: int, row: dict) -> None:
        if fh is not None:
            fh.write(json.dumps({"task": i, "row": row}, default=_json_default) + "\n")
            fh.flush()

    # ------------------------------------------------------------------ run
    def __call__(self, tasks: Sequence[Any]) -> list[dict]:
        n = len(tasks)
        rows = self._load(n)
        todo = [i for i in range(n) if i not in rows]
        if self.progress:
            self.progress(len(rows), n)
        fh = None
        if self.checkpoint is not None:
            self.checkpoint.parent.mkdir(parents=True, exist_ok=True)
            fh = self.checkpoint.open("a", encoding="utf-8")
        try:
            if self.kind == "inprocess":
                for i in todo:
                    rows[i] = self._retrying(tasks[i])
                    self._save(fh, i, rows[i])
                    if self.progress:
                        self.progress(len(rows), n)
            else:
                self._distributed(tasks, todo, rows, fh)
        finally:
            if fh is not None:
                fh.close()
        return [_normalise(rows[i]) for i in range(n)]

    def _retrying(self, task: Any) -> dict:
        for attempt in range(self.retries + 1):
            try:
                return self.fn(task)
            except Exception:
                if attempt == self.retries:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    def _distributed(self, tasks: Sequence[Any], todo: list[int], rows: dict[int, dict], fh) -> None:
        from distributed import Client, LocalCluster, as_completed

        cluster = None
        if self.kind == "local":
            cluster = LocalCluster(n_workers=self.target, threads_per_worker=1, processes=True, dashboard_address=None,
                                   silence_logs=40)
            client = Client(cluster)
        else:
            client = Client(self.target, timeout="20s")
        try:
            futures = {}
            for i in todo:
                fut = client.submit(self.fn, tasks[i], key=f"ramparts-task-{i}-{id(self)}", retries=self.retries, pure=False)
                futures[fut] = i
            for fut in as_completed(futures):
                i = futures[fut]
                rows[i] = fut.result()
                self._save(fh, i, rows[i])
                if self.progress:
                    self.progress(len(rows), len(tasks))
        finally:
            client.close()
            if cluster is not None:
                cluster.close()


def _json_default(x: Any) -> Any:
    import numpy as np

    if isinstance(x, np.generic):
        return x.item()
    raise TypeError(f"not JSON-serialisable: {type(x).__name__}")


def _normalise(row: dict) -> dict:
    """Rows are compared across runs: numpy scalars become Python scalars (as a checkpoint round trip does)."""
    out = {}
    for k, v in row.items():
        if hasattr(v, "item") and not isinstance(v, (str, bytes)):
            v = v.item()
        if isinstance(v, float) and math.isnan(v):
            v = float("nan")
        out[k] = v
    return out


def run_tasks(fn: Callable[[Any], dict], tasks: Sequence[Any], cluster: str | None = None, **kw: Any) -> list[dict]:
    """Shorthand for ``TaskRunner(fn, cluster, **kw)(tasks)``."""
    return TaskRunner(fn, cluster, **kw)(tasks)
