"""``ramparts bridge``: the command line of :mod:`ramparts.lab.bridge` (a bridge that fails, collateral in
flight during a crash). Registered with the lab's commands (:data:`ramparts.lab.commands.COMMANDS`); it
follows their conventions (:mod:`ramparts.cli_common`: one-line errors naming the flag, the output-folder
rule, the report's path on the last line)."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from ramparts.cli_common import console, force_option, out_option, run_folder, show_files, user_errors
from ramparts.errors import InvalidInput

#: the library's field names that are not the flag showing them
FIELDS = {"finality_minutes": "finality", "pending_haircut": "pending_haircut", "event": "event"}


def _minutes_list(text: str) -> tuple[float, ...]:
    try:
        out = tuple(float(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise InvalidInput("finalities", f"expected comma-separated minutes (0,15,10080), got {text!r}") from None
    return out


def bridge(
    scenario: str = typer.Argument("failure", help="failure (a wrapped collateral asset loses its backing while its bridge halts) "
                                                   "or finality (collateral in flight during a crash)"),
    accounts: int = typer.Option(200, help="traders"),
    seed: int = typer.Option(1, help="population seed"),
    haircut: float = typer.Option(0.10, help="failure: static haircut of the wrapped asset"),
    pending_haircut: float = typer.Option(0.5, help="share of a pending deposit's value left out until finality"),
    finality: float = typer.Option(20.0, help="failure: the bridge's finality, minutes"),
    drain_hours: float = typer.Option(6.0, help="failure: hours over which the backing falls"),
    residual: float = typer.Option(0.10, help="failure: backing left when the drain is over (fraction)"),
    detect_minutes: float = typer.Option(30.0, help="failure: minutes from the exploit's start to the bridge's halt"),
    eth_move: float = typer.Option(-0.10, help="failure: ETH's move over the window (0 isolates the bridge)"),
    runners: float = typer.Option(0.2, help="failure: share of traders who try to withdraw over the bridge during the exploit"),
    event: str = typer.Option("black-thursday-2020", help="finality: a built-in crash window (black-thursday-2020, china-ban-2021, "
                                                          "luna-2022, ftx-2022, yen-carry-2024, tariff-cascade-2025)"),
    finalities: str = typer.Option("0,15,10080", help="finality: the chain's finalities to compare, minutes, comma-separated"),
    topup_share: float = typer.Option(0.5, help="finality: share of traders who answer a margin call with a top-up"),
    every: int = typer.Option(1, min=1, help="finality: use every n-th observation of the crash path"),
    out: Path = out_option("bridge"),
    force: bool = force_option(),
) -> None:
    """A bridge that fails (backing drained while the chain halts) or collateral in flight during a crash, through the engine."""
    from ramparts.lab.bridge import LAYER_WORDS, LAYERS, BridgeSpec, run_bridge, write_bridge_report

    with user_errors(FIELDS):
        spec = BridgeSpec(scenario=scenario, accounts=accounts, seed=seed, haircut=haircut, pending_haircut=pending_haircut,
                          finality_minutes=finality, drain_hours=drain_hours, residual=residual, detect_minutes=detect_minutes,
                          eth_move=eth_move, runners=runners, event=event, finalities=_minutes_list(finalities),
                          topup_share=topup_share, every=every)
        with run_folder("bridge", scenario, out, force=force) as out_dir:
            with console.status(f"running the {scenario} scenario through the engine"):
                result = run_bridge(spec)
            files = write_bridge_report(result, out_dir)
    runs = {k: r["summary"] for k, r in result.runs.items()}
    t = Table(title=f"ramparts bridge {scenario}: {accounts:,} accounts")
    t.add_column("figure")
    for k in runs:
        t.add_column(k, justify="right")
    rows = [("accounts liquidated", "liquidated", "{:,}"), ("accounts bankrupt", "bankrupt", "{:,}")]
    if scenario == "failure":
        rows += [("withdrawals refused (bridge halted)", "withdrawals_refused_halted", "{:,}"),
                 ("stranded in flight (ETH)", "stranded_in_flight_eth", "{:,.3f}"), ("seized by the vault (ETH)", "seized_by_vault_eth", "{:,.3f}")]
    else:
        rows += [("top-ups sent (USD)", "topups_usd", "{:,.0f}"), ("top-ups seized while pending", "pending_seized", "{:,}")]
    for label, key, fmt in rows:
        t.add_row(label, *[fmt.format(s[key]) for s in runs.values()])
    for b in LAYERS:
        t.add_row(f"loss borne: {LAYER_WORDS[b]} (USDC)", *[f"{s['loss_by_layer'][b]:,.0f}" for s in runs.values()])
    t.add_row("value conserved per asset", *["yes" if s["value_conserved_per_asset"] else "NO" for s in runs.values()])
    t.add_row("journal replay reproduces the hash", *["yes" if s["replay_matches"] else "NO" for s in runs.values()])
    console.print(t)
    show_files(files["html"], summary=files["json"])


__all__ = ["bridge"]
