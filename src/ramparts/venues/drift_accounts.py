"""Drift v2's on-chain account bytes, decoded into the inputs of :mod:`ramparts.venues.drift` / ``drift_spot``.

Drift's accounts are Anchor ``#[account(zero_copy)]`` structs: an 8-byte discriminator (the first 8 bytes of
``sha256("account:<Name>")``) and then the ``#[repr(C)]`` struct's fields in declaration order, little-endian. At the
pinned commit (drift-labs/protocol-v2 ``0ae3e3b1db782a6765c3525b3dec38ad4d9d3a62``) the structs read here are laid out
without implicit padding (their explicit ``padding`` arrays fill every gap), so the tables below are the fields in
order with their widths, and each decode checks that the table spans the whole account:

* ``state/user.rs::User`` (4376 bytes) with its ``SpotPosition`` (40) and ``PerpPosition`` (96) arrays; its 32
  ``Order`` slots (96 bytes each) are skipped: the positions carry the open-order counts and sizes the margin reads;
* ``state/spot_market.rs::SpotMarket`` (776 bytes) with ``HistoricalOracleData``, ``HistoricalIndexData``,
  ``PoolBalance`` and ``InsuranceFund``;
* ``state/perp_market.rs::PerpMarket`` (1216 bytes) with its ``AMM`` and ``InsuranceClaim``, and a prediction
  market's ``state/oracle.rs::PrelaunchOracle`` (120 bytes);
* a Pyth pull oracle's ``PriceUpdateV2`` (Borsh, from pyth-solana-receiver-sdk: write authority, verification level
  ``Partial { num_signatures }`` or ``Full``, the price message, ``posted_slot``), priced as
  ``state/oracle.rs::get_pyth_price`` / ``get_pyth_stable_coin_price`` do.

The decoded accounts map onto ramparts' dataclasses (:func:`spot_account`, :func:`spot_market`, :func:`perp_market`,
oracles as :class:`ramparts.venues.drift_amm.OraclePriceData`); the raw field dictionaries stay available
(:func:`decode_user`, :func:`decode_spot_market`, :func:`decode_perp_market`) for what those do not carry.
"""

from __future__ import annotations

import hashlib

from ramparts.errors import InvalidInput
from ramparts.venues.drift import (
    PRICE_PRECISION,
    AssetTier,
    ContractTier,
    PerpMarket,
    PerpPosition,
    SpotMarket,
    SpotPosition,
)
from ramparts.venues.drift_amm import OraclePriceData
from ramparts.venues.drift_spot import SpotAccount

__all__ = [
    "decode_perp_market", "decode_prelaunch_oracle", "decode_pyth_pull_price", "decode_spot_market",
    "decode_user", "perp_market", "spot_account", "spot_market",
]

DISCRIMINATOR_LEN = 8
_INT = {"u8": (1, False), "i8": (1, True), "u16": (2, False), "i16": (2, True), "u32": (4, False),
        "i32": (4, True), "u64": (8, False), "i64": (8, True), "u128": (16, False), "i128": (16, True)}

# state/oracle.rs
HISTORICAL_ORACLE_DATA = (("last_oracle_price", "i64"), ("last_oracle_conf", "u64"), ("last_oracle_delay", "i64"),
                          ("last_oracle_price_twap", "i64"), ("last_oracle_price_twap_5min", "i64"),
                          ("last_oracle_price_twap_ts", "i64"))
HISTORICAL_INDEX_DATA = (("last_index_bid_price", "u64"), ("last_index_ask_price", "u64"),
                         ("last_index_price_twap", "u64"), ("last_index_price_twap_5min", "u64"),
                         ("last_index_price_twap_ts", "i64"))
# state/perp_market.rs / state/spot_market.rs
POOL_BALANCE = (("scaled_balance", "u128"), ("market_index", "u16"), ("padding", 6))
INSURANCE_FUND = (("vault", 32), ("total_shares", "u128"), ("user_shares", "u128"), ("shares_base", "u128"),
                  ("unstaking_period", "i64"), ("last_revenue_settle_ts", "i64"), ("revenue_settle_period", "i64"),
                  ("total_factor", "u32"), ("user_factor", "u32"))
