"""A price re-margins a large holder set on every thread, with the serial pass's result row for row.

From :data:`~ramparts.engine.batch_kernel.PARALLEL_HOLDERS` holders on,
:func:`~ramparts.engine.batch_kernel.reprice_holders` re-prices the slots in a parallel pass and
writes the margin calls and insolvency changes afterwards in holder order. The references here are
independent of that kernel: the engine's numpy passes (``compiled_remargin = False``), for ``OraclePrice``
events and for the same prices in a ``TradeBatch``. The price
path is chosen so that every branch is taken: new margin calls, accounts turning insolvent, and
insolvent accounts turning solvent again.
"""

from __future__ import annotations

import numpy as np
import pytest

from enginekit import S
from ramparts.engine import Engine
from ramparts.engine import events as ev
from ramparts.engine.batch_kernel import PARALLEL_HOLDERS
from ramparts.engine.presets import BTC_TIERS, genesis, perpetual

N = PARALLEL_HOLDERS + 1_500  # accounts holding BTC-PERP, all against one market maker
PATH = ["59000", "57500", "60500", "55000", "61000", "52000"]  # USDC per BTC, from 60,000


@pytest.fixture(scope="module")
def big_book() -> bytes:
    """A venue with ``N`` traders long or short 0.01–0.5 BTC at 60,000, 1–40 % margin, as a snapshot."""
    rng = np.random.default_rng(8)
    e = Engine()
    e.apply(genesis(ts=0))
    e.apply(perpetual("BTC-PERP", "BTC", tiers=BTC_TIERS))
    e.apply(ev.OraclePrice(ts=0, instrument="BTC-PERP", price="60000"))
    e.apply(ev.OpenSubAccount(ts=0, subaccount="mm/main"))
    e.apply(ev.Deposit(ts=0, subaccount="mm/main", asset="USDC", amount="1000000000"))
    size = rng.integers(10, 500, N)  # lots of 0.001 BTC
    margin = rng.uniform(0.01, 0.4, N)
    subs = ["mm/main"]
    for k in range(N):
        sub = f"t{k}/main"
        subs.append(sub)
        e.apply(ev.OpenSubAccount(ts=0, subaccount=sub))
        e.apply(ev.Deposit(ts=0, subaccount=sub, asset="USDC", amount=str(int(size[k] * 60 * margin[k]) + 5)))
    long = rng.random(N) < 0.5
    t = [S] * N
    fills = ev.TradeBatch(ts=S, instruments=["BTC-PERP"], subaccounts=subs, item_kind="F" * N, time=t, instrument=[0] * N,
                          buyer=np.where(long, np.arange(1, N + 1), 0).tolist(), seller=np.where(long, 0, np.arange(1, N + 1)).tolist(),
                          price=[600_000] * N, size=size.tolist())  # fmt: skip
    fx = e.apply(fills)
    assert not [f for f in fx if f["kind"] == "Rejected"]
    assert e.book.holders(e.instrument("BTC-PERP").index).size == N + 1
    return e.snapshot()


def _comparable(e: Engine) -> dict:
    d = e.state_dict()
    d.pop("seq")
    d.pop("time_ns")
    return d


def _branches(engines_effects: list[list[dict]], insolvent_sizes: list[int]) -> None:
    """The path exercised every branch: calls, accounts turning insolvent and turning solvent."""
    calls = sum(f["kind"] == "MarginCall" for fx in engines_effects for f in fx)
    assert calls > 100
    assert max(insolvent_sizes) > 100
    assert any(b < a for a, b in zip(insolvent_sizes, insolvent_sizes[1:], strict=False))  # some recovered


def test_oracle_prices_on_a_large_holder_set_match_the_numpy_passes(big_book):
    runs = []
    for compiled in (True, False):
        e = Engine.restore(big_book)
        e.compiled_remargin = compiled
        effects, insolvent = [], []
        for k, price in enumerate(PATH):
            effects.append(e.apply(ev.OraclePrice(ts=(2 + k) * S, instrument="BTC-PERP", price=price)))
            insolvent.append(len(e.insolvent))
        runs.append((effects, sorted(e.insolvent), _comparable(e)))
        _branches(effects, insolvent)
    assert runs[0][0] == runs[1][0]  # effects, in order
    assert runs[0][1] == runs[1][1]
    assert runs[0][2] == runs[1][2]


def test_index_prices_in_a_batch_on_a_large_holder_set_match_one_event_at_a_time(big_book):
    fast, slow = Engine.restore(big_book), Engine.restore(big_book)
    slow.compiled_remargin = False  # the reference shares no code with the kernel
    ticks = [int(p) * 10 for p in PATH]  # tick 0.1
    n = len(PATH)
    batch = ev.TradeBatch(ts=(2 + n) * S, instruments=["BTC-PERP"], subaccounts=[], item_kind="P" * n,
                          time=[(2 + k) * S for k in range(n)], instrument=[0] * n, buyer=[-1] * n, seller=[-1] * n,
                          price=ticks, size=[0] * n)  # fmt: skip
    fx_batch = fast.apply(batch)
    fx_slow, insolvent = [], []
    for k, price in enumerate(PATH):
        fx_slow += [{**f, "item": k} for f in slow.apply(ev.OraclePrice(ts=(2 + k) * S, instrument="BTC-PERP", price=price))]
        insolvent.append(len(slow.insolvent))
    _branches([fx_slow], insolvent)
    assert fx_batch == fx_slow
    assert sorted(fast.insolvent) == sorted(slow.insolvent)
    assert _comparable(fast) == _comparable(slow)


