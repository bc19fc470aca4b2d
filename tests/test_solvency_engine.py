"""Proof of liabilities over the engine's own state: the root is journaled, tied to the ledger, replayed.

The venue below ends with one account under water (negative equity, before the waterfall runs),
so the tree must carry a liability; the reserves attestation must equal the ledger identity
``reserves − net liabilities = insurance funds + fees + socialised loss`` to the unit.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ramparts.cli import app
from ramparts.engine import events as ev
from ramparts.engine.node import Node, replay
from ramparts.engine.presets import genesis, perpetual
from ramparts.errors import Rejected
from ramparts.journal import open_journal
from ramparts.solvency.engine_snapshot import engine_tree, publish_liabilities
from ramparts.solvency.files import proof_filename
from ramparts.solvency.proof import verify_proof

SECRET = b"a-server-secret-of-32-bytes-long"
S = 10**9


def _venue(path: Path) -> Node:
    node = Node(open_journal(f"sqlite:///{path}"))
    t = 0
    events = [
        genesis(ts=t),
        perpetual("BTC-PERP", "BTC", ts=t),
        ev.FundInsurance(ts=t, amount="1000"),
        ev.OraclePrice(ts=t, instrument="BTC-PERP", price="50000"),
    ]
    for sub, cash in (("alice/main", "3000"), ("alice/hedge", "500"), ("bob/main", "100000"), ("carol/main", "520")):
        events += [ev.OpenSubAccount(ts=t, subaccount=sub), ev.Deposit(ts=t, subaccount=sub, asset="USDC", amount=cash)]
    events += [
        ev.Fill(ts=S, instrument="BTC-PERP", buyer="alice/main", seller="bob/main", price="50000", size="0.5", buyer_fee="5"),
        ev.Fill(ts=S, instrument="BTC-PERP", buyer="carol/main", seller="bob/main", price="50000", size="0.1"),
        ev.Withdraw(ts=2 * S, subaccount="bob/main", asset="USDC", amount="1000"),
        # a crash without a Tick: carol (0.1 BTC on 520 USDC) is under water; alice's main sub-account too, but her hedge sub-account nets it back above zero
        ev.OraclePrice(ts=3 * S, instrument="BTC-PERP", price="44000"),
    ]
    for e in events:
        node.submit(e)
    return node


def test_root_is_journaled_matches_the_ledger_and_replays(tmp_path):
    node = _venue(tmp_path / "j.sqlite")
    e = node.engine
    eq = e.account_equities()
    # one leaf per sub-account: alice's deficit on main is not netted against her hedge
    assert eq["carol/main"]["USDC"] < 0 and eq["alice/main"]["USDC"] < 0 < eq["alice/hedge"]["USDC"]
    assert eq["alice/main"]["USDC"] + eq["alice/hedge"]["USDC"] > 0

    pub = publish_liabilities(node, tmp_path / "out", salt_secret=SECRET)
    t = pub.tree.totals["USDC"]
    assert t.liabilities == -eq["carol/main"]["USDC"] - eq["alice/main"]["USDC"]
    assert t.assets - t.liabilities == sum(b["USDC"] for b in eq.values())

    # reserves − net liabilities is exactly the venue's own capital, net of recorded bad debt
    led = e.ledger
    own = sum(v for a, k, v in led.items() if a == "USDC" and isinstance(k, str) and (k.startswith("insurance:") or k in ("fees", "socialised_loss")))
    row = pub.attestation.by_asset()["USDC"]
    assert row.holdings == -led.balance("USDC", "external")
    assert row.surplus == own > 0
    assert pub.attestation.solvent

    root = json.loads((tmp_path / "out" / "root.json").read_text())
    assert root["hash"] == pub.record["root_hash"] == e.liabilities_roots[-1]["root_hash"]
    for aid in pub.tree.account_ids:
        proof = json.loads((tmp_path / "out" / "proofs" / proof_filename(aid)).read_text())
        assert verify_proof(proof, expected_root=root["hash"]).ok, aid
    carol = verify_proof((tmp_path / "out" / "proofs" / "carol+main.json").read_text(), expected_root=root["hash"])
    assert carol.balances["USDC"] == eq["carol/main"]["USDC"] < 0

    hash_live = e.state_hash()
    node.close()
    with open_journal(f"sqlite:///{tmp_path / 'j.sqlite'}") as j:
        again = replay(j)
    assert again.state_hash() == hash_live
    assert again.liabilities_roots == e.liabilities_roots


@pytest.mark.parametrize(
    "change, reason",
    [
        ("one_left_out", "liabilities_mismatch"),  # a sub-account left out of the tree
        ({"totals": {"USDC": {"assets": "1", "liabilities": "0"}}}, "liabilities_mismatch"),
        ("liabilities_hidden", "liabilities_mismatch"),  # deficits netted away
        ({"sequence": 0}, "stale_snapshot"),
    ],
)
def test_a_root_that_does_not_match_the_state_is_rejected_and_changes_nothing(tmp_path, change, reason):
    node = _venue(tmp_path / "j.sqlite")
    e = node.engine
    tree = engine_tree(e, snapshot_id="s1", salt_secret=SECRET)
    t = tree.totals["USDC"]
    fields = {
        "ts": e.time_ns, "snapshot_id": "s1", "sequence": tree.sequence, "root_hash": tree.root_hash,
        "account_count": tree.account_count, "totals": {"USDC": {"assets": str(t.assets), "liabilities": str(t.liabilities)}},
    }
    if change == "one_left_out":
        fields["account_count"] -= 1
    elif change == "liabilities_hidden":
        fields["totals"] = {"USDC": {"assets": str(t.assets - t.liabilities), "liabilities": "0"}}
    else:
        fields.update(change)
    before, seq = e.state_hash(), node.journal.last_seq()
    with pytest.raises(Rejected) as info:
        node.submit(ev.LiabilitiesRoot(**fields))
    assert info.value.reason == reason
    assert e.state_hash() == before and node.journal.last_seq() == seq
    node.close()


def test_a_snapshot_id_is_journaled_once(tmp_path):
    node = _venue(tmp_path / "j.sqlite")
    publish_liabilities(node, None, salt_secret=SECRET, snapshot_id="daily")
    with pytest.raises(Rejected, match="already"):
        publish_liabilities(node, None, salt_secret=SECRET, snapshot_id="daily")
    node.close()


def test_cli_prove_from_the_journal_and_verify_offline_against_the_published_root(tmp_path):
    _venue(tmp_path / "j.sqlite").close()
    secret = tmp_path / "secret"
    secret.write_bytes(SECRET)
    runner = CliRunner()
    out = tmp_path / "proofs"
    res = runner.invoke(app, ["prove-liabilities", "--journal", str(tmp_path / "j.sqlite"), "--secret-file", str(secret), "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "journaled LiabilitiesRoot" in res.output
    proof = out / "proofs" / "alice+hedge.json"
    ok = runner.invoke(app, ["verify-proof", str(proof), "--root-file", str(out / "root.json")])
    assert ok.exit_code == 0 and "VERIFIED" in ok.output
    wrong = runner.invoke(app, ["verify-proof", str(proof), "--root", "0" * 64])
    assert wrong.exit_code == 1
    forged = json.loads(proof.read_text())
    forged["leaf"]["balances"]["USDC"]["equity"] = str(int(forged["leaf"]["balances"]["USDC"]["equity"]) + 1)
    (tmp_path / "forged.json").write_text(json.dumps(forged))
    assert runner.invoke(app, ["verify-proof", str(tmp_path / "forged.json"), "--root-file", str(out / "root.json")]).exit_code in (1, 2)
    # the journal now holds the root; running it again is a new snapshot of the same state
    with open_journal(f"sqlite:///{tmp_path / 'j.sqlite'}") as j:
        assert replay(j).liabilities_roots[0]["root_hash"] == json.loads((out / "root.json").read_text())["hash"]
    missing = runner.invoke(app, ["prove-liabilities", "--journal", str(tmp_path / "j.sqlite"), "--out", str(out)])
    assert missing.exit_code == 2 and "secret" in missing.output