SPOT_MARKET = (
    ("pubkey", 32), ("oracle", 32), ("mint", 32), ("vault", 32), ("name", 32),
    ("historical_oracle_data", HISTORICAL_ORACLE_DATA), ("historical_index_data", HISTORICAL_INDEX_DATA),
    ("revenue_pool", POOL_BALANCE), ("spot_fee_pool", POOL_BALANCE), ("insurance_fund", INSURANCE_FUND),
    ("total_spot_fee", "u128"), ("deposit_balance", "u128"), ("borrow_balance", "u128"),
    ("cumulative_deposit_interest", "u128"), ("cumulative_borrow_interest", "u128"), ("total_social_loss", "u128"),
    ("total_quote_social_loss", "u128"), ("withdraw_guard_threshold", "u64"), ("max_token_deposits", "u64"),
    ("deposit_token_twap", "u64"), ("borrow_token_twap", "u64"), ("utilization_twap", "u64"),
    ("last_interest_ts", "u64"), ("last_twap_ts", "u64"), ("expiry_ts", "i64"), ("order_step_size", "u64"),
    ("order_tick_size", "u64"), ("min_order_size", "u64"), ("max_position_size", "u64"),
    ("next_fill_record_id", "u64"), ("next_deposit_record_id", "u64"), ("initial_asset_weight", "u32"),
    ("maintenance_asset_weight", "u32"), ("initial_liability_weight", "u32"), ("maintenance_liability_weight", "u32"),
    ("imf_factor", "u32"), ("liquidator_fee", "u32"), ("if_liquidation_fee", "u32"), ("optimal_utilization", "u32"),
    ("optimal_borrow_rate", "u32"), ("max_borrow_rate", "u32"), ("decimals", "u32"), ("market_index", "u16"),
    ("orders_enabled", "u8"), ("oracle_source", "u8"), ("status", "u8"), ("asset_tier", "u8"),
    ("paused_operations", "u8"), ("if_paused_operations", "u8"), ("fee_adjustment", "i16"),
    ("max_token_borrows_fraction", "u16"), ("flash_loan_amount", "u64"), ("flash_loan_initial_token_amount", "u64"),
    ("total_swap_fee", "u64"), ("scale_initial_asset_weight_start", "u64"), ("min_borrow_rate", "u8"),
    ("fuel_boost_deposits", "u8"), ("fuel_boost_borrows", "u8"), ("fuel_boost_taker", "u8"),
    ("fuel_boost_maker", "u8"), ("fuel_boost_insurance", "u8"), ("token_program_flag", "u8"), ("pool_id", "u8"),
    ("padding", 40),
)
AMM = (
    ("oracle", 32), ("historical_oracle_data", HISTORICAL_ORACLE_DATA),
    ("base_asset_amount_per_lp", "i128"), ("quote_asset_amount_per_lp", "i128"),
    ("fee_pool", POOL_BALANCE), ("base_asset_reserve", "u128"), ("quote_asset_reserve", "u128"),
    ("concentration_coef", "u128"), ("min_base_asset_reserve", "u128"), ("max_base_asset_reserve", "u128"),
    ("sqrt_k", "u128"), ("peg_multiplier", "u128"), ("terminal_quote_asset_reserve", "u128"),
    ("base_asset_amount_long", "i128"), ("base_asset_amount_short", "i128"),
    ("base_asset_amount_with_amm", "i128"), ("base_asset_amount_with_unsettled_lp", "i128"),
    ("max_open_interest", "u128"), ("quote_asset_amount", "i128"), ("quote_entry_amount_long", "i128"),
    ("quote_entry_amount_short", "i128"), ("quote_break_even_amount_long", "i128"),
    ("quote_break_even_amount_short", "i128"), ("user_lp_shares", "u128"), ("last_funding_rate", "i64"),
    ("last_funding_rate_long", "i64"), ("last_funding_rate_short", "i64"),
    ("last_24h_avg_funding_rate", "i64"), ("total_fee", "i128"), ("total_mm_fee", "i128"),
    ("total_exchange_fee", "u128"), ("total_fee_minus_distributions", "i128"),
    ("total_fee_withdrawn", "u128"), ("total_liquidation_fee", "u128"),
    ("cumulative_funding_rate_long", "i128"), ("cumulative_funding_rate_short", "i128"),
    ("total_social_loss", "u128"), ("ask_base_asset_reserve", "u128"), ("ask_quote_asset_reserve", "u128"),
    ("bid_base_asset_reserve", "u128"), ("bid_quote_asset_reserve", "u128"),
    ("last_oracle_normalised_price", "i64"), ("last_oracle_reserve_price_spread_pct", "i64"),
    ("last_bid_price_twap", "u64"), ("last_ask_price_twap", "u64"), ("last_mark_price_twap", "u64"),
    ("last_mark_price_twap_5min", "u64"), ("last_update_slot", "u64"), ("last_oracle_conf_pct", "u64"),
    ("net_revenue_since_last_funding", "i64"), ("last_funding_rate_ts", "i64"), ("funding_period", "i64"),
    ("order_step_size", "u64"), ("order_tick_size", "u64"), ("min_order_size", "u64"),
    ("mm_oracle_slot", "u64"), ("volume_24h", "u64"), ("long_intensity_volume", "u64"),
    ("short_intensity_volume", "u64"), ("last_trade_ts", "i64"), ("mark_std", "u64"),
    ("oracle_std", "u64"), ("last_mark_price_twap_ts", "i64"), ("base_spread", "u32"),
    ("max_spread", "u32"), ("long_spread", "u32"), ("short_spread", "u32"), ("mm_oracle_price", "i64"),
    ("max_fill_reserve_fraction", "u16"), ("max_slippage_ratio", "u16"), ("curve_update_intensity", "u8"),
    ("amm_jit_intensity", "u8"), ("oracle_source", "u8"), ("last_oracle_valid", "u8"),
    ("target_base_asset_amount_per_lp", "i32"), ("per_lp_base", "i8"),
    ("oracle_low_risk_slot_delay_override", "i8"), ("amm_spread_adjustment", "i8"),
    ("oracle_slot_delay_override", "i8"), ("mm_oracle_sequence_id", "u64"),
    ("net_unsettled_funding_pnl", "i64"), ("quote_asset_amount_with_unsettled_lp", "i64"),
    ("reference_price_offset", "i32"), ("amm_inventory_spread_adjustment", "i8"),
    ("reference_price_offset_deadband_pct", "u8"), ("padding", 2), ("last_funding_oracle_twap", "i64"),
)
INSURANCE_CLAIM = (
    ("revenue_withdraw_since_last_settle", "i64"), ("max_revenue_withdraw_per_period", "u64"),
    ("quote_max_insurance", "u64"), ("quote_settled_insurance", "u64"),
    ("last_revenue_withdraw_ts", "i64"),
)
PERP_MARKET = (
    ("pubkey", 32), ("amm", AMM), ("pnl_pool", POOL_BALANCE), ("name", 32),
    ("insurance_claim", INSURANCE_CLAIM), ("unrealized_pnl_max_imbalance", "u64"), ("expiry_ts", "i64"),
    ("expiry_price", "i64"), ("next_fill_record_id", "u64"), ("next_funding_rate_record_id", "u64"),
    ("next_curve_record_id", "u64"), ("imf_factor", "u32"), ("unrealized_pnl_imf_factor", "u32"),
    ("liquidator_fee", "u32"), ("if_liquidation_fee", "u32"), ("margin_ratio_initial", "u32"),
    ("margin_ratio_maintenance", "u32"), ("unrealized_pnl_initial_asset_weight", "u32"),
    ("unrealized_pnl_maintenance_asset_weight", "u32"), ("number_of_users_with_base", "u32"),
    ("number_of_users", "u32"), ("market_index", "u16"), ("status", "u8"), ("contract_type", "u8"),
    ("contract_tier", "u8"), ("paused_operations", "u8"), ("quote_spot_market_index", "u16"),
    ("fee_adjustment", "i16"), ("fuel_boost_position", "u8"), ("fuel_boost_taker", "u8"),
    ("fuel_boost_maker", "u8"), ("pool_id", "u8"), ("high_leverage_margin_ratio_initial", "u16"),
    ("high_leverage_margin_ratio_maintenance", "u16"), ("protected_maker_limit_price_divisor", "u8"),
    ("protected_maker_dynamic_divisor", "u8"), ("lp_fee_transfer_scalar", "u8"), ("lp_status", "u8"),
    ("lp_paused_operations", "u8"), ("lp_exchange_fee_excluscion_scalar", "u8"),
    ("last_fill_price", "u64"), ("lp_pool_id", "u8"), ("market_config", "u8"), ("padding", 22),
)
# state/user.rs
SPOT_POSITION = (("scaled_balance", "u64"), ("open_bids", "i64"), ("open_asks", "i64"), ("cumulative_deposits", "i64"),
                 ("market_index", "u16"), ("balance_type", "u8"), ("open_orders", "u8"), ("padding", 4))
