"""Private margin health (:mod:`ramparts.solvency.margin_proof`): the proven rule is the engine's, an
account that meets its requirement verifies, and every forgery tried here is rejected.

The forgeries use a *cheating range prover* (:func:`_cheating_prove_range`): where the honest prover
refuses a value outside the range (a negative slack, a negative size), it proves the range of
``value mod 2**bits`` instead with the blinding it was asked for, which is the best a prover can do
without breaking the commitment's binding. The verifier derives every committed quantity itself
(from the root's commitments, the public marks and schedules), so each such proof is attached to
a commitment that is not the one checked.
"""

from __future__ import annotations

import base64
import copy
import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.enginekit import Venue, json_leaves
from typer.testing import CliRunner

from ramparts.cli import app
from ramparts.engine import events as ev
from ramparts.engine.presets import perpetual
from ramparts.errors import InvalidInput, Rejected, UnknownEntity
from ramparts.fixedpoint import MAX_NOTIONAL, PPM
from ramparts.margin.schedule import MarginSchedule, MarginTier
from ramparts.solvency import margin_proof as mp
from ramparts.solvency.commitments import Q, commit, random_scalar

SECRET = b"margin-proof-test-secret-0123456789"
# BTC: three tiers (floors 0 / 100,000 / 1,000,000 USDC; mm 1 % / 2.5 % / 5 %); ETH: flat 10 % / 5 %.
BTC_TIERS = ((0, 20_000, 10_000), (100_000 * 10**6, 50_000, 25_000), (1_000_000 * 10**6, 100_000, 50_000))
MARKETS = [mp.Market.make("BTC-PERP", 49_000 * 10**3, BTC_TIERS),  # lot 0.001 BTC at 49,000 USDC
           mp.Market.make("ETH-PERP", 3_000 * 10**3, ((0, 100_000, 50_000),))]
ACCOUNTS = [
    mp.Account("alice/main", 150_000 * 10**6, (3000, 0)),      # long 3 BTC (147,000: tier 1), healthy
    mp.Account("bob/main", 10**12, (-3000, 10_000)),          # short BTC, long ETH, healthy
    mp.Account("carol/main", -27_500 * 10**6, (0, 10_000)),   # equity 2,500, mm 1,500, im 3,000
    mp.Account("dave/main", -146_000 * 10**6, (3000, 0)),     # equity 1,000 < mm 3,675: under-margined
    mp.Account("erin/main", 7, (0, 0)),                       # no position
]


@pytest.fixture(scope="module")
def root():
    return mp.MarginRoot(ACCOUNTS, MARKETS, snapshot_id="seq-9-margin", sequence=9, settlement="USDC", secret=SECRET)


@pytest.fixture(scope="module")
def alice(root):
    return root.prove("alice/main", ("maintenance", "initial"))


def _ok(proof, root, expected=None):
    return mp.verify_margin(json.dumps(proof), root.record(), expected)


# ------------------------------------------------------------------------------------------ the rule


def test_the_requirement_is_the_least_integer_above_every_tiers_line():
    """What is proven (10**6·M ≥ N·rate_j − C_j for every tier j, M an integer) pins M to the schedule's own
    rounded-up requirement: the least such M equals ``MarginSchedule`` on notionals at, around and between floors."""
    sched = MARKETS[0].schedule
    for level, own in (("maintenance", sched.maintenance_margin), ("initial", sched.initial_margin)):
        lines = MARKETS[0].lines(level)
        for n in (0, 1, 99_999_999_999, 100_000 * 10**6, 100_000 * 10**6 + 1, 147_000 * 10**6, 10**12, 10**12 + 7,
                  MAX_NOTIONAL):
            least = max(-((cum - n * rate) // PPM) for rate, cum in lines)  # ceil of the envelope / 1e6
            assert least == own(n), (level, n)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 10**9), st.integers(1, 400_000), st.integers(0, 200_000)), min_size=1,
                max_size=6), st.integers(0, MAX_NOTIONAL))
