"""A notebook session in cells (``# %%``: open it in Jupyter, VS Code or Spyder as a notebook, or run it as a script).

A small venue, a crash, and everything a risk officer reads off it as pandas DataFrames: every account's equity,
maintenance margin, margin ratio and liquidation price in one call (``Engine.accounts()``), the positions with their
entry prices, the markets, and the crash's effects (margin calls, liquidation steps, ADL) as one table, with the exact
integers beside every human figure. ``main()`` returns the frames (the tests run it).
"""

# %% imports
from __future__ import annotations

from ramparts.engine import Engine
from ramparts.engine import events as ev
from ramparts.engine.frames import as_arrow
from ramparts.engine.presets import genesis, perpetual


def main(argv: list[str] | None = None) -> dict:
    # %% a venue: one perpetual, three traders, an insurance fund
    e = Engine()
    setup = [genesis(ts=0), perpetual("BTC-PERP", "BTC"), ev.OraclePrice(ts=1, instrument="BTC-PERP", price="60000")]
    for name, usdc in (("alice/main", "6500"), ("carol/main", "30000"), ("bob/main", "200000")):
        setup += [ev.OpenSubAccount(ts=1, subaccount=name), ev.Deposit(ts=1, subaccount=name, asset="USDC", amount=usdc)]
    setup += [ev.FundInsurance(ts=1, amount="500"),
              ev.Fill(ts=2, instrument="BTC-PERP", buyer="alice/main", seller="bob/main", price="60000", size="1"),
              ev.Fill(ts=2, instrument="BTC-PERP", buyer="carol/main", seller="bob/main", price="60000", size="2")]
    for x in setup:
        e.apply(x)

    # %% before the crash: one row per account
    before = e.accounts()
    print(before[["subaccount", "equity", "maintenance_margin", "margin_ratio", "liquidation_price"]])

    # %% the crash: the index falls in steps; each tick runs the liquidation waterfall
    fx: list[dict] = []
    t = 10
    for price in ("58500", "57000", "55500", "54000", "52000"):
        t += 40 * 10**9
        fx += e.apply(ev.OraclePrice(ts=t, instrument="BTC-PERP", price=price))
        fx += e.apply(ev.Tick(ts=t + 1))

    # %% what happened, as one table
    effects = e.effects_frame(fx)
    print(effects.groupby("kind").size())
    steps = effects[effects.kind == "LiquidationStep"]
    print(steps[["subaccount", "notional", "penalty"]])

    # %% after: accounts, positions, markets (and Arrow, for the columnar tools)
    after, positions, markets = e.accounts(), e.positions(), e.markets_frame()
    print(after[["subaccount", "equity", "margin_ratio", "in_liquidation"]])
    print(positions[["subaccount", "instrument", "size", "entry_price", "mark", "unrealised_pnl"]])
    table = as_arrow(after)
    return {"before": before, "after": after, "positions": positions, "markets": markets, "effects": effects, "arrow": table,
            "engine": e}


if __name__ == "__main__":
    main()
