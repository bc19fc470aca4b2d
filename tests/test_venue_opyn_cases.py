"""Opyn Gamma's MarginCalculator unit tests, ported as tables (ramparts.venues.opyn).

Every row names the source file, the test (``describe › it``) and the commit. Expected values are the
tests' own (integers in collateral decimals, or the revert reason, which ramparts raises as
:class:`InvalidInput` with the same message). The Truffle fixtures become: assets by name with the
tests' decimals, oTokens as :class:`Otoken`, oracle prices passed per call, block time as ``now``.

Repository: opynfinance/GammaProtocol at 841f81d9d05da9d27277b5775edfbb48c4012d2a.

Coverage (``it`` blocks of the two unit-test files): marginCalculator.test.ts 97 of 99,
marginCalculatorNakedMargin.test.ts 26 of 30 (the naked setters' cases run in order inside
``test_naked_setters_sequence``); every ``it`` whose assertion is arithmetic or a parameter check is ported.
Not ported, because ramparts models neither addresses nor access control (none is arithmetic):

- marginCalculator.test.ts › Deployment test › "should revert deploying Calculator with addressbook address
  equal to zero" (``MarginCalculator: invalid oracle address``);
- marginCalculator.test.ts › Get cash value and payout rate › "Should revert when entering address(0)"
  (``getExpiredPayoutRate(ZERO_ADDR)``: ``MarginCalculator: Invalid token address``);
- marginCalculatorNakedMargin.test.ts, the four ``onlyOwner`` reverts ("Ownable: caller is not the owner"):
  Collateral dust › "should revert setting collateral dust from address other than owner"; Upper bound value ›
  "should revert setting product upper bound value from non owner"; Spot shock value › "should revert setting
  spot shock value when sender is not owner"; Oracle deviation value › "should revert setting oracle deviation
  value when sender is not owner".
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from ramparts.errors import InvalidInput
from ramparts.venues.opyn import MarginCalculator, Otoken, Product, Vault

COMMIT = "841f81d9d05da9d27277b5775edfbb48c4012d2a"
MC = "test/unit-tests/marginCalculator.test.ts"
NAKED = "test/unit-tests/marginCalculatorNakedMargin.test.ts"
LIQ = "test/unit-tests/liquidations.test.ts"

DECIMALS = {"usdc": 6, "dai": 8, "weth": 18, "cusdc": 8, "ceth": 8, "rusd": 29, "reth": 29, "tusd": 27}
NOW = 1_700_000_000
EXPIRY = NOW + 30 * 86_400


def tok(x, decimals: int = 8) -> int:
    """The tests' ``createTokenAmount`` / ``createScaledNumber``: ``x · 10^decimals`` as an integer."""
    v = Decimal(str(x)) * (Decimal(10) ** decimals)
    assert v == v.to_integral_value()
    return int(v)


def put(strike, *, underlying="weth", strike_asset="usdc", collateral="usdc", expiry=EXPIRY, raw=False) -> Otoken:
    return Otoken(underlying, strike_asset, collateral, strike if raw else tok(strike), expiry, True)


def call(strike, *, underlying="weth", strike_asset="usdc", collateral="weth", expiry=EXPIRY, raw=False) -> Otoken:
    return Otoken(underlying, strike_asset, collateral, strike if raw else tok(strike), expiry, False)


ETH300P, ETH250P, ETH200P, ETH100P = put(300), put(250), put(200), put(100)
ETH300P_CUSDC = put(300, collateral="cusdc")
ETH300C, ETH250C, ETH200C, ETH100C = call(300), call(250), call(200), call(100)
ETH300C_CETH = call(300, collateral="ceth")
V = Vault.create
ONE = tok(1)


def _id(src, describe, it):
    return f"{src}::{describe} › {it}@{COMMIT[:8]}"


# --- marginCalculator.test.ts: getExcessCollateral, type 0 (spread / max loss) vaults ---------------------------------
# (describe, it, vault, now, live prices, expiry prices, expected (amount, is_excess) or the revert reason)

EXPIRED = EXPIRY + 2


def _exp(weth):
    return {"usdc": tok(1), "weth": tok(weth)}


