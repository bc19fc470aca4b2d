"""The bridge scenarios of the lab (:mod:`ramparts.lab.bridge`) and ``ramparts bridge``.

The runs keep their journal in ``tmp_path``; the tests read it back themselves: they replay it into
a fresh engine event by event, tally what crossed the venue's edge per asset from the journaled
events and the effects the replay re-derives (not from the run's own bookkeeping), and check the
run's figures against that replay.
"""

from __future__ import annotations

import json
from decimal import Decimal

import numpy as np
import pytest
from typer.testing import CliRunner

from ramparts.cli import app
from ramparts.engine import Engine
from ramparts.engine import events as ev
from ramparts.errors import InvalidInput, Rejected
from ramparts.journal import open_journal
from ramparts.lab.bridge import (
    PPM,
    TOPUP,
    WRAPPED,
    BridgeSpec,
    backing_path,
    run_bridge_failure,
    run_finality_delay,
)

S = 10**9
SMALL = BridgeSpec(accounts=40, seed=3, runners=0.5)  # half the traders run: some are caught in flight by the halt


def replay_and_tally(url: str) -> tuple[Engine, dict[str, int], dict[str, list]]:
    """A fresh engine fed the journal's events; per asset, what came in less what arrived out; the effects by kind."""
    e = Engine()
    net: dict[str, int] = {}
    fx_by: dict[str, list] = {}
    with open_journal(url) as j:
        for rec in j.read(from_seq=1):
            x = ev.decode_event(rec.kind, rec.payload, rec.seq)
            fx = e.apply(x)
            if isinstance(x, (ev.Deposit, ev.LocationDeposit)):
                net[x.asset] = net.get(x.asset, 0) + e.assets[x.asset].units(x.amount)
            elif isinstance(x, ev.FundInsurance):
                net["USDC"] = net.get("USDC", 0) + e.assets["USDC"].units(x.amount)
            elif isinstance(x, ev.Withdraw):
                net[x.asset] = net.get(x.asset, 0) - e.assets[x.asset].units(x.amount)
            for f in fx:
                fx_by.setdefault(f["kind"], []).append(f)
                if f["kind"] == "WithdrawalArrived":
                    net[f["asset"]] -= f["units"]
    return e, net, fx_by


@pytest.fixture(scope="module")
def failure(tmp_path_factory):
    out = {}
    for policy in ("reprice", "trust"):
        url = f"sqlite:///{tmp_path_factory.mktemp(policy) / 'j.sqlite'}"
        out[policy] = (run_bridge_failure(SMALL, policy, journal_url=url), *replay_and_tally(url))
    return out


@pytest.mark.parametrize("policy", ["reprice", "trust"])
def test_the_bridge_failure_conserves_every_asset_and_replays_to_the_same_hash(failure, policy):
    run, e, net, _ = failure[policy]
    s = run["summary"]
    assert e.state_hash() == s["state_hash"] and s["replay_matches"] is True
    for asset in ("USDC", WRAPPED):
        totals = e.ledger.totals(asset)
        assert sum(totals.values()) == 0, (asset, totals)
        assert -totals["external"] == net[asset], (asset, totals, net)
    # the wrapped asset is all somewhere: with the traders, the vault, the maker, or in flight
    held = sum(v for a, k, v in e.ledger.items() if a == WRAPPED and isinstance(k, int))
    assert held + e.ledger.balance(WRAPPED, "inflight:bridge") == net[WRAPPED]