PERP_POSITION = (("last_cumulative_funding_rate", "i64"), ("base_asset_amount", "i64"), ("quote_asset_amount", "i64"),
                 ("quote_break_even_amount", "i64"), ("quote_entry_amount", "i64"), ("open_bids", "i64"),
                 ("open_asks", "i64"), ("settled_pnl", "i64"), ("lp_shares", "u64"),
                 ("isolated_position_scaled_balance", "u64"), ("last_quote_asset_amount_per_lp", "i64"),
                 ("padding", 2), ("max_margin_ratio", "u16"), ("market_index", "u16"), ("open_orders", "u8"),
                 ("position_flag", "u8"))
ORDER_SIZE = 96
USER = (
    ("authority", 32), ("delegate", 32), ("name", 32), ("spot_positions", (SPOT_POSITION, 8)),
    ("perp_positions", (PERP_POSITION, 8)), ("orders", 32 * ORDER_SIZE), ("last_add_perp_lp_shares_ts", "i64"),
    ("total_deposits", "u64"), ("total_withdraws", "u64"), ("total_social_loss", "u64"), ("settled_perp_pnl", "i64"),
    ("cumulative_spot_fees", "i64"), ("cumulative_perp_funding", "i64"), ("liquidation_margin_freed", "u64"),
    ("last_active_slot", "u64"), ("next_order_id", "u32"), ("max_margin_ratio", "u32"),
    ("next_liquidation_id", "u16"), ("sub_account_id", "u16"), ("status", "u8"), ("is_margin_trading_enabled", "u8"),
    ("idle", "u8"), ("open_orders", "u8"), ("has_open_order", "u8"), ("open_auctions", "u8"),
    ("has_open_auction", "u8"), ("margin_mode", "u8"), ("pool_id", "u8"), ("padding1", 3),
    ("last_fuel_bonus_update_ts", "u32"), ("padding", 12),
)