EXCESS_ROWS = [
    # Vault prerequisites checks.
    ("Vault prerequisites checks.", "Should revert when vault contain more than 1 short",
     Vault(short_otokens=(ETH250C, ETH250P)), NOW, {}, {}, "Too many short otokens in the vault"),
    ("Vault prerequisites checks.", "Should revert when vault contain more than 1 long asset",
     Vault(long_otokens=(ETH250C, ETH250P)), NOW, {}, {}, "Too many long otokens in the vault"),
    ("Vault prerequisites checks.", "Should revert when vault contain more than 1 collateral asset",
     Vault(collateral_assets=("usdc", "dai")), NOW, {}, {}, "Too many collateral assets in the vault"),
    ("Vault prerequisites checks.", "Should revert when short assets and amounts have differenct length",
     V(ETH250P), NOW, {}, {}, "Short asset and amount mismatch"),
    ("Vault prerequisites checks.", "Should revert when long assets and amounts have differenct length",
     V(None, ETH250P), NOW, {}, {}, "Long asset and amount mismatch"),
    ("Vault prerequisites checks.", "Should revert when collateral assets and amounts have differenct length",
     V(None, None, "usdc"), NOW, {}, {}, "Collateral asset and amount mismatch"),
    ("Vault prerequisites checks.", "Should revert when collateral assets is different from short.collateral",
     V(ETH100P, None, "weth", ONE, None, tok(100, 18)), NOW, {}, {}, "collateral asset not marginable for short asset"),
    ("Vault prerequisites checks.", "Should return collateral amount if there's no short.",
     V(None, None, "usdc", None, None, tok(100, 6)), NOW, {}, {}, (tok(100, 6), True)),
    ("Vault prerequisites checks.", "Should revert if long token has differet underlying as short.",
     V(ETH250P, put(0, underlying="dai"), None, ONE, ONE), NOW, {}, {}, "long asset not marginable for short asset"),
    ("Vault prerequisites checks.", "Should revert if long token has differet strike as short.",
     V(ETH250P, put(0, strike_asset="dai"), None, ONE, ONE), NOW, {}, {}, "long asset not marginable for short asset"),
    ("Vault prerequisites checks.", "Should revert if long token has differet collateral as short.",
     V(ETH250P, put(0, collateral="dai"), None, ONE, ONE), NOW, {}, {}, "long asset not marginable for short asset"),
    ("Vault prerequisites checks.", "Should revert if long token has differet expiry as short.",
     V(ETH250P, put(0, expiry=EXPIRY + 1), None, ONE, ONE), NOW, {}, {}, "long asset not marginable for short asset"),
    ("Vault prerequisites checks.", "Should revert when collateral is different from collateral of short",
     V(ETH200P, None, "weth", ONE, None, 100), NOW, {}, {}, "collateral asset not marginable for short asset"),
    ("Vault prerequisites checks.", "Should revert when vault only contain long and collateral, and collateral is different from collateral of long",
     V(None, ETH200P, "weth", None, ONE, 100), NOW, {}, {}, "collateral asset not marginable for short asset"),
    # Should return invalid vault for edge cases
    ("Should return invalid vault for edge cases", "(1) Short: 1 unit of 0.25 put with 0 collateral => invalid vault, need 1 USDC unit",
     V(put("0.25"), None, "usdc", 1, None, 0), NOW, {}, {}, (1, False)),
    ("Should return invalid vault for edge cases", "(2) Short: 1 0.25 put, collateral: 1e-6 USDC => valid vault",
     V(put("0.25"), None, "usdc", 1, None, 1), NOW, {}, {}, (0, True)),
    ("Should return invalid vault for edge cases", "(3) Short: 1 unit of Put with strike price = 1e-8 => invalid vault, need at least 1 UCDC unit",
     V(put(1, raw=True), None, "usdc", 1, None, 0), NOW, {}, {}, (1, False)),
    ("Should return invalid vault for edge cases", "(4) Short: 1 unit of Put with strike price = 1.5 * 1e-6 => invalid vault, need at least 1 UCDC unit",
     V(put(150, raw=True), None, "usdc", ONE, None, 0), NOW, {}, {}, (2, False)),
    ("Should return invalid vault for edge cases", "(5) Short: 1 200 call, long 1 0 call => need 0 usdc",
     V(ETH200C, call(0), None, ONE, ONE), NOW, {}, {}, (0, True)),
    # Put vault check before expiry
    ("Put vault check before expiry", "(1) Short: 1 250 put => need 250 collateral",
     V(ETH250P, None, "usdc", ONE, None, 0), NOW, {}, {}, (tok(250, 6), False)),
    ("Put vault check before expiry", "(2) Short: 1 250 put, collateral: 250 USDC => excess: 0",
     V(ETH250P, None, "usdc", ONE, None, tok(250, 6)), NOW, {}, {}, (0, True)),
    ("Put vault check before expiry", "(3) Short: 1 250 put, collateral: 300 USDC => excess: 50",
     V(ETH250P, None, "usdc", ONE, None, tok(300, 6)), NOW, {}, {}, (tok(50, 6), True)),
    ("Put vault check before expiry", "(4) Short: 1 250 put, collateral: 100 USDC => need 150 collateral",
     V(ETH250P, None, "usdc", ONE, None, tok(100, 6)), NOW, {}, {}, (tok(150, 6), False)),
    ("Put vault check before expiry", "(5) Short: 1 250 put, long 1 200 put => need 50 collatearl",
     V(ETH250P, ETH200P, "usdc", ONE, ONE, 0), NOW, {}, {}, (tok(50, 6), False)),
    ("Put vault check before expiry", "(6) Short: 1 250 put, long 1 200 put, collateral: 10 USDC => need 40 collatearl",
     V(ETH250P, ETH200P, "usdc", ONE, ONE, tok(10, 6)), NOW, {}, {}, (tok(40, 6), False)),
    ("Put vault check before expiry", "(7) Short: 1 250 put, long: 1 200 put, collateral: 50 usdc => excess: 0",
     V(ETH250P, ETH200P, "usdc", ONE, ONE, tok(50, 6)), NOW, {}, {}, (0, True)),
    ("Put vault check before expiry", "(8) Short: 1 200 put, long: 1 250 put => excess: 0",
     V(ETH200P, ETH250P, "usdc", ONE, ONE, 0), NOW, {}, {}, (0, True)),
    ("Put vault check before expiry", "(9) Short: 1 200 put, long: 1 250 put, collateral 50 => excess: 50",
     V(ETH200P, ETH250P, "usdc", ONE, ONE, tok(50, 6)), NOW, {}, {}, (tok(50, 6), True)),
    ("Put vault check before expiry", "(10) Short: 1 200 put, long: 2 100 put => need 100 collateral",
     V(ETH200P, ETH100P, "usdc", ONE, tok(2), 0), NOW, {}, {}, (tok(100, 6), False)),
    ("Put vault check before expiry", "(11) Short: 1 200 put, long: 2 250 put => excess 0",
     V(ETH200P, ETH250P, "usdc", ONE, tok(2), 0), NOW, {}, {}, (0, True)),
    ("Put vault check before expiry", "(12) Short: 2 200 put, long: 1 250 put => need 150 collateral",
     V(ETH200P, ETH250P, "usdc", tok(2), tok(1), 0), NOW, {}, {}, (tok(150, 6), False)),
    ("Put vault check before expiry", "(13) Short: 3 200 put, long: 2 250 put => need 100 collateral",
     V(ETH200P, ETH250P, "usdc", tok(3), tok(2), 0), NOW, {}, {}, (tok(100, 6), False)),
    ("Put vault check before expiry", "(14) Short: 3 200 put, long: 2 250 put, 300 collateral => excess: 200 USDC.",
     V(ETH200P, ETH250P, "usdc", tok(3), tok(2), tok(300, 6)), NOW, {}, {}, (tok(200, 6), True)),
    ("Put vault check before expiry", "(15) Short: 30000 200 put, long: 20000 250 put, 3000000 collateral => excess: 2000000 USDC.",
     V(ETH200P, ETH250P, "usdc", tok(30000), tok(20000), tok(3000000, 6)), NOW, {}, {}, (tok(2000000, 6), True)),
    # Put vault (cUSDC collateral) check before expiry
    ("Put vault (cUSDC collateral) check before expiry", "(1) Short: 1 300 put => need 15000 cUSD collateral",
     V(ETH300P_CUSDC, None, "cusdc", ONE, None, 0), NOW, {"usdc": tok(1), "cusdc": tok("0.02")}, {}, (tok(15000, 8), False)),
    # Put vault check (collateral with 27 decimals) before expiry
    ("Put vault check (collateral with 27 decimals) before expiry", "(1) Short: 1 300 put => need 300 rUSD collateral",
     V(put(300, strike_asset="tusd", collateral="tusd"), None, "tusd", ONE, None, 0), NOW, {}, {}, (tok(300, 27), False)),
    ("Put vault check (collateral with 27 decimals) before expiry", "(2) Short: 1 300 put, no collateral specified => need 300 USD collateral (default use short.collateral)",
     V(put(300, strike_asset="tusd", collateral="tusd"), None, None, ONE), NOW, {}, {}, (tok(300, 27), False)),
    ("Put vault check (collateral with 27 decimals) before expiry", "(3) Short: 1 300 put, collateral: 350 tUSD => excess: 50",
     V(put(300, strike_asset="tusd", collateral="tusd"), None, "tusd", ONE, None, tok(350, 27)), NOW, {}, {}, (tok(50, 27), True)),
    # Put vault check (collateral with 29 decimals) before expiry
    ("Put vault check (collateral with 29 decimals) before expiry", "(1) Short: 1 300 put => need 300 rUSD collateral",
     V(put(300, strike_asset="rusd", collateral="rusd"), None, "rusd", ONE, None, 0), NOW, {}, {}, (tok(300, 29), False)),
    ("Put vault check (collateral with 29 decimals) before expiry", "(2) Short: 1 300 put, no collateral specified => need 300 USD collateral (default use short.collateral)",
     V(put(300, strike_asset="rusd", collateral="rusd"), None, None, ONE), NOW, {}, {}, (tok(300, 29), False)),
    ("Put vault check (collateral with 29 decimals) before expiry", "(3) Short: 1 300 put, collateral: 350 rUSDC => excess: 50",
     V(put(300, strike_asset="rusd", collateral="rusd"), None, "rusd", ONE, None, tok(350, 29)), NOW, {}, {}, (tok(50, 29), True)),
    # Call vault check before expiry
    ("Call vault check before expiry", "(1) Short: 1 200 call => need 1 weth collateral ",
     V(ETH200C, None, "weth", ONE, None, 0), NOW, {}, {}, (tok(1, 18), False)),
    ("Call vault check before expiry", "(2) Short: 1 200 call, collateral: 1 weth, => excess: 0 ",
     V(ETH200C, None, "weth", ONE, None, tok(1, 18)), NOW, {}, {}, (0, True)),
    ("Call vault check before expiry", "(3) Short: 1 200 call, collateral: 2 weth, => excess: 1 ",
     V(ETH200C, None, "weth", ONE, None, tok(2, 18)), NOW, {}, {}, (tok(1, 18), True)),
    ("Call vault check before expiry", "(4) Short: 1 200 call, long: 1 250 call => need 0.2 eth ",
     V(ETH200C, ETH250C, "weth", ONE, ONE, 0), NOW, {}, {}, (tok("0.2", 18), False)),
    ("Call vault check before expiry", "(5) Short: 1 200 call, long: 1 250 call, collateral: 0.2 weth => excess: 0 ",
     V(ETH200C, ETH250C, "weth", ONE, ONE, tok("0.2", 18)), NOW, {}, {}, (0, True)),
    ("Call vault check before expiry", "(6) Short: 1 200 call, long: 2 250 call, collateral 0.2 eth => excess: 0 ",
     V(ETH200C, ETH250C, "weth", ONE, tok(2), tok("0.2", 18)), NOW, {}, {}, (0, True)),
    ("Call vault check before expiry", "(7) Short: 1 250 call, long: 1 200 call => excess: 0 ",
     V(ETH250C, ETH200C, "weth", ONE, ONE, 0), NOW, {}, {}, (0, True)),
    ("Call vault check before expiry", "(8) Short: 1 250 call, long: 3 200 call => excess: 0 ",
     V(ETH250C, ETH200C, "weth", ONE, tok(3), 0), NOW, {}, {}, (0, True)),
    ("Call vault check before expiry", "(9) Short: 3 250 call, long: 1 200 call => need 2 weth ",
     V(ETH250C, ETH200C, "weth", tok(3), ONE, 0), NOW, {}, {}, (tok(2, 18), False)),
    ("Call vault check before expiry", "(10) Short: 1 200 call, long: 1 200 call, collateral 0.5 weth => revert: cant have long = short ",
     V(ETH200C, ETH200C, "weth", ONE, ONE, tok("0.5", 18)), NOW, {}, {}, "long asset not marginable for short asset"),
    ("Call vault check before expiry", "(11) Short: 4 100 call, long: 1 300 call => need 3 weth ",
     V(ETH100C, ETH300C, "weth", tok(4), ONE, 0), NOW, {}, {}, (tok(3, 18), False)),
    ("Call vault check before expiry", "(12) Short: 2 200 call, long: 1 250 call => need 1 weth ",
     V(ETH200C, ETH250C, "weth", tok(2), ONE, 0), NOW, {}, {}, (tok(1, 18), False)),
    ("Call vault check before expiry", "(13) Short: 3 200 call, long: 1 250 call => need 2 weth ",
     V(ETH200C, ETH250C, "weth", tok(3), ONE, 0), NOW, {}, {}, (tok(2, 18), False)),
    # the source's title says 3 × 250 / 1 × 200; its vault is 2 × 100 short, 1 × 200 long
    ("Call vault check before expiry", "(14) Short: 3 250 call, long: 1 200 call => need 1 weth ",
     V(ETH100C, ETH200C, "weth", tok(2), ONE, 0), NOW, {}, {}, (tok(1, 18), False)),
    # Call vault (cETH collateral) check before expiry
    ("Call vault (cETH collateral) check before expiry", "(1) Short: 1 300 call => 50 cETH collateral",
     V(ETH300C_CETH, None, "ceth", ONE, None, 0), NOW, {"weth": tok(500), "ceth": tok(10)}, {}, (tok(50, 8), False)),
    # Call vault check (with high decimal collateral token) before expiry
    ("Call vault check (with high decimal collateral token) before expiry", "(1) Short: 1 300 call => need 1 rweth collateral ",
     V(call(300, underlying="reth", collateral="reth"), None, "reth", ONE, None, 0), NOW, {}, {}, (tok(1, 29), False)),
    ("Call vault check (with high decimal collateral token) before expiry", "(2) Short: 1 300 call, collateral: 1 reth, => excess: 0 ",
     V(call(300, underlying="reth", collateral="reth"), None, "reth", ONE, None, tok(1, 29)), NOW, {}, {}, (0, True)),
    ("Call vault check (with high decimal collateral token) before expiry", "(3) Short: 1 200 call, collateral: 2 reth, => excess: 1 reth",
     V(call(300, underlying="reth", collateral="reth"), None, "reth", ONE, None, tok(2, 29)), NOW, {}, {}, (tok(1, 29), True)),
    # Put vault check after expiry, ETH price = 150 USD (ITM)
    ("Put vault check after expiry, ETH price = 150 USD (ITM)", "(1) Short: 1 250 put, collateral: 250 USDC => can take out 150 USD",
     V(ETH250P, None, "usdc", ONE, None, tok(250, 6)), EXPIRED, {}, _exp(150), (tok(150, 6), True)),
    ("Put vault check after expiry, ETH price = 150 USD (ITM)", "(2) Short: 1 250 put, collateral: 300 USDC => can take out 200 USD",
     V(ETH250P, None, "usdc", ONE, None, tok(300, 6)), EXPIRED, {}, _exp(150), (tok(200, 6), True)),
    ("Put vault check after expiry, ETH price = 150 USD (ITM)", "(3) Short: 1 250 put, long: 200 put, collateral: 50 USDC => excess: 0",
     V(ETH250P, ETH200P, "usdc", ONE, ONE, tok(50, 6)), EXPIRED, {}, _exp(150), (0, True)),
    ("Put vault check after expiry, ETH price = 150 USD (ITM)", "(4) Short: 1 200 put, long: 250 put => excess: 50 USDC",
     V(ETH200P, ETH250P, "usdc", ONE, ONE, 0), EXPIRED, {}, _exp(150), (tok(50, 6), True)),
    ("Put vault check after expiry, ETH price = 150 USD (ITM)", "(5) Short: 1 200 put, long: 250 put, collateral: 50 USD => excess: 100 USDC",
     V(ETH200P, ETH250P, "usdc", ONE, ONE, tok(50, 6)), EXPIRED, {}, _exp(150), (tok(100, 6), True)),
    ("Put vault check after expiry, ETH price = 150 USD (ITM)", "(6) Short: 1 200 put, long: 2 250 put => excess: 150 USDC",
     V(ETH200P, ETH250P, "usdc", ONE, tok(2), 0), EXPIRED, {}, _exp(150), (tok(150, 6), True)),
    ("Put vault check after expiry, ETH price = 150 USD (ITM)", "(7) long: 1 200 put => excess 50 USDC, just like redeem",
     V(None, ETH200P, None, None, ONE), EXPIRED, {}, _exp(150), (tok(50, 6), True)),
    # Put vault check after expiry, ETH price = 300 USD (OTM)
    ("Put vault check after expiry, ETH price = 300 USD (OTM)", "(1) Short: 1 250 put, collateral: 250 USDC => can take out 250 USD",
     V(ETH250P, None, "usdc", ONE, None, tok(250, 6)), EXPIRED, {}, _exp(300), (tok(250, 6), True)),
    ("Put vault check after expiry, ETH price = 300 USD (OTM)", "(2) Short: 1 250 put, collateral: 300 USDC => can take out 300 USD",
     V(ETH250P, None, "usdc", ONE, None, tok(300, 6)), EXPIRED, {}, _exp(300), (tok(300, 6), True)),
    ("Put vault check after expiry, ETH price = 300 USD (OTM)", "(3) Short: 1 250 put, long: 200 put, collateral: 50 USDC => excess: 50",
     V(ETH250P, ETH200P, "usdc", ONE, ONE, tok(50, 6)), EXPIRED, {}, _exp(300), (tok(50, 6), True)),
    ("Put vault check after expiry, ETH price = 300 USD (OTM)", "(4) Short: 1 200 put, long: 250 put => excess: 0 USDC",
     V(ETH200P, ETH250P, "usdc", ONE, ONE, 0), EXPIRED, {}, _exp(300), (0, True)),
    ("Put vault check after expiry, ETH price = 300 USD (OTM)", "(5) Short: 1 200 put, long: 250 put, collateral: 50 USD => excess: 50 USDC",
     V(ETH200P, ETH250P, "usdc", ONE, ONE, tok(50, 6)), EXPIRED, {}, _exp(300), (tok(50, 6), True)),
    ("Put vault check after expiry, ETH price = 300 USD (OTM)", "(6) Short: 1 200 put, long: 2 250 put => excess: 0",
     V(ETH200P, ETH250P, "usdc", ONE, tok(2), 0), EXPIRED, {}, _exp(300), (0, True)),
    ("Put vault check after expiry, ETH price = 300 USD (OTM)", "(7) long: 1 200 put, excess 0 USDC",
     V(None, ETH200P, None, None, ONE), EXPIRED, {}, _exp(300), (0, True)),
    # Put vault check after expiry, ETH price = 210 USD
    ("Put vault check after expiry, ETH price = 210 USD", "(1) Short: 1 200 put, long 1 250 put => excess 40",
     V(ETH200P, ETH250P, "usdc", ONE, ONE, 0), EXPIRED, {}, _exp(210), (tok(40, 6), True)),
    ("Put vault check after expiry, ETH price = 210 USD", "(2) Short: 1 250 put, long 1 200 put, collateral 50 USDC => excess 10",
     V(ETH250P, ETH200P, "usdc", ONE, ONE, tok(50, 6)), EXPIRED, {}, _exp(210), (tok(10, 6), True)),
    # Call vault check after expiry, ETH price = 150 (OTM)
    ("Call vault check after expiry, ETH price = 150 (OTM)", "(1) Short: 1 200 call, collateral: 1 weth, => excess: 1 ",
     V(ETH200C, None, "weth", ONE, None, tok(1, 18)), EXPIRED, {}, _exp(150), (tok(1, 18), True)),
    ("Call vault check after expiry, ETH price = 150 (OTM)", "(2) Short: 1 200 call, collateral: 2 weth, => excess: 2 ",
     V(ETH200C, None, "weth", ONE, None, tok(2, 18)), EXPIRED, {}, _exp(150), (tok(2, 18), True)),
    ("Call vault check after expiry, ETH price = 150 (OTM)", "(3) Short: 1 200 call, long: 1 250 call, collateral: 0.2 weth => excess: 0.2 ",
     V(ETH200C, ETH250C, "weth", ONE, ONE, tok("0.2", 18)), EXPIRED, {}, _exp(150), (tok("0.2", 18), True)),
    ("Call vault check after expiry, ETH price = 150 (OTM)", "(4) Short: 1 200 call, long: 2 250 call, collateral 0.2 eth => excess: 0.2 ",
     V(ETH200C, ETH250C, "weth", ONE, tok(2), tok("0.2", 18)), EXPIRED, {}, _exp(150), (tok("0.2", 18), True)),
    ("Call vault check after expiry, ETH price = 150 (OTM)", "(5) Short: 1 250 call, long: 1 200 call => excess: 0 ",
     V(ETH250C, ETH200C, "weth", ONE, ONE, 0), EXPIRED, {}, _exp(150), (0, True)),
    ("Call vault check after expiry, ETH price = 150 (OTM)", "(6) Short: 1 250 call, long: 3 200 call => excess: 0 ",
     V(ETH250C, ETH200C, "weth", ONE, tok(3), 0), EXPIRED, {}, _exp(150), (0, True)),
    # Call vault check after expiry, ETH price = 300 (ITM)
    ("Call vault check after expiry, ETH price = 300 (ITM)", "(1) Short: 1 200 call, collateral: 1 weth, => excess: 0.666 ",
     V(ETH200C, None, "weth", ONE, None, tok(1, 18)), EXPIRED, {}, _exp(300), (666666666666666666, True)),
    ("Call vault check after expiry, ETH price = 300 (ITM)", "(2) Short: 1 200 call, collateral: 2 weth, => excess: 1.666 ",
     V(ETH200C, None, "weth", ONE, None, tok(2, 18)), EXPIRED, {}, _exp(300), (1666666666666666666, True)),
    ("Call vault check after expiry, ETH price = 300 (ITM)", "(3) Short: 1 200 call, long: 1 250 call, collateral: 0.2 weth => excess: 0.033 ",
     V(ETH200C, ETH250C, "weth", ONE, ONE, tok("0.2", 18)), EXPIRED, {}, _exp(300), (33333333333333333, True)),
    ("Call vault check after expiry, ETH price = 300 (ITM)", "(4) Short: 1 200 call, long: 2 250 call, collateral 0.2 eth => excess: 0.2 ",
     V(ETH200C, ETH250C, "weth", ONE, tok(2), tok("0.2", 18)), EXPIRED, {}, _exp(300), (tok("0.2", 18), True)),
    ("Call vault check after expiry, ETH price = 300 (ITM)", "(5) Short: 1 250 call, long: 1 200 call => excess: 0.1666 ",
     V(ETH250C, ETH200C, "weth", ONE, ONE, 0), EXPIRED, {}, _exp(300), (166666666666666666, True)),
    ("Call vault check after expiry, ETH price = 300 (ITM)", "(6) Short: 1 250 call, long: 3 200 call => excess: 0.8333 ",
     V(ETH250C, ETH200C, "weth", ONE, tok(3), 0), EXPIRED, {}, _exp(300), (833333333333333333, True)),
    # Call vault check after expiry, ETH price = 210 USD
    ("Call vault check after expiry, ETH price = 210 USD", "(1) Short: 1 250 call, long 1 200 call, collateral 0 USDC => excess 0.47 eth",
     V(ETH250C, ETH200C, "weth", ONE, ONE, 0), EXPIRED, {}, _exp(210), (47619047619047619, True)),
    ("Call vault check after expiry, ETH price = 210 USD", "(2) Short: 1 200 call, long 1 250 call, collateral 0.2 weth => excess: 0.15 eth",
     V(ETH200C, ETH250C, "weth", ONE, ONE, tok("0.2", 18)), EXPIRED, {}, _exp(210), (152380952380952380, True)),
    # Call vault check after expiry, ETH price = 250 USD
    ("Call vault check after expiry, ETH price = 250 USD", "(1) Short: 1 200 call, long 1 100 call => excess 0.4 weth",
     V(ETH200C, ETH100C, "weth", ONE, ONE, 0), EXPIRED, {}, _exp(250), (tok("0.4", 18), True)),
]