# --------------------------------------------------------------------------- prefetching on big books
def _kernel_args(e: Engine, price: int, far: bool):
    """Fresh copies of everything :func:`_reprice_flags` reads or writes, at ``price``."""
    b, i = e.book, e.instrument("BTC-PERP").index
    h = b.holders(i)
    n = int(h.size)
    insolvent = e.insolvent.mask(len(e.subs)).copy()
    return (i, price, 0, n, h, True, b.sub, b.lots.copy(), b.value.copy(), b.im.copy(), b.mm.copy(), e.is_system,
            e.ledger.sub_cash, e.sub_value.copy(), e.sub_cost, e.sub_coll, e.sub_im.copy(), e.sub_mm.copy(),
            e.margin_called.copy(), insolvent, *e._batch_tables(), far,
            np.zeros(n, dtype=np.int8), np.zeros(n, dtype=np.int64), np.zeros(n, dtype=np.int64))  # fmt: skip


@pytest.mark.parametrize("variant", ["_reprice_serial", "_reprice_parallel"])
def test_prefetch_hints_change_no_result(big_book, variant):
    import ramparts.engine.batch_kernel as bk

    e = Engine.restore(big_book)
    price = int(e.markets[e.instrument("BTC-PERP").index].mark) * 55 // 60  # BTC at 55,000, in lot-price units
    fn = getattr(bk, variant)
    plain, hinted = _kernel_args(e, price, False), _kernel_args(e, price, True)
    fn(*plain)
    fn(*hinted)
    for k, (a, c) in enumerate(zip(plain, hinted, strict=True)):
        if isinstance(a, np.ndarray):
            assert np.array_equal(a, c), k
    assert plain[-3].any()  # margin calls and insolvency flags were raised: the pass did work


def _bulk_book(n: int, seed: int) -> Engine:
    """``n`` cross sub-accounts long or short BTC-PERP at 60,000 with 1–40 % margin, loaded straight
    into the struct-of-arrays store (as ``benchmarks/bench_remargin.py`` does: building this many
    through events would take minutes); same ``seed``, same engine."""
    from ramparts.domain.accounts import MarginMode, SubAccountId

    rng = np.random.default_rng(seed)
    e = Engine()
    e.apply(genesis(ts=0))
    e.apply(perpetual("BTC-PERP", "BTC", tiers=BTC_TIERS))
    e.apply(ev.OraclePrice(ts=0, instrument="BTC-PERP", price="60000"))
    for k in range(n):
        e._add_sub(SubAccountId(f"t{k}", "main"), MarginMode.CROSS, None, False)
    subs = np.arange(1, n + 1, dtype=np.int32)  # 0 is the backstop vault
    mark = e.markets[0].mark
    lots = rng.integers(10, 500, n) * rng.choice([-1, 1], n)
    cost = lots * mark
    e.book.bulk_open(subs, np.zeros(n, dtype=np.int32), lots, cost, cost.copy())
    np.add.at(e.sub_cost, subs, cost)
    e.ledger.sub_cash[1 : n + 1] = (np.abs(cost) * rng.uniform(0.01, 0.4, n)).astype(np.int64)
    e.remargin_all()
    return e


def test_a_book_past_the_prefetch_size_matches_the_numpy_passes():
    from ramparts.engine.batch_kernel import PREFETCH_BOOK

    n = PREFETCH_BOOK + 4_000
    runs = []
    for compiled in (True, False):
        e = _bulk_book(n, seed=21)
        assert e.ledger.sub_cash.shape[0] >= PREFETCH_BOOK  # the compiled pass prefetches on this book
        e.compiled_remargin = compiled
        effects, insolvent = [], []
        for k, price in enumerate(PATH):
            effects.append(e.apply(ev.OraclePrice(ts=(2 + k) * S, instrument="BTC-PERP", price=price)))
            insolvent.append(len(e.insolvent))
        assert e.insolvent.consistent()
        caches = [a[: n + 1].copy() for a in (e.sub_value, e.sub_im, e.sub_mm, e.margin_called)]
        caches += [getattr(e.book, f)[: n].copy() for f in ("value", "im", "mm")]
        runs.append((effects, sorted(e.insolvent), _comparable(e), caches))
        _branches(effects, insolvent)
    assert runs[0][0] == runs[1][0]
    assert runs[0][1] == runs[1][1]
    assert runs[0][2] == runs[1][2]
    for k, (a, b) in enumerate(zip(runs[0][3], runs[1][3], strict=True)):  # the derived per-account figures too
        assert np.array_equal(a, b), k


def test_prefetch_takes_strided_arrays_and_int32_indices(big_book):
    """The hints index with the book's int32 sub-account numbers; a strided (non-contiguous) array
    must compile and give the same results as a contiguous one."""
    import ramparts.engine.batch_kernel as bk

    e = Engine.restore(big_book)
    price = int(e.markets[e.instrument("BTC-PERP").index].mark) * 55 // 60
    plain = list(_kernel_args(e, price, True))
    strided = list(_kernel_args(e, price, True))
    for k in (13, 16):  # sub_value and sub_im as every other element of a wider array
        wide = np.zeros(2 * strided[k].size, dtype=np.int64)
        wide[::2] = strided[k]
        strided[k] = wide[::2]
    bk._reprice_serial(*plain)
    bk._reprice_serial(*strided)
    for a, c in zip(plain, strided, strict=True):
        if isinstance(a, np.ndarray):
            assert np.array_equal(a, c)
