"""Hyperliquid's documented ADL ranking (``LiquidationConfig.adl_rank = "hyperliquid"``), beside ramparts' default.

Hyperliquid's docs (ramparts/reference/open-source-venues.md §4): the users in profit on the opposite side are ranked by
``(mark_price / entry_price) × (notional_position / account_value)``. The reference for the key is the exact Fraction
arithmetic of :func:`ramparts.venues.hyperliquid.adl_rank_key`, written from the docs apart from the engine.

BTC-PERP as in ``test_engine.py``: 1 lot = 0.001 BTC, flat IM 10 % / MM 5 %, no insurance fund in ``Venue()``.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from enginekit import Venue
from ramparts.errors import InvalidInput
from ramparts.liquidation.config import LiquidationConfig
from ramparts.liquidation.waterfall import adl_ranking
from ramparts.venues.hyperliquid import adl_rank_key

ACCOUNTS = ("alice/main", "bob/main", "carol/main", "dave/main", "eve/main", "frank/main")


def _crash(rank: str | None) -> list[dict]:
    """alice long 0.05 from 50,000 on 500 USDC goes bankrupt at 38,000; three shorts stand opposite her:

    * bob: short 0.05 from 50,000 on 667 USDC: +600 at 38,000, equity 1,267, notional 1,900: leverage 1.50, profit 24 %;
    * carol: short 0.05 from 40,000 on 300 USDC: +100, equity 400: leverage 4.75, profit 5 %;
    * eve: short 0.05 from 36,000 on 300 USDC: −100, equity 200: leverage 9.5, at a loss.

    profit % × leverage: bob 0.36 > carol 0.2375 (> eve < 0). Hyperliquid's key (mark / entry × leverage): eve
    38/36 × 9.5 = 10.03 > carol 38/40 × 4.75 = 4.51 > bob 38/50 × 1.5 = 1.14, but eve is not in profit."""
    v = Venue(liquidation={} if rank is None else {"adl_rank": rank}, accounts=ACCOUNTS)
    for a, amount in (("alice/main", 500), ("bob/main", 667), ("carol/main", 300), ("dave/main", 10_000), ("eve/main", 300),
                      ("frank/main", 10_000)):
        v.deposit(a, amount)
    v.price(50_000)
    v.fill("alice/main", "bob/main", 50_000, "0.05")
    v.price(40_000)
    v.fill("dave/main", "carol/main", 40_000, "0.05")
    v.price(36_000)
    v.fill("frank/main", "eve/main", 36_000, "0.05")
    v.price(38_000)
    return [f for f in v.tick() if f["kind"] == "Deleverage"]


def test_the_two_rankings_pick_different_counterparties():
    default = _crash(None)
    hl = _crash("hyperliquid")
    assert [d["counterparty"] for d in default] == ["bob/main"]  # profit % × leverage: the 24 % winner at 1.5×
    assert [d["counterparty"] for d in hl] == ["carol/main"]  # Hyperliquid's key: the 4.75× winner
    assert default[0]["lots"] == hl[0]["lots"] == 50
    # the loser at 9.5× has the highest key but is not in profit: Hyperliquid ranks the users in profit
    assert all(d["counterparty"] != "eve/main" for d in hl)


def test_the_ranking_matches_the_documented_key_exactly():
    rng = np.random.default_rng(7)
    n = 400
    side = rng.choice([-1, 1], n)
    lots = side * rng.integers(1, 10_000, n)
    entry_px = rng.integers(30_000, 70_000, n)
    mark = np.full(n, 50_000)
    mark[5] = entry_px[5]  # a position exactly flat is not in profit
    entry = lots * entry_px
    value = lots * mark
    equity = rng.integers(-500_000, 50_000_000, n)
    equity[::37] = 0
    subs = np.arange(n)[::-1].copy()  # tie-break on sub-account index, not on position order
    order = adl_ranking(lots, value, entry, equity, subs, "hyperliquid")

    def key(i):
        in_profit = value[i] - entry[i] > 0
        if equity[i] <= 0:  # an account at or below zero counts as infinitely levered (as the default ranking)
            k = Fraction(10**30)
        else:
            k = adl_rank_key(int(mark[i]), int(entry_px[i]), abs(int(value[i])), int(equity[i]))
        return (not in_profit, -k, int(subs[i]))

    assert order.tolist() == sorted(range(n), key=key)


def test_the_key_is_a_config_choice_and_the_default_state_is_unchanged():
    assert LiquidationConfig().adl_rank.value == "profit_leverage"
    assert "adl_rank" not in LiquidationConfig().to_dict()  # the default venue's state (and hash) does not change
    assert LiquidationConfig(adl_rank="hyperliquid").to_dict()["adl_rank"] == "hyperliquid"
    with pytest.raises(InvalidInput) as err:
        LiquidationConfig(adl_rank="pro_rata")
    assert err.value.field == "liquidation.adl_rank" and "'hyperliquid'" in err.value.message


def test_the_hyperliquid_profile_uses_the_documented_ranking():
    from ramparts.venues.profiles import profile

    assert profile("hyperliquid").venue.liquidation["adl_rank"] == "hyperliquid"
    assert all(p.venue.liquidation.get("adl_rank", "profit_leverage") == "profit_leverage"
               for p in map(profile, ("ramparts", "binance", "bitmex")))


@pytest.mark.parametrize("rank", [None, "hyperliquid"])
def test_the_service_shows_the_ranking_the_engine_applies(rank):
    """``GET /v1/markets/{symbol}/adl`` (both the engine view and the published read view) lists the opposite side in
    the order the waterfall would deleverage it under the venue's ``adl_rank``, with the key it sorts by as ``score``."""
    from ramparts.service import views
    from ramparts.service.readview import ReadView, adl

    v = Venue(liquidation={} if rank is None else {"adl_rank": rank}, accounts=ACCOUNTS)
    for a, amount in (("alice/main", 5_000), ("bob/main", 667), ("carol/main", 300), ("dave/main", 10_000),
                      ("eve/main", 300), ("frank/main", 10_000)):
        v.deposit(a, amount)
    v.price(50_000)
    v.fill("alice/main", "bob/main", 50_000, "0.05")
    v.price(40_000)
    v.fill("dave/main", "carol/main", 40_000, "0.05")
    v.price(36_000)
    v.fill("frank/main", "eve/main", 36_000, "0.05")
    v.price(38_000)  # the shorts of _crash, nobody liquidated (alice holds 5,000)
    shown = views.adl(v.e, "BTC-PERP")
    published = adl(ReadView.capture(v.e), "BTC-PERP")
    expected = ["carol/main", "bob/main", "eve/main"] if rank else ["bob/main", "carol/main", "eve/main"]
    assert [r["subaccount"] for r in shown["shorts"]] == expected
    assert published == shown
    scores = [r["score"] for r in shown["shorts"]]
    if rank:  # Hyperliquid's key, in profit first: eve's 10.03 comes last because she is at a loss
        assert scores == pytest.approx([38 / 40 * 4.75, 38 / 50 * 1900 / 1267, 38 / 36 * 9.5], rel=1e-3)
    else:
        assert scores == sorted(scores, reverse=True)
