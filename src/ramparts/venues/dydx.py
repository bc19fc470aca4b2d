"""dYdX v4: liquidity tiers, open-interest-scaled initial margin, bankruptcy and fillable prices,
the insurance-fund delta of a liquidation, and deleveraging conditions.

Source: ``../shared/reference/open-source-venues.md`` §1, read from dydxprotocol/v4-chain at commit
``84d4664bae71e3a077adaac67fb77ad19cd28d30`` (``x/perpetuals/types/liquidity_tier.go``,
``x/perpetuals/lib/lib.go``, ``protocol/lib/margin/risk.go``, ``x/clob/keeper/liquidations.go``,
``x/clob/keeper/deleveraging.go``).

Units, as dYdX's: **quote quantums** (1e-6 USDC, Python ints) and **ppm** (1e6 = 100 %). Every
rounding follows the source: requirements round up (``ceil``), the maintenance fraction of a tier
rounds down, the OI-scaled IMF rounds down, the bankruptcy quote uses a Euclidean floor, the
fillable price is an exact rational.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from ramparts.errors import InvalidInput

__all__ = ["LIQUIDITY_TIERS", "LiquidityTier", "adjusted_imf_ppm", "bankruptcy_quote", "fillable_price", "insurance_fund_delta",
           "is_liquidatable", "margin_requirements", "should_deleverage"]

ONE_MILLION = 1_000_000
USDC = 1_000_000  # quote quantums per USDC


def _ceil_div(a: int, b: int) -> int:
    return -((-a) // b)


@dataclass(frozen=True)
class LiquidityTier:
    """``initial_margin_ppm`` (IMF), ``maintenance_fraction_ppm`` (MF), open-interest caps (quote quantums)."""

    name: str
    initial_margin_ppm: int
    maintenance_fraction_ppm: int
    open_interest_lower_cap: int = 0
    open_interest_upper_cap: int = 0

    @property
    def maintenance_margin_ppm(self) -> int:
        """``floor(IMF × MF / 1e6)``."""
        return self.initial_margin_ppm * self.maintenance_fraction_ppm // ONE_MILLION


#: The mainnet-like tiers of ``protocol/scripts/genesis/sample_pregenesis.json``.
LIQUIDITY_TIERS = {
    t.name: t
    for t in (
        LiquidityTier("Large-Cap", 20_000, 600_000),
        LiquidityTier("Mid-Cap", 50_000, 600_000, 40_000_000 * USDC, 100_000_000 * USDC),
        LiquidityTier("Small-Cap", 100_000, 500_000, 20_000_000 * USDC, 50_000_000 * USDC),
        LiquidityTier("Long-Tail", 200_000, 500_000, 5_000_000 * USDC, 10_000_000 * USDC),
        LiquidityTier("Isolated", 50_000, 600_000, 500_000 * USDC, 1_000_000 * USDC),
        LiquidityTier("Safety", 1_000_000, 200_000),
        LiquidityTier("FX", 10_000, 500_000),
    )
}


def adjusted_imf_ppm(tier: LiquidityTier, open_interest_notional: int) -> int:
    """The OI-scaled initial margin fraction (``liquidity_tier.go``)."""
    imf, lo, hi = tier.initial_margin_ppm, tier.open_interest_lower_cap, tier.open_interest_upper_cap
    if hi == 0 or open_interest_notional <= lo:
        return imf
    if open_interest_notional >= hi:
        return ONE_MILLION
    return imf + (ONE_MILLION - imf) * (open_interest_notional - lo) // (hi - lo)


def margin_requirements(notional: int, tier: LiquidityTier, *, open_interest_notional: int = 0, custom_imf_ppm: int = 0) -> tuple[int, int]:
    """``(IMR, MMR)`` of a position of ``notional`` quote quantums (its absolute value is used).

    ``baseIMR = ceil(|n| × IMF / 1e6)``, ``MMR = ceil(baseIMR × MF / 1e6)`` (from the *base* IMF),
    ``IMR = ceil(|n| × max(adjIMF(OI), custom IMF) / 1e6)``.
    """
    for name, v in (("notional", notional), ("open_interest_notional", open_interest_notional), ("custom_imf_ppm", custom_imf_ppm)):
        if not isinstance(v, int) or isinstance(v, bool):
            raise InvalidInput(name, f"must be an int (quote quantums / ppm), got {v!r}")
    n = abs(notional)
    base_imr = _ceil_div(n * tier.initial_margin_ppm, ONE_MILLION)
    mmr = _ceil_div(base_imr * tier.maintenance_fraction_ppm, ONE_MILLION)
    imr = _ceil_div(n * max(adjusted_imf_ppm(tier, open_interest_notional), custom_imf_ppm), ONE_MILLION)
    return imr, mmr


def is_liquidatable(total_net_collateral: int, maintenance: int) -> bool:
    """``MMR > 0 and MMR > TNC`` (``NC == MMR`` is safe)."""
    return maintenance > 0 and maintenance > total_net_collateral


def bankruptcy_quote(delta_notional: int, delta_mmr: int, total_net_collateral: int, total_mmr: int) -> int:
    """``−DNNV − floor(TNC × |DMMR| / TMMR)`` (quote quantums, signed: > 0 the account receives).

    ``delta_notional`` / ``delta_mmr`` are the changes of the position's signed notional and of its
    maintenance requirement when the liquidated ``delta`` is applied (a sell of a long lowers the
    notional: ``delta_notional < 0``). Python's ``//`` is the Euclidean floor the source uses.
    """
    if total_mmr <= 0:
        raise InvalidInput("total_mmr", "a bankruptcy price needs a positive maintenance requirement")
    return -delta_notional - (total_net_collateral * abs(delta_mmr)) // total_mmr


def fillable_price(position_notional: int, position_mmr: int, position_size: int, total_net_collateral: int, total_mmr: int,
                   *, bankruptcy_adjustment_ppm: int = ONE_MILLION, spread_to_mmr_ppm: int = 1_500_000) -> Fraction:
    """The worst price a liquidation order may fill at, in quote quantums per base quantum (rational).

    ``ABR = clamp(BA × (1 − TNC/TMMR), 0, 1)``; ``fillable = (PNNV − ABR × SMMR × PMMR) / PS``.
    Mainnet-like SMMR = 1.5 (``spread_to_mmr_ppm=1_500_000``).
    """
    if position_size == 0 or total_mmr <= 0:
        raise InvalidInput("position", "needs a non-zero position and a positive maintenance requirement")
    ba = Fraction(bankruptcy_adjustment_ppm, ONE_MILLION)
    abr = min(max(ba * (1 - Fraction(total_net_collateral, total_mmr)), Fraction(0)), Fraction(1))
    smmr = Fraction(spread_to_mmr_ppm, ONE_MILLION)
    return (Fraction(position_notional) - abr * smmr * position_mmr) / position_size


def insurance_fund_delta(fill_quote: int, bankruptcy: int, max_liquidation_fee_ppm: int = 15_000) -> int:
    """Change of the insurance fund from one liquidation fill (quote quantums).

    ``d = fillQuote − bankruptcyQuote``; ``d ≤ 0``: the fund pays ``|d|`` (returns ``d``);
    ``d > 0``: the fee to the fund is ``min(|fillQuote| × fee / 1e6, d)`` (floored).
    """
    d = fill_quote - bankruptcy
    if d <= 0:
        return d
    return min(abs(fill_quote) * max_liquidation_fee_ppm // ONE_MILLION, d)


def should_deleverage(filled_quantums: int, total_net_collateral: int, final_settlement: bool = False) -> bool:
    """Deleveraging runs only if the liquidation order filled nothing and TNC < 0 (or at final settlement)."""
    return final_settlement or (filled_quantums == 0 and total_net_collateral < 0)