USER_STATUS_BEING_LIQUIDATED, USER_STATUS_BANKRUPT = 0b01, 0b10  # state/user.rs::UserStatus
POSITION_FLAG_ISOLATED, POSITION_FLAG_BEING_LIQUIDATED, POSITION_FLAG_BANKRUPT = 0b001, 0b010, 0b100
MARGIN_MODE_DEFAULT, MARGIN_MODE_HIGH_LEVERAGE = 0, 1  # state/user.rs::MarginMode (2 = HighLeverageMaintenance)
SPOT_BALANCE_TYPE_BORROW = 1  # state/spot_market.rs::SpotBalanceType (0 = Deposit)
MARKET_STATUS_SETTLEMENT = 7  # state/perp_market.rs::MarketStatus
CONTRACT_TYPE_PREDICTION = 2  # state/perp_market.rs::ContractType (0 = Perpetual, 1 = Future)


def discriminator(name: str) -> bytes:
    """Anchor's account discriminator: the first 8 bytes of ``sha256("account:" + name)``."""
    return hashlib.sha256(f"account:{name}".encode()).digest()[:DISCRIMINATOR_LEN]


def _read(data: bytes, offset: int, layout) -> tuple[object, int]:
    """One field: an int type name, a byte count (kept as bytes), a (struct layout, count) array or a struct layout
    (a tuple of ``(name, field)`` pairs, read into a dict)."""
    if isinstance(layout, str):
        size, signed = _INT[layout]
        if offset + size > len(data):
            raise InvalidInput("data", "account data too short")
        return int.from_bytes(data[offset:offset + size], "little", signed=signed), offset + size
    if isinstance(layout, int):
        if offset + layout > len(data):
            raise InvalidInput("data", "account data too short")
        return bytes(data[offset:offset + layout]), offset + layout
    if len(layout) == 2 and isinstance(layout[1], int) and isinstance(layout[0], tuple):
        items = []
        for _ in range(layout[1]):
            item, offset = _read(data, offset, layout[0])
            items.append(item)
        return items, offset
    out = {}
    for name, field in layout:
        out[name], offset = _read(data, offset, field)
    return out, offset


