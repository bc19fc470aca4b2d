"""A three-trader venue walked through every layer of the liquidation waterfall, journaled.

What this example owns: a small, readable script that shows the engine's public API end to end,

1. a venue (USDC settlement, one BTC perpetual with Binance-like notional tiers) and an insurance
   fund;
2. fills checked against initial margin, index prices re-margining the holders;
3. a crash: a margin call at maintenance, then a ``Tick`` that runs the waterfall (partial steps,
   the insurance fund, auto-deleveraging if the fund runs dry);
4. the conservation identity ``deposits − withdrawals = balances + insurance fund + fees +
   liquidators + socialised loss + variation margin``, checked exactly after every event;
5. the journal (SQLite WAL) replayed into a fresh engine: the same state hash, byte for byte.

Run: ``python examples/liquidation_waterfall.py [--journal PATH] [--path 58900,56500]``.
"""

from __future__ import annotations

import argparse
import tempfile
from decimal import Decimal, InvalidOperation
from pathlib import Path

from rich.console import Console
from rich.table import Table

from ramparts.engine import events as ev
from ramparts.engine.node import Node, replay
from ramparts.engine.presets import BTC_TIERS, genesis, perpetual

SECOND = 10**9  # event timestamps are nanoseconds
USDC = 10**6  # base units of the settlement asset


def crash_path(text: str) -> list[str]:
    """``--path``: comma-separated positive prices (argparse turns the ValueError into a clear message)."""
    prices = [t.strip() for t in text.split(",")]
    for t in prices:
        try:
            ok = Decimal(t).is_finite() and Decimal(t) > 0
        except InvalidOperation:
            ok = False
        if not ok:
            raise argparse.ArgumentTypeError(f"{t!r} is not a positive price")
    return prices


def conservation(node: Node, net_deposits: int) -> dict[str, int]:
    """The ledger's totals by category; raises ``AssertionError`` unless value is conserved."""
    totals = node.engine.ledger.totals("USDC")
    assert sum(totals.values()) == 0, f"the ledger does not balance: {totals}"
    inside = sum(v for k, v in totals.items() if k != "external")
    assert inside == net_deposits, f"value inside the venue {inside} != deposits − withdrawals {net_deposits}"
    return totals


def risk_table(node: Node, title: str, subs: list[str]) -> Table:
    """Equity, requirements and margin ratio of ``subs`` at the current marks, in USDC."""
    t = Table(title=title)
    for col in ("sub-account", "lots", "equity", "initial", "maintenance", "MM / equity"):
        t.add_column(col, justify="right")
    for s in subs:
        r = node.engine.risk(s)
        lots = node.engine.position(s, "BTC-PERP")[0]
        ratio = "—" if r.margin_ratio is None else f"{r.margin_ratio:.3f}"
        t.add_row(s, f"{lots:+,}", f"{r.equity / USDC:,.2f}", f"{r.initial_margin / USDC:,.2f}",
                  f"{r.maintenance_margin / USDC:,.2f}", ratio)  # fmt: skip
    return t


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--journal", type=Path, help="SQLite journal to write (default: a temporary file)")
    ap.add_argument("--path", type=crash_path, default="58900,56500", help="index prices of the crash, USDC per BTC, a liquidation tick after each")
    args = ap.parse_args(argv)
    console = Console()
    tmp = tempfile.TemporaryDirectory()
    path = args.journal or Path(tmp.name) / "waterfall.sqlite"
    traders = ["alice/main", "bob/main", "carol/main"]
    net = 0
    clock = 0

    def at() -> int:
        nonlocal clock
        clock += SECOND
        return clock

    with Node.open(str(path)) as node:
        def submit(event) -> list[dict]:
            nonlocal net
            fx = node.submit(event)
            if isinstance(event, (ev.Deposit, ev.FundInsurance)):
                net += int(event.amount * USDC)
            conservation(node, net)
            return fx

        submit(genesis(ts=0, full_close_notional=20_000 * USDC, cooldown_ns=0))  # partial steps above 20,000 USDC
        submit(perpetual("BTC-PERP", "BTC", tiers=BTC_TIERS))
        for s in traders:
            submit(ev.OpenSubAccount(ts=0, subaccount=s))
        submit(ev.FundInsurance(ts=at(), amount="500"))
        submit(ev.Deposit(ts=at(), subaccount="alice/main", asset="USDC", amount="1500"))  # 46x leverage
        submit(ev.Deposit(ts=at(), subaccount="bob/main", asset="USDC", amount="40000"))
        submit(ev.Deposit(ts=at(), subaccount="carol/main", asset="USDC", amount="25000"))
        submit(ev.OraclePrice(ts=at(), instrument="BTC-PERP", price="60000"))
        submit(ev.Fill(ts=at(), instrument="BTC-PERP", buyer="alice/main", seller="bob/main", price="60000", size="0.8"))
        submit(ev.Fill(ts=at(), instrument="BTC-PERP", buyer="alice/main", seller="carol/main", price="60000", size="0.35"))
        console.print(risk_table(node, "after the fills, BTC at 60,000", traders))

        kinds: dict[str, int] = {}
        calls = 0
        for price in args.path:
            fx = submit(ev.OraclePrice(ts=at(), instrument="BTC-PERP", price=price))
            n_calls = sum(f["kind"] == "MarginCall" for f in fx)
            calls += n_calls
            fx = submit(ev.Tick(ts=at(), liquidator="keeper/main"))
            step: dict[str, int] = {}
            for f in fx:
                step[f["kind"]] = step.get(f["kind"], 0) + 1
                kinds[f["kind"]] = kinds.get(f["kind"], 0) + 1
            console.print(f"BTC at {price}: {n_calls} margin call(s); the liquidation tick's effects:",
                          ", ".join(f"{k} × {n}" for k, n in step.items()) or "none")  # fmt: skip
            console.print(risk_table(node, f"after the tick at {price}", traders + ["backstop/vault"]))

        totals = conservation(node, net)
        t = Table(title="where the deposits are (USDC)")
        t.add_column("ledger category")
        t.add_column("amount", justify="right")
        for k, v in sorted(totals.items()):
            t.add_row(k, f"{v / USDC:,.6f}")
        console.print(t)
        live_hash = node.engine.state_hash()

    with Node.open(str(path)) as again:  # reopening replays the journal
        replayed = replay(again.journal, use_snapshot=False).state_hash()
    console.print(f"state hash live {live_hash[:16]}…, replayed from {path.name} {replayed[:16]}…: "
                  f"{'equal' if replayed == live_hash else 'DIFFERENT'}")  # fmt: skip
    tmp.cleanup()
    return {"effects": kinds, "totals": totals, "live_hash": live_hash, "replayed_hash": replayed, "margin_calls": calls}


if __name__ == "__main__":
    from ramparts.errors import RampartsError

    try:
        main()
    except RampartsError as err:  # e.g. a price off the tick grid: a clear message, no traceback
        raise SystemExit(f"error: {err}") from None
