"""The layers import downward only, and the waterfall works on the narrow view it declares.

* No module of a lower layer (oracle, margin, liquidation, domain, ledger, options and the
  arithmetic below them) reaches ``ramparts.engine`` or anything above it through any chain of
  imports: module level, inside functions, or under ``TYPE_CHECKING`` alike.
* Inside the engine, only the package itself, the node and the engine's entry points import
  ``ramparts.engine.engine`` at run time; the mixin modules name ``Engine`` for typing only.
* The compiled kernels live in ``ramparts.engine`` and nowhere else: no module outside it imports numba.
* Every attribute the waterfall reads of its state is declared by
  :class:`ramparts.liquidation.state.LiquidationState` (or the view it belongs to), and the engine
  provides each of them with the same parameters.
"""

from __future__ import annotations

import ast
import functools
import inspect
import pathlib

import pytest

import ramparts
from ramparts.liquidation import state as st

SRC = pathlib.Path(ramparts.__file__).parent
LOWER = ("oracle", "margin", "liquidation", "domain", "ledger", "options", "fixedpoint", "errors", "validation")
HIGHER = ("engine", "journal", "service", "shard", "bus", "lab", "solvency", "cli", "cli_common", "reference")


def _module_name(path: pathlib.Path) -> str:
    if not path.is_relative_to(SRC.parent):  # the checker's own probe
        return path.stem
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@functools.cache
def _imports(path: pathlib.Path) -> list[tuple[str, bool]]:
    """(module imported, whether under ``if TYPE_CHECKING``) for every import statement of the file."""
    tree = ast.parse(path.read_text())
    name = _module_name(path)
    typing_only: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            typing_only.update(id(n) for sub in node.body for n in ast.walk(sub))
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(a.name, id(node) in typing_only) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".")[: len(name.split(".")) - node.level + (path.name == "__init__.py")]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            out.append((mod, id(node) in typing_only))
            out += [(f"{mod}.{a.name}", id(node) in typing_only) for a in node.names]
    return out


MODULES = {_module_name(p): p for p in SRC.rglob("*.py")}
GRAPH = {m: {t for t, _ in _imports(p) if t in MODULES and t != m} for m, p in MODULES.items()}


def _layer(module: str) -> str:
    return module.split(".")[1] if module.count(".") else ""


def _reach(module: str) -> dict[str, list[str]]:
    """Every module reachable from ``module``, with one chain of imports leading to it."""
    chains = {module: [module]}
    todo = [module]
    while todo:
        m = todo.pop()
        for t in sorted(GRAPH[m]):
            if t not in chains:
                chains[t] = chains[m] + [t]
                todo.append(t)
    return chains


@pytest.mark.parametrize("module", sorted(m for m in MODULES if _layer(m) in LOWER))
def test_a_lower_layer_never_reaches_a_higher_one(module):
    up = {t: chain for t, chain in _reach(module).items() if _layer(t) in HIGHER}
    assert not up, "\n".join(" → ".join(chain) for chain in list(up.values())[:5])


def test_the_import_checker_sees_lazy_and_typing_only_imports(tmp_path):
    f = tmp_path / "_probe_for_the_layer_test.py"
    f.write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from ramparts.engine.engine import Engine\n"
                 "def g():\n    from ramparts.service import app\n")
    found = _imports(f)
    assert ("ramparts.engine.engine", True) in found and ("ramparts.service", False) in found


def test_engine_mixins_name_the_engine_for_typing_only():
    allowed = {"ramparts.engine", "ramparts.engine.node", "ramparts.engine.engine"}
    for m, p in MODULES.items():
        if _layer(m) != "engine" or m in allowed:
            continue
        runtime = [t for t, typing_only in _imports(p) if t.startswith("ramparts.engine.engine") and not typing_only]
        assert not runtime, f"{m} imports the Engine at run time"


