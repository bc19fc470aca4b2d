"""Stressed-correlation add-on: hand-worked values, zero when there is nothing to stress, positive
otherwise, exact ceiling against high-precision decimals, monotone in the stress, the account matrix
against the scalar path, matrix validation (exact PSD check), and bad input.
"""

from __future__ import annotations

import json
import math
from decimal import Context, Decimal, localcontext

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from ramparts.errors import InvalidInput
from ramparts.margin.correlation import CorrelationMatrix, correlated_requirement, stressed_correlation_addon

M = 10**6
IDENT = CorrelationMatrix(("BTC", "ETH"), ((M, 0), (0, M)))
ONES3 = CorrelationMatrix(("BTC", "ETH", "SOL"), ((M,) * 3,) * 3)
C3 = CorrelationMatrix.from_correlations(["BTC", "ETH", "SOL"], [[1, 0.8, 0.6], [0.8, 1, 0.7], [0.6, 0.7, 1]])

CASES = [
    # (name, corr, requirements, w ppm, add-on, working)
    ("uncorrelated, stressed half way", IDENT, [3_000, 4_000], 500_000, 1_083, "√37e6 − 5,000 = 1,082.76…"),
    ("uncorrelated, fully stressed", IDENT, [3_000, 4_000], M, 2_000, "7,000 − 5,000"),
    ("no stress", IDENT, [3_000, 4_000], 0, 0, "w = 0"),
    ("already all ones", ONES3, [1_000, 2_000, 3_000], M, 0, "nothing to stress"),
    ("already all ones, half stress", ONES3, [1_000, 2_000, 3_000], 500_000, 0, "nothing to stress"),
    ("one asset only", C3, [0, 5_000, 0], M, 0, "a single requirement is undiversified already"),
    ("no requirement", C3, [0, 0, 0], M, 0, "empty account"),
    (
        "three assets, full stress",
        C3,
        [1_000, 2_000, 3_000],
        M,
        597,
        "6,000 − √(1e6 + 4e6 + 9e6 + 2(1.6e6 + 1.8e6 + 4.2e6)) = 6,000 − √29.2e6 = 6,000 − 5,403.70 = 596.30 → 597",
    ),
]


def _exact(corr, r, w):
    """``(√(rᵀC_s r) − √(rᵀCr), √(rᵀC_s r))`` in 80-digit decimals (the quadratic forms are exact ints)."""
    n = len(r)
    a6 = sum(r[i] * r[j] * corr.ppm[i][j] for i in range(n) for j in range(n))  # 1e6 · rᵀCr
    a12 = (M - w) * a6 + w * M * sum(r) ** 2  # 1e12 · rᵀC_s r
    with localcontext(Context(prec=80)):
        s_stressed = Decimal(a12).sqrt() / M
        s_plain = Decimal(a6 * M).sqrt() / M
        return s_stressed - s_plain, s_stressed


def test_hand_worked_three_asset_value():
    # rᵀCr = 1e6 + 4e6 + 9e6 + 2·(0.8·2e6 + 0.6·3e6 + 0.7·6e6) = 14e6 + 2·7.6e6 = 29.2e6
    x, _ = _exact(C3, [1_000, 2_000, 3_000], M)
    assert math.ceil(x) == 597


@pytest.mark.parametrize("name,corr,r,w,addon,working", CASES, ids=[c[0] for c in CASES])
def test_addon_table(name, corr, r, w, addon, working):
    assert stressed_correlation_addon(r, corr, w) == addon
    assert stressed_correlation_addon(dict(zip(corr.assets, r, strict=True)), corr, w) == addon


def test_positive_whenever_two_assets_are_less_than_perfectly_correlated():
    c = CorrelationMatrix.from_correlations(["A", "B"], [[1, 0.99], [0.99, 1]])
    assert stressed_correlation_addon([10**9, 10**9], c, 100_000) > 0
    assert stressed_correlation_addon([10**9, 10**9], c, 0) == 0


