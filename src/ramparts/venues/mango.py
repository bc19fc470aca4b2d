"""Mango v4: account health (init, maintenance, liquidation-end) over token positions, spot
(Serum3/OpenBook) open orders and perp positions, with asset and liability weights, the
stable-price rule, deposit/borrow weight scaling, the health ratio and the leverage overview.

Source: ``ramparts/reference/open-source-venues.md`` §5, read from blockworks-foundation/mango-v4
at commit ``1303a4a16228eb1e8e8d4f0eef724eaf63310c86`` (``programs/mango-v4/src/health/cache.rs``,
``programs/mango-v4/src/health/client.rs``, ``programs/mango-v4/src/state/bank.rs`` —
``scaled_init_asset_weight``, ``scaled_init_liab_weight``, ``maint_weights`` —,
``programs/mango-v4/src/state/mango_account_components.rs`` — ``unsettled_funding``).

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
caller who wants Mango's stored inputs exactly.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from decimal import Decimal
from fractions import Fraction

from ramparts.errors import InvalidInput

__all__ = ["I80F48_MAX", "I80F48_MIN", "HealthCache", "HealthType", "PerpInfo", "Prices", "Serum3Info", "TokenInfo", "maint_weights",
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