def test_a_withdrawal_in_flight_when_the_bridge_halts_stays_stranded(failure):
    run, e, _, fx = failure["reprice"]
    loc = e.locations.locations["bridge"]
    assert loc.status == "failed"
    stuck = e.locations.inflight
    assert stuck, "the scenario strands at least one withdrawal (runners before the halt)"
    assert all(t.due_ns < e.time_ns for t in stuck)  # long past its finality, and still not arrived
    assert e.ledger.balance(WRAPPED, "inflight:bridge") == sum(t.units for t in stuck)
    assert run["summary"]["stranded_in_flight_eth"] == pytest.approx(sum(t.units for t in stuck) / 10**8)
    halted = next(f for f in fx["LocationStatusChanged"] if f["to"] == "halted")
    # the stranded ones left before the halt and were due after it
    assert all(t.due_ns - loc.finality_ns < e.time_ns for t in stuck)
    assert {f["id"] for f in fx.get("WithdrawalArrived", [])}.isdisjoint({t.id for t in stuck})
    before = e.state_hash()
    fx_tick = e.apply(ev.Tick(ts=e.time_ns + 30 * 24 * 3600 * S))  # a month later: nothing arrives
    assert not [f for f in fx_tick if f["kind"] == "WithdrawalArrived"] and e.locations.inflight == stuck
    holder = next(k for a, k, v in e.ledger.items() if a == WRAPPED and isinstance(k, int) and v > 0 and not e.is_system[k])
    with pytest.raises(Rejected) as exc:
        e.apply(ev.LocationWithdraw(ts=e.time_ns, subaccount=str(e.subs[holder].id), asset=WRAPPED, amount="0.00000001",
                                    location="bridge"))
    assert exc.value.reason == "location_failed"
    assert before != e.state_hash()  # only the tick changed the state (time, seq)
    assert halted["from"] == "active"


def test_the_figures_are_the_replayed_engines(failure):
    for policy in ("reprice", "trust"):
        run, e, net, fx = failure[policy]
        s = run["summary"]
        fund = int(Decimal(str(round(s["collateral_usd"] * SMALL.fund, 2))) * 10**6)
        assert s["loss_by_layer"]["insurance_fund"] == pytest.approx((fund - e.ledger.totals("USDC")["insurance"]) / 1e6)
        assert s["loss_by_layer"]["backstop_vault"] == pytest.approx(-e.equity(e.backstop) / 1e6)  # the vault starts empty
        assert s["seized_by_vault_eth"] == pytest.approx(e.ledger.balance(WRAPPED, e.backstop) / 1e8)
        assert s["bankrupt"] == len({f["subaccount"] for f in fx.get("Bankruptcy", []) if f["subaccount"].startswith("t")})
        assert s["backing_in_force_at_end"] == e.locations.locations["bridge"].backing_ppm / PPM
        assert e.locations.locations["bridge"].backing_ppm == round(SMALL.residual * PPM)
        # the depositors' loss: every wrapped unit that was deposited and not arrived out, at the last price, times the backing lost
        px = float(run["series"]["eth"].iloc[-1])
        assert s["depositors_backing_loss"] == pytest.approx(net[WRAPPED] / 1e8 * px * (1 - SMALL.residual))


def test_reprice_tracks_the_backing_and_trust_holds_the_feed_until_the_loss_is_declared(failure):
    rep = failure["reprice"][0]["series"]
    tru = failure["trust"][0]["series"]
    halted = rep["status"] != "active"
    # after the halt the repricing venue values the wrapped asset at the backing of the step (to the ppm)
    after = rep[halted & (rep["status"] == "failed")]
    assert len(after) and np.allclose(after["backing_in_force"], np.round(after["backing"] * PPM) / PPM)
    drained = (tru["ts_ns"] - tru["ts_ns"].iloc[0]) / 3600e9 + SMALL.step_minutes / 60 < SMALL.exploit_hour + SMALL.drain_hours - 1e-9
    assert (tru.loc[drained, "backing_in_force"] == 1.0).all()  # trusting: full value while the bridge drains
    assert tru["backing_in_force"].iloc[-1] == pytest.approx(SMALL.residual)
    # the same population and paths: the collateral the traders posted is the same
    assert failure["reprice"][0]["summary"]["collateral_usd"] == failure["trust"][0]["summary"]["collateral_usd"]