CALC = MarginCalculator(DECIMALS)


@pytest.mark.parametrize("describe,it,vault,now,prices,expiry_prices,expected", EXCESS_ROWS,
                         ids=[_id(MC, r[0], r[1]) for r in EXCESS_ROWS])
def test_get_excess_collateral(describe, it, vault, now, prices, expiry_prices, expected):
    if isinstance(expected, str):
        with pytest.raises(InvalidInput, match=expected):
            CALC.excess_collateral(vault, 0, now=now, prices=prices, expiry_prices=expiry_prices)
    else:
        assert CALC.excess_collateral(vault, 0, now=now, prices=prices, expiry_prices=expiry_prices) == expected


# --- marginCalculator.test.ts: Get cash value and payout rate ----------------------------------------------------------

CLOSE_EXPIRY = NOW + 86_400
CV_PUT = put(250, expiry=CLOSE_EXPIRY)
CV_CALL = call(250, collateral="usdc", expiry=CLOSE_EXPIRY)
CASH_ROWS = [
    ("Should return cash value for put as strike price - eth price when strike > eth price", CV_PUT, {"usdc": tok(1), "weth": tok(200)}, tok(50)),
    ("Should return cash value for call as 0 when strike price when strike > eth price", CV_CALL, {"usdc": tok(1), "weth": tok(150)}, 0),
    ("Should return cash value for put as 0 when strike  < eth price", CV_PUT, {"usdc": tok(1), "weth": tok(300)}, 0),
    ("Should return cash value for call as underlying - strike when strike < eth price", CV_CALL, {"usdc": tok(1), "weth": tok(300)}, tok(50)),
    ("Should revert if underlying price is not finalized.", CV_CALL, {"usdc": tok(1)}, "not finalized"),
    ("Should revert if strike asset price is not finalized.", CV_CALL, {"weth": tok(200)}, "not finalized"),
]