def test_the_envelope_holds_for_random_schedules(steps, n):
    floors, im, mm = [0], [], []
    rate = 0
    for gap, r, extra in steps:
        rate = min(rate + r // 4 + 1, PPM // 2)
        mm.append(rate)
        im.append(min(rate + extra, PPM))
        floors.append(floors[-1] + gap * 10**3)
    im = [max(im[: k + 1]) for k in range(len(im))]  # initial rates must not decrease either
    sched = MarginSchedule(tiers=tuple(MarginTier(f, i, m) for f, i, m in zip(floors, im, mm, strict=False)))
    market = mp.Market.make("X", 1, [(t.notional_floor, t.initial_rate_ppm, t.maintenance_rate_ppm) for t in sched.tiers])
    for level, own in (("maintenance", sched.maintenance_margin), ("initial", sched.initial_margin)):
        assert max(-((cum - n * r) // PPM) for r, cum in market.lines(level)) == own(n)


def _engine_venue(trades, moves):
    tiers = [["0", "0.02", "0.01"], ["100000", "0.05", "0.025"], ["1000000", "0.1", "0.05"]]
    v = Venue(perp={"tiers": tiers}, accounts=("alice/main", "bob/main", "carol/main"))
    v.apply(perpetual("ETH-PERP", "ETH", ts=0))
    v.apply(ev.OpenSubAccount(ts=0, subaccount="dave/iso", mode="isolated", instrument="BTC-PERP"))
    v.price(50_000)
    v.price(3_000, instrument="ETH-PERP")
    for sub, cash in (("alice/main", 400_000), ("bob/main", 2_000_000), ("carol/main", 60_000), ("dave/iso", 30_000)):
        v.deposit(sub, cash)
    subs = ("alice/main", "bob/main", "carol/main", "dave/iso")
    for (b, s, size, eth), move in zip(trades, moves, strict=False):
        if b == s:
            continue
        instr, price = ("ETH-PERP", 3_000) if eth else ("BTC-PERP", 50_000)
        try:
            v.fill(subs[b], subs[s], price, f"{size / 1000:.3f}", instrument=instr)
        except Rejected:
            pass  # refused by the engine (initial margin): the state is unchanged
        v.price(50_000 + move * 100)
        v.price(3_000 + move * 5, instrument="ETH-PERP")
    return v


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.integers(0, 3), st.integers(0, 3), st.integers(1, 30_000), st.booleans()), max_size=6),
       st.lists(st.integers(-150, 150), min_size=6, max_size=6))
def test_the_proven_requirement_is_the_engines_on_random_accounts(trades, moves):
    v = _engine_venue(trades, moves)
    e = v.e
    root, refused = mp.engine_margin_root(e, SECRET)
    assert not refused
    assert sorted(root.subaccounts()) == sorted(str(sub.id) for sub in e.subs)  # every sub-account, isolated included
    assert e.sub_isolated[e.sub_index("dave/iso")] == e.instrument("BTC-PERP").index  # an isolated one is covered too
    for sid in root.subaccounts():
        risk = e.risk(sid)
        assert root.requirements(sid) == {"equity": risk.equity, "maintenance": risk.maintenance_margin,
                                          "initial": risk.initial_margin}, sid


def test_engine_accounts_prove_and_verify_and_the_root_is_reproducible():
    v = _engine_venue([(0, 1, 3000, False), (2, 1, 20_000, True), (3, 0, 500, False)], [10, -40, 0])
    root, _ = mp.engine_margin_root(v.e, SECRET)
    again, _ = mp.engine_margin_root(v.e, SECRET)
    other, _ = mp.engine_margin_root(v.e, b"another-secret-of-16+bytes")
    assert root.hash == again.hash != other.hash
    proof = root.prove("carol/main", ("maintenance",))
    assert _ok(proof, root, root.hash).ok


# ------------------------------------------------------------------------------------------ honest proofs


def test_an_account_meeting_its_requirement_verifies(root, alice):
    res = _ok(alice, root, root.hash)
    assert res.ok, res
    assert res.subaccount == "alice/main" and res.requirements == ("maintenance", "initial")
    # base + 2 × (abs) + 2 levels × 2 instruments × (req + tiers) + 2 margins
    assert res.range_proofs == 1 + 2 + 2 * ((1 + 3) + (1 + 1)) + 2
    for sub, levels in (("bob/main", ("maintenance", "initial")), ("carol/main", ("maintenance",)), ("erin/main", ("maintenance",))):
        assert _ok(root.prove(sub, levels), root).ok, sub