def test_correlated_requirement():
    assert correlated_requirement({"BTC": 3_000, "ETH": 4_000}, IDENT) == 5_000
    assert correlated_requirement([3_000, 4_000], IDENT, M) == 7_000
    assert correlated_requirement([1_000, 2_000, 3_000], C3) == 5_404  # √29.2e6 = 5,403.70 up
    assert correlated_requirement({"SOL": 7}, C3) == 7


reqs = st.lists(st.integers(0, 10**15), min_size=3, max_size=3)


@given(r=reqs, w=st.integers(0, M), w2=st.integers(0, M))
@settings(max_examples=300, deadline=None)
def test_exact_ceiling_and_monotone_in_stress(r, w, w2):
    a = stressed_correlation_addon(r, C3, w)
    x, s = _exact(C3, r, w)
    assert a - 1 < x <= a  # exactly the ceiling
    assert correlated_requirement(r, C3, w) - 1 < s <= correlated_requirement(r, C3, w)
    lo, hi = sorted((w, w2))
    assert stressed_correlation_addon(r, C3, lo) <= stressed_correlation_addon(r, C3, hi)
    # the diversified requirement plus the add-on covers the stressed one
    assert correlated_requirement(r, C3, 0) + a >= correlated_requirement(r, C3, w) - 1


@given(r=reqs, w=st.integers(0, M))
@settings(max_examples=100, deadline=None)
def test_zero_when_already_all_ones(r, w):
    assert stressed_correlation_addon(r, ONES3, w) == 0


@given(rows=st.lists(reqs, min_size=0, max_size=15), w=st.integers(0, M))
@settings(max_examples=100, deadline=None)
def test_matrix_path_equals_scalar(rows, w):
    mat = np.array(rows, dtype=np.int64).reshape(len(rows), 3)
    out = stressed_correlation_addon(mat, C3, w)
    assert out.dtype == np.int64 and out.tolist() == [stressed_correlation_addon(r, C3, w) for r in rows]
    req = correlated_requirement(mat, C3, w)
    assert req.tolist() == [correlated_requirement(r, C3, w) for r in rows]


# --------------------------------------------------------------------------- matrix validation

ACCEPTED = [
    ("identity", [[1, 0], [0, 1]]),
    ("all ones (singular)", [[1, 1], [1, 1]]),
    ("perfect anti-correlation (singular)", [[1, -1], [-1, 1]]),
    ("a duplicated asset (singular 3 × 3)", [[1, 1, 0.5], [1, 1, 0.5], [0.5, 0.5, 1]]),
    ("decimal strings", [["1", "0.25"], ["0.25", "1"]]),
    ("numpy array", np.array([[1.0, 0.3], [0.3, 1.0]])),
]


@pytest.mark.parametrize("name,m", ACCEPTED, ids=[c[0] for c in ACCEPTED])
def test_accepted_matrices(name, m):
    names = [f"A{i}" for i in range(len(m))]
    c = CorrelationMatrix.from_correlations(names, m)
    assert CorrelationMatrix.from_dict(json.loads(json.dumps(c.to_dict()))) == c