@pytest.mark.parametrize("it,otoken,expiry_prices,expected", CASH_ROWS, ids=[_id(MC, "Get cash value and payout rate", r[0]) for r in CASH_ROWS])
def test_get_expired_cash_value(it, otoken, expiry_prices, expected):
    from ramparts.venues.opyn import BASE, to_scaled_uint
    if isinstance(expected, str):
        with pytest.raises(InvalidInput, match=expected):
            CALC.expired_cash_value(otoken, expiry_prices)
    else:
        # CalculatorTester.getExpiredCashValue returns the value in 1e8, rounded down
        assert to_scaled_uint(CALC.expired_cash_value(otoken, expiry_prices), BASE, True) == expected


def test_payout_rate_not_expired_and_redeem():
    """'Should revert if option is not expired yet.' and (ITM 150) '(7) long: 1 200 put … just like redeem'."""
    with pytest.raises(InvalidInput, match="not expired yet"):
        CALC.expired_payout_rate(CV_PUT, now=NOW, expiry_prices={"usdc": tok(1), "weth": tok(200)})
    assert CALC.expired_payout_rate(ETH200P, now=EXPIRED, expiry_prices=_exp(150)) == tok(50, 6)


# --- marginCalculatorNakedMargin.test.ts -------------------------------------------------------------------------------