def test_a_proof_reveals_no_balance_position_or_requirement(root, alice):
    text = json.dumps(alice)
    a = root.account("alice/main")
    req = root.requirements("alice/main")
    values = list(json_leaves(alice))
    for secret_number in (a.base, a.lots[0], req["equity"], req["maintenance"], req["initial"], 147_000 * 10**6):
        assert secret_number not in values and str(secret_number) not in values  # not a value of the proof
        # nor written inside one of its texts (a short number, such as 3000 lots, turns up by chance in ~100 kB of
        # random base64 about once in a hundred proofs, so only the long ones are looked for there)
        assert len(str(secret_number)) < 9 or str(secret_number) not in text
    # the proof of an account without a position has exactly the same shape and size
    erin = root.prove("erin/main", ("maintenance", "initial"))
    def shape(v):
        if isinstance(v, dict):
            return {k: shape(x) for k, x in v.items() if k not in ("subaccount", "index", "path")}
        if isinstance(v, list):
            return [shape(x) for x in v]
        return len(v) if isinstance(v, str) else v

    assert shape(erin) == shape(alice)


def test_an_under_margined_account_is_refused_by_the_honest_prover(root):
    with pytest.raises(mp.MarginNotMet, match="below its maintenance requirement"):
        root.prove("dave/main")
    with pytest.raises(mp.MarginNotMet, match="initial"):
        root.prove("carol/main", ("maintenance", "initial"))
    with pytest.raises(UnknownEntity):
        root.prove("nobody/main")


# ------------------------------------------------------------------------------------------ forgeries


def _cheating_prove_range(real):
    def cheat(value, bits, context, bit_blindings=None, *, blinding=None):
        return real(value % (1 << bits), bits, context, bit_blindings, blinding=blinding)
    return cheat


@pytest.fixture
def cheater(monkeypatch):
    monkeypatch.setattr(mp, "prove_range", _cheating_prove_range(mp.prove_range))


def test_an_under_margined_account_cannot_produce_an_accepted_proof(root, cheater):
    honest = {(lev, i): m.requirement(n, lev) for i, (m, n) in enumerate(zip(MARKETS, root.account("dave/main").lots,
                                                                          strict=True)) for lev in mp.LEVELS}
    # 1. the honest requirement: equity − requirement is negative, the margin range proof cannot hold
    res = _ok(mp._build_proof(root, "dave/main", ("maintenance",)), root)
    assert not res.ok and res.code == "margin_proof_invalid", res
    # 2. an understated requirement (one unit less than the engine's, or nothing): some tier's line is above it
    for fake in (honest[("maintenance", 0)] - 1, 1_000, 0):
        p = mp._build_proof(root, "dave/main", ("maintenance",), witness={"req": {("maintenance", 0): fake}})
        res = _ok(p, root)
        assert not res.ok and res.code == "tier_proof_invalid", (fake, res)
    # 3. the position's size hidden as 0 or shrunk: the sign proof cannot tie it to the committed lots
    for fake in (0, 1000):
        p = mp._build_proof(root, "dave/main", ("maintenance",), witness={"abs": {0: fake}, "req": {
            ("maintenance", 0): MARKETS[0].requirement(fake, "maintenance")}})
        res = _ok(p, root)
        assert not res.ok and res.code == "sign_invalid", (fake, res)


def test_a_negative_size_or_requirement_is_rejected(root, cheater):
    # a negative size, N = −3 BTC·mark: every tier line is negative, so a requirement of 0 would pass them
    p = mp._build_proof(root, "dave/main", ("maintenance",), witness={"abs": {0: -3000}, "req": {("maintenance", 0): 0}})
    res = _ok(p, root)
    assert not res.ok and res.code == "range_proof_invalid" and "abs_range" in res.reason, res
    # a negative requirement on the ETH leg (would lower Σ M below the equity)
    p = mp._build_proof(root, "carol/main", ("initial",), witness={"req": {("initial", 1): -10**12}})
    res = _ok(p, root)
    assert not res.ok and res.code == "range_proof_invalid" and "requirements.initial.range" in res.reason, res
    # the same without the cheat: carol (equity 2,500 < initial 3,000) fails only the margin range proof
    res = _ok(mp._build_proof(root, "carol/main", ("initial",)), root)
    assert not res.ok and res.code == "margin_proof_invalid", res


