"""Option margin: the standard (strategy-based) margin and the scenario portfolio margin.

Standard margin, hand-worked from the published formulas (``ramparts/reference/open-source-venues.md``
§3.1, Deribit parameters 0.15 / 0.10 / 0.075; the reference folder has no Deribit worked example, so
every figure below is worked by hand). BTC at S = 100,000, inverse (coin) units unless marked linear::

    leg                         OTM/S   rate = max(0.15 − OTM/S, 0.10)   IM = rate + mark       MM = 0.075 + mark
    short 1 C 110k, m 0.02      0.10    0.10                             0.12                   0.095
    short 2 C 105k, m 0.03      0.05    0.10                             2 × 0.13 = 0.26        2 × 0.105 = 0.21
    short 1 C  90k, m 0.12      0       0.15                             0.27                   0.195
    short 1 P  98k, m 0.03      0.02    0.13                             0.16                   0.105
    long  3 C 100k, m 0.05      –       –                                0                      0
    linear short P 98k, m 3000  0.02    0.13 × 100,000 = 13,000          16,000                 10,500
    Derive put (1.05 × MM), short P 250k, m 1.5:  MM = max(0.075 × spot, 0.075 × mark) + mark = max(0.075, 0.1125) + 1.5
                                                  = 1.6125; IM = max(0.15 + 1.5, 1.05 × 1.6125) = 1.693125

Maximum loss at expiry (payoff at 0, at the strikes, at ∞)::

    linear bear call spread  −C 100k +C 110k  worst payoff −10,000 (P ≥ 110k)      → requirement 10,000
    inverse bear call spread −C 100k +C 110k  worst −(10,000/110,000) = −0.090909 coin at P = 110k
    box  +C 90k −C 110k +P 110k −P 90k        payoff ≡ +20,000 (linear), 20,000/P coin → max loss 0
    linear bull put spread −P 100k +P 90k     worst −10,000 at P ≤ 90k
    inverse bull put spread                    −10,000/P coin → unbounded as P → 0 (no cap)

Portfolio margin (Deribit grid ±16 % × 3 vols + extended table at 35 %)::

    long 1 BTC perp at 100,000: core worst −16,000; extended −66 % × 0.35 = −23,100 → L = 23,100
    contingency 1 % × 100,000 = 1,000 → IM = 24,100 USDC, MM = 0.8 × 24,100 = 19,280 USDC
    inverse: long 1-coin inverse future, −66 %: 1 − 1/0.34 = −1.941176…, × 0.35 = 0.6794118 BTC + 0.01
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import example, given, settings
from hypothesis import strategies as st

from ramparts.errors import InvalidInput
from ramparts.margin.option_standard import (
    DERIBIT,
    DERIVE_TEST,
    StandardOptionParams,
    isolated_requirements,
    max_loss,
    requirement_units,
    standard_margin,
    standard_margin_by_expiry,
)
from ramparts.margin.portfolio import (
    DERIBIT_GRID,
    FUTURE,
    OPTION,
    Instruments,
    PortfolioMarginParams,
    ScenarioGrid,
    aggregate_underlyings,
    portfolio_margin,
    scenario_pnl_matrix,
    worst_losses,
)
from ramparts.options.black76 import black76_greeks, black76_price

S = 100_000.0

# ---------------------------------------------------------------------------------------- standard margin
ISOLATED = [
    # (is_call, K, qty, mark, inverse, params, IM, MM)
    (True, 110_000, -1, 0.02, True, DERIBIT, 0.12, 0.095),
    (True, 105_000, -2, 0.03, True, DERIBIT, 0.26, 0.21),
    (True, 90_000, -1, 0.12, True, DERIBIT, 0.27, 0.195),
    (False, 98_000, -1, 0.03, True, DERIBIT, 0.16, 0.105),
    (True, 100_000, 3, 0.05, True, DERIBIT, 0.0, 0.0),
    (False, 98_000, -1, 3_000.0, False, DERIBIT, 16_000.0, 10_500.0),
    (False, 250_000, -1, 1.5, True, DERIVE_TEST, 1.693125, 1.6125),
]


@pytest.mark.parametrize("call, K, q, mark, inverse, params, im, mm", ISOLATED)
def test_isolated_worked_examples(call, K, q, mark, inverse, params, im, mm):
    got_im, got_mm = isolated_requirements(call, K, q, mark, S, inverse=inverse, params=params)
    assert got_im[0] == pytest.approx(im, rel=1e-12, abs=1e-15)
    assert got_mm[0] == pytest.approx(mm, rel=1e-12, abs=1e-15)


MAX_LOSS = [
    # (calls, strikes, qty, inverse, max loss)
    ([True, True], [100_000, 110_000], [-1, 1], False, 10_000.0),
    ([True, True], [100_000, 110_000], [-1, 1], True, 10_000 / 110_000),
    ([True, True, False, False], [90_000, 110_000, 110_000, 90_000], [1, -1, 1, -1], False, 0.0),
    ([True, True, False, False], [90_000, 110_000, 110_000, 90_000], [1, -1, 1, -1], True, 0.0),
    ([False, False], [100_000, 90_000], [-1, 1], False, 10_000.0),
    ([False, False], [100_000, 90_000], [-1, 1], True, math.inf),
    ([True, False], [100_000, 100_000], [-1, -1], False, math.inf),  # short straddle: net short calls
    ([True, False], [100_000, 100_000], [-1, -1], True, math.inf),
    ([True], [100_000], [-1], True, 1.0),  # short inverse call: at most 1 coin
    ([False], [100_000], [-1], False, 100_000.0),
    ([True, True, True], [90_000, 100_000, 110_000], [1, -2, 1], False, 0.0),  # long butterfly
    ([], [], [], False, 0.0),
]


@pytest.mark.parametrize("calls, strikes, qty, inverse, expected", MAX_LOSS)
def test_max_loss_worked_examples(calls, strikes, qty, inverse, expected):
    got = max_loss(np.array(calls, bool), np.array(strikes, float), np.array(qty, float), inverse=inverse)
    assert got == pytest.approx(expected, rel=1e-12, abs=1e-15)


def _marks(calls, strikes, inverse, T=30 / 365, vol=0.5):
    return black76_price(S, np.asarray(strikes, float), T, vol, np.asarray(calls, bool), inverse=inverse)


@pytest.mark.parametrize("inverse", [False, True])
def test_vertical_spread_and_box_capped_at_max_loss(inverse):
    calls, K, q = [True, True], [100_000.0, 110_000.0], [-1.0, 1.0]
    r = standard_margin(calls, K, q, _marks(calls, K, inverse), S, inverse=inverse)
    assert r.max_loss < r.sum_initial
    assert r.initial == pytest.approx(r.max_loss)  # never below the maximum loss, below the legs
    assert r.maintenance == pytest.approx(min(r.sum_maintenance, r.max_loss))
    calls, K, q = [True, True, False, False], [90_000.0, 110_000.0, 110_000.0, 90_000.0], [1.0, -1.0, 1.0, -1.0]
    box = standard_margin(calls, K, q, _marks(calls, K, inverse), S, inverse=inverse)
    assert box.sum_initial > 0 and box.initial == 0.0 and box.max_loss == 0.0


def test_linear_worked_spread_requirement():
    r = standard_margin([True, True], [100_000, 110_000], [-1, 1], [4_000.0, 1_500.0], S, inverse=False)
    assert r.sum_initial == pytest.approx(19_000.0)  # 0.15 × 100,000 + 4,000 (ATM: OTM 0)
    assert r.initial == pytest.approx(10_000.0)
    assert r.to_units(6) == (10_000 * 10**6, 10_000 * 10**6)


def test_units_round_up():
    assert requirement_units(0.12, 8) == 12_000_000  # 0.12 BTC exactly, despite binary round-off
    assert requirement_units(0.123456789, 8) == 12_345_679
    assert requirement_units(0.0, 8) == 0
    with pytest.raises(InvalidInput):
        requirement_units(math.inf, 8)


def test_by_expiry_sums_no_offset_across_expiries():
    exp = np.array(["A", "A", "B"])
    res = standard_margin_by_expiry(exp, [True, True, True], [100_000, 110_000, 110_000], [-1, 1, -1],
                                    [0.04, 0.01, 0.03], S)
    assert set(res) == {"A", "B"}
    assert res["A"].initial == pytest.approx(10_000 / 110_000)
    assert res["B"].initial == pytest.approx(0.1 + 0.03)


legs_strategy = st.lists(
    st.tuples(st.booleans(), st.sampled_from([60e3, 80e3, 90e3, 100e3, 110e3, 125e3, 150e3]),
              st.integers(-3, 3).filter(lambda x: x != 0)),
    min_size=1, max_size=6,
)


@settings(max_examples=150, deadline=None)
@given(legs=legs_strategy, inverse=st.booleans())
@example(legs=[(False, 60000.0, 3), (False, 90000.0, -2)], inverse=True)  # loss → 1 coin as P → 0: cancellation-prone
def test_requirement_bounds_and_max_loss_by_brute_force(legs, inverse):
    calls = np.array([leg[0] for leg in legs])
    K = np.array([leg[1] for leg in legs])
    q = np.array([leg[2] for leg in legs], float)
    marks = _marks(calls, K, inverse)
    r = standard_margin(calls, K, q, marks, S, inverse=inverse)
    assert 0.0 <= r.initial <= r.sum_initial + 1e-12
    assert r.initial <= r.max_loss
    assert r.maintenance <= r.initial + 1e-12
    if r.max_loss <= r.sum_initial:
        assert r.initial == r.max_loss
    # brute force: payoff on a dense grid including every strike, tiny and huge prices
    P = np.unique(np.concatenate([np.geomspace(1e-3, 1e13, 4001), K, [] if inverse else [0.0]]))
    # payoff = A + P·B over the legs in the money (A = Σ ∓q·K, B = Σ ±q: exact integer sums), so the
    # brute force itself has no cancellation round-off: summing q·(P − K) leg by leg loses ~1e-11
    # at tiny P, which the inverse payoff's 1/P turns into a relative error of ~1e-8
    itm = np.where(calls, P[:, None] > K, P[:, None] < K)
    sign = np.where(calls, 1.0, -1.0)
    A = (itm * (-sign * q * K)).sum(axis=1)
    B = (itm * (sign * q)).sum(axis=1)
    payoff = A / P + B if inverse else A + P * B
    worst = max(0.0, -payoff.min())
    if math.isinf(r.max_loss):
        assert worst > 1e3  # grows without bound (P → ∞ linear, P → 0 inverse)
    else:
        assert worst <= r.max_loss * (1 + 1e-9) + 1e-9
        assert worst >= r.max_loss * (1 - 1e-6) - 1e-9  # attained at a strike or in the limit


def test_standard_bad_input():
    with pytest.raises(InvalidInput):
        isolated_requirements(True, -1.0, -1, 0.01, S)
    with pytest.raises(InvalidInput):
        isolated_requirements(True, 100.0, float("nan"), 0.01, S)
    with pytest.raises(InvalidInput):
        isolated_requirements([True, False], [1.0, 2.0, 3.0], -1, 0.01, S)
    with pytest.raises(InvalidInput):
        isolated_requirements(True, 100.0, -1, 0.01, [S, S])
    with pytest.raises(InvalidInput):
        StandardOptionParams(im_floor=0.2)
    with pytest.raises(InvalidInput):
        standard_margin_by_expiry(["A"], [True, True], [1.0, 2.0], [-1, -1], 0.0, S)


# ---------------------------------------------------------------------------------------- portfolio margin
def _options(strikes, calls, T=30 / 365, vol=0.5, F=S, underlying=0, expiry_id=0):
    n = len(strikes)
    return Instruments(np.full(n, underlying), np.full(n, OPTION), np.full(n, F), np.asarray(strikes, float),
                       np.full(n, T), np.full(n, vol), np.asarray(calls, bool), np.full(n, expiry_id))


def test_grid_and_vol_shocks_worked():
    assert DERIBIT_GRID.n_scenarios == 9 * 3 + 8
    up, down = DERIBIT_GRID.shocked_vols(np.array([0.5, 0.5, 0.3]), np.array([10, 90, 365]) / 365)
    m10, m90, m365 = 3 ** 0.3, (1 / 3) ** 0.13, (30 / 365) ** 0.13
    np.testing.assert_allclose(up, [0.5 * (1 + 0.5 * m10), 0.5 * (1 + 0.5 * m90), 0.5], rtol=1e-14)
    np.testing.assert_allclose(down, [0.5 * (1 - 0.25 * m10), 0.5 * (1 - 0.25 * m90), 0.3 * (1 - 0.25 * m365)], rtol=1e-14)
    g = ScenarioGrid.uniform(0.15, 9, extended_moves=(-0.5, -0.3, 0.3, 0.5, 1.0, 2.0))
    assert g.n_scenarios == 63


def test_long_perp_worked_linear_and_inverse():
    inst = Instruments.futures([0], [S])
    r = portfolio_margin([[1.0]], inst)
    assert r.losses[0, 0] == pytest.approx(23_100.0)
    assert r.initial[0] == 24_100 * 10**6 and r.maintenance[0] == 19_280 * 10**6
    ri = portfolio_margin([[1.0]], inst, settlement="inverse", decimals=8)
    expected = 0.35 * (1 / 0.34 - 1) + 0.01
    assert ri.initial[0] == math.ceil(expected * 1e8)


def test_delta_hedged_book_below_sum_of_legs():
    calls = _options([100_000.0], [True])
    inst = Instruments.concat(Instruments.futures([0], [S]), calls)
    delta = float(black76_greeks(S, 100_000.0, 30 / 365, 0.5, True).delta)
    book = np.array([[10 * delta, -10.0]])
    legs = np.array([[10 * delta, 0.0], [0.0, -10.0]])
    whole = portfolio_margin(book, inst)
    parts = portfolio_margin(legs, inst)
    assert whole.initial[0] < parts.initial.sum()
    assert whole.scanning_risk[0] < 0.5 * parts.scanning_risk.sum()


@pytest.mark.parametrize("kind", ["vertical", "box"])
def test_pm_defined_risk_bounded_by_max_loss_and_legs(kind):
    if kind == "vertical":
        K, calls, q = [100_000.0, 110_000.0], [True, True], [-1.0, 1.0]
    else:
        K, calls, q = [90_000.0, 110_000.0, 110_000.0, 90_000.0], [True, True, False, False], [1.0, -1.0, 1.0, -1.0]
    inst = _options(K, calls)
    book = portfolio_margin(np.array([q]), inst)
    legs = portfolio_margin(np.diag(q), inst)
    value = float((black76_price(S, np.array(K), 30 / 365, 0.5, np.array(calls)) * q).sum())
    mtm_max_loss = value + max_loss(np.array(calls), np.array(K), np.array(q), inverse=False)
    assert book.scanning_risk[0] <= mtm_max_loss + 1e-9  # V(F, σ) ≥ min payoff in every scenario
    assert book.initial[0] < legs.initial.sum()
    if kind == "box":
        assert book.scanning_risk[0] < 1e-6 * S  # undiscounted box: constant value
        assert book.contingency[0] == 0.0  # calls and puts net per strike


def test_sparse_product_matches_dense_loop_and_numba():
    rng = np.random.default_rng(7)
    n_opt = 40
    K = rng.choice(np.arange(60_000, 150_001, 5_000), n_opt).astype(float)
    opts = _options(K, rng.random(n_opt) < 0.5, T=rng.uniform(2 / 365, 1.0, n_opt), vol=rng.uniform(0.3, 0.9, n_opt))
    inst = Instruments.concat(Instruments.futures([0], [S]), opts)
    P = sp.random(300, inst.n, density=0.08, random_state=3, format="csr")
    P.data = np.round((P.data - 0.5) * 20)
    pnl = scenario_pnl_matrix(inst)
    dense = P.toarray()
    naive = np.array([max(0.0, -min(dense[a] @ pnl[:, s] for s in range(pnl.shape[1]))) for a in range(dense.shape[0])])
    np.testing.assert_allclose(worst_losses(P, pnl), naive, rtol=1e-12, atol=1e-6)
    np.testing.assert_allclose(worst_losses(P, pnl, method="numba"), naive, rtol=1e-12, atol=1e-6)
    r = portfolio_margin(P, inst)
    assert (r.initial >= np.floor((r.scanning_risk + r.contingency) * 1e6)).all()
    assert (r.maintenance <= r.initial).all()


def test_cross_underlying_aggregation():
    btc = Instruments.futures([0], [S])
    eth = Instruments.futures([1], [3_000.0])
    inst = Instruments.concat(btc, eth)
    pos = np.array([[1.0, -30.0]])  # long BTC, short ETH: losses in different scenarios
    corr = np.array([[1.0, 0.8], [0.8, 1.0]])
    alone = portfolio_margin(pos, inst, correlation=corr, params=PortfolioMarginParams(correlation_stress=1.0))
    L = alone.losses[0]
    assert alone.scanning_risk[0] == pytest.approx(L.sum())  # stress 1: no offset
    r0 = portfolio_margin(pos, inst, correlation=corr, params=PortfolioMarginParams(correlation_stress=0.0))
    assert r0.scanning_risk[0] == pytest.approx(math.sqrt(L @ corr @ L))
    mid = portfolio_margin(pos, inst, correlation=corr, params=PortfolioMarginParams(correlation_stress=0.5))
    assert r0.scanning_risk[0] < mid.scanning_risk[0] < alone.scanning_risk[0]
    # portfolio vs sum of standalone requirements
    standalone = portfolio_margin(np.array([[1.0, 0.0]]), inst, correlation=corr).initial[0] + \
        portfolio_margin(np.array([[0.0, -30.0]]), inst, correlation=corr).initial[0]
    assert mid.initial[0] <= standalone
    ident = aggregate_underlyings(np.array([[3.0, 4.0]]), np.eye(2))
    assert ident[0] == pytest.approx(5.0)


def test_naked_short_contingency_per_strike():
    inst = _options([100_000.0, 100_000.0, 110_000.0], [True, False, True])
    r = portfolio_margin(np.array([[-2.0, 1.0, -1.0], [-1.0, 1.0, 0.0]]), inst)
    # account 0: strike 100k nets to −1, strike 110k −1 → 2 × 1 % × 100,000
    np.testing.assert_allclose(r.contingency, [2_000.0, 0.0])


def test_portfolio_bad_input():
    inst = Instruments.futures([0, 1], [S, 3_000.0])
    with pytest.raises(InvalidInput):
        portfolio_margin(np.ones((2, 3)), inst)
    with pytest.raises(InvalidInput):
        portfolio_margin(np.array([[np.nan, 1.0]]), inst)
    with pytest.raises(InvalidInput):
        portfolio_margin(np.ones((1, 2)), inst, correlation=[[1.0, 1.5], [1.5, 1.0]])
    with pytest.raises(InvalidInput):
        portfolio_margin(np.ones((1, 2)), inst, correlation=[[1.0, 0.0], [0.0, 1.0]], params=PortfolioMarginParams(correlation_stress=2.0))
    with pytest.raises(InvalidInput):
        Instruments(np.zeros(1, int), np.array([5]), np.ones(1), np.ones(1), np.ones(1), np.ones(1), np.ones(1, bool))
    with pytest.raises(InvalidInput):
        _options([100_000.0], [True], vol=-0.1)
    with pytest.raises(InvalidInput):
        ScenarioGrid(price_moves=(-1.5, 0.0))
    with pytest.raises(InvalidInput):
        scenario_pnl_matrix(inst, settlement="quanto")
    assert FUTURE == 0
