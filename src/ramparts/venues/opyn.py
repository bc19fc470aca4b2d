"""Opyn Gamma protocol ``MarginCalculator``: naked (partially collateralised) option margin with the
spot shock and the upper-bound-value table by time to expiry, spread (max-loss) margin, expired cash
values, a vault's excess collateral, and the liquidation (Dutch auction) debt price.

Source: ``ramparts/reference/open-source-venues.md`` §6, read from opynfinance/GammaProtocol at commit
``841f81d9d05da9d27277b5775edfbb48c4012d2a`` (``contracts/core/MarginCalculator.sol``,
``contracts/libs/FixedPointInt256.sol``, ``contracts/libs/SignedConverter.sol``).

Units, as the contract's: oToken amounts, strike prices and oracle prices are integers scaled by **1e8**;
collateral amounts are integers in the collateral token's own decimals; spot shock, upper bound values and
the oracle deviation are scaled by **1e27**. Internally every value is a ``FixedPointInt`` (an int scaled by
1e27); ``mul`` and ``div`` truncate toward zero (``a·b/1e27``, ``a·1e27/b``), a conversion to fewer decimals
truncates, and results leave in collateral decimals rounded **up** for requirements (and for a deficit)
and **down** for an excess. Naked margin, per oToken (``_getNakedMarginRequired``)::

    put:  (ub · min(K, shock·S) + max(K − shock·S, 0)) · amount                 (strike asset)
    call: (ub · min(1, K·shock/S) + max(1 − K·shock/S, 0)) · amount             (underlying)
    ub  = the upper bound value of the first time-to-expiry bucket ≥ (expiry − now)

Spread (type 0) vaults: put ``max(short·Ks − Kl·min(short, long), 0)`` in strike, call
``max((Kl − Ks)·short/Kl, max(short − long, 0))`` in underlying (``max(short − long, 0)`` when Kl = 0),
converted to the collateral at live oracle prices; after expiry the obligation is
``cv_short·short − cv_long·long`` at the expiry prices. Debt price of a liquidation (collateral per
repaid oToken): from ``max(cv − deviation·S, 0)`` (a call's divided by S) rising linearly to
``collateral/debt`` over ``AUCTION_TIME`` (3600 s), capped at the latter.

Not modelled: ownership of the setters (``onlyOwner``), the oracle contract (prices are passed in) and
oToken v1/v2 detail lookup (an :class:`Otoken` carries its details).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from ramparts.errors import InvalidInput

__all__ = ["AUCTION_TIME", "BASE", "SCALING_FACTOR", "MarginCalculator", "Otoken", "Product", "Vault", "fp_div", "fp_mul",
           "from_scaled_uint", "to_scaled_uint"]

#: decimals of the FixedPointInt (and of spot shock, upper bound values, oracle deviation)
SCALING_FACTOR = 27
#: decimals of oToken amounts, strike prices and oracle prices
BASE = 8
AUCTION_TIME = 3600
_ONE = 10**SCALING_FACTOR


def _uint(name: str, v) -> int:
    if not isinstance(v, int) or isinstance(v, bool) or v < 0:
        raise InvalidInput(name, f"must be a non-negative int in the contract's units, got {v!r}")
    if v >= 2**255:
        raise InvalidInput(name, "out of int range (2**255)")
    return v


def _tdiv(a: int, b: int) -> int:
    if b == 0:
        raise InvalidInput("divisor", "division by zero")
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b > 0) else -q


def from_scaled_uint(a: int, decimals: int) -> int:
    """``FixedPointInt256.fromScaledUint``: ``a`` with ``decimals`` decimals as a 1e27 fixed point (truncating)."""
    a, decimals = _uint("amount", a), _uint("decimals", decimals)
    if decimals >= SCALING_FACTOR:
        return a // 10 ** (decimals - SCALING_FACTOR)
    return a * 10 ** (SCALING_FACTOR - decimals)


def to_scaled_uint(value: int, decimals: int, round_down: bool) -> int:
    """``FixedPointInt256.toScaledUint``: the *magnitude* of a 1e27 fixed point in ``decimals`` decimals,
    truncated or (``round_down=False``) rounded up when digits are dropped."""
    mag, decimals = abs(value), _uint("decimals", decimals)
    if decimals >= SCALING_FACTOR:
        return mag * 10 ** (decimals - SCALING_FACTOR)
    unit = 10 ** (SCALING_FACTOR - decimals)
    out, rem = divmod(mag, unit)
    return out + (1 if rem and not round_down else 0)


def fp_mul(a: int, b: int) -> int:
    """``FixedPointInt256.mul``: ``a·b / 1e27`` truncated toward zero."""
    return _tdiv(a * b, _ONE)


def fp_div(a: int, b: int) -> int:
    """``FixedPointInt256.div``: ``a·1e27 / b`` truncated toward zero."""
    return _tdiv(a * _ONE, b)


@dataclass(frozen=True)
class Otoken:
    """An oToken series: assets by name, strike price (1e8), expiry (unix seconds), put or call."""

    underlying: str
    strike_asset: str
    collateral: str
    strike_price: int
    expiry: int
    is_put: bool

    def __post_init__(self):
        for n in ("underlying", "strike_asset", "collateral"):
            if not isinstance(getattr(self, n), str) or not getattr(self, n):
                raise InvalidInput(n, "must be an asset name")
        _uint("strike_price", self.strike_price)
        _uint("expiry", self.expiry)

    @property
    def product(self) -> tuple[str, str, str, bool]:
        """The product key of the margin tables (``_getProductHash``)."""
        return (self.underlying, self.strike_asset, self.collateral, bool(self.is_put))


@dataclass(frozen=True)
class Vault:
    """``MarginVault.Vault``: arrays of short oTokens, long oTokens and collateral assets with their amounts
    (oToken amounts 1e8, collateral in its token's decimals). A valid vault holds at most one of each."""

    short_otokens: tuple[Otoken, ...] = ()
    long_otokens: tuple[Otoken, ...] = ()
    collateral_assets: tuple[str, ...] = ()
    short_amounts: tuple[int, ...] = ()
    long_amounts: tuple[int, ...] = ()
    collateral_amounts: tuple[int, ...] = ()

    @classmethod
    def create(cls, short: Otoken | None = None, long: Otoken | None = None, collateral: str | None = None,
               short_amount: int | None = None, long_amount: int | None = None, collateral_amount: int | None = None) -> Vault:
        """The shape of the tests' ``createVault`` helper (a missing item gives an empty array)."""
        return cls((short,) if short else (), (long,) if long else (), (collateral,) if collateral else (),
                   () if short_amount is None else (short_amount,), () if long_amount is None else (long_amount,),
                   () if collateral_amount is None else (collateral_amount,))


@dataclass(frozen=True)
class Product:
    """The naked-margin parameters of one product: times to expiry (ascending, seconds), their upper bound
    values (1e27) and the spot shock (1e27)."""

    times_to_expiry: tuple[int, ...] = ()
    upper_bound_values: tuple[int, ...] = ()
    spot_shock: int = 0

    def with_upper_bound_values(self, times_to_expiry, values) -> Product:
        """``setUpperBoundValues``: appends buckets (ascending, after the existing ones; values > 0)."""
        times, vals = tuple(times_to_expiry), tuple(values)
        if not times:
            raise InvalidInput("times_to_expiry", "invalid times to expiry array")
        if len(times) != len(vals):
            raise InvalidInput("values", "invalid values array")
        for i, t in enumerate(times):
            _uint("times_to_expiry", t)
            _uint("values", vals[i])
        if self.times_to_expiry and not times[0] > self.times_to_expiry[-1]:
            raise InvalidInput("times_to_expiry", "expiry array is not in order")
        for i in range(len(times)):
            if i + 1 < len(times) and not times[i] < times[i + 1]:
                raise InvalidInput("times_to_expiry", "time should be in order")
            if vals[i] == 0:
                raise InvalidInput("values", "no expiry upper bound value found")
        return replace(self, times_to_expiry=self.times_to_expiry + times, upper_bound_values=self.upper_bound_values + vals)

    def with_updated_upper_bound_value(self, time_to_expiry: int, value: int) -> Product:
        """``updateUpperBoundValue``: replaces the value of an existing bucket (value > 0)."""
        if _uint("value", value) == 0:
            raise InvalidInput("value", "invalid option upper bound value")
        if time_to_expiry not in self.times_to_expiry:
            raise InvalidInput("time_to_expiry", "upper bound value not found")
        i = self.times_to_expiry.index(time_to_expiry)
        vals = list(self.upper_bound_values)
        vals[i] = value
        return replace(self, upper_bound_values=tuple(vals))

    def with_spot_shock(self, value: int) -> Product:
        """``setSpotShock`` (value > 0)."""
        if _uint("spot_shock", value) == 0:
            raise InvalidInput("spot_shock", "invalid spot shock value")
        return replace(self, spot_shock=value)

    def max_price(self, time_to_expiry: int) -> int:
        """``getMaxPrice``: the stored value of a bucket (0 if none)."""
        return dict(zip(self.times_to_expiry, self.upper_bound_values, strict=True)).get(time_to_expiry, 0)

    def upper_bound_value(self, expiry: int, now: int) -> int:
        """``_findUpperBoundValue`` (1e27): the first bucket whose time to expiry is ≥ ``expiry − now``."""
        if not self.times_to_expiry:
            raise InvalidInput("product", "product have no expiry values")
        if _uint("expiry", expiry) < _uint("now", now):
            raise InvalidInput("expiry", "the option has expired (SafeMath sub underflow)")
        tte = expiry - now
        if self.times_to_expiry[-1] < tte:
            raise InvalidInput("expiry", "product have no upper bound value")
        for t, v in zip(self.times_to_expiry, self.upper_bound_values, strict=True):
            if t >= tte:
                return v
        raise AssertionError("unreachable")  # pragma: no cover


@dataclass(frozen=True)
class MarginCalculator:
    """The calculator's configuration: token decimals, products, collateral dust (collateral decimals),
    oracle deviation (1e27). Prices are passed to each call (1e8): ``prices`` live, ``expiry_prices``
    the finalised prices at the oTokens' expiry (a missing asset means "not finalised")."""

    decimals: Mapping[str, int]
    products: Mapping[tuple[str, str, str, bool], Product] = field(default_factory=dict)
    dust: Mapping[str, int] = field(default_factory=dict)
    oracle_deviation: int = 0

    # --- configuration (the owner's setters) --------------------------------------------------------------------------
    def _product(self, key) -> Product:
        return self.products.get(key, Product())

    def with_upper_bound_values(self, underlying: str, strike: str, collateral: str, is_put: bool, times_to_expiry, values) -> MarginCalculator:
        key = (underlying, strike, collateral, bool(is_put))
        return replace(self, products={**self.products, key: self._product(key).with_upper_bound_values(times_to_expiry, values)})

    def with_updated_upper_bound_value(self, underlying: str, strike: str, collateral: str, is_put: bool, time_to_expiry: int, value: int) -> MarginCalculator:
        key = (underlying, strike, collateral, bool(is_put))
        return replace(self, products={**self.products, key: self._product(key).with_updated_upper_bound_value(time_to_expiry, value)})

    def with_spot_shock(self, underlying: str, strike: str, collateral: str, is_put: bool, value: int) -> MarginCalculator:
        key = (underlying, strike, collateral, bool(is_put))
        return replace(self, products={**self.products, key: self._product(key).with_spot_shock(value)})

    def with_collateral_dust(self, collateral: str, amount: int) -> MarginCalculator:
        if _uint("dust", amount) == 0:
            raise InvalidInput("dust", "dust amount should be greater than zero")
        return replace(self, dust={**self.dust, collateral: amount})

    def with_oracle_deviation(self, deviation: int) -> MarginCalculator:
        return replace(self, oracle_deviation=_uint("oracle_deviation", deviation))

    def _dec(self, asset: str) -> int:
        if asset not in self.decimals:
            raise InvalidInput("asset", f"no decimals known for {asset!r}")
        return self.decimals[asset]

    # --- naked margin ----------------------------------------------------------------------------------------------------
    def _naked_fp(self, product, short_amount: int, underlying_price: int, strike_price: int, expiry: int, now: int, is_put: bool) -> int:
        p = self._product(product)
        ub = from_scaled_uint(p.upper_bound_value(expiry, now), SCALING_FACTOR)
        shock = p.spot_shock
        if is_put:
            shocked = fp_mul(shock, underlying_price)
            a = min(strike_price, shocked)
            b = max(strike_price - shocked, 0)
        else:
            ratio = fp_div(fp_mul(strike_price, shock), underlying_price)
            a = min(_ONE, ratio)
            b = max(_ONE - ratio, 0)
        return fp_mul(fp_mul(ub, a) + b, short_amount)

    def naked_margin_required(self, underlying: str, strike: str, collateral: str, short_amount: int, strike_price: int,
                              underlying_price: int, expiry: int, collateral_decimals: int, is_put: bool, *, now: int) -> int:
        """``getNakedMarginRequired``: collateral (in ``collateral_decimals``, rounded up) for a naked short
        of ``short_amount`` oTokens (1e8) at ``underlying_price`` (1e8); the put's requirement is in the strike
        asset, the call's in the underlying."""
        fp = self._naked_fp((underlying, strike, collateral, bool(is_put)), from_scaled_uint(short_amount, BASE),
                            from_scaled_uint(underlying_price, BASE), from_scaled_uint(strike_price, BASE), expiry, now, is_put)
        return to_scaled_uint(fp, collateral_decimals, False)

    # --- cash values -----------------------------------------------------------------------------------------------------
    @staticmethod
    def _cash_value(strike_fp: int, underlying_fp: int, is_put: bool) -> int:
        if is_put:
            return strike_fp - underlying_fp if strike_fp > underlying_fp else 0
        return underlying_fp - strike_fp if underlying_fp > strike_fp else 0

    @staticmethod
    def _convert(amount_fp: int, asset_a: str, asset_b: str, prices: Mapping[str, int], what: str) -> int:
        if asset_a == asset_b:
            return amount_fp
        if asset_a not in prices or asset_b not in prices:
            raise InvalidInput("prices", f"{what} for {asset_a!r} and {asset_b!r} needed")
        return fp_div(fp_mul(amount_fp, from_scaled_uint(prices[asset_a], BASE)), from_scaled_uint(prices[asset_b], BASE))

    def expired_cash_value(self, otoken: Otoken, expiry_prices: Mapping[str, int]) -> int:
        """``_getExpiredCashValue``: the cash value of one oToken in the strike asset (1e27 fixed point)."""
        underlying_in_strike = self._convert(_ONE, otoken.underlying, otoken.strike_asset, expiry_prices,
                                             "price at expiry not finalized yet: prices")
        return self._cash_value(from_scaled_uint(otoken.strike_price, BASE), underlying_in_strike, otoken.is_put)

    def expired_payout_rate(self, otoken: Otoken, *, now: int, expiry_prices: Mapping[str, int]) -> int:
        """``getExpiredPayoutRate``: collateral (its decimals, rounded down) paid out per 1e8 oToken units."""
        if now < otoken.expiry:
            raise InvalidInput("now", "Otoken not expired yet")
        cv = self._convert(self.expired_cash_value(otoken, expiry_prices), otoken.strike_asset, otoken.collateral,
                           expiry_prices, "price at expiry not finalized yet: prices")
        return to_scaled_uint(cv, self._dec(otoken.collateral), True)

    # --- vaults ---------------------------------------------------------------------------------------------------------
    @staticmethod
    def _check_vault(vault: Vault, vault_type: int) -> None:
        """``_checkIsValidVault`` (including ``_isMarginableLong`` / ``_isMarginableCollateral``)."""
        if len(vault.short_otokens) > 1:
            raise InvalidInput("vault", "Too many short otokens in the vault")
        if len(vault.long_otokens) > 1:
            raise InvalidInput("vault", "Too many long otokens in the vault")
        if len(vault.collateral_assets) > 1:
            raise InvalidInput("vault", "Too many collateral assets in the vault")
        if len(vault.short_otokens) != len(vault.short_amounts):
            raise InvalidInput("vault", "Short asset and amount mismatch")
        if len(vault.long_otokens) != len(vault.long_amounts):
            raise InvalidInput("vault", "Long asset and amount mismatch")
        if len(vault.collateral_assets) != len(vault.collateral_amounts):
            raise InvalidInput("vault", "Collateral asset and amount mismatch")
        has_short, has_long, has_coll = bool(vault.short_otokens), bool(vault.long_otokens), bool(vault.collateral_assets)
        if vault_type == 1 and has_long:
            raise InvalidInput("vault", "naked margin vault cannot have long otoken")
        if has_long and has_short:
            s, lo = vault.short_otokens[0], vault.long_otokens[0]
            if not (lo != s and lo.underlying == s.underlying and lo.strike_asset == s.strike_asset and lo.collateral == s.collateral
                    and lo.expiry == s.expiry and lo.is_put == s.is_put):
                raise InvalidInput("vault", "long asset not marginable for short asset")
        if has_coll:
            ref = vault.short_otokens[0] if has_short else (vault.long_otokens[0] if has_long else None)
            if ref is not None and ref.collateral != vault.collateral_assets[0]:
                raise InvalidInput("vault", "collateral asset not marginable for short asset")

    def margin_required(self, vault: Vault, vault_type: int, *, now: int, prices: Mapping[str, int] | None = None,
                        expiry_prices: Mapping[str, int] | None = None) -> tuple[int, int]:
        """``_getMarginRequired``: ``(collateral, required)`` as 1e27 fixed points, in the collateral asset."""
        prices, expiry_prices = prices or {}, expiry_prices or {}
        has_short, has_long, has_coll = bool(vault.short_otokens), bool(vault.long_otokens), bool(vault.collateral_assets)
        short_amount = from_scaled_uint(vault.short_amounts[0], BASE) if has_short else 0
        long_amount = from_scaled_uint(vault.long_amounts[0], BASE) if has_long else 0
        coll_dec = self._dec(vault.collateral_assets[0]) if has_coll else 0
        collateral = from_scaled_uint(vault.collateral_amounts[0], coll_dec) if has_coll else 0
        short = vault.short_otokens[0] if has_short else None
        long = vault.long_otokens[0] if has_long else None
        ref = short if has_short else long
        short_strike = from_scaled_uint(short.strike_price, BASE) if has_short else 0
        if now < ref.expiry:
            if vault_type == 1:
                dust = from_scaled_uint(self.dust.get(short.collateral, 0), coll_dec)
                if collateral > 0 and not collateral > dust:
                    raise InvalidInput("collateral", "naked margin vault should have collateral amount greater than dust amount")
                if short.underlying not in prices:
                    raise InvalidInput("prices", f"a live price for {short.underlying!r} is needed")
                price = from_scaled_uint(prices[short.underlying], BASE)
                return collateral, self._naked_fp(short.product, short_amount, price, short_strike, ref.expiry, now, ref.is_put)
            long_strike = from_scaled_uint(long.strike_price, BASE) if has_long else 0
            if ref.is_put:
                needed = max(fp_mul(short_amount, short_strike) - fp_mul(long_strike, min(short_amount, long_amount)), 0)
                return collateral, self._convert(needed, ref.strike_asset, ref.collateral, prices, "live prices")
            if long_strike == 0:
                needed = max(short_amount - long_amount, 0)
            else:
                needed = max(fp_div(fp_mul(long_strike - short_strike, short_amount), long_strike), max(short_amount - long_amount, 0))
            return collateral, self._convert(needed, ref.underlying, ref.collateral, prices, "live prices")
        short_cv = self.expired_cash_value(short, expiry_prices) if has_short else 0
        long_cv = self.expired_cash_value(long, expiry_prices) if has_long else 0
        value_in_strike = fp_mul(short_cv, short_amount) - fp_mul(long_cv, long_amount)
        return collateral, self._convert(value_in_strike, ref.strike_asset, ref.collateral, expiry_prices,
                                         "price at expiry not finalized yet: prices")

    def excess_collateral(self, vault: Vault, vault_type: int, *, now: int, prices: Mapping[str, int] | None = None,
                          expiry_prices: Mapping[str, int] | None = None) -> tuple[int, bool]:
        """``getExcessCollateral``: ``(amount, is_excess)`` in the oToken collateral's decimals — the
        withdrawable excess (rounded down) or the deficit to add (rounded up)."""
        if vault_type not in (0, 1):
            raise InvalidInput("vault_type", "0 (spread / max loss) or 1 (naked margin)")
        self._check_vault(vault, vault_type)
        if not vault.short_otokens and not vault.long_otokens:
            return (vault.collateral_amounts[0] if vault.collateral_assets else 0), True
        collateral, required = self.margin_required(vault, vault_type, now=now, prices=prices, expiry_prices=expiry_prices)
        excess = collateral - required
        is_excess = excess >= 0
        otoken = vault.long_otokens[0] if vault.long_otokens else vault.short_otokens[0]
        return to_scaled_uint(excess, self._dec(otoken.collateral), is_excess), is_excess

    # --- liquidation -----------------------------------------------------------------------------------------------------
    def debt_price(self, vault_collateral: int, vault_debt: int, cash_value: int, spot_price: int, auction_start: int,
                   collateral_decimals: int, is_put: bool, *, now: int) -> int:
        """``_getDebtPrice`` (inputs as 1e27 fixed points): collateral per repaid oToken, in collateral decimals, rounded down."""
        ending = fp_div(vault_collateral, vault_debt)
        if _uint("now", now) < _uint("auction_start", auction_start):
            raise InvalidInput("now", "before the auction start (SafeMath sub underflow)")
        elapsed = now - auction_start
        if elapsed >= AUCTION_TIME:
            price = ending
        else:
            deviation = from_scaled_uint(self.oracle_deviation, SCALING_FACTOR)
            starting = max(cash_value - fp_mul(deviation, spot_price), 0)
            if not is_put:
                starting = fp_div(starting, spot_price)
            price = starting + fp_div(fp_mul(ending - starting, from_scaled_uint(elapsed, 18)), from_scaled_uint(AUCTION_TIME, 18))
            if price > ending:
                price = ending
        return to_scaled_uint(price, collateral_decimals, True)

    def debt_price_scaled(self, vault_collateral: int, vault_debt: int, cash_value: int, spot_price: int, auction_start: int,
                          collateral_decimals: int, is_put: bool, *, now: int) -> int:
        """The debt price from external units (the ``CalculatorTester.price`` entry point): collateral in its
        decimals, debt, cash value and spot price in 1e8."""
        return self.debt_price(from_scaled_uint(vault_collateral, collateral_decimals), from_scaled_uint(vault_debt, BASE),
                               from_scaled_uint(cash_value, BASE), from_scaled_uint(spot_price, BASE), auction_start,
                               collateral_decimals, is_put, now=now)

    def is_liquidatable(self, vault: Vault, vault_type: int, vault_latest_update: int, round_price: int, round_timestamp: int,
                        *, now: int) -> tuple[bool, int, int]:
        """``isLiquidatable`` against a Chainlink round (price 1e8, timestamp): ``(liquidatable, debt price, dust)``."""
        if vault_type != 1:
            raise InvalidInput("vault_type", "invalid vault type to liquidate")
        if not vault.short_otokens:
            return False, 0, 0
        short = vault.short_otokens[0]
        if not now < short.expiry:
            raise InvalidInput("now", "can not liquidate expired position")
        if not round_timestamp > vault_latest_update:
            raise InvalidInput("round_timestamp", "auction timestamp should be post vault latest update")
        if not vault.collateral_assets or not vault.collateral_amounts:
            raise InvalidInput("vault", "a naked margin vault to liquidate needs its collateral entry")
        amount = from_scaled_uint(vault.short_amounts[0], BASE)
        strike = from_scaled_uint(short.strike_price, BASE)
        price = from_scaled_uint(round_price, BASE)
        coll_dec = self._dec(vault.collateral_assets[0])
        deposited = from_scaled_uint(vault.collateral_amounts[0], coll_dec)
        required = self._naked_fp(short.product, amount, price, strike, short.expiry, now, short.is_put)
        if required <= deposited:
            return False, 0, 0
        cv = self._cash_value(strike, price, short.is_put)
        debt_price = self.debt_price(deposited, amount, cv, price, round_timestamp, coll_dec, short.is_put, now=now)
        return True, debt_price, self.dust.get(short.collateral, 0)