def test_numba_is_imported_only_by_the_engine():
    """The compiled margin kernels and indexes are the engine's; ``ramparts.margin`` keeps the formulas and their
    plain twins. Two exceptions, named: ``ramparts.compiled``, the one way a kernel is compiled (numba's ``njit`` with
    its cache locked across processes), which compiles nothing itself; and the scenario portfolio margin's optional
    fused worst-loss reduction (``worst_losses(method="numba")``), a library function beside its scipy reference
    that the engine does not run."""
    users = sorted(m for m, p in MODULES.items() if any(t == "numba" or t.startswith("numba.") for t, _ in _imports(p)))
    outside = [m for m in users if _layer(m) != "engine"]
    assert outside == ["ramparts.compiled", "ramparts.margin.portfolio"], outside
    kernels = sorted(m for m, p in MODULES.items() if any(t == "ramparts.compiled" for t, _ in _imports(p)))
    assert {"ramparts.engine.kernels", "ramparts.engine.batch_kernel", "ramparts.engine.slack_index"} <= set(kernels)
    assert [m for m in kernels if _layer(m) != "engine"] == ["ramparts.margin.portfolio"], kernels
    compiling = sorted(m for m, p in MODULES.items() if "numba.njit(" in p.read_text() and m != "ramparts.compiled")
    assert not compiling, f"{compiling} compile with numba.njit, not ramparts.compiled.njit (whose cache is locked)"


# ------------------------------------------------------------------ the waterfall's view of the state
def _members(proto: type) -> dict[str, object]:
    """A protocol's declared attributes (annotations) and methods."""
    names = {n: None for n in proto.__annotations__}
    names.update({n: v for n, v in vars(proto).items() if inspect.isfunction(v) and not n.startswith("_")})
    return names


def _reads(var: str, tree: ast.AST) -> set[str]:
    return {n.attr for n in ast.walk(tree)
            if isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name) and n.value.id == var}


WATERFALL = ast.parse((SRC / "liquidation" / "waterfall.py").read_text())


def test_the_waterfall_reads_only_what_the_view_declares():
    declared = _members(st.LiquidationState)
    assert _reads("e", WATERFALL) <= set(declared), sorted(_reads("e", WATERFALL) - set(declared))
    assert _reads("engine", WATERFALL) <= set(declared) | {"__class__"}
    assert _reads("b", WATERFALL) <= set(_members(st.PositionsView)), sorted(_reads("b", WATERFALL) - set(_members(st.PositionsView)))


@pytest.fixture(scope="module")
def engine():
    from ramparts.engine import Engine
    from ramparts.engine.presets import genesis, perpetual

    e = Engine()
    e.apply(genesis())
    e.apply(perpetual("BTC-PERP"))
    return e


@pytest.mark.parametrize("view, where", [
    (st.LiquidationState, lambda e: e),
    (st.PositionsView, lambda e: e.book),
    (st.MarketView, lambda e: e.markets[0]),
    (st.CollateralView, lambda e: e.collateral),
    (st.DefencesView, lambda e: e.defences),
    (st.FlagSetView, lambda e: e.insolvent),
])
def test_the_engine_provides_the_view_with_the_same_parameters(engine, view, where):
    obj = where(engine)
    for name, fn in _members(view).items():
        assert hasattr(obj, name), f"{type(obj).__name__} lacks {name}"
        if fn is not None:
            want = list(inspect.signature(fn).parameters)[1:]
            got = list(inspect.signature(getattr(obj, name)).parameters)
            assert got == want, f"{type(obj).__name__}.{name}{got} against the view's {want}"


def test_the_shard_links_provide_their_view():
    from ramparts.shard import bus, cluster

    for link in (cluster.ShardLink, bus.RemoteLink):
        for name, fn in _members(st.ShardLinkView).items():
            want = list(inspect.signature(fn).parameters)[1:]
            got = list(inspect.signature(getattr(link, name)).parameters)[1:]
            assert got == want, f"{link.__name__}.{name}{got} against the view's {want}"


def test_a_stand_in_lacking_a_member_is_not_the_state(engine):
    assert isinstance(engine, st.LiquidationState)

    class Partial:
        pass

    for name, fn in _members(st.LiquidationState).items():
        setattr(Partial, name, 0 if fn is None else fn)
    assert isinstance(Partial(), st.LiquidationState)
    delattr(Partial, "realise")
    assert not isinstance(Partial(), st.LiquidationState)