def _decode_account(data: bytes, name: str, layout) -> dict:
    data = bytes(data)
    if data[:DISCRIMINATOR_LEN] != discriminator(name):
        raise InvalidInput("data", f"not a {name} account (discriminator)")
    fields, end = _read(data, DISCRIMINATOR_LEN, layout)
    if end != len(data):
        raise InvalidInput("data", f"{name} account is {len(data)} bytes, its layout {end}")
    return fields


def decode_user(data: bytes) -> dict:
    """``state/user.rs::User`` @0ae3e3b as a dict of its fields (the ``orders`` slots as raw bytes)."""
    return _decode_account(data, "User", USER)


def decode_spot_market(data: bytes) -> dict:
    """``state/spot_market.rs::SpotMarket`` @0ae3e3b as a dict of its fields."""
    return _decode_account(data, "SpotMarket", SPOT_MARKET)


def decode_perp_market(data: bytes) -> dict:
    """``state/perp_market.rs::PerpMarket`` @0ae3e3b (with its ``AMM``) as a dict of its fields."""
    return _decode_account(data, "PerpMarket", PERP_MARKET)


def decode_prelaunch_oracle(data: bytes, clock_slot: int) -> OraclePriceData:
    """``state/oracle.rs::get_prelaunch_price`` @0ae3e3b on a ``PrelaunchOracle`` account: its price and confidence,
    delay ``amm_last_update_slot − clock_slot`` saturating at 0, enough data points."""
    oracle = _decode_account(data, "PrelaunchOracle", PRELAUNCH_ORACLE)
    return OraclePriceData(oracle["price"], oracle["confidence"], max(oracle["amm_last_update_slot"] - clock_slot, 0))