DAY_MIN = 60 * 24  # the tests' "day" (1440 s)
NAKED_TTE = [DAY_MIN * 7, DAY_MIN * 14, DAY_MIN * 28, DAY_MIN * 42, DAY_MIN * 56]
NAKED_UB = [tok("0.1678", 27), tok("0.237", 27), tok("0.3326", 27), tok("0.4032", 27), tok("0.4603", 27)]
SHOCK = tok("0.75", 27)


def _naked_calc() -> MarginCalculator:
    """The 'Get naked margin requirement' setup: spot shock 0.75 and the five buckets for the WETH/USDC
    put (USDC collateral) and call (WETH collateral); dust 10 USDC and 0.01 WETH."""
    c = MarginCalculator(DECIMALS)
    c = c.with_spot_shock("weth", "usdc", "usdc", True, SHOCK).with_spot_shock("weth", "usdc", "weth", False, SHOCK)
    c = c.with_upper_bound_values("weth", "usdc", "weth", False, NAKED_TTE, NAKED_UB)
    c = c.with_upper_bound_values("weth", "usdc", "usdc", True, NAKED_TTE, NAKED_UB)
    return c.with_collateral_dust("usdc", tok(10, 6)).with_collateral_dust("weth", tok("0.01", 18))


NAKED_ROWS = [
    # (it, short amount, strike, spot, is_put, bucket, collateral, decimals, expected in collateral decimals)
    ("should return required margin for naked margin vault: 100$ WETH put option with 150 spot price and 1 week to expiry",
     1, 100, 150, True, 0, "usdc", 6, tok("16.78", 6)),
    ("should return required margin for naked margin vault: 1 options 2500$ WETH call option with 1800 spot price and 1 week to expiry",
     1, 2500, 1800, False, 0, "weth", 18, tok("0.1678", 18)),
    ("should return required margin for naked margin vault: 100k options 2500$ WETH call option with 1800 spot price and 1 week to expiry",
     100000, 2500, 1800, False, 0, "weth", 18, tok(16780, 18)),
    ("should return required margin for naked margin vault: 100$ WETH put option with 150 spot price and 2 weeks to expiry",
     1, 100, 150, True, 1, "usdc", 6, tok("23.7", 6)),
]