@given(
    n=st.integers(2, 5),
    data=st.data(),
)
@settings(max_examples=200, deadline=None)
def test_exact_psd_check_agrees_with_eigenvalues(n, data):
    off = data.draw(st.lists(st.integers(-M, M), min_size=n * (n - 1) // 2, max_size=n * (n - 1) // 2))
    m = [[M] * n for _ in range(n)]
    k = 0
    for i in range(n):
        for j in range(i):
            m[i][j] = m[j][i] = off[k]
            k += 1
    lam = float(np.linalg.eigvalsh(np.array(m, dtype=float) / M).min())
    assume(abs(lam) > 1e-7)
    if lam > 0:
        CorrelationMatrix(tuple(f"A{i}" for i in range(n)), tuple(map(tuple, m)))
    else:
        with pytest.raises(InvalidInput, match="not positive semi-definite"):
            CorrelationMatrix(tuple(f"A{i}" for i in range(n)), tuple(map(tuple, m)))


AB, ABC = ["A", "B"], ["A", "B", "C"]
BAD_MATRICES = [
    # (name, assets, matrix, field, message fragment)
    ("not PSD", ABC, [[1, 0.9, -0.9], [0.9, 1, 0.9], [-0.9, 0.9, 1]], "correlation", "not positive semi-definite: pivot 2 ('C')"),
    ("asymmetric", AB, [[1, 0.5], [0.4, 1]], "correlation[1][0]", "not symmetric"),
    ("diagonal not one", AB, [[1, 0.5], [0.5, 0.9]], "correlation[1][1]", "diagonal"),
    ("NaN entry", AB, [[1, float("nan")], [float("nan"), 1]], "correlation[0][1]", "finite"),
    ("infinite entry", AB, [[1, float("inf")], [0, 1]], "correlation[0][1]", "finite"),
    ("above one", AB, [[1, 1.5], [1.5, 1]], "correlation[0][1]", "[−1, 1]"),
    ("ragged", AB, [[1, 0.5], [0.5]], "correlation[1]", "2 entries"),
    ("more rows than assets", AB, [[1, 0, 0], [0, 1, 0], [0, 0, 1]], "correlation", "lengths must match"),
    ("junk entry", AB, [[1, "high"], ["high", 1]], "correlation[0][1]", "not a number"),
]


@pytest.mark.parametrize("name,assets,m,field,msg", BAD_MATRICES, ids=[c[0] for c in BAD_MATRICES])
def test_bad_matrices(name, assets, m, field, msg):
    with pytest.raises(InvalidInput) as e:
        CorrelationMatrix.from_correlations(assets, m)
    assert e.value.field == field and msg in e.value.message


BAD_PPM = [
    ("duplicate assets", (("A", "A"), ((M, 0), (0, M))), "correlation.assets"),
    ("float entry", (("A", "B"), ((M, 0.5), (0.5, M))), "correlation[0][1]"),
    ("out of range", (("A", "B"), ((M, 2 * M), (2 * M, M))), "correlation[0][1]"),
    ("wrong row count", (("A", "B"), ((M, 0),)), "correlation"),
    ("no assets", ((), ()), "correlation.assets"),
]


@pytest.mark.parametrize("name,args,field", BAD_PPM, ids=[c[0] for c in BAD_PPM])
def test_bad_ppm_matrices(name, args, field):
    with pytest.raises(InvalidInput) as e:
        CorrelationMatrix(*args)
    assert e.value.field == field


BAD_CALLS = [
    ("negative requirement", lambda: stressed_correlation_addon([-1, 0, 0], C3, M), "requirements[0]"),
    ("float requirement", lambda: stressed_correlation_addon([1.5, 0, 0], C3, M), "requirements[0]"),
    ("NaN requirement", lambda: stressed_correlation_addon([float("nan"), 0, 0], C3, M), "requirements[0]"),
    ("mismatched lengths", lambda: stressed_correlation_addon([1, 2], C3, M), "requirements"),
    ("float matrix", lambda: stressed_correlation_addon(np.zeros((2, 3)), C3, M), "requirements"),
    ("unknown asset", lambda: stressed_correlation_addon({"DOGE": 1}, C3, M), "requirements"),
    ("negative in a mapping", lambda: stressed_correlation_addon({"BTC": -1}, C3, M), "requirements.BTC"),
    ("stress above one", lambda: stressed_correlation_addon([1, 2, 3], C3, M + 1), "stress_ppm"),
    ("negative stress", lambda: stressed_correlation_addon([1, 2, 3], C3, -1), "stress_ppm"),
    ("not a matrix object", lambda: stressed_correlation_addon([1, 2, 3], [[1]], 0), "corr"),
    ("3-D requirements", lambda: correlated_requirement(np.zeros((1, 1, 3), dtype=np.int64), C3), "requirements"),
]


@pytest.mark.parametrize("name,call,field", BAD_CALLS, ids=[c[0] for c in BAD_CALLS])
def test_bad_calls(name, call, field):
    with pytest.raises(InvalidInput) as e:
        call()
    assert e.value.field == field
