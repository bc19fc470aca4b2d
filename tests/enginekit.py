"""Small helpers shared by the engine tests: a venue builder and the conservation check."""

from __future__ import annotations

from ramparts.engine import Engine
from ramparts.engine import events as ev
from ramparts.engine.presets import genesis, perpetual

USDC = 10**6
S = 10**9  # one second in ns


def usdc(x) -> int:
    """Whole or decimal USDC to base units (exact for the literals the tests use)."""
    from decimal import Decimal

    return int(Decimal(str(x)) * USDC)


class Venue:
    """An engine with a clock: each call advances time by one second unless ``ts`` is given."""

    def __init__(self, *, liquidation: dict | None = None, perp: dict | None = None, accounts=("alice/main", "bob/main")):
        self.e = Engine()
        self.t = 0
        self.deposits = 0
        self.withdrawals = 0
        self.flows: dict[str, int] = {}  # per asset: deposits − withdrawals, base units
        self.effects: list[dict] = []
        self.apply(genesis(ts=0, **(liquidation or {})))
        self.apply(perpetual(ts=0, **(perp or {})))
        for a in accounts:
            self.apply(ev.OpenSubAccount(ts=0, subaccount=a))

    def apply(self, event):
        fx = self.e.apply(event)
        self.effects.extend(fx)
        asset = getattr(event, "asset", "USDC")
        units = int(event.amount * 10 ** self.e.assets[asset].decimals) if isinstance(event, (ev.Deposit, ev.FundInsurance, ev.Withdraw)) else 0
        if isinstance(event, (ev.Deposit, ev.FundInsurance)):
            if asset == "USDC":
                self.deposits += units
            self.flows[asset] = self.flows.get(asset, 0) + units
        if isinstance(event, ev.Withdraw):
            if asset == "USDC":
                self.withdrawals += units
            self.flows[asset] = self.flows.get(asset, 0) - units
        check_conservation(self)
        return fx

    def now(self, ts=None) -> int:
        self.t = self.t + S if ts is None else ts
        return self.t

    def deposit(self, sub, amount, ts=None, asset="USDC"):
        return self.apply(ev.Deposit(ts=self.now(ts), subaccount=sub, asset=asset, amount=str(amount)))

    def withdraw(self, sub, amount, ts=None, asset="USDC"):
        return self.apply(ev.Withdraw(ts=self.now(ts), subaccount=sub, asset=asset, amount=str(amount)))

    def asset_price(self, asset, price, ts=None):
        return self.apply(ev.AssetPrice(ts=self.now(ts), asset=asset, price=str(price)))

    def rate(self, asset, rate, ts=None):
        return self.apply(ev.ExchangeRate(ts=self.now(ts), asset=asset, rate=str(rate)))

    def price(self, price, instrument="BTC-PERP", ts=None):
        return self.apply(ev.OraclePrice(ts=self.now(ts), instrument=instrument, price=str(price)))

    def fill(self, buyer, seller, price, size, instrument="BTC-PERP", ts=None, buyer_fee="0", seller_fee="0"):
        return self.apply(
            ev.Fill(ts=self.now(ts), instrument=instrument, buyer=buyer, seller=seller, price=str(price), size=str(size),
                    buyer_fee=buyer_fee, seller_fee=seller_fee)
        )

    def tick(self, ts=None, liquidator="keeper"):
        return self.apply(ev.Tick(ts=self.now(ts), liquidator=liquidator))

    def bal(self, key, asset="USDC") -> int:
        if isinstance(key, str) and "/" in key:
            key = self.e.sub_index(key)
        return self.e.ledger.balance(asset, key)


def check_conservation(v: Venue) -> None:
    """deposits − withdrawals = balances + insurance + fees + liquidators + socialised loss + vm, exactly,
    in the settlement asset and, per asset, for every other asset: each asset's ledger sums to zero and
    ``−external`` equals that asset's deposits − withdrawals."""
    totals = v.e.ledger.totals("USDC") if v.e.ledger else {}
    if not totals:
        return
    assert sum(totals.values()) == 0, totals
    inside = sum(val for cat, val in totals.items() if cat != "external")
    assert inside == v.deposits - v.withdrawals, (totals, v.deposits, v.withdrawals)
    assert -totals["external"] == v.deposits - v.withdrawals
    assets = {a for a, _, _ in v.e.ledger.items()} | set(v.flows)
    for a in sorted(assets):
        t = v.e.ledger.totals(a)
        assert sum(t.values()) == 0, (a, t)
        assert -t["external"] == v.flows.get(a, 0), (a, t, v.flows)
        assert sum(val for cat, val in t.items() if cat != "external") == v.flows.get(a, 0), (a, t, v.flows)


def json_leaves(v):
    """Every leaf of a JSON-like value (dict values and list items walked), in order."""
    if isinstance(v, dict):
        for x in v.values():
            yield from json_leaves(x)
    elif isinstance(v, list):
        for x in v:
            yield from json_leaves(x)
    else:
        yield v