def test_a_negative_or_oversized_balance_cannot_enter_the_root():
    with pytest.raises(InvalidInput, match="outside"):
        mp.MarginRoot([mp.Account("x/y", -2**64 - 1, (0, 0))], MARKETS, snapshot_id="s", sequence=0, settlement="USDC",
                      secret=SECRET)


def test_a_committed_base_below_the_signed_range_is_rejected(cheater):
    """A leaf whose cash commitment opens to a huge 'negative' (Q − x, x > 2**64) fails the base range proof."""
    bad = mp.Account("mallory/main", -(2**70), (0, 0))
    # build through the checked constructor with a legal account, then swap in the bad opening and rebuild the tree
    r = mp.MarginRoot([mp.Account("mallory/main", 0, (0, 0)), *ACCOUNTS], MARKETS, snapshot_id="m", sequence=1,
                      settlement="USDC", secret=SECRET)
    i = r._i("mallory/main")
    r._accounts[i] = bad
    rb = r._commitments[i][0][1]
    r._commitments[i][0] = (commit(bad.base, rb), rb)
    levels = [[mp.leaf_hash(h, [mp.encode_point(c) for c, _ in cs]) for h, cs in zip(r._ids, r._commitments, strict=True)]]
    while len(levels[-1]) > 1:
        prev = levels[-1]
        levels.append([mp.node_hash(prev[k], prev[k + 1]) if k + 1 < len(prev) else prev[k] for k in range(0, len(prev), 2)])
    r._levels, r.tree_hash = levels, levels[-1][0]
    r.root = mp.root_hash(r.header, r.tree_hash)
    r.hash = r.root.hex()
    res = _ok(mp._build_proof(r, "mallory/main", ("maintenance",)), r)
    assert not res.ok and "base_range" in res.reason, res


def _flip_b64(text, at=40):
    raw = bytearray(base64.b64decode(text))
    raw[at] ^= 1
    return base64.b64encode(bytes(raw)).decode()


def _flip_hex(text):
    return text[:-1] + ("0" if text[-1] != "0" else "1")


TAMPERS = {
    "base_range": lambda p: p.__setitem__("base_range", _flip_b64(p["base_range"])),
    "abs": lambda p: p["positions"]["BTC-PERP"].__setitem__("abs", p["positions"]["ETH-PERP"]["abs"]),
    "abs_range": lambda p: p["positions"]["BTC-PERP"].__setitem__("abs_range", _flip_b64(p["positions"]["BTC-PERP"]["abs_range"], 100)),
    "sign": lambda p: p["positions"]["BTC-PERP"].__setitem__("sign", _flip_b64(p["positions"]["BTC-PERP"]["sign"], 70)),
    "requirement": lambda p: p["positions"]["BTC-PERP"]["requirements"]["maintenance"].__setitem__(
        "commitment", p["positions"]["ETH-PERP"]["requirements"]["maintenance"]["commitment"]),
    "tier": lambda p: p["positions"]["BTC-PERP"]["requirements"]["initial"]["tiers"].__setitem__(
        1, _flip_b64(p["positions"]["BTC-PERP"]["requirements"]["initial"]["tiers"][1], 200)),
    "swapped tiers": lambda p: p["positions"]["BTC-PERP"]["requirements"]["maintenance"]["tiers"].reverse(),
    "margin": lambda p: p["margin"].__setitem__("maintenance", _flip_b64(p["margin"]["maintenance"], 300)),
    "levels swapped": lambda p: p["margin"].update(maintenance=p["margin"]["initial"], initial=p["margin"]["maintenance"]),
    "base commitment": lambda p: p["commitments"].__setitem__("base", p["positions"]["BTC-PERP"]["abs"]),
    "lots commitment": lambda p: p["commitments"]["lots"].__setitem__("ETH-PERP", p["commitments"]["lots"]["BTC-PERP"]),
    "path": lambda p: p["path"].__setitem__(0, _flip_hex(p["path"][0])),
    "salt": lambda p: p.__setitem__("salt", _flip_hex(p["salt"])),
    "subaccount": lambda p: p.__setitem__("subaccount", "bob/main"),
    "index": lambda p: p.__setitem__("index", (p["index"] + 1) % 5),
    "claim dropped": lambda p: p.__setitem__("requirements", ["maintenance"]),
    "claim added twice": lambda p: p.__setitem__("requirements", ["initial", "initial"]),
}