def _expected_required_margin(amount, strike, spot, is_put, ub, shock):
    """The test file's ``expectedRequiredMargin`` (float arithmetic, as in the source)."""
    if is_put:
        a, b = min(strike, shock * spot), max(strike - shock * spot, 0)
    else:
        a, b = min(1, strike / (spot / shock)), max(1 - strike / (spot / shock), 0)
    return (ub * a + b) * amount


@pytest.mark.parametrize("it,amount,strike,spot,is_put,bucket,collateral,dec,expected", NAKED_ROWS,
                         ids=[_id(NAKED, "Get naked margin requirement", r[0]) for r in NAKED_ROWS])
def test_get_naked_margin_required(it, amount, strike, spot, is_put, bucket, collateral, dec, expected):
    c = _naked_calc()
    got = c.naked_margin_required("weth", "usdc", collateral, tok(amount), tok(strike), tok(spot), NOW + NAKED_TTE[bucket], dec,
                                  is_put, now=NOW)
    assert got == expected
    # the source's assertions: equal to its float formula, and its reference values within 0.1
    assert got / 10**dec == _expected_required_margin(amount, strike, spot, is_put, float(Decimal(NAKED_UB[bucket]) / Decimal(10**27)), 0.75)
    reference = {0: 16.77778677 if is_put else 0.1677778677, 1: 23.6996538}[bucket]
    if amount == 1:
        assert abs(got / 10**dec - reference) <= 0.1