def test_backing_path_is_linear_between_the_exploit_and_the_end_of_the_drain():
    spec = BridgeSpec(exploit_hour=2.0, drain_hours=4.0, residual=0.2)
    h = np.array([0.0, 1.99, 2.0, 3.0, 4.0, 6.0, 9.0])
    assert backing_path(spec, h).tolist() == pytest.approx([1.0, 1.0, 1.0, 0.8, 0.6, 0.2, 0.2])


@pytest.fixture(scope="module")
def finality(tmp_path_factory):
    spec = BridgeSpec(scenario="finality", accounts=40, seed=5, every=4, finalities=(0.0, 10080.0))
    out = {}
    for f in spec.finalities:
        url = f"sqlite:///{tmp_path_factory.mktemp('fin') / 'j.sqlite'}"
        out[f] = (run_finality_delay(spec, f, journal_url=url), *replay_and_tally(url))
    return out


def test_collateral_in_flight_during_a_crash(finality):
    for f, (run, e, net, fx) in finality.items():
        s = run["summary"]
        assert e.state_hash() == s["state_hash"] and s["replay_matches"] is True
        for asset in ("USDC", TOPUP):
            totals = e.ledger.totals(asset)
            assert sum(totals.values()) == 0 and -totals["external"] == net.get(asset, 0), (f, asset, totals)
        assert not e.locations.pending  # the last tick lets everything reach finality
        sent = fx.get("DepositPending", []) + [x for x in fx.get("DepositConfirmed", []) if x["id"] is None]
        assert s["topups_sent"] == len(sent) and s["topups_usd"] == pytest.approx(sum(x["units"] for x in sent) / 1e6)
        seized = fx.get("PendingSeized", [])
        assert s["pending_seized"] == len(seized)
        if f == 0:
            assert not fx.get("DepositPending") and not seized and s["max_pending_usd"] == 0
    slow = finality[10080.0][0]["summary"]
    assert slow["topups_sent"] > 0 and slow["max_pending_usd"] > 0  # a crash margin-calls someone who tops up
    # a 7-day finality: every top-up is still pending when the window closes, counted at the pending haircut meanwhile
    pend = finality[10080.0][3].get("DepositPending", [])
    assert all(x["due_ns"] > int(finality[10080.0][0]["series"]["ts_ns"].iloc[-1]) for x in pend)


def test_bad_specs_name_their_field():
    for kw, field in ((dict(scenario="nope"), "scenario"), (dict(residual=1.5), "residual"), (dict(accounts=0), "accounts"),
                      (dict(finalities=()), "finalities"), (dict(exploit_hour=20.0), "exploit_hour"),
                      (dict(pending_haircut=float("nan")), "pending_haircut")):
        with pytest.raises(InvalidInput) as exc:
            BridgeSpec(**kw)
        assert exc.value.field == field


def test_the_command_writes_its_report_and_refuses_bad_flags_in_one_line(tmp_path):
    runner = CliRunner()
    out = tmp_path / "run"
    res = runner.invoke(app, ["bridge", "failure", "--accounts", "20", "--out", str(out)])
    assert res.exit_code == 0, res.output
    doc = json.loads((out / "summary.json").read_text())
    assert set(doc["runs"]) == {"reprice", "trust"} and all(r["replay_matches"] for r in doc["runs"].values())
    html = (out / "report.html").read_text()
    assert "data-source='summary.json'" in html and "loss borne: backstop vault" in html
    assert res.output.strip().splitlines()[-1].startswith("report: ")
    bad = tmp_path / "bad"
    res = runner.invoke(app, ["bridge", "failure", "--residual", "2", "--out", str(bad)])
    assert res.exit_code == 2 and "--residual" in res.output and "Traceback" not in res.output and not bad.exists()
    res = runner.invoke(app, ["bridge", "finality", "--finalities", "0,abc", "--out", str(bad)])
    assert res.exit_code == 2 and "--finalities" in res.output and not bad.exists()
