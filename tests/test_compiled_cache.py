"""Kernels compiled by two processes at once leave a cache every process can load (``ramparts.compiled``).

Two processes compile one cached kernel for two signatures (an int and a float argument) at the same moment; each
save of theirs is slowed between its steps so that their saves interleave the way that breaks numba's own cache:
both read an empty index, both take data file 1, the float's index is written last and the int's code last. A third
process then loads both signatures from the cache and must get ``bump(1) == 2`` and ``bump(1.5) == 2.5``. The same
race is first run on ``numba.njit``'s own cache: if it does not break that one (a numba that fixed its cache, or a
machine on which the slowed steps did not interleave), the test says so and skips, having shown nothing."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

SRC = str(Path(__file__).resolve().parents[1] / "src")

RACER = """
import sys, time
sys.path[:0] = [{kdir!r}, {src!r}]
import numba.core.caching as c
arg, before_index, before_data = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
save_index, save_data = c.IndexDataCacheFile._save_index, c.IndexDataCacheFile._save_data

def slow_index(self, overloads):
    time.sleep(before_index)
    save_index(self, overloads)

def slow_data(self, name, data):
    time.sleep(before_data)
    save_data(self, name, data)

c.IndexDataCacheFile._save_index, c.IndexDataCacheFile._save_data = slow_index, slow_data
import kmod
print(kmod.bump(int(arg) if arg.isdigit() else float(arg)))
"""

READER = """
import sys
sys.path[:0] = [{kdir!r}, {src!r}]
import kmod
print(kmod.bump(1), kmod.bump(1.5))
"""


def _race(tmp: Path, decorator: str) -> subprocess.CompletedProcess:
    tmp.mkdir()
    (tmp / "kmod.py").write_text(textwrap.dedent(f"""
        {decorator.split("@")[0]}

        @{decorator.split("@")[1]}(cache=True)
        def bump(x):
            return x + 1
    """))
    env = {**os.environ, "NUMBA_CACHE_DIR": ""}
    env.pop("NUMBA_DISABLE_JIT", None)
    racer = RACER.format(kdir=str(tmp), src=SRC)
    # the int: index written at ~1 s, its code at ~4 s; the float: index at ~2 s, its code right after
    a = subprocess.Popen([sys.executable, "-c", racer, "1", "1.0", "3.0"], env=env, stdout=subprocess.PIPE, text=True)
    b = subprocess.Popen([sys.executable, "-c", racer, "1.5", "2.0", "0.0"], env=env, stdout=subprocess.PIPE, text=True)
    out_a, _ = a.communicate(timeout=120)
    out_b, _ = b.communicate(timeout=120)
    assert (a.returncode, b.returncode, out_a.split(), out_b.split()) == (0, 0, ["2"], ["2.5"])  # each compiled its own
    return subprocess.run([sys.executable, "-c", READER.format(kdir=str(tmp), src=SRC)], env=env, capture_output=True,
                          text=True, timeout=120)


def test_two_processes_compiling_at_once_leave_a_cache_that_loads(tmp_path):
    numbas = _race(tmp_path / "numba", "import numba@numba.njit")
    if numbas.returncode == 0 and numbas.stdout.split() == ["2", "2.5"]:
        pytest.skip("the race did not break numba's own cache here: nothing to show")
    ours = _race(tmp_path / "ours", "from ramparts.compiled import njit@njit")
    assert ours.returncode == 0, ours.stderr[-2000:]
    assert ours.stdout.split() == ["2", "2.5"]
    assert list((tmp_path / "ours" / "__pycache__").glob("kmod.bump-*.2.nbc"))  # the second signature has its own file


def test_njit_passes_numbas_options_through():
    from ramparts.compiled import LockedFunctionCache, njit

    def f(x):
        return x * 2

    cached = njit(cache=True, fastmath=False)(f)
    assert isinstance(cached._cache, LockedFunctionCache) and cached.targetoptions["fastmath"] is False
    assert njit(f)(3) == 6 and not isinstance(njit(f)._cache, LockedFunctionCache)
    with pytest.raises(TypeError):
        njit(f, cache=True)


def test_the_lock_is_taken_again_by_its_holder_without_waiting(tmp_path):
    """A load under the lock that needs another entry of the same cache (numba rebuilding one kernel that calls
    another) takes the lock again in the same thread at once; another thread waits for it."""
    import threading
    import time

    from ramparts.compiled import _locked

    order = []
    with _locked(str(tmp_path)):
        with _locked(str(tmp_path)):  # would block forever on a second flock of the same file
            order.append("nested")

        def other():
            with _locked(str(tmp_path)):
                order.append("other")

        t = threading.Thread(target=other)
        t.start()
        time.sleep(0.3)
        order.append("holder")
    t.join(10)
    assert order == ["nested", "holder", "other"]


def test_the_kernel_modules_digest_follows_their_text(tmp_path):
    """:func:`kernels_digest` changes with the text of a module that compiles kernels, not with another module's."""
    from ramparts.compiled import kernels_digest

    root = tmp_path / "pkg"
    (root / "sub").mkdir(parents=True)
    (root / "a.py").write_text("from ramparts.compiled import njit\n")
    (root / "sub" / "b.py").write_text("import numba\n")
    (root / "plain.py").write_text("x = 1\n")
    first = kernels_digest.__wrapped__(root)
    (root / "plain.py").write_text("x = 2\n")
    assert kernels_digest.__wrapped__(root) == first
    (root / "sub" / "b.py").write_text("import numba  # edited\n")
    assert kernels_digest.__wrapped__(root) != first
    assert len(kernels_digest()) == 64 and kernels_digest() == kernels_digest.__wrapped__()


STAMPED = """
import sys
sys.path[:0] = [{kdir!r}, {src!r}]
import ramparts.compiled as c
if len(sys.argv) > 1:
    c.kernels_digest = lambda root=c.PACKAGE: sys.argv[1]  # as if a kernel module of ramparts had changed
import kmod
print(kmod.bump(1), kmod.bump.stats.cache_hits[kmod.bump.signatures[0]])
"""


def test_a_cached_kernel_is_recompiled_when_a_kernel_module_changes(tmp_path):
    """numba keys a cached kernel on its own file only: a kernel inlining one from another module kept its old machine
    code when only that module changed. Ours is also keyed on :func:`kernels_digest`: loaded while it is the same,
    compiled again when it is not."""
    kdir = tmp_path / "k"
    kdir.mkdir()
    (kdir / "kmod.py").write_text("from ramparts.compiled import njit\n\n\n@njit(cache=True)\ndef bump(x):\n    return x + 1\n")
    env = {**os.environ, "NUMBA_CACHE_DIR": ""}
    env.pop("NUMBA_DISABLE_JIT", None)

    def run(*args: str) -> list[str]:
        out = subprocess.run([sys.executable, "-c", STAMPED.format(kdir=str(kdir), src=SRC), *args], env=env,
                             capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stderr[-2000:]
        return out.stdout.split()

    assert run() == ["2", "0"]  # compiled and saved
    assert run() == ["2", "1"]  # loaded
    assert run("changed") == ["2", "0"]  # another digest: compiled again
    assert run("changed") == ["2", "1"]