NAKED_VAULT_ROWS = [
    # (it, vault builder, live prices, expected (amount, is_excess) or revert reason, dust override)
    ("should revert if naked margin vault have long otoken",
     lambda: V(put(200, expiry=NOW + NAKED_TTE[1]), put(250, expiry=NOW + NAKED_TTE[1]), None, ONE, ONE), {},
     "naked margin vault cannot have long otoken", None),
    ("should revert if naked margin vault have collateral amount less than dust amount",
     lambda: V(put(200, expiry=NOW + NAKED_TTE[1]), None, "usdc", ONE, None, tok(10, 6)), {"weth": tok(150)},
     "greater than dust amount", ("usdc", tok(30, 6))),
    ("should return correct excess value for naked margin vault: 100$ WETH put option with 150 spot price, 1 week to expiry, 16.78 USDC collateral and 0 USDC excess",
     lambda: V(put(100, expiry=NOW + NAKED_TTE[0]), None, "usdc", ONE, None, tok("16.78", 6)), {"weth": tok(150)},
     (0, True), ("usdc", tok("16.28", 6))),
    ("should return correct excess value for naked margin vault: 100$ WETH put option with 150 spot price, 1 week to expiry, 30 USDC collateral and 13.22 USDC excess",
     lambda: V(put(100, expiry=NOW + NAKED_TTE[0]), None, "usdc", ONE, None, tok(30, 6)), {"weth": tok(150)},
     (tok("13.22", 6), True), ("usdc", tok("16.28", 6))),
    ("should return false and the needed collateral amount for undercollateralized naked margin vault: 1 options 2500$ WETH call option with 1800 spot price and 1 week to expiry,",
     lambda: V(call(2500, expiry=NOW + NAKED_TTE[0]), None, "weth", ONE, None, tok("0.0678", 18)), {"weth": tok(1800)},
     (tok("0.1", 18), False), None),
]


@pytest.mark.parametrize("it,make_vault,prices,expected,dust", NAKED_VAULT_ROWS,
                         ids=[_id(NAKED, "Get naked margin requirement", r[0]) for r in NAKED_VAULT_ROWS])
def test_naked_margin_vault_excess(it, make_vault, prices, expected, dust):
    c = _naked_calc()
    if dust:
        c = c.with_collateral_dust(*dust)
    if isinstance(expected, str):
        with pytest.raises(InvalidInput, match=expected):
            c.excess_collateral(make_vault(), 1, now=NOW, prices=prices)
    else:
        assert c.excess_collateral(make_vault(), 1, now=NOW, prices=prices) == expected


def test_naked_setters_sequence():
    """'Collateral dust', 'Upper bound value', 'Spot shock value', 'Oracle deviation value', 'Find upper bound
    value' and 'Update upper bound value' describes, in the file's order (the owner-only reverts are not ported)."""
    c = MarginCalculator(DECIMALS)
    week = DAY_MIN * 7
    # Collateral dust › only owner should be able to set collateral dust amount / … equal to zero
    assert c.with_collateral_dust("weth", tok(1, 18)).dust["weth"] == tok(1, 18)
    with pytest.raises(InvalidInput, match="dust amount should be greater than zero"):
        c.with_collateral_dust("weth", 0)
    # Upper bound value › … array length is equal to zero / … lengths are not equal / … value is equal to zero
    with pytest.raises(InvalidInput, match="invalid times to expiry array"):
        c.with_upper_bound_values("weth", "usdc", "usdc", True, [], [tok("0.03", 27)])
    with pytest.raises(InvalidInput, match="invalid values array"):
        c.with_upper_bound_values("weth", "usdc", "usdc", True, [week], [tok("0.03", 27), tok("0.05", 27)])
    with pytest.raises(InvalidInput, match="no expiry upper bound value found"):
        c.with_upper_bound_values("weth", "usdc", "usdc", True, [week], [0])
    # › should set product upper bound value
    c = c.with_upper_bound_values("weth", "usdc", "usdc", True, [week], [tok("0.5", 27)])
    product = c.products[("weth", "usdc", "usdc", True)]
    assert product.max_price(week) == tok("0.5", 27) and product.times_to_expiry[0] == week
    # › … new expiry is not in array order / … new expiry array is not oredered
    with pytest.raises(InvalidInput, match="expiry array is not in order"):
        c.with_upper_bound_values("weth", "usdc", "usdc", True, [DAY_MIN * 3], [tok("0.2", 27)])
    with pytest.raises(InvalidInput, match="time should be in order"):
        c.with_upper_bound_values("weth", "usdc", "usdc", True, [DAY_MIN * 21, DAY_MIN * 14], [tok("0.2", 27)] * 2)
    # Spot shock value › … equal to zero / should set spot shock value
    with pytest.raises(InvalidInput, match="invalid spot shock value"):
        c.with_spot_shock("weth", "usdc", "usdc", True, 0)
    c = c.with_spot_shock("weth", "usdc", "usdc", True, SHOCK)
    assert c.products[("weth", "usdc", "usdc", True)].spot_shock == SHOCK
    # Oracle deviation value › should set oracle deviation value
    assert c.with_oracle_deviation(tok("0.05", 27)).oracle_deviation == tok("0.05", 27)
    # Find upper bound value › … emptry time to expiry array / … have no upper bound value
    with pytest.raises(InvalidInput, match="product have no expiry values"):
        Product().upper_bound_value(NOW + DAY_MIN * 7, NOW)
    with pytest.raises(InvalidInput, match="product have no upper bound value"):
        c.products[("weth", "usdc", "usdc", True)].upper_bound_value(NOW + DAY_MIN * 10000, NOW)
    # › find upper bound value › should return the upper bound value for the specific time to expiry
    tte = [DAY_MIN, DAY_MIN * 7, DAY_MIN * 14, DAY_MIN * 30]
    vals = [tok("0.3", 27), tok("0.4", 27), tok("0.2", 27), tok("0.06", 27)]
    c = c.with_upper_bound_values("weth", "usdc", "weth", False, tte, vals)
    assert c.products[("weth", "usdc", "weth", False)].upper_bound_value(NOW + tte[1], NOW) == vals[1]
    # Update upper bound value › … to a value equal to zero / non existant / should update
    with pytest.raises(InvalidInput, match="invalid option upper bound value"):
        c.with_updated_upper_bound_value("weth", "usdc", "usdc", True, week, 0)
    with pytest.raises(InvalidInput, match="upper bound value not found"):
        c.with_updated_upper_bound_value("weth", "usdc", "usdc", True, DAY_MIN * 336, tok("0.05", 27))
    updated = c.with_updated_upper_bound_value("weth", "usdc", "usdc", True, week, tok("0.1", 27))
    assert updated.products[("weth", "usdc", "usdc", True)].max_price(week) != c.products[("weth", "usdc", "usdc", True)].max_price(week)