@pytest.mark.parametrize("name", sorted(TAMPERS))
def test_a_tampered_proof_is_rejected(root, alice, name):
    p = copy.deepcopy(alice)
    TAMPERS[name](p)
    res = _ok(p, root, root.hash)
    assert not res.ok, name


def test_a_proof_moved_to_another_account_is_rejected(root, alice):
    bob = root.prove("bob/main", ("maintenance", "initial"))
    p = copy.deepcopy(bob)
    for k in ("subaccount", "salt", "index", "commitments", "path"):
        p[k] = alice[k]  # bob's range proofs under alice's leaf: the contexts name bob's account
    res = _ok(p, root)
    assert not res.ok and res.code == "range_proof_invalid", res


def test_a_wrong_root_is_rejected(root, alice):
    other = mp.MarginRoot(ACCOUNTS, MARKETS, snapshot_id="seq-10-margin", sequence=10, settlement="USDC", secret=SECRET)
    res = mp.verify_margin(json.dumps(alice), other.record())
    assert not res.ok and res.code == "root_mismatch", res
    res = _ok(alice, root, other.hash)
    assert not res.ok and res.code == "unexpected_root", res
    # a root record whose hash does not match its own fields
    rec = root.record()
    rec["tree_hash"] = _flip_hex(rec["tree_hash"])
    res = mp.verify_margin(json.dumps(alice), rec)
    assert not res.ok and res.code == "root_mismatch", res


def test_a_wrong_mark_is_rejected(root, alice):
    # the root.json doctored to a lower mark: its hash no longer matches its fields
    rec = root.record()
    rec["instruments"][0]["mark"] = str(40_000 * 10**3)
    res = mp.verify_margin(json.dumps(alice), rec)
    assert not res.ok and res.code == "root_mismatch", res
    # a venue that builds a whole root at a lower mark (same commitments): the journaled hash differs
    low = [mp.Market.make("BTC-PERP", 40_000 * 10**3, BTC_TIERS), MARKETS[1]]
    fake = mp.MarginRoot(ACCOUNTS, low, snapshot_id="seq-9-margin", sequence=9, settlement="USDC", secret=SECRET)
    res = _ok(fake.prove("alice/main"), fake, root.hash)
    assert not res.ok and res.code == "unexpected_root", res
    # and a proof made at the lower mark, relabelled with the true root, fails its range proofs
    p = fake.prove("alice/main")
    p["root_hash"] = root.hash
    res = _ok(p, root, root.hash)
    assert not res.ok, res