def spot_account(user: dict) -> SpotAccount:
    """A decoded ``User`` as a :class:`SpotAccount`: all 8 spot and 8 perp slots in order (an empty slot is the
    default position, which the margin skips), ``status`` bits BeingLiquidated / Bankrupt, the isolated
    positions' ``position_flag`` bits, ``last_active_slot``, ``liquidation_margin_freed``, ``pool_id`` and
    ``margin_mode`` HighLeverage. ``HighLeverageMaintenance`` (HLM for maintenance only) is refused."""
    if user["margin_mode"] not in (MARGIN_MODE_DEFAULT, MARGIN_MODE_HIGH_LEVERAGE):
        raise InvalidInput("margin_mode", "only Default and HighLeverage are modelled")
    spot = tuple(SpotPosition(p["market_index"], p["scaled_balance"], borrow=p["balance_type"] == SPOT_BALANCE_TYPE_BORROW,
                              open_bids=p["open_bids"], open_asks=p["open_asks"], open_orders=p["open_orders"])
                 for p in user["spot_positions"])
    for p in user["perp_positions"]:
        if p["lp_shares"]:
            raise InvalidInput("lp_shares", "LP shares are not modelled")
    perp = tuple(PerpPosition(base_asset_amount=p["base_asset_amount"], quote_asset_amount=p["quote_asset_amount"],
                              quote_entry_amount=p["quote_entry_amount"],
                              quote_break_even_amount=p["quote_break_even_amount"], open_bids=p["open_bids"],
                              open_asks=p["open_asks"], open_orders=p["open_orders"],
                              last_cumulative_funding_rate=p["last_cumulative_funding_rate"],
                              market_index=p["market_index"], max_margin_ratio=p["max_margin_ratio"],
                              isolated=bool(p["position_flag"] & POSITION_FLAG_ISOLATED),
                              isolated_position_scaled_balance=p["isolated_position_scaled_balance"])
                 for p in user["perp_positions"])
    flagged = {f: frozenset(p["market_index"] for p in user["perp_positions"] if p["position_flag"] & f)
               for f in (POSITION_FLAG_BEING_LIQUIDATED, POSITION_FLAG_BANKRUPT)}
    return SpotAccount(spot_positions=spot, perp_positions=perp,
                       being_liquidated=bool(user["status"] & USER_STATUS_BEING_LIQUIDATED),
                       bankrupt=bool(user["status"] & USER_STATUS_BANKRUPT),
                       last_active_slot=user["last_active_slot"],
                       liquidation_margin_freed=user["liquidation_margin_freed"], pool_id=user["pool_id"],
                       isolated_being_liquidated=flagged[POSITION_FLAG_BEING_LIQUIDATED],
                       isolated_bankrupt=flagged[POSITION_FLAG_BANKRUPT],
                       high_leverage_mode=user["margin_mode"] == MARGIN_MODE_HIGH_LEVERAGE)


def spot_market(market: dict) -> SpotMarket:
    """A decoded ``SpotMarket`` as :class:`ramparts.venues.drift.SpotMarket` (weights, fees, balances, cumulative
    interests, revenue pool, oracle TWAPs, the borrow-rate curve and the interest / TWAP clocks)."""
    h = market["historical_oracle_data"]
    return SpotMarket(
        decimals=market["decimals"], initial_asset_weight=market["initial_asset_weight"],
        maintenance_asset_weight=market["maintenance_asset_weight"],
        initial_liability_weight=market["initial_liability_weight"],
        maintenance_liability_weight=market["maintenance_liability_weight"], imf_factor=market["imf_factor"],
        scale_initial_asset_weight_start=market["scale_initial_asset_weight_start"],
        deposit_balance=market["deposit_balance"], borrow_balance=market["borrow_balance"],
        cumulative_deposit_interest=market["cumulative_deposit_interest"],
        cumulative_borrow_interest=market["cumulative_borrow_interest"], market_index=market["market_index"],
        pool_id=market["pool_id"], asset_tier=AssetTier(market["asset_tier"]), liquidator_fee=market["liquidator_fee"],
        if_liquidation_fee=market["if_liquidation_fee"], revenue_pool_balance=market["revenue_pool"]["scaled_balance"],
        last_oracle_price_twap=h["last_oracle_price_twap"], last_oracle_price_twap_5min=h["last_oracle_price_twap_5min"],
        optimal_utilization=market["optimal_utilization"], optimal_borrow_rate=market["optimal_borrow_rate"],
        max_borrow_rate=market["max_borrow_rate"], min_borrow_rate=market["min_borrow_rate"],
        insurance_fund_total_factor=market["insurance_fund"]["total_factor"],
        last_interest_ts=market["last_interest_ts"], last_twap_ts=market["last_twap_ts"],
        last_oracle_price_twap_ts=h["last_oracle_price_twap_ts"])