# --- liquidations.test.ts ('MarginCalculator: liquidation') -------------------------------------------------------------

def _liq_calc() -> MarginCalculator:
    c = MarginCalculator(DECIMALS).with_collateral_dust("weth", tok(1, 27)).with_collateral_dust("usdc", tok(1, 27))
    c = c.with_spot_shock("weth", "usdc", "usdc", True, SHOCK).with_spot_shock("weth", "usdc", "weth", False, SHOCK)
    c = c.with_upper_bound_values("weth", "usdc", "usdc", True, NAKED_TTE, NAKED_UB)
    return c.with_oracle_deviation(tok("0.05", 27))


LIQ_SHORT = put(200, expiry=NOW + NAKED_TTE[1])
LIQ_DESC = "check if vault is liquidatable"


def _required(calc, spot, now):
    return calc.naked_margin_required("weth", "usdc", "usdc", tok(1), tok(200), tok(spot), LIQ_SHORT.expiry, 6, True, now=now)


def test_liquidatable_reverts_and_empty():
    c = _liq_calc()
    v = V(LIQ_SHORT, None, None, ONE)
    with pytest.raises(InvalidInput, match="invalid vault type to liquidate"):  # … with type equal to 0
        c.is_liquidatable(v, 0, 11111111, 0, 0, now=NOW)
    with pytest.raises(InvalidInput, match="auction timestamp should be post vault latest update"):
        c.is_liquidatable(v, 1, 11111111, 0, 0, now=NOW)  # round 1 was never set: timestamp 0
    assert c.is_liquidatable(V(None, None, None, 0), 1, 0, 0, 0, now=NOW) == (False, 0, 0)  # … no short Otoken
    with pytest.raises(InvalidInput, match="can not liquidate expired position"):
        c.is_liquidatable(v, 1, 0, 0, 0, now=LIQ_SHORT.expiry + 10)


LIQUIDATABLE_ROWS = [
    # (it, spot, collateral offset from the requirement, seconds since the round, expected (liquidatable, price, dust))
    ("should return not liquidatable with 0 value for price and dust amount when vault is not undercollateralized", 300, 0, 0, (False, 0, 0)),
    ("should return liquidatable, the liquidation price and the dust amount for the collateral asset", 100, -5, 0, (True, tok(95, 6), tok(1, 27))),
    ("should return ending price when auction elapsed time is greater than auction time", 100, -5, 3600, (True, "ending", tok(1, 27))),
]


@pytest.mark.parametrize("it,spot,offset,elapsed,expected", LIQUIDATABLE_ROWS, ids=[_id(LIQ, LIQ_DESC, r[0]) for r in LIQUIDATABLE_ROWS])
def test_is_liquidatable(it, spot, offset, elapsed, expected):
    c = _liq_calc()
    round_ts = NOW + 100
    required = _required(c, spot, round_ts)
    v = V(LIQ_SHORT, None, "usdc", ONE, None, required + offset)
    got = c.is_liquidatable(v, 1, 0, tok(spot), round_ts, now=round_ts + elapsed)
    # put 200, spot 100, 2-week bucket 0.237: required = 0.237·75 + 125 = 142.775 USDC; the auction starts at
    # max(cv − 5 % · spot, 0) = 95 and ends at the vault's collateral per oToken
    want = tuple(required + offset if x == "ending" else x for x in expected)
    assert got == want
    if spot == 100:
        assert required == tok("142.775", 6)


DEBT_PRICE_ROWS = [
    # (it, strike, spot, collateral, decimals, is_put, expected) — 120 s into the auction, deviation 5 %
    ("should return correct liquidation price for undercollateralized put option", 100, 80, 40, 6, True, tok("16.8", 6)),
    ("should return correct liquidation price for undercollateralized call option", 1500, 5000, "0.5", 18, False, tok("0.5", 18)),
    ("should cap liquidation price to ending price when it is greater than vault collateral", 150, 60, 26, 6, True, tok(26, 6)),
]


@pytest.mark.parametrize("it,strike,spot,collateral,dec,is_put,expected", DEBT_PRICE_ROWS,
                         ids=[_id(LIQ, "liquidation price", r[0]) for r in DEBT_PRICE_ROWS])
def test_liquidation_price(it, strike, spot, collateral, dec, is_put, expected):
    c = _liq_calc()
    cv = (strike - spot) if is_put else (spot - strike)
    start = NOW - 120
    got = c.debt_price_scaled(tok(collateral, dec), tok(1), tok(cv), tok(spot), start, dec, is_put, now=NOW)
    assert got == expected


# --- ramparts' own checks of the module (not ported) --------------------------------------------------------------------

def test_fixed_point_helpers_and_bad_input():
    from ramparts.venues.opyn import fp_div, fp_mul, from_scaled_uint, to_scaled_uint
    assert from_scaled_uint(123, 29) == 1 and from_scaled_uint(1, 0) == 10**27
    assert to_scaled_uint(-(10**21 + 1), 6, False) == 2 and to_scaled_uint(10**21 + 1, 6, True) == 1
    assert fp_mul(-1, 1) == 0 and fp_div(-1, 3 * 10**27) == 0
    with pytest.raises(InvalidInput):
        Otoken("weth", "usdc", "usdc", -1, EXPIRY, True)
    with pytest.raises(InvalidInput):
        CALC.excess_collateral(V(ETH250P, None, "usdc", ONE, None, 0), 2, now=NOW)
    with pytest.raises(InvalidInput):
        _naked_calc().naked_margin_required("weth", "usdc", "usdc", tok(1), tok(100), tok(150), NOW + 10**9, 6, True, now=NOW)