def test_a_swapped_tier_is_rejected(root, alice, cheater):
    # the requirement computed with tier 0's rate although the notional is in tier 1
    m = MARKETS[0]
    rate0, cum0 = m.lines("maintenance")[0]
    low = -((cum0 - 3000 * m.mark * rate0) // PPM)
    assert low < m.requirement(3000, "maintenance")
    p = mp._build_proof(root, "alice/main", ("maintenance",), witness={"req": {("maintenance", 0): low}})
    res = _ok(p, root)
    assert not res.ok and res.code == "tier_proof_invalid" and "tiers[1]" in res.reason, res
    # the root's schedule doctored to a lower rate for tier 1
    rec = root.record()
    rec["instruments"][0]["tiers"][1][2] = 10_000
    res = mp.verify_margin(json.dumps(alice), rec)
    assert not res.ok and res.code in ("root_mismatch", "malformed"), res


def test_the_sign_proof_needs_a_true_branch():
    ctx = b"ctx"
    r1, r2 = random_scalar(), random_scalar()
    y0 = commit(0, r1)  # Y0 = r1·H: branch 0 is true
    y1 = commit(5, r2)  # not a multiple of H alone
    assert mp.verify_sign(ctx, y0, y1, mp.prove_sign(ctx, y0, y1, 0, r1))
    assert not mp.verify_sign(b"other", y0, y1, mp.prove_sign(ctx, y0, y1, 0, r1))
    assert not mp.verify_sign(ctx, y1, y0, mp.prove_sign(ctx, y1, y0, 0, r2))  # a false branch 0
    assert not mp.verify_sign(ctx, y0, y1, mp.prove_sign(ctx, y0, y1, 1, (r2 + 1) % Q))


@pytest.mark.parametrize("text", ["", "[]", "{}", '{"format": "ramparts-margin-proof", "version": 2}', "nan"])
def test_unreadable_proofs_are_malformed(root, text):
    res = mp.verify_margin(text, root.record())
    assert not res.ok and res.malformed, res


# ------------------------------------------------------------------------------------------ the engine and the CLI


def _journal(path: Path):
    from ramparts.engine.node import Node
    from ramparts.engine.presets import genesis
    from ramparts.journal import open_journal

    s = 10**9
    node = Node(open_journal(f"sqlite:///{path}"))
    tiers = [["0", "0.02", "0.01"], ["100000", "0.05", "0.025"]]
    events = [genesis(ts=0), perpetual("BTC-PERP", "BTC", ts=0, tiers=tiers), perpetual("SOL-PERP", "SOL", ts=0, size_premium="0.001"),
              ev.OraclePrice(ts=0, instrument="BTC-PERP", price="50000"), ev.OraclePrice(ts=0, instrument="SOL-PERP", price="100")]
    for sub, cash in (("alice/main", "30000"), ("bob/main", "1000000"), ("carol/main", "2000"), ("sol/main", "5000")):
        events += [ev.OpenSubAccount(ts=0, subaccount=sub), ev.Deposit(ts=0, subaccount=sub, asset="USDC", amount=cash)]
    events += [ev.Fill(ts=s, instrument="BTC-PERP", buyer="alice/main", seller="bob/main", price="50000", size="3"),
               ev.Fill(ts=s, instrument="BTC-PERP", buyer="carol/main", seller="bob/main", price="50000", size="0.3"),
               ev.Fill(ts=s, instrument="SOL-PERP", buyer="sol/main", seller="bob/main", price="100", size="1"),
               ev.OraclePrice(ts=2 * s, instrument="BTC-PERP", price="47000")]
    for e in events:
        node.submit(e)
    return node


def test_the_margin_root_is_journaled_once_and_replays(tmp_path):
    from ramparts.engine.node import Node

    node = _journal(tmp_path / "j.sqlite")
    e = node.engine
    seq = e.seq
    pub = mp.publish_margin_root(node, SECRET)
    assert pub.journaled and pub.root.sequence == seq and "sol/main" in pub.refused and "bob/main" in pub.refused
    assert "size premium" in pub.refused["sol/main"]
    rec = e.liabilities_roots[-1]
    assert rec["snapshot_id"] == f"seq-{seq}-margin" and rec["root_hash"] == pub.root.hash
    again = mp.publish_margin_root(node, SECRET)  # nothing happened since: the journaled root is reused
    assert not again.journaled and again.root.hash == pub.root.hash and e.seq == seq + 1
    with pytest.raises(InvalidInput, match="another secret"):
        mp.publish_margin_root(node, b"not-the-venue-secret-at-all")
    state = e.state_hash()
    node.close()
    with Node.open(f"sqlite:///{tmp_path / 'j.sqlite'}", create=False) as replayed:
        assert replayed.engine.state_hash() == state
        assert replayed.engine.liabilities_roots[-1]["root_hash"] == pub.root.hash


def _run(*args):
    return CliRunner().invoke(app, list(args), env={"COLUMNS": "200"})


def test_cli_prove_and_verify(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _journal(tmp_path / "j.sqlite").close()
    Path("secret").write_bytes(SECRET)
    res = _run("prove-margin", "--journal", "j.sqlite", "--subaccount", "alice/main", "--secret-file", "secret",
               "--requirement", "both", "--out", "o")
    assert res.exit_code == 0, res.output
    assert "journaled margin root" in res.output and "maintenance and initial" in res.output
    res = _run("verify-margin", "o/alice+main.json", "--root", "o/root.json", "--journal", "j.sqlite")
    assert res.exit_code == 0 and "VERIFIED" in res.output and "matches the journaled root" in res.output, res.output
    root = json.loads(Path("o/root.json").read_text())
    assert _run("verify-margin", "o/alice+main.json", "--root", "o/root.json", "--root-hash", root["hash"]).exit_code == 0
    res = _run("verify-margin", "o/alice+main.json", "--root", "o/root.json", "--root-hash", "ab" * 32)
    assert res.exit_code == 1 and "unexpected_root" in res.output, res.output
    res = _run("verify-margin", "o/alice+main.json", "--root", "o/root.json", "--root-hash", "ab" * 32, "--journal", "j.sqlite")
    assert res.exit_code == 1 and "[unexpected_root] the journal records" in res.output, res.output
    Path("other-root.json").write_text(json.dumps({**root, "snapshot_id": "seq-999-margin"}))
    res = _run("verify-margin", "o/alice+main.json", "--root", "other-root.json", "--journal", "j.sqlite")
    assert res.exit_code == 1 and "no root for snapshot seq-999-margin" in res.output, res.output
    p = json.loads(Path("o/alice+main.json").read_text())
    p["margin"]["initial"] = _flip_b64(p["margin"]["initial"], 500)
    Path("bad.json").write_text(json.dumps(p))
    res = _run("verify-margin", "bad.json", "--root", "o/root.json")
    assert res.exit_code == 1 and "REJECTED" in res.output and "margin_proof_invalid" in res.output, res.output
    # a second proof at the same state reuses the journaled root
    res = _run("prove-margin", "--journal", "j.sqlite", "--subaccount", "carol/main", "--secret-file", "secret",
               "--out", "o2")
    assert res.exit_code == 0 and "reused the journaled margin root" in res.output, res.output
    assert json.loads(Path("o2/root.json").read_text())["hash"] == root["hash"]


def test_cli_errors_are_clear(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    node = _journal(tmp_path / "j.sqlite")
    node.submit(ev.OraclePrice(ts=3 * 10**9, instrument="BTC-PERP", price="43500"))  # carol: equity 50 < 130.5
    seq = node.engine.seq
    node.close()
    Path("secret").write_bytes(SECRET)
    Path("short").write_bytes(b"short")
    base = ("prove-margin", "--journal", "j.sqlite", "--secret-file", "secret", "--subaccount")
    cases = [
        ((*base, "carol/main", "--out", "a"), 1, "below its maintenance requirement"),
        ((*base, "bob/main", "--out", "b"), 2, "out of the margin proof's scope"),
        ((*base, "sol/main", "--out", "c"), 2, "size premium"),
        ((*base, "nobody/main", "--out", "d"), 2, "--subaccount"),
        (("prove-margin", "--journal", "j.sqlite", "--secret-file", "short", "--subaccount", "alice/main", "--out", "e"),
         2, "--secret-file"),
        (("prove-margin", "--journal", "missing.sqlite", "--secret-file", "secret", "--subaccount", "alice/main"), 2,
         "no such journal"),
        ((*base, "alice/main", "--requirement", "some"), 2, "--requirement"),
    ]
    for args, code, text in cases:
        res = _run(*args)
        assert res.exit_code == code and text in res.output and "Traceback" not in res.output, (args, res.output)
    assert not any(Path(d).exists() for d in "abcde")
    from ramparts.engine.node import Node

    with Node.open("sqlite:///j.sqlite", create=False) as n:
        assert n.engine.seq == seq  # nothing was journaled by a refused proof
    Path("junk.json").write_text("not json")
    Path("r.json").write_text("{}")
    assert _run("verify-margin", "junk.json", "--root", "r.json").exit_code == 2
    res = _run("verify-margin", "junk.json", "--root", "r.json", "--root-hash", "xyz")
    assert res.exit_code == 2 and "--root-hash" in res.output
    res = _run("verify-margin", "nothere.json", "--root", "r.json")
    assert res.exit_code == 2 and "Traceback" not in res.output


@pytest.mark.parametrize("args", [["prove-margin", "--journal", "j.sqlite", "--subaccount", "a/main", "--secret-file", "s"],
                                  ["verify-margin", "p.json", "--root", "r.json"]])
def test_without_the_curve_library_the_commands_say_what_to_install(tmp_path, monkeypatch, args):
    """A base install (no ``zk`` extra) gets one line naming the extra, not an ImportError traceback."""
    from ramparts.solvency import margin_commands

    monkeypatch.chdir(tmp_path)
    for name in ("j.sqlite", "s", "p.json", "r.json"):
        Path(name).write_text("x" * 32)
    monkeypatch.setattr(margin_commands, "_zk_missing", lambda: "the private proofs need coincurve (libsecp256k1): "
                                                                 "pip install 'ramparts[zk]'")
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 2, res.output
    text = " ".join(res.output.split())
    assert "pip install 'ramparts[zk]'" in text and "Traceback" not in text
    assert sorted(p.name for p in tmp_path.iterdir()) == ["j.sqlite", "p.json", "r.json", "s"]  # nothing created