def perp_market(market: dict) -> PerpMarket:
    """A decoded ``PerpMarket`` as :class:`ramparts.venues.drift.PerpMarket`: margin ratios (HLM too), size and
    unrealized-pnl premiums, fees, the AMM's step size and cumulative funding rates, tier, pool, ``contract_type``
    Prediction, and for ``status`` Settlement the ``expiry_price``."""
    amm = market["amm"]
    return PerpMarket(
        margin_ratio_initial=market["margin_ratio_initial"], margin_ratio_maintenance=market["margin_ratio_maintenance"],
        imf_factor=market["imf_factor"], high_leverage_margin_ratio_initial=market["high_leverage_margin_ratio_initial"],
        high_leverage_margin_ratio_maintenance=market["high_leverage_margin_ratio_maintenance"],
        liquidator_fee=market["liquidator_fee"], if_liquidation_fee=market["if_liquidation_fee"],
        order_step_size=amm["order_step_size"],
        unrealized_pnl_initial_asset_weight=market["unrealized_pnl_initial_asset_weight"],
        unrealized_pnl_maintenance_asset_weight=market["unrealized_pnl_maintenance_asset_weight"],
        unrealized_pnl_imf_factor=market["unrealized_pnl_imf_factor"],
        unrealized_pnl_max_imbalance=market["unrealized_pnl_max_imbalance"],
        contract_tier=ContractTier(market["contract_tier"]),
        cumulative_funding_rate_long=amm["cumulative_funding_rate_long"],
        cumulative_funding_rate_short=amm["cumulative_funding_rate_short"],
        prediction_market=market["contract_type"] == CONTRACT_TYPE_PREDICTION, market_index=market["market_index"],
        pool_id=market["pool_id"],
        settlement_price=market["expiry_price"] if market["status"] == MARKET_STATUS_SETTLEMENT else None)


# ============================================================================ oracle accounts
PRELAUNCH_ORACLE = (
    ("price", "i64"), ("max_price", "i64"), ("confidence", "u64"), ("last_update_slot", "u64"),
    ("amm_last_update_slot", "u64"), ("perp_market_index", "u16"), ("padding", 70),
)
PRICE_UPDATE_V2 = (("feed_id", 32), ("price", "i64"), ("conf", "u64"), ("exponent", "i32"), ("publish_time", "i64"),
                   ("prev_publish_time", "i64"), ("ema_price", "i64"), ("ema_conf", "u64"))
STABLE_COIN_BAND = 500  # get_pyth_stable_coin_price: 5 bps of PRICE_PRECISION


def decode_pyth_pull_price(data: bytes, clock_slot: int, *, stable_coin: bool = False, multiple: int = 1) -> OraclePriceData:
    """``state/oracle.rs::get_pyth_price`` @0ae3e3b on a ``PriceUpdateV2`` account: with ``p = 10^|exponent| /
    multiple`` (1, 1000 or 1e6 for the ``Pyth1K`` / ``Pyth1M`` sources), price and confidence × ``1e6 / p`` when
    ``p ≤ 1e6`` else ÷ ``(p / 1e6)`` (truncated toward zero), delay = ``clock_slot − posted_slot``, sequence id the
    publish time. A stable coin
    (``get_pyth_stable_coin_price``) is priced 1e6 when ``|price − 1e6| ≤ min(500, confidence)``."""
    data = bytes(data)
    if data[:DISCRIMINATOR_LEN] != discriminator("PriceUpdateV2"):
        raise InvalidInput("data", "not a PriceUpdateV2 account (discriminator)")
    offset = DISCRIMINATOR_LEN + 32  # write_authority
    level = data[offset]  # VerificationLevel: 0 = Partial { num_signatures: u8 }, 1 = Full
    if level not in (0, 1):
        raise InvalidInput("data", f"unknown verification level {level}")
    offset += 2 if level == 0 else 1
    message, offset = _read(data, offset, PRICE_UPDATE_V2)
    posted_slot, _ = _read(data, offset, "u64")
    precision = 10 ** abs(message["exponent"])
    if precision <= multiple:
        raise InvalidInput("data", "multiple larger than oracle precision")
    precision //= multiple
    mult, div = (1, precision // PRICE_PRECISION) if precision > PRICE_PRECISION else (PRICE_PRECISION // precision, 1)
    scaled = message["price"] * mult
    price = abs(scaled) // div * (1 if scaled >= 0 else -1)
    confidence = message["conf"] * mult // div
    if stable_coin and abs(price - PRICE_PRECISION) <= min(STABLE_COIN_BAND, confidence):
        price = PRICE_PRECISION
    return OraclePriceData(price, confidence, clock_slot - posted_slot,
                           sequence_id=max(message["publish_time"], 0))
