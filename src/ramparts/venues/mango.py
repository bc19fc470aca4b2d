"""Mango v4: account health (init, maintenance, liquidation-end) over token positions, spot
(Serum3/OpenBook) open orders and perp positions, with asset and liability weights, the
stable-price rule, deposit/borrow weight scaling, the health ratio and the leverage overview.

Source: ``ramparts/reference/open-source-venues.md`` §5, read from blockworks-foundation/mango-v4
at commit ``1303a4a16228eb1e8e8d4f0eef724eaf63310c86`` (``programs/mango-v4/src/health/cache.rs``,
``programs/mango-v4/src/health/client.rs``, ``programs/mango-v4/src/state/bank.rs`` —
``scaled_init_asset_weight``, ``scaled_init_liab_weight``, ``maint_weights`` —,
``programs/mango-v4/src/state/mango_account_components.rs`` — ``unsettled_funding``;
``programs/mango-v4/src/health/account_retriever.rs`` — the perp oracle key check of
:func:`perp_market_and_oracle_price`).

The arithmetic, in Mango's own units (*native* token amounts, prices in native quote per native
token, weights as plain ratios)::

    price_asset(Init) = min(oracle, stable)     price_liab(Init) = max(oracle, stable)
    price_asset(Maint | LiqEnd) = price_liab(Maint | LiqEnd) = oracle
    asset weight: Init → init weight × min(1, start / ((deposits + potential_serum) × price_liab(Init)))
                  LiqEnd → init weight;  Maint → maint weight
    liab weight:  Init → init weight × max(1, borrows × price_liab(Init) / start)  (start 0 → I80F48::MAX)
    token health = balance × (balance < 0 ? liab_w × price_liab : asset_w × price_asset)
    perp uhupnl  = quote + min(bids case, asks case), each case
                   = (base_lots + orders) × lot × base_w × price − orders × lot × order_price
                   (bids execute at price_liab, asks at price_asset; base_w/price by the sign of the net base)
    perp hupnl   = overall_asset_w × uhupnl if uhupnl > 0 else uhupnl   (added to the settle token's balance)
    serum3       = min over {base, quote} of the health effect of all reserved funds turning into
                   that token, assuming every other market's reserves turned the same way first
    health       = Σ_tokens token health(balance + Σ hupnl) + Σ serum3 contributions
    health_ratio = 100 × (assets − liabs) / liabs   (liabs held stable; I80F48::MAX when liabs ≤ 0)

Numbers are exact :class:`fractions.Fraction` (inputs: ``int``, ``Fraction``, ``Decimal`` or a
decimal string; floats are refused so that a weight like 0.8 means exactly 4/5). Where Mango's
I80F48 / f64 arithmetic rounds, ramparts does not; the differences are bounded by a few units of
2⁻⁴⁸ per operation except where noted:

* I80F48 multiplication floors to a multiple of 2⁻⁴⁸ (Mango's own comment in ``adjust_token_balance``);
  exact here. Mango's test setups build weights with ``I80F48::from_num(f64)`` (0.8 is not exact).
* the deposit/borrow weight scale factors are computed in **f64** (``bank.rs``); exact here.
* the serum3 oracle conversion of reserved funds uses ``checked_div_f64_precision`` (an f64-precision
  division); exact here.
* ``leverage`` floors equity at ``I80F48::from_num(0.001)`` (a binary approximation); exactly 1/1000 here.
* ``assets_and_liabs`` looks the settle token's price up by *array position* (``token_infos[settle_token_index
  as usize]``); here it is looked up by token index (identical whenever token i sits at position i).

:func:`to_i80f48` quantises a value to the I80F48 grid (round to nearest, as ``from_num``/``from_str``) for a
caller who wants Mango's stored inputs exactly; :func:`i80f48_div` is I80F48's truncating division.

The solvers of ``client.rs`` run over the same cache (:meth:`HealthCache.max_swap_source_for_health_fn`,
:meth:`HealthCache.max_swap_source_for_health_ratio`, :meth:`HealthCache.max_perp_for_health_ratio`,
:meth:`HealthCache.max_borrow_for_health_fn`, :meth:`HealthCache.max_borrow_for_health_ratio`) with Mango's
searches (:func:`find_maximum`, :func:`scan_right_until_less_than`, :func:`binary_search`: same brackets,
steps, stopping rules and iteration caps), on exact amounts. A token change goes through the token's bank
(:class:`BankState`: the account's position in it, its totals, net borrow and deposit limits), as Mango's
``Bank::withdraw_with_fee`` / ``Bank::deposit`` followed by ``adjust_token_balance``. Differences:

* Mango's midpoints and health values carry I80F48 rounding; here they are exact, so a search can stop one
  step apart from Mango's when a value sits within rounding of a threshold.
* ``adjust_token_balance`` rescales the init *asset* weight at the Init asset price, ``new_health_cache`` at
  the Init liability price; ramparts uses the liability price in both (equal whenever oracle = stable).
* after a change the token takes the bank's unscaled init weights too (Mango keeps the cache's, which only
  Liquidation-End health reads); bank-side dusting and index rounding (``I80F48::DELTA``) are not modelled.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from decimal import Decimal
from fractions import Fraction

from ramparts.errors import InvalidInput, Rejected, UnknownEntity

__all__ = ["I64_MAX", "I80F48_MAX", "I80F48_MIN", "BankState", "HealthCache", "HealthType", "PerpInfo", "Prices", "Serum3Info",
           "TokenInfo", "binary_search", "find_maximum", "i80f48_div", "maint_weights", "perp_market_and_oracle_price",
           "scan_right_until_less_than",
           "spot_amount_given_for_health_zero", "spot_amount_taken_for_health_zero", "to_i80f48", "unsettled_funding"]

FRAC_BITS = 48
#: ``I80F48::MAX`` = (2¹²⁷ − 1) / 2⁴⁸.
I80F48_MAX = Fraction(2**127 - 1, 2**FRAC_BITS)
#: ``I80F48::MIN`` = −2¹²⁷ / 2⁴⁸.
I80F48_MIN = Fraction(-(2**127), 2**FRAC_BITS)
_ZERO = Fraction(0)


def _num(name: str, v) -> Fraction:
    """An exact rational from an int, Fraction, finite Decimal or decimal string (floats refused)."""
    if isinstance(v, bool) or isinstance(v, float):
        raise InvalidInput(name, f"must be exact (int, Fraction, Decimal or a decimal string), got {v!r}")
    if isinstance(v, (int, Fraction)):
        return Fraction(v)
    if isinstance(v, Decimal):
        if not v.is_finite():
            raise InvalidInput(name, f"must be finite, got {v!r}")
        return Fraction(v)
    if isinstance(v, str):
        try:
            d = Decimal(v)
        except Exception:  # decimal.InvalidOperation
            raise InvalidInput(name, f"is not a decimal number: {v!r}") from None
        if not d.is_finite():
            raise InvalidInput(name, f"must be finite, got {v!r}")
        return Fraction(d)
    raise InvalidInput(name, f"must be a number, got {v!r}")


def _int(name: str, v, *, nonneg: bool = False) -> int:
    if not isinstance(v, int) or isinstance(v, bool):
        raise InvalidInput(name, f"must be an int, got {v!r}")
    if nonneg and v < 0:
        raise InvalidInput(name, f"must be non-negative, got {v!r}")
    return v


def to_i80f48(value) -> Fraction:
    """``value`` rounded to the nearest multiple of 2⁻⁴⁸ (ties to even), as ``I80F48::from_str``/``from_num``."""
    x = _num("value", value) * 2**FRAC_BITS
    n, r = divmod(x.numerator, x.denominator)
    twice = 2 * r
    if twice > x.denominator or (twice == x.denominator and n % 2 == 1):
        n += 1
    return Fraction(n, 2**FRAC_BITS)


class HealthType(enum.Enum):
    """Init (opening positions needs ≥ 0), Maint (liquidation starts below 0), LiquidationEnd (it stops at ≥ 0)."""

    INIT = "init"
    MAINT = "maint"
    LIQUIDATION_END = "liquidation_end"


@dataclass(frozen=True)
class Prices:
    """An oracle price and the slow ``StablePriceModel`` price (native quote per native token)."""

    oracle: Fraction
    stable: Fraction

    @classmethod
    def of(cls, oracle, stable=None) -> Prices:
        o = _num("oracle_price", oracle)
        s = o if stable is None else _num("stable_price", stable)
        if o < 0 or s < 0:
            raise InvalidInput("price", "prices must be non-negative")
        return cls(o, s)

    def liab(self, health_type: HealthType) -> Fraction:
        """Init: ``max(oracle, stable)``; Maint and LiquidationEnd: the oracle."""
        return max(self.oracle, self.stable) if health_type is HealthType.INIT else self.oracle

    def asset(self, health_type: HealthType) -> Fraction:
        """Init: ``min(oracle, stable)``; Maint and LiquidationEnd: the oracle."""
        return min(self.oracle, self.stable) if health_type is HealthType.INIT else self.oracle


def maint_weights(now_ts: int, maint_asset_weight, maint_liab_weight, *, shift_start: int = 0, shift_end: int = 0,
                  asset_target=None, liab_target=None) -> tuple[Fraction, Fraction]:
    """``Bank::maint_weights``: the maintenance weights, linearly shifted towards the targets over
    ``[shift_start, shift_end]`` (no shift configured when ``shift_end <= shift_start``).

    Mango stores ``maint_weight_shift_duration_inv`` as an I80F48; the scale is exact here.
    """
    aw, lw = _num("maint_asset_weight", maint_asset_weight), _num("maint_liab_weight", maint_liab_weight)
    now, start, end = _int("now_ts", now_ts, nonneg=True), _int("shift_start", shift_start, nonneg=True), _int("shift_end", shift_end, nonneg=True)
    if end <= start or now <= start:
        return aw, lw
    at = aw if asset_target is None else _num("asset_target", asset_target)
    lt = lw if liab_target is None else _num("liab_target", liab_target)
    if now >= end:
        return at, lt
    scale = Fraction(now - start, end - start)
    return aw + scale * (at - aw), lw + scale * (lt - lw)


def unsettled_funding(base_position_lots: int, long_funding, short_funding, long_settled_funding=0, short_settled_funding=0) -> Fraction:
    """``PerpPosition::unsettled_funding`` (native quote the position still owes): the funding index
    change per base lot times the signed base position in lots."""
    lots = _int("base_position_lots", base_position_lots)
    if lots > 0:
        return (_num("long_funding", long_funding) - _num("long_settled_funding", long_settled_funding)) * lots
    if lots < 0:
        return (_num("short_funding", short_funding) - _num("short_settled_funding", short_settled_funding)) * lots
    return _ZERO


@dataclass(frozen=True)
class TokenInfo:
    """One token position with its bank's weights, prices and deposit/borrow totals.

    ``balance`` is the account's native token position (deposits > 0, borrows < 0), without the free
    funds of its spot open-orders accounts (those come with :class:`Serum3Info`). ``deposits`` and
    ``borrows`` are the *bank's* native totals; ``deposit_weight_scale_start_quote`` /
    ``borrow_weight_scale_start_quote`` of ``None`` mean no scaling (Mango's ``f64::MAX``).
    """

    token_index: int
    balance: Fraction
    prices: Prices
    init_asset_weight: Fraction
    init_liab_weight: Fraction
    maint_asset_weight: Fraction
    maint_liab_weight: Fraction
    deposits: Fraction = _ZERO
    borrows: Fraction = _ZERO
    potential_serum_tokens: int = 0
    deposit_weight_scale_start_quote: Fraction | None = None
    borrow_weight_scale_start_quote: Fraction | None = None
    allow_asset_liquidation: bool = True

    @classmethod
    def of(cls, token_index: int, balance, *, oracle_price, init_asset_weight, init_liab_weight, maint_asset_weight,
           maint_liab_weight, stable_price=None, deposits=0, borrows=0, potential_serum_tokens: int = 0,
           deposit_weight_scale_start_quote=None, borrow_weight_scale_start_quote=None,
           allow_asset_liquidation: bool = True) -> TokenInfo:
        """Validated constructor (exact inputs; weights and totals non-negative)."""
        ws = {n: _num(n, v) for n, v in (("init_asset_weight", init_asset_weight), ("init_liab_weight", init_liab_weight),
                                          ("maint_asset_weight", maint_asset_weight), ("maint_liab_weight", maint_liab_weight),
                                          ("deposits", deposits), ("borrows", borrows))}
        for n, v in ws.items():
            if v < 0:
                raise InvalidInput(n, "must be non-negative")
        starts = []
        for n, v in (("deposit_weight_scale_start_quote", deposit_weight_scale_start_quote),
                     ("borrow_weight_scale_start_quote", borrow_weight_scale_start_quote)):
            s = None if v is None else _num(n, v)
            if s is not None and s < 0:
                raise InvalidInput(n, "must be non-negative")
            starts.append(s)
        return cls(_int("token_index", token_index), _num("balance", balance), Prices.of(oracle_price, stable_price),
                   potential_serum_tokens=_int("potential_serum_tokens", potential_serum_tokens, nonneg=True),
                   deposit_weight_scale_start_quote=starts[0], borrow_weight_scale_start_quote=starts[1],
                   allow_asset_liquidation=bool(allow_asset_liquidation), **ws)

    # --- Bank::scaled_init_*_weight, with the price Mango passes: the Init liability price -------------------
    @property
    def init_scaled_asset_weight(self) -> Fraction:
        """``init_asset_weight`` scaled down by ``start / deposits_quote`` once deposits exceed ``start``."""
        start = self.deposit_weight_scale_start_quote
        if start is None:
            return self.init_asset_weight
        deposits_quote = (self.deposits + self.potential_serum_tokens) * self.prices.liab(HealthType.INIT)
        if deposits_quote <= start:
            return self.init_asset_weight
        return self.init_asset_weight * (start / deposits_quote)

    @property
    def init_scaled_liab_weight(self) -> Fraction:
        """``init_liab_weight`` scaled up by ``borrows_quote / start`` once borrows exceed ``start``."""
        start = self.borrow_weight_scale_start_quote
        if start is None:
            return self.init_liab_weight
        borrows_quote = self.borrows * self.prices.liab(HealthType.INIT)
        if borrows_quote <= start:
            return self.init_liab_weight
        if start == 0:
            return I80F48_MAX
        return self.init_liab_weight * (borrows_quote / start)

    def asset_weight(self, health_type: HealthType) -> Fraction:
        return {HealthType.INIT: self.init_scaled_asset_weight, HealthType.LIQUIDATION_END: self.init_asset_weight,
                HealthType.MAINT: self.maint_asset_weight}[health_type]

    def liab_weight(self, health_type: HealthType) -> Fraction:
        return {HealthType.INIT: self.init_scaled_liab_weight, HealthType.LIQUIDATION_END: self.init_liab_weight,
                HealthType.MAINT: self.maint_liab_weight}[health_type]

    def asset_weighted_price(self, health_type: HealthType) -> Fraction:
        return self.asset_weight(health_type) * self.prices.asset(health_type)

    def liab_weighted_price(self, health_type: HealthType) -> Fraction:
        return self.liab_weight(health_type) * self.prices.liab(health_type)

    def health_contribution(self, health_type: HealthType, balance: Fraction) -> Fraction:
        """``balance × weighted price`` (liability side when the balance is negative)."""
        wp = self.liab_weighted_price(health_type) if balance < 0 else self.asset_weighted_price(health_type)
        return balance * wp


@dataclass(frozen=True)
class Serum3Info:
    """A spot open-orders account: free funds (added to the token balances) and reserved funds.

    ``lowest_placed_ask`` (quote per base) and ``highest_placed_bid_inv`` (base per quote) are the
    extreme order prices Mango records; 0 means unknown (then the oracle conversion alone is used).
    """

    market_index: int
    base_token_index: int
    quote_token_index: int
    reserved_base: int = 0
    reserved_quote: int = 0
    free_base: int = 0
    free_quote: int = 0
    lowest_placed_ask: Fraction = _ZERO
    highest_placed_bid_inv: Fraction = _ZERO

    @classmethod
    def of(cls, market_index: int, base_token_index: int, quote_token_index: int, *, base_total: int = 0, quote_total: int = 0,
           base_free: int = 0, quote_free: int = 0, lowest_placed_ask=0, highest_placed_bid_inv=0) -> Serum3Info:
        """From the open-orders totals and free amounts (``native_coin_total``/``native_pc_total``,
        ``native_coin_free``/``native_pc_free``): reserved = total − free."""
        bt, qt = _int("base_total", base_total, nonneg=True), _int("quote_total", quote_total, nonneg=True)
        bf, qf = _int("base_free", base_free, nonneg=True), _int("quote_free", quote_free, nonneg=True)
        if bf > bt or qf > qt:
            raise InvalidInput("free", "free funds cannot exceed the totals")
        ask, bid_inv = _num("lowest_placed_ask", lowest_placed_ask), _num("highest_placed_bid_inv", highest_placed_bid_inv)
        if ask < 0 or bid_inv < 0:
            raise InvalidInput("order_price", "extreme order prices must be non-negative")
        return cls(_int("market_index", market_index), _int("base_token_index", base_token_index),
                   _int("quote_token_index", quote_token_index), bt - bf, qt - qf, bf, qf, ask, bid_inv)

    @property
    def reserved_base_as_quote_lowest_ask(self) -> Fraction:
        return self.reserved_base * self.lowest_placed_ask

    @property
    def reserved_quote_as_base_highest_bid(self) -> Fraction:
        return self.reserved_quote * self.highest_placed_bid_inv

    def all_reserved_as_base(self, health_type: HealthType, quote: TokenInfo, base: TokenInfo) -> Fraction:
        """Reserved base plus reserved quote converted to base (at asset/liab prices, capped by the highest bid)."""
        oracle_conv = self.reserved_quote * quote.prices.asset(health_type) / base.prices.liab(health_type)
        if self.reserved_quote_as_base_highest_bid != 0:
            return self.reserved_base + min(oracle_conv, self.reserved_quote_as_base_highest_bid)
        return self.reserved_base + oracle_conv

    def all_reserved_as_quote(self, health_type: HealthType, quote: TokenInfo, base: TokenInfo) -> Fraction:
        """Reserved quote plus reserved base converted to quote (capped by the lowest ask)."""
        oracle_conv = self.reserved_base * base.prices.asset(health_type) / quote.prices.liab(health_type)
        if self.reserved_base_as_quote_lowest_ask != 0:
            return self.reserved_quote + min(oracle_conv, self.reserved_base_as_quote_lowest_ask)
        return self.reserved_quote + oracle_conv


@dataclass(frozen=True)
class PerpInfo:
    """A perp position in lots with its market's weights (``PerpInfo`` in ``cache.rs``).

    ``base_lots`` includes unprocessed taker lots; ``quote`` is native settle-token quote with
    unsettled funding already taken off and taker quote added (see :meth:`from_position`).
    """

    perp_market_index: int
    settle_token_index: int
    base_lot_size: int
    base_lots: int
    quote: Fraction
    prices: Prices
    init_base_asset_weight: Fraction
    init_base_liab_weight: Fraction
    maint_base_asset_weight: Fraction
    maint_base_liab_weight: Fraction
    init_overall_asset_weight: Fraction
    maint_overall_asset_weight: Fraction
    bids_base_lots: int = 0
    asks_base_lots: int = 0

    @classmethod
    def from_position(cls, perp_market_index: int, settle_token_index: int, *, base_lot_size: int, quote_lot_size: int,
                      base_position_lots: int, quote_position_native, oracle_price, init_base_asset_weight,
                      init_base_liab_weight, maint_base_asset_weight, maint_base_liab_weight, init_overall_asset_weight,
                      maint_overall_asset_weight, stable_price=None, bids_base_lots: int = 0, asks_base_lots: int = 0,
                      taker_base_lots: int = 0, taker_quote_lots: int = 0, long_funding=0, short_funding=0,
                      long_settled_funding=0, short_settled_funding=0) -> PerpInfo:
        """``PerpInfo::new``: ``base_lots = position + taker lots``,
        ``quote = quote_position_native − unsettled_funding + taker_quote_lots × quote_lot_size``."""
        bls, qls = _int("base_lot_size", base_lot_size), _int("quote_lot_size", quote_lot_size)
        if bls <= 0 or qls <= 0:
            raise InvalidInput("lot_size", "lot sizes must be positive")
        pos = _int("base_position_lots", base_position_lots)
        funding = unsettled_funding(pos, long_funding, short_funding, long_settled_funding, short_settled_funding)
        quote = _num("quote_position_native", quote_position_native) - funding + _int("taker_quote_lots", taker_quote_lots) * qls
        weights = {n: _num(n, v) for n, v in (
            ("init_base_asset_weight", init_base_asset_weight), ("init_base_liab_weight", init_base_liab_weight),
            ("maint_base_asset_weight", maint_base_asset_weight), ("maint_base_liab_weight", maint_base_liab_weight),
            ("init_overall_asset_weight", init_overall_asset_weight), ("maint_overall_asset_weight", maint_overall_asset_weight))}
        for n, v in weights.items():
            if v < 0:
                raise InvalidInput(n, "must be non-negative")
        return cls(_int("perp_market_index", perp_market_index), _int("settle_token_index", settle_token_index), bls,
                   pos + _int("taker_base_lots", taker_base_lots), quote, Prices.of(oracle_price, stable_price),
                   bids_base_lots=_int("bids_base_lots", bids_base_lots, nonneg=True),
                   asks_base_lots=_int("asks_base_lots", asks_base_lots, nonneg=True), **weights)

    def _base_weight(self, health_type: HealthType, negative: bool) -> Fraction:
        if health_type is HealthType.MAINT:
            return self.maint_base_liab_weight if negative else self.maint_base_asset_weight
        return self.init_base_liab_weight if negative else self.init_base_asset_weight

    def unweighted_health_unsettled_pnl(self, health_type: HealthType) -> Fraction:
        """"uhupnl": quote plus the worse of all bids executing (at the liab price) or all asks (at the asset price)."""

        def case(orders_base_lots: int, order_price: Fraction) -> Fraction:
            net_base = (self.base_lots + orders_base_lots) * self.base_lot_size
            negative = net_base < 0
            price = self.prices.liab(health_type) if negative else self.prices.asset(health_type)
            base_health = net_base * self._base_weight(health_type, negative) * price
            return base_health - orders_base_lots * self.base_lot_size * order_price

        bids = case(self.bids_base_lots, self.prices.liab(health_type))
        asks = case(-self.asks_base_lots, self.prices.asset(health_type))
        return self.quote + min(bids, asks)

    def health_unsettled_pnl(self, health_type: HealthType) -> Fraction:
        """"hupnl": positive uhupnl times the overall asset weight (Init and LiquidationEnd: init; Maint: maint)."""
        u = self.unweighted_health_unsettled_pnl(health_type)
        if u > 0:
            w = self.maint_overall_asset_weight if health_type is HealthType.MAINT else self.init_overall_asset_weight
            return w * u
        return u


def perp_market_and_oracle_price(perp_market_index: int, perp_markets, perp_oracles):
    """``ScanningAccountRetriever::perp_market_and_oracle_price`` (``scanned_perp_market_and_oracle`` with
    ``PerpMarket::oracle_state``'s key check; ``programs/mango-v4/src/health/account_retriever.rs`` and
    ``programs/mango-v4/src/state/perp_market.rs`` @1303a4a): the oracle price of a perp market from the
    accounts handed to the health check.

    ``perp_markets`` are the perp-market accounts in the order passed, each ``(perp_market_index, oracle key)``
    (the oracle the market names); ``perp_oracles`` the oracle accounts that follow them, each
    ``(key, price)``, the i-th one read for the i-th market. The market's position ``i`` is found by its index
    (none: :class:`UnknownEntity`; two with one index: :class:`InvalidInput`, as the scan refuses duplicates);
    if ``perp_oracles[i]``'s key is not the market's oracle key, :class:`InvalidInput` (``require_keys_eq!``).
    The price is returned as handed in (the oracle decoding and staleness checks are not modelled).
    """
    markets = list(perp_markets)
    oracles = list(perp_oracles)
    positions = [i for i, (index, _oracle) in enumerate(markets) if index == perp_market_index]
    if not positions:
        raise UnknownEntity("perp_market_index", f"perp market index {perp_market_index} not found")
    if len({index for index, _oracle in markets}) != len(markets):
        raise InvalidInput("perp_markets", "duplicate perp market for one perp market index")
    if len(oracles) < len(markets):
        raise InvalidInput("perp_oracles", f"{len(markets)} perp markets need as many oracle accounts, got {len(oracles)}")
    i = positions[0]
    expected_key, (key, price) = markets[i][1], oracles[i]
    if key != expected_key:
        raise InvalidInput("perp_oracles", f"perp market {perp_market_index} names oracle {expected_key!r}, got account {key!r}")
    return _num("price", price)


def spot_amount_taken_for_health_zero(health, starting_spot, asset_weighted_price, liab_weighted_price) -> Fraction:
    """How much of a token can be taken away before health reaches zero (0 when health ≤ 0)."""
    h, spot = _num("health", health), _num("starting_spot", starting_spot)
    awp, lwp = _num("asset_weighted_price", asset_weighted_price), _num("liab_weighted_price", liab_weighted_price)
    if h <= 0:
        return _ZERO
    taken = _ZERO
    if spot > 0:
        if awp > 0:
            asset_max = h / awp
            if asset_max <= spot:
                return asset_max
        taken = spot
        h -= spot * awp
    if h > 0:
        if lwp <= 0:
            raise InvalidInput("liab_weighted_price", "must be positive")
        taken += h / lwp
    return taken


def spot_amount_given_for_health_zero(health, starting_spot, asset_weighted_price, liab_weighted_price) -> Fraction:
    """How much of a token must be added before health reaches zero (0 when health ≥ 0)."""
    return spot_amount_taken_for_health_zero(-_num("health", health), -_num("starting_spot", starting_spot),
                                             liab_weighted_price, asset_weighted_price)


@dataclass(frozen=True)
class HealthCache:
    """An account's token positions, spot open orders and perp positions (``HealthCache``)."""

    tokens: tuple[TokenInfo, ...]
    serum3: tuple[Serum3Info, ...] = field(default_factory=tuple)
    perps: tuple[PerpInfo, ...] = field(default_factory=tuple)
    being_liquidated: bool = False

    def __post_init__(self):
        object.__setattr__(self, "tokens", tuple(self.tokens))
        object.__setattr__(self, "serum3", tuple(self.serum3))
        object.__setattr__(self, "perps", tuple(self.perps))
        seen = set()
        for t in self.tokens:
            if not isinstance(t, TokenInfo):
                raise InvalidInput("tokens", f"expected TokenInfo, got {t!r}")
            if t.token_index in seen:
                raise InvalidInput("tokens", f"token index {t.token_index} appears twice")
            seen.add(t.token_index)
        for s in self.serum3:
            if s.base_token_index not in seen or s.quote_token_index not in seen:
                raise InvalidInput("serum3", f"market {s.market_index} needs token positions for {s.base_token_index} and {s.quote_token_index}")
        for p in self.perps:
            if p.settle_token_index not in seen:
                raise InvalidInput("perps", f"perp market {p.perp_market_index} settles in token {p.settle_token_index}, which has no position")

    @classmethod
    def build(cls, tokens: Iterable[TokenInfo], serum3: Iterable[Serum3Info] = (), perps: Iterable[PerpInfo] = (), *,
              being_liquidated: bool = False, available_banks: Iterable[int] | None = None) -> HealthCache:
        """Like ``new_health_cache``: the free funds of each open-orders account are added to its tokens' balances.

        With ``available_banks`` (token indexes whose bank and oracle are usable) this is
        ``new_health_cache_skipping_missing_banks_and_bad_oracles``: a token position whose bank is missing
        is dropped if its balance is ≥ 0 (refused otherwise), and a spot market missing either token is
        dropped with its free funds; a perp market's settle token must be present.
        """
        tokens, serum3, perps = list(tokens), list(serum3), list(perps)
        if available_banks is not None:
            avail = set(available_banks)
            kept = []
            for t in tokens:
                if t.token_index in avail:
                    kept.append(t)
                elif t.balance < 0:
                    raise InvalidInput("available_banks", f"the bank for token index {t.token_index} is required: the balance is negative")
            tokens = kept
            have = {t.token_index for t in tokens}
            serum3 = [s for s in serum3 if s.base_token_index in have and s.quote_token_index in have]
        by_index = {t.token_index: i for i, t in enumerate(tokens)}
        for s in serum3:
            for idx, free in ((s.base_token_index, s.free_base), (s.quote_token_index, s.free_quote)):
                if idx not in by_index:
                    raise InvalidInput("serum3", f"market {s.market_index} misses the token position {idx}")
                i = by_index[idx]
                tokens[i] = replace(tokens[i], balance=tokens[i].balance + free)
        return cls(tuple(tokens), tuple(serum3), tuple(perps), bool(being_liquidated))

    def _token_pos(self, token_index: int) -> int:
        for i, t in enumerate(self.tokens):
            if t.token_index == token_index:
                return i
        raise InvalidInput("token_index", f"token index {token_index} not found")

    def effective_token_balances(self, health_type: HealthType, ignore_negative_perp: bool = False) -> list[Fraction]:
        """Token balances plus the hupnl of the perp markets settling in them."""
        balances = [t.balance for t in self.tokens]
        for p in self.perps:
            h = p.health_unsettled_pnl(health_type)
            if not ignore_negative_perp or h > 0:
                balances[self._token_pos(p.settle_token_index)] += h
        return balances

    def _serum3_reservations(self, health_type: HealthType) -> tuple[list[Fraction], list[tuple[Fraction, Fraction]]]:
        max_reserved = [_ZERO] * len(self.tokens)
        reserved = []
        for s in self.serum3:
            bi, qi = self._token_pos(s.base_token_index), self._token_pos(s.quote_token_index)
            as_base = s.all_reserved_as_base(health_type, self.tokens[qi], self.tokens[bi])
            as_quote = s.all_reserved_as_quote(health_type, self.tokens[qi], self.tokens[bi])
            max_reserved[bi] += as_base
            max_reserved[qi] += as_quote
            reserved.append((as_base, as_quote))
        return max_reserved, reserved

    def _serum3_contribution(self, health_type: HealthType, s: Serum3Info, balances: list[Fraction],
                             max_reserved: list[Fraction], as_base: Fraction, as_quote: Fraction) -> Fraction:
        if as_base == 0 or as_quote == 0:
            return _ZERO

        def effect(pos: int, market_reserved: Fraction) -> Fraction:
            t = self.tokens[pos]
            max_balance = balances[pos] + max_reserved[pos]
            if max_balance >= market_reserved:
                asset_part, liab_part = market_reserved, _ZERO
            elif max_balance < 0:
                asset_part, liab_part = _ZERO, market_reserved
            else:
                asset_part, liab_part = max_balance, market_reserved - max_balance
            return (asset_part * t.asset_weight(health_type) * t.prices.asset(health_type)
                    + liab_part * t.liab_weight(health_type) * t.prices.liab(health_type))

        return min(effect(self._token_pos(s.base_token_index), as_base), effect(self._token_pos(s.quote_token_index), as_quote))

    def _health_sum(self, health_type: HealthType, balances: list[Fraction]) -> list[Fraction]:
        contribs = [t.health_contribution(health_type, b) for t, b in zip(self.tokens, balances, strict=True)]
        max_reserved, reserved = self._serum3_reservations(health_type)
        for s, (ab, aq) in zip(self.serum3, reserved, strict=True):
            contribs.append(self._serum3_contribution(health_type, s, balances, max_reserved, ab, aq))
        return contribs

    def health(self, health_type: HealthType) -> Fraction:
        """The account's health of the given type (settle-token native units, usually USDC native)."""
        return sum(self._health_sum(health_type, self.effective_token_balances(health_type)), _ZERO)

    def is_liquidatable(self) -> bool:
        """``LiquidationEnd`` health < 0 while being liquidated, else ``Maint`` health < 0 (``client.rs``)."""
        return self.health(HealthType.LIQUIDATION_END if self.being_liquidated else HealthType.MAINT) < 0

    def health_assets_and_liabs(self, health_type: HealthType, stable_assets: bool) -> tuple[Fraction, Fraction]:
        """Health split into (assets, liabs); ``stable_assets`` picks which side stays fixed when perp
        hupnl and token balances offset each other (their difference is the health either way)."""
        total_assets, total_liabs = _ZERO, _ZERO
        for t in self.tokens:
            asset_balance, liab_balance = _ZERO, _ZERO
            parts = [t.balance] + [p.health_unsettled_pnl(health_type) for p in self.perps if p.settle_token_index == t.token_index]
            for v in parts:
                if v > 0:
                    asset_balance += v
                else:
                    liab_balance += -v
            if stable_assets:
                awp = t.asset_weighted_price(health_type)
                assets = asset_balance * awp
                total_assets += assets
                if asset_balance >= liab_balance:
                    total_liabs += liab_balance * awp
                else:
                    total_liabs += assets + (liab_balance - asset_balance) * t.liab_weighted_price(health_type)
            else:
                lwp = t.liab_weighted_price(health_type)
                liabs = liab_balance * lwp
                total_liabs += liabs
                if asset_balance >= liab_balance:
                    total_assets += liabs + (asset_balance - liab_balance) * t.asset_weighted_price(health_type)
                else:
                    total_assets += asset_balance * lwp
        balances = self.effective_token_balances(health_type)
        max_reserved, reserved = self._serum3_reservations(health_type)
        for s, (ab, aq) in zip(self.serum3, reserved, strict=True):
            c = self._serum3_contribution(health_type, s, balances, max_reserved, ab, aq)
            if c > 0:
                total_assets += c
            else:
                total_liabs += -c
        return total_assets, total_liabs

    def health_ratio(self, health_type: HealthType) -> Fraction:
        """``100 × (assets − liabs) / liabs`` with liabilities held stable; ``I80F48_MAX`` without liabilities
        (Mango's division saturates at ``I80F48::MIN``/``MAX`` too)."""
        assets, liabs = self.health_assets_and_liabs(health_type, stable_assets=False)
        if liabs > 0:
            return min(max(100 * (assets - liabs) / liabs, I80F48_MIN), I80F48_MAX)
        return I80F48_MAX

    def assets_and_liabs(self) -> tuple[Fraction, Fraction]:
        """Unweighted (assets, liabilities) at oracle prices, reserved spot funds counted as assets."""
        assets, liabs = _ZERO, _ZERO
        for t in self.tokens:
            v = t.balance * t.prices.oracle
            if t.balance < 0:
                liabs -= v
            else:
                assets += v
        for s in self.serum3:
            assets += s.reserved_base * self.tokens[self._token_pos(s.base_token_index)].prices.oracle
            assets += s.reserved_quote * self.tokens[self._token_pos(s.quote_token_index)].prices.oracle
        for p in self.perps:
            quote_price = self.tokens[self._token_pos(p.settle_token_index)].prices.oracle
            qv = p.quote * quote_price
            if p.quote < 0:
                liabs -= qv
            else:
                assets += qv
            bv = p.base_lots * p.base_lot_size * p.prices.oracle * quote_price
            if bv < 0:
                liabs -= bv
            else:
                assets += bv
        return assets, liabs

    def leverage(self) -> Fraction:
        """``liabs / max(assets − liabs, 0.001)`` (an overview only; Mango's risk decisions use health)."""
        assets, liabs = self.assets_and_liabs()
        return liabs / max(assets - liabs, Fraction(1, 1000))

    def perp_max_settle(self, settle_token_index: int) -> Fraction:
        """How much negative perp pnl may be settled into ``settle_token_index`` (Maint health ignoring
        negative perp contributions, converted with :func:`spot_amount_taken_for_health_zero`)."""
        mt = HealthType.MAINT
        balances = self.effective_token_balances(mt, ignore_negative_perp=True)
        h = sum(self._health_sum(mt, balances), _ZERO)
        i = self._token_pos(settle_token_index)
        t = self.tokens[i]
        return spot_amount_taken_for_health_zero(h, balances[i], t.asset_weighted_price(mt), t.liab_weighted_price(mt))

    # --- the solvers of client.rs: how far a swap, a perp trade or a borrow can go -------------------------------
    # Mango runs these searches in I80F48; here every amount and every health value is exact, while the
    # search itself (brackets, step sizes, stopping rules, iteration caps) is Mango's.

    def _bank_view(self, token_index: int, bank: BankState | None) -> tuple[int, TokenInfo, BankState, Fraction]:
        """(position in ``tokens``, the bank's token info, the bank state, the account's native position)."""
        i = self._token_pos(token_index)
        b = BankState() if bank is None else bank
        info = self.tokens[i] if b.info is None else b.info
        if info.token_index != token_index:
            raise InvalidInput("bank", f"bank of token index {info.token_index} given for token index {token_index}")
        position = self.tokens[i].balance if b.position is None else b.position
        return i, info, b, position

    def _after_bank_change(self, token_index: int, change: Fraction, bank: BankState | None) -> tuple[HealthCache, int]:
        """The cache after ``change`` native tokens went into (> 0) or out of (< 0) the account's position,
        and the bank's net borrows in the window afterwards.

        ``Bank::withdraw_with_fee`` / ``Bank::deposit`` move the *bank's* totals according to the account's
        position in it (deposits are used up before borrowing starts; a borrow pays the loan origination
        fee into borrows; a deposit repays borrows first), then ``HealthCache::adjust_token_balance``
        (cache.rs @1303a4a) adds ``change`` to the cached balance and takes the bank's init weights and
        scaling for the token. Net borrows grow by ``ceil(borrowed)`` and shrink by ``ceil(−repaid)``
        (``Bank::update_net_borrows``, bank.rs @1303a4a, assuming the change falls in the current window).
        Not modelled: dusting of a position left with less than one native token, and the extra
        ``I80F48::DELTA`` the bank's index rounding can add.
        """
        i, info, b, p = self._bank_view(token_index, bank)
        deposits, borrows, net = info.deposits, info.borrows, 0
        if change < 0:
            amount = -change
            if p >= 0 and p - amount >= 0:
                deposits -= amount
            else:
                borrowed = amount - p if p >= 0 else amount
                if p >= 0:
                    deposits -= p
                borrowed += b.loan_origination_fee_rate * borrowed
                borrows += borrowed
                net = _ceil(borrowed)
        elif change > 0:
            if p < 0:
                net = _ceil(max(p, -change))
                if p + change < 0:
                    borrows -= change
                else:
                    borrows += p
                    deposits += p + change
            else:
                deposits += change
        t = self.tokens[i]
        new = replace(t, balance=t.balance + change, deposits=deposits, borrows=borrows,
                      init_asset_weight=info.init_asset_weight, init_liab_weight=info.init_liab_weight,
                      potential_serum_tokens=info.potential_serum_tokens,
                      deposit_weight_scale_start_quote=info.deposit_weight_scale_start_quote,
                      borrow_weight_scale_start_quote=info.borrow_weight_scale_start_quote)
        tokens = list(self.tokens)
        tokens[i] = new
        return replace(self, tokens=tuple(tokens)), b.net_borrows_in_window + net

    def cache_after_swap(self, source_token_index: int, target_token_index: int, amount, price, *,
                         source_bank: BankState | None = None, target_bank: BankState | None = None) -> HealthCache:
        """``HealthCache::cache_after_swap`` (client.rs @1303a4a): ``amount`` source native withdrawn and
        ``amount × price`` target native deposited (``price``: target native per source native)."""
        a, px = _num("amount", amount), _num("price", price)
        if a < 0 or px < 0:
            raise InvalidInput("amount", "a swap moves a non-negative amount at a non-negative price")
        if source_token_index == target_token_index:
            raise InvalidInput("target_token_index", "a swap needs two different tokens")
        c, _ = self._after_bank_change(source_token_index, -a, source_bank)
        c, _ = c._after_bank_change(target_token_index, a * px, target_bank)
        return c

    def cache_after_borrow(self, token_index: int, amount, *, bank: BankState | None = None) -> HealthCache | None:
        """The cache after withdrawing ``amount`` native tokens (``cache_after_borrow`` inside
        ``max_borrow_for_health_fn``, client.rs @1303a4a); ``None`` when the bank's net borrow limit
        refuses it (``Bank::check_net_borrows``)."""
        a = _num("amount", amount)
        if a < 0:
            raise InvalidInput("amount", "must be non-negative")
        c, net = self._after_bank_change(token_index, -a, bank)
        _, info, b, _ = self._bank_view(token_index, bank)
        if b.remaining_net_borrows_quote(self.tokens[self._token_pos(token_index)].prices.oracle, info.prices.stable, net) < 0:
            return None
        return c

    @staticmethod
    def _apply_limits_to_swap(oracle: Fraction, source_info: TokenInfo, sb: BankState, source_position: Fraction,
                              target_info: TokenInfo, tb: BankState, target_position: Fraction, price: Fraction,
                              source_unlimited: Fraction) -> Fraction:
        """``HealthCache::apply_limits_to_swap`` (client.rs @1303a4a), with I80F48's saturating arithmetic:
        ``potential_source = min(unlimited, remaining_net_borrows / oracle + max(position, 0))``,
        ``potential_target = min(potential_source × price, remaining_deposits − min(target_position, 0))``,
        result ``min(potential_source, potential_target / price)``."""
        available_net_borrows = _sat_div(sb.remaining_net_borrows_quote(oracle, source_info.prices.stable, sb.net_borrows_in_window), oracle)
        potential_source = min(source_unlimited, _sat(available_net_borrows + max(source_position, _ZERO)))
        available_deposits = tb.remaining_deposits_until_limit(target_info)
        potential_target = min(_sat(potential_source * price), _sat(available_deposits - min(target_position, _ZERO)))
        return min(potential_source, _sat_div(potential_target, price))

    def max_swap_source_for_health_fn(self, source_token_index: int, target_token_index: int, price, min_fn_value,
                                      target_fn, *, source_bank: BankState | None = None,
                                      target_bank: BankState | None = None) -> Fraction:
        """``HealthCache::max_swap_source_for_health_fn`` (client.rs @1303a4a): the most source native that
        can be swapped into the target at ``price`` (target native per source native) while
        ``target_fn(cache after the swap)`` stays ≥ ``min_fn_value``; no bank limits applied.

        Init health only. ``I80F48_MAX`` when the final slope
        ``−source.init_scaled_liab_weight × liab_price + target.init_asset_weight × asset_price × price`` is ≥ 0.
        Otherwise :func:`find_maximum` over ``[0, max((|source| + reserved) , (|target| + reserved) / price)]``
        (effective balances, serum reservations) with step 0.1; if that maximum is ≤ ``min_fn_value`` its
        amount is the answer; else, from the zero-health estimate ``a_max − health(a_max) / slope``,
        :func:`scan_right_until_less_than` and :func:`binary_search` (step 0.1) find the crossing.
        """
        ht = HealthType.INIT
        px, min_v = _num("price", price), _num("min_fn_value", min_fn_value)
        si, ti = self._token_pos(source_token_index), self._token_pos(target_token_index)
        source, target = self.tokens[si], self.tokens[ti]
        max_reserved, _ = self._serum3_reservations(ht)
        balances = self.effective_token_balances(ht)
        final_health_slope = (-source.init_scaled_liab_weight * source.prices.liab(ht)
                              + target.init_asset_weight * target.prices.asset(ht) * px)
        if final_health_slope >= 0:
            return I80F48_MAX

        def after(amount: Fraction) -> HealthCache:
            return self.cache_after_swap(source_token_index, target_token_index, amount, px,
                                         source_bank=source_bank, target_bank=target_bank)

        def fn_value(amount: Fraction) -> Fraction:
            return target_fn(after(amount))

        rightmost = max(abs(balances[si]) + max_reserved[si], (abs(balances[ti]) + max_reserved[ti]) / px)
        amount_for_max_value, max_value = find_maximum(_ZERO, rightmost, _TENTH, fn_value)
        if max_value <= min_v:
            return amount_for_max_value
        health_at_max_value = after(amount_for_max_value).health(ht)
        if health_at_max_value == 0:
            return amount_for_max_value
        if health_at_max_value < 0:
            return _ZERO
        zero_health_estimate = amount_for_max_value - health_at_max_value / final_health_slope
        right_bound = scan_right_until_less_than(zero_health_estimate, min_v, fn_value)
        if right_bound == zero_health_estimate:
            return binary_search(amount_for_max_value, max_value, right_bound, min_v, _TENTH, fn_value)
        return binary_search(zero_health_estimate, fn_value(zero_health_estimate), right_bound, min_v, _TENTH, fn_value)

    def apply_limits_to_swap(self, source_token_index: int, target_token_index: int, price, source_unlimited, *,
                             source_bank: BankState | None = None, target_bank: BankState | None = None,
                             source_oracle_price=None) -> Fraction:
        """The source amount after the source bank's net borrow limit and the target bank's deposit limit
        (see :meth:`_apply_limits_to_swap`); positions and limits come from the :class:`BankState` arguments,
        ``source_oracle_price`` defaults to the cache's oracle price of the source token."""
        si, source_info, sb, sp = self._bank_view(source_token_index, source_bank)
        _, target_info, tb, tp = self._bank_view(target_token_index, target_bank)
        oracle = self.tokens[si].prices.oracle if source_oracle_price is None else _num("source_oracle_price", source_oracle_price)
        if oracle <= 0:
            raise InvalidInput("source_oracle_price", "must be positive")
        return self._apply_limits_to_swap(oracle, source_info, sb, sp, target_info, tb, tp,
                                          _num("price", price), _num("source_unlimited", source_unlimited))

    def max_swap_source_for_health_ratio(self, source_token_index: int, target_token_index: int, price, min_ratio, *,
                                         source_bank: BankState | None = None, target_bank: BankState | None = None,
                                         source_oracle_price=None, with_limits: bool = True) -> Fraction:
        """``max_swap_source_for_health_ratio_with_limits`` (``with_limits=False``: ``…_ignoring_limits``),
        client.rs @1303a4a: :meth:`max_swap_source_for_health_fn` on the Init health ratio, then
        :meth:`apply_limits_to_swap`."""
        unlimited = self.max_swap_source_for_health_fn(source_token_index, target_token_index, price, min_ratio,
                                                       lambda c: c.health_ratio(HealthType.INIT),
                                                       source_bank=source_bank, target_bank=target_bank)
        if not with_limits:
            return unlimited
        return self.apply_limits_to_swap(source_token_index, target_token_index, price, unlimited,
                                         source_bank=source_bank, target_bank=target_bank,
                                         source_oracle_price=source_oracle_price)

    def _perp_pos(self, perp_market_index: int) -> int:
        for i, p in enumerate(self.perps):
            if p.perp_market_index == perp_market_index:
                return i
        raise InvalidInput("perp_market_index", f"perp market {perp_market_index} not found")

    def cache_after_perp_trade(self, perp_market_index: int, base_lots: int, price) -> HealthCache:
        """The cache after ``base_lots`` (signed: > 0 buys) traded at ``price`` (native quote per native base):
        ``base_lots += lots``, ``quote −= lots × base_lot_size × price`` (``cache_after_trade`` in
        ``max_perp_for_health_ratio``, client.rs @1303a4a)."""
        lots, px = _int("base_lots", base_lots), _num("price", price)
        i = self._perp_pos(perp_market_index)
        p = self.perps[i]
        perps = list(self.perps)
        perps[i] = replace(p, base_lots=p.base_lots + lots, quote=p.quote - lots * p.base_lot_size * px)
        return replace(self, perps=tuple(perps))

    def max_perp_for_health_ratio(self, perp_market_index: int, price, side: str, min_ratio) -> int:
        """``HealthCache::max_perp_for_health_ratio`` (client.rs @1303a4a): the most base lots a ``"bid"`` or
        ``"ask"`` at ``price`` may trade while the Init health ratio stays ≥ ``min_ratio``.

        0 when the ratio is already negative; ``I64_MAX`` when the final slope (bid:
        ``init_base_asset_weight × asset_price − price``, ask: ``price − init_base_liab_weight × liab_price``)
        is ≥ 0. A position being reduced first closes (``case1_start = |base_lots|``). Past that, the search
        runs up to ``case1_start − health / (slope × settle_liab_weighted_price × base_lot_size × 0.99) + 1``,
        where the health is taken with overall asset weight 1 and the settle token's asset weight set to
        its liability weight; :func:`binary_search` (step 1 lot) on the ratio of the truncated lot count.
        """
        ht = HealthType.INIT
        px, min_r = _num("price", price), _num("min_ratio", min_ratio)
        if side not in ("bid", "ask"):
            raise InvalidInput("side", f"must be 'bid' or 'ask', got {side!r}")
        initial_ratio = self.health_ratio(ht)
        if initial_ratio < 0:
            return 0
        direction = 1 if side == "bid" else -1
        pi = self._perp_pos(perp_market_index)
        perp = self.perps[pi]
        prices, base_lot_size = perp.prices, perp.base_lot_size
        settle_pos = self._token_pos(perp.settle_token_index)
        settle = self.tokens[settle_pos]
        if direction == 1:
            final_health_slope = perp.init_base_asset_weight * prices.asset(ht) - px
        else:
            final_health_slope = -perp.init_base_liab_weight * prices.liab(ht) + px
        if final_health_slope >= 0:
            return I64_MAX
        final_health_slope *= settle.liab_weighted_price(ht)

        def after(lots: int) -> HealthCache:
            return self.cache_after_perp_trade(perp_market_index, direction * lots, px)

        def ratio_trunc(lots: Fraction) -> Fraction:
            return after(_trunc(lots)).health_ratio(ht)

        initial_base_lots = perp.base_lots
        has_case2 = (initial_base_lots > 0 and direction == -1) or (initial_base_lots < 0 and direction == 1)
        if has_case2:
            case1_start = abs(initial_base_lots)
            case1_start_ratio = after(case1_start).health_ratio(ht)
        else:
            case1_start, case1_start_ratio = 0, initial_ratio
        if initial_ratio <= min_r and case1_start_ratio < min_r:
            base_lots = Fraction(case1_start) if case1_start_ratio >= initial_ratio else _ZERO
        elif case1_start_ratio >= min_r:
            start = after(case1_start)
            perps, tokens = list(start.perps), list(start.tokens)
            perps[pi] = replace(perps[pi], init_overall_asset_weight=Fraction(1))
            s = tokens[settle_pos]
            tokens[settle_pos] = replace(s, init_asset_weight=s.init_scaled_liab_weight, deposit_weight_scale_start_quote=None)
            start_health = replace(start, tokens=tuple(tokens), perps=tuple(perps)).health(ht)
            if start_health <= 0:
                return 0
            zero_health_amount = case1_start - start_health / (final_health_slope * base_lot_size * _NINETY_NINE_HUNDREDTHS) + 1
            if ratio_trunc(zero_health_amount) > 0:
                raise Rejected("solver", "max_perp_for_health_ratio: the zero-health estimate still has a positive ratio")
            base_lots = binary_search(Fraction(case1_start), case1_start_ratio, zero_health_amount, min_r, Fraction(1), ratio_trunc)
        else:
            base_lots = binary_search(_ZERO, initial_ratio, Fraction(case1_start), min_r, Fraction(1), ratio_trunc)
        return _trunc(base_lots)

    def max_borrow_for_health_fn(self, token_index: int, min_fn_value, target_fn, *, bank: BankState | None = None) -> Fraction:
        """``HealthCache::max_borrow_for_health_fn`` (client.rs @1303a4a): the most native tokens that can be
        withdrawn while ``target_fn`` stays ≥ ``min_fn_value``.

        0 when ``target_fn(self) ≤ min_fn_value`` or when ``limit = max(balance, 0) + max(init health, 0) /
        init_scaled_liab_weight`` is ≤ 0; otherwise :func:`binary_search` on ``[0, limit]`` with step 1,
        a withdrawal refused by the net borrow limit counting as ``I80F48_MIN``.
        """
        min_v = _num("min_fn_value", min_fn_value)
        initial = target_fn(self)
        if initial <= min_v:
            return _ZERO
        ht = HealthType.INIT
        i = self._token_pos(token_index)
        token = self.tokens[i]
        token_balance = self.effective_token_balances(ht)[i]

        def fn_value(amount: Fraction) -> Fraction:
            c = self.cache_after_borrow(token_index, amount, bank=bank)
            return I80F48_MIN if c is None else target_fn(c)

        limit = max(token_balance, _ZERO) + max(self.health(ht), _ZERO) / token.init_scaled_liab_weight
        if limit <= 0:
            return _ZERO
        return binary_search(_ZERO, initial, limit, min_v, Fraction(1), fn_value)

    def max_borrow_for_health_ratio(self, token_index: int, min_ratio, *, bank: BankState | None = None) -> Fraction:
        """``HealthCache::max_borrow_for_health_ratio`` (client.rs @1303a4a): :meth:`max_borrow_for_health_fn`
        on the Init health ratio."""
        return self.max_borrow_for_health_fn(token_index, min_ratio, lambda c: c.health_ratio(HealthType.INIT), bank=bank)


#: ``i64::MAX``, the "unbounded" answer of :meth:`HealthCache.max_perp_for_health_ratio`.
I64_MAX = 2**63 - 1
#: ``I80F48::from_num(0.1)`` and ``I80F48::from_num(0.99)``: the solvers' constants as Mango stores them.
_TENTH = to_i80f48("0.1")
_NINETY_NINE_HUNDREDTHS = to_i80f48("0.99")


def _sat(x: Fraction) -> Fraction:
    """I80F48 saturation: clamp to ``[I80F48_MIN, I80F48_MAX]``."""
    return min(max(x, I80F48_MIN), I80F48_MAX)


def _sat_div(a: Fraction, b: Fraction) -> Fraction:
    """``saturating_div`` (exact quotient, clamped); a zero divisor saturates by the dividend's sign."""
    if b == 0:
        return I80F48_MAX if a >= 0 else I80F48_MIN
    return _sat(a / b)


def _ceil(x: Fraction) -> int:
    return -((-x.numerator) // x.denominator)


def _trunc(x: Fraction) -> int:
    """``round_to_zero().to_num::<i64>()``."""
    return int(x)


def i80f48_div(a, b) -> Fraction:
    """I80F48 division of the stored values of ``a`` and ``b`` (each first put on the 2⁻⁴⁸ grid with
    :func:`to_i80f48`): ``bits = trunc(a_bits × 2⁴⁸ / b_bits)``, truncated toward zero. Division by
    zero and results outside the I80F48 range are refused (Mango's plain ``/`` panics there)."""
    a_bits = to_i80f48(a) * 2**FRAC_BITS
    b_bits = to_i80f48(b) * 2**FRAC_BITS
    if b_bits == 0:
        raise InvalidInput("b", "division by zero")
    n, d = int(a_bits) * 2**FRAC_BITS, int(b_bits)
    q = abs(n) // abs(d)
    if (n < 0) != (d < 0):
        q = -q
    r = Fraction(q, 2**FRAC_BITS)
    if r > I80F48_MAX or r < I80F48_MIN:
        raise InvalidInput("a", "the quotient overflows I80F48")
    return r


@dataclass(frozen=True)
class BankState:
    """What the solvers need of a token's bank beyond the health cache (``Bank`` in ``bank.rs``).

    ``info``: the bank's weights, totals and scaling configuration (``None``: the cache's own token info);
    after a change it replaces the cache's, as ``adjust_token_balance`` re-reads the bank.
    ``position``: the account's native position in the bank (``None``: the cache's balance).
    ``net_borrow_limit_per_window_quote``: ``None`` or negative means no limit;
    ``net_borrows_in_window``: native borrows already counted in the current window;
    ``deposit_limit``: 0 means none; ``loan_origination_fee_rate`` is charged on new borrows.
    """

    info: TokenInfo | None = None
    position: Fraction | None = None
    net_borrow_limit_per_window_quote: int | None = None
    net_borrows_in_window: int = 0
    deposit_limit: int = 0
    loan_origination_fee_rate: Fraction = _ZERO

    @classmethod
    def of(cls, info: TokenInfo | None = None, *, position=None, net_borrow_limit_per_window_quote: int | None = None,
           net_borrows_in_window: int = 0, deposit_limit: int = 0, loan_origination_fee_rate=0) -> BankState:
        """Validated constructor."""
        if info is not None and not isinstance(info, TokenInfo):
            raise InvalidInput("info", f"expected TokenInfo, got {info!r}")
        limit = None if net_borrow_limit_per_window_quote is None else _int("net_borrow_limit_per_window_quote", net_borrow_limit_per_window_quote)
        fee = _num("loan_origination_fee_rate", loan_origination_fee_rate)
        if fee < 0:
            raise InvalidInput("loan_origination_fee_rate", "must be non-negative")
        return cls(info, None if position is None else _num("position", position), limit,
                   _int("net_borrows_in_window", net_borrows_in_window), _int("deposit_limit", deposit_limit, nonneg=True), fee)

    def remaining_net_borrows_quote(self, oracle_price: Fraction, stable_price: Fraction, net_borrows_in_window: int) -> Fraction:
        """``Bank::remaining_net_borrows_quote`` (bank.rs @1303a4a): ``limit − max(oracle, stable) × net borrows``;
        ``I80F48_MAX`` without a limit or with negative net borrows."""
        limit = self.net_borrow_limit_per_window_quote
        if net_borrows_in_window < 0 or limit is None or limit < 0:
            return I80F48_MAX
        return limit - max(oracle_price, stable_price) * net_borrows_in_window

    def remaining_deposits_until_limit(self, info: TokenInfo) -> Fraction:
        """``Bank::remaining_deposits_until_limit`` (bank.rs @1303a4a): ``deposit_limit − deposits −
        potential_serum_tokens`` (``I80F48_MAX`` without a limit; Mango's extra ``DELTA`` of deposits is not
        modelled)."""
        if self.deposit_limit == 0:
            return I80F48_MAX
        return self.deposit_limit - info.deposits - info.potential_serum_tokens


def scan_right_until_less_than(start: Fraction, target: Fraction, fun) -> Fraction:
    """``scan_right_until_less_than`` (client.rs @1303a4a): from ``start``, double ``max(current, 1)`` until
    ``fun(current) ≤ target`` (at most 20 evaluations, and not past ``I80F48_MAX``)."""
    current = start
    for _ in range(20):
        if fun(current) <= target:
            return current
        nxt = max(current, Fraction(1)) * 2
        if nxt > I80F48_MAX:
            break
        current = nxt
    raise Rejected("solver", "could not find an amount that brings the value down to the target")


def binary_search(left: Fraction, left_value: Fraction, right: Fraction, target_value: Fraction, min_step: Fraction,
                  fun) -> Fraction:
    """``binary_search`` (client.rs @1303a4a): bisect ``[left, right]`` (whose values must bracket
    ``target_value``) for at most 50 steps; stop with ``left`` once ``|right − left| < min_step``, or with
    the midpoint once its value exceeds the target by less than 0.1. ``right``'s value is read once."""
    right_value = fun(right)
    if not ((left_value <= target_value <= right_value) or (left_value >= target_value >= right_value)):
        raise Rejected("solver", f"left {float(left_value)} and right {float(right_value)} do not contain the target "
                                 f"value {float(target_value)}")
    for _ in range(50):
        if abs(right - left) < min_step:
            return left
        new = (left + right) / 2
        new_value = fun(new)
        error = _sat(new_value - target_value)
        if 0 < error < _TENTH:
            return new
        if (new_value > target_value) != (right_value > target_value):
            left = new
        else:
            right = new
    raise Rejected("solver", "binary search iterations exhausted")


def find_maximum(left: Fraction, right: Fraction, min_step: Fraction, fun) -> tuple[Fraction, Fraction]:
    """``find_maximum`` (client.rs @1303a4a): (amount, value) of the maximum of ``fun`` on ``[left, right]``,
    assuming a single (possibly flat) peak, the rightmost point of a flat one. Keeps (left, mid, right)
    and, when mid beats both ends, probes the quarter points; stops once ``right − left ≤ min_step``."""
    if right < left:
        raise InvalidInput("right", "must be >= left")
    mid = (left + right) / 2
    left_value, right_value, mid_value = fun(left), fun(right), fun(mid)

    def check(ok: bool):
        if not ok:
            raise Rejected("solver", "find_maximum: the function has more than one peak")

    while right - left > min_step:
        if left_value > mid_value:
            check(mid_value >= right_value)
            right, right_value = mid, mid_value
            mid = (left + mid) / 2
            mid_value = fun(mid)
        elif mid_value <= right_value:
            check(left_value <= mid_value)
            left, left_value = mid, mid_value
            mid = (mid + right) / 2
            mid_value = fun(mid)
        else:
            leftmid = (left + mid) / 2
            leftmid_value = fun(leftmid)
            check(leftmid_value >= left_value)
            if leftmid_value > mid_value:
                right, right_value = mid, mid_value
                mid, mid_value = leftmid, leftmid_value
                continue
            rightmid = (mid + right) / 2
            rightmid_value = fun(rightmid)
            check(rightmid_value >= right_value)
            if rightmid_value >= mid_value:
                left, left_value = mid, mid_value
                mid, mid_value = rightmid, rightmid_value
                continue
            left, left_value = leftmid, leftmid_value
            right, right_value = rightmid, rightmid_value
    if left_value > mid_value:
        return left, left_value
    if mid_value > right_value:
        return mid, mid_value
    return right, right_value
