"""How ramparts compiles a kernel: :func:`njit` is ``numba.njit``, with numba's on-disk cache made safe for several
processes.

numba keeps a cached kernel beside its source as an index (signature → data file) and one data file of machine code
per signature. Saving an entry reads the index, picks the first free data file name, writes the index, then the data
file, with nothing to keep another process out in between (numba issues #4807 and #10128, open). Two processes that
compile the same kernel for different signatures at once can both pick ``1.nbc``: the index then names one
signature's file and the file holds the other's code, and every process that loads that entry afterwards runs the
wrong machine code (here: a segfault at the first ``TradeBatch`` of a service, after a test run and a benchmark had
recompiled the batch kernel side by side). The corrupt entry stays until the source changes or the cache is deleted.

Here each kernel's cache reads and writes its entries under an exclusive lock (``flock``) on one file in the cache
directory, so that an entry is always an index and data written by one process. Compiling stays outside the lock.
Where there is no ``flock`` (not POSIX) or the lock file cannot be created (a cache directory this process cannot
write to: then it saves nothing either), the cache works as numba's own. ``tests/test_compiled_cache.py`` runs the
race between processes.

numba also keys a cached kernel on its own source file only (its modification time and size): a kernel that calls or
inlines a kernel of another module keeps its cached machine code when only that other module changes (numba's
documented limit of cache invalidation), so an in-place update that changed, say, the band arithmetic
(:func:`ramparts.engine.slack_index.band_one`, inlined into the batch and lazy-tick kernels) would run the old one.
Each kernel's entries are therefore also keyed on :func:`kernels_digest`, a SHA-256 of every ramparts module that
compiles kernels (read once a process, at a kernel's first cache look-up): any change to one of them recompiles them
all.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import Any

import numba
from numba.core.caching import FunctionCache

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX
    fcntl = None  # type: ignore[assignment]

#: the lock file, in each cache directory
LOCK_NAME = "ramparts-numba.lock"


#: the cache directories whose lock this thread holds: a load that led to another under the lock (numba rebuilding a
#: kernel that needs another's entry) takes it again without waiting on itself (two opens of one file lock apart)
_held = threading.local()


@contextmanager
def _locked(directory: str) -> Iterator[None]:
    held = _held.__dict__.setdefault("dirs", set())
    if directory in held:
        yield
        return
    fd = -1
    if fcntl is not None:
        try:
            fd = os.open(os.path.join(directory, LOCK_NAME), os.O_RDWR | os.O_CREAT, 0o666)
        except OSError:
            fd = -1
    try:
        if fd >= 0:
            fcntl.flock(fd, fcntl.LOCK_EX)
        held.add(directory)
        yield
    finally:
        held.discard(directory)
        if fd >= 0:
            os.close(fd)  # (releases the lock)


#: the package whose kernel modules :func:`kernels_digest` reads
PACKAGE = Path(__file__).resolve().parent


@cache
def kernels_digest(root: Path = PACKAGE) -> str:
    """SHA-256 over every module under ``root`` that compiles kernels (its text names ``ramparts.compiled`` or
    ``numba``), each as its path relative to ``root`` and its bytes, in path order."""
    h = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        data = path.read_bytes()
        if b"ramparts.compiled" in data or b"numba" in data:
            h.update(path.relative_to(root).as_posix().encode() + b"\0" + data + b"\0")
    return h.hexdigest()


class LockedFunctionCache(FunctionCache):
    """numba's cache of one kernel, each entry loaded and saved under the cache directory's lock, and keyed on its
    source file's stamp together with :func:`kernels_digest`."""

    def _keyed(self) -> None:
        f = self._cache_file
        if not getattr(f, "_ramparts_keyed", False):
            f._source_stamp = (f._source_stamp, kernels_digest())
            f._ramparts_keyed = True

    def load_overload(self, sig, target_context):
        self._keyed()
        with _locked(self._cache_path):
            return super().load_overload(sig, target_context)

    def save_overload(self, sig, data) -> None:
        self._keyed()
        with _locked(self._cache_path):
            super().save_overload(sig, data)


def njit(*args: Any, **options: Any) -> Any:
    """``numba.njit(**options)``; with ``cache=True`` the kernel's cache is a :class:`LockedFunctionCache`. Used as
    ``@njit(...)`` or ``njit(...)(fn)``, as numba's."""

    def compile_(fn: Callable) -> Any:
        dispatcher = numba.njit(**options)(fn)
        if options.get("cache"):
            dispatcher._cache = LockedFunctionCache(dispatcher.py_func)  # (what Dispatcher.enable_caching sets)
        return dispatcher

    if args:
        if len(args) == 1 and callable(args[0]) and not options:
            return compile_(args[0])
        raise TypeError("njit takes the function, or keyword options only")
    return compile_


__all__ = ["LOCK_NAME", "PACKAGE", "LockedFunctionCache", "kernels_digest", "njit"]
