"""Private margin health: a zero-knowledge proof that a sub-account's equity covers its margin requirement.

This module owns the *margin root* (a Merkle commitment to every eligible sub-account's cash and
positions, journaled as a ``LiabilitiesRoot`` event), the *margin proof* of one sub-account
(:func:`prove_margin`), its offline verifier (:func:`verify_margin`), their JSON formats and the
engine side (:func:`engine_margin_root`, :func:`publish_margin_root`). A verifier holding only the
published root (``root.json``, whose hash the journal records) learns that the sub-account's equity
is at least its maintenance (or initial) requirement at that journaled state, and nothing about
its balance, positions, notionals or tiers (see *What leaks* below).

Why commitments and range proofs, not a SNARK
---------------------------------------------

No zk-SNARK toolchain (ezkl/Halo2 wheels, circom + snarkjs) is installable offline on this
project's machines, and none is needed: with public marks and public tier schedules every relation
of the engine's margin rule is *linear* over committed integers, plus inequalities, which are range
proofs. So the proof reuses what the private proofs of liabilities already use (one home per
concept): Pedersen commitments on secp256k1 through libsecp256k1/coincurve and the Fiat–Shamir
:class:`~ramparts.solvency.commitments.Transcript` (:mod:`ramparts.solvency.commitments`), and the
bit-decomposition range proofs of :mod:`ramparts.solvency.range_proof` (CDS OR-proofs per bit,
Provisions-style). The one new Σ-protocol is the two-branch OR-proof of a position's sign
(:func:`prove_sign` / :func:`verify_sign`), the same Cramer–Damgård–Schoenmakers composition of two
Schnorr proofs of a discrete logarithm to base ``H`` that a range proof runs per bit.

The margin rule proven (the engine's own)
-----------------------------------------

For a cross or isolated sub-account holding perpetuals / futures on tiered schedules
(:mod:`ramparts.margin.schedule`, :class:`~ramparts.margin.models.TieredMarginModel`), with marks
``m_i`` (lot prices, quote base units) and signed lots ``L_i``::

    equity      E = base + Σ_i L_i·m_i,      base = cash − Σ cost basis   (Engine.equity)
    notional    N_i = |L_i|·m_i
    requirement R_i = ⌈(N_i·rate_k − C_k) / 10^6⌉  for the tier k holding N_i   (MarginSchedule)
    healthy     E − Σ_i R_i ≥ 0

``rate_k`` are ppm and ``C_k`` the maintenance (or initial) amounts scaled by 10^6
(``MarginSchedule.mm_cum_scaled`` / ``im_cum_scaled``). Because rates never decrease from tier to
tier, ``N·rate_k − C_k`` is the upper envelope ``max_j (N·rate_j − C_j)`` of every tier's line
(:mod:`ramparts.margin.schedule` docstring), so ``R_i`` is the least integer ``M`` with
``10^6·M ≥ N_i·rate_j − C_j`` for **every** tier ``j``. That is what is proven, so the tier stays
hidden (no tier index is revealed).

The commitments (the margin root)
---------------------------------

Per sub-account ``S`` the venue commits ``C_base = base·G + r_b·H`` and, for **every** instrument
``i`` of the root (not only those held, so the set of positions is hidden too),
``C_L_i = L_i·G + r_i·H`` (negative values as ``Q − x``). Blindings and the salt derive from the
server secret with HMAC exactly as :mod:`ramparts.solvency.private_tree` does (labels below), so the
root is reproducible. ``leaf = H(0x31 || account || pt(C_base) || pt(C_L_0) || ...)`` with
``account = H(0x03 || salt || str(S))`` (:func:`ramparts.solvency.proof.account_commitment`); leaves
sorted by ``account``; ``node = H(0x32 || left || right)``, a level of odd size promoting its last
node (shapes :func:`ramparts.solvency.private_proof.path_shape`); ``root = H(0x33 || header ||
tree_hash)`` where ``header = H(0x30 || str(format) || u32(1) || str(snapshot_id) || u64(sequence) ||
str(settlement) || u32(n) || per instrument: str(symbol) || u64(mark) || u32(tiers) || per tier:
u64(floor) || u32(initial ppm) || u32(maintenance ppm) || u64(account_count) || pt(G) || pt(H))``.
The marks and schedules are public (the journal's oracle prices and listings), so the verifier
reads them from ``root.json`` and its hash binds them.

The proof of one sub-account (per requirement level: ``maintenance`` and/or ``initial``)
---------------------------------------------------------------------------------------

1. the leaf's commitments and Merkle path to the root (the salt reveals which leaf);
2. ``base + 2**64`` in ``[0, 2**65)`` (a range proof of ``C_base + 2**64·G``);
3. per instrument: a fresh ``C_A_i`` with a range proof of ``A_i`` in ``[0, 2**a_i)``,
   ``a_i = bitlen(MAX_NOTIONAL // m_i)`` (the engine refuses any notional above ``MAX_NOTIONAL``),
   and the sign OR-proof ``C_L_i − C_A_i = x·H  or  C_L_i + C_A_i = x·H``, i.e. ``L_i = ±A_i``:
   ``A_i = |L_i|``;
4. per instrument and level: a fresh ``C_M_i`` with a range proof of ``M_i`` in ``[0, 2**52)``
   (``MAX_NOTIONAL < 2**52``; this makes ``M_i`` an *integer*, which is the rounding up) and, for
   every tier ``j``, a range proof that ``10^6·C_M_i − (rate_j·m_i)·C_A_i + C_j·G`` commits to a
   value in ``[0, 2**s_j)``, ``s_j = bitlen(10^6·MAX_NOTIONAL + C_j)``: ``10^6·M_i ≥ N_i·rate_j − C_j``;
5. per level: a range proof that ``C_base + Σ m_i·C_L_i − Σ C_M_i`` commits to a value in
   ``[0, 2**64)``: ``E − Σ M_i ≥ 0``.

The verifier derives every commitment of steps 2, 4 and 5 from the leaf's and the proof's
commitments and the public marks and schedules, so a range proof made for any other value fails
its sum check. Every range proof and sign proof is bound (its transcript *context*) to the root
hash, the account, the step, the instrument, the level and the tier, so none can be moved.

Soundness: each range proof shows its commitment opens to an integer of the stated width (see
:mod:`ramparts.solvency.range_proof`); the sign proof that ``L_i ≡ ±A_i``. All quantities are then
integers below ``2**140`` in absolute value (``|base| < 2**64``, ``A_i < 2**64``, marks ``< 2**63``,
at most 256 instruments, ``M_i < 2**52``, slacks below ``2**160``), far below ``Q/2 ≈ 2**255``, so
every congruence mod ``Q`` above is an equation over the integers: ``M_i ≥ R_i`` (an integer at
least every tier's line over 10^6) and ``E ≥ Σ M_i ≥ Σ R_i``. An account below its requirement
would need a commitment to a negative integer to pass a range proof, which the OR-proofs exclude
(binding: a different opening reveals ``log_G H``). Zero knowledge: the commitments are perfectly
hiding, the range and sign proofs honest-verifier zero knowledge (simulated branches).

What leaks: the sub-account's id (it is the statement), the root's public data (marks, schedules,
the number of sub-accounts in the root, the leaf's position in the tree) and nothing else: not
the cash, the positions (held or not, long or short), the notionals, the tiers, the requirement or
the margin excess. Every proof over one root has the same shape and size, apart from the
sub-account id and the length of its Merkle path (a test checks this).

Scope and refusals (a clear error, never a wrong proof): options (their requirement is not
tiered), instruments with a size premium (its square root is floating point), portfolio-margin
sub-accounts, and sub-accounts holding any asset other than the settlement asset (haircut
collateral, borrows) are out of scope; such sub-accounts are left out of the margin root and
``prove-margin`` says why.

Journaling: the margin root's hash is journaled as a ``LiabilitiesRoot`` event with snapshot id
``seq-<n>-margin``, the ledger's own totals (which the engine checks, as for every such event) and
the engine's account count; no new event kind, so every older journal replays unchanged. A second
proof at the same state reuses the journaled root (rebuilt from the secret, hash compared).

Sizes and times (``python benchmarks/bench_margin_proof.py --accounts 10000 --sample 20``, 2 shared
cores, 2026-12-07): with a 3-tier BTC-PERP and a flat ETH-PERP, the maintenance proof is 10 range
proofs (579 bits), 102,521 bytes of JSON (76,028 raw), proved in 80 ms and verified in 90 ms of CPU
(8.9× and 9.1× one 64-bit range proof in the same run, as the bit count predicts); maintenance and
initial together 181,545 bytes, 145 / 165 ms. The root over 10,000 sub-accounts takes 5.0 s; proving
every healthy one of them (8,027) would take about 640 s of one core (measured per account,
linear). With a 10-tier schedule (``--tiers 10``) the maintenance proof is 189,354 bytes, 160 /
179 ms. Cost grows with instruments × tiers: every instrument of the root is proven, held or not.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ramparts.errors import InvalidInput, UnknownEntity
from ramparts.fixedpoint import MAX_NOTIONAL, PPM
from ramparts.margin.schedule import MarginSchedule, MarginTier
from ramparts.solvency import private_proof as pp
from ramparts.solvency import proof as pf
from ramparts.solvency.commitments import (
    G_BYTES,
    H_BYTES,
    H_COUNTER,
    SCALAR_BYTES,
    EncodingError,
    H,
    Point,
    Q,
    Transcript,
    base_mul,
    commit,
    decode_point,
    decode_scalar,
    encode_point,
    encode_scalar,
    point_add,
    point_mul,
    random_scalar,
)
from ramparts.solvency.range_proof import RangeProofError, proof_size, prove_range, verify_range

FORMAT = "ramparts-margin-proof"
ROOT_FORMAT = "ramparts-margin-root"
VERSION = 1
LEVELS = ("maintenance", "initial")

TAG_HEADER = b"\x30"
TAG_LEAF = b"\x31"
TAG_NODE = b"\x32"
TAG_ROOT = b"\x33"
TAG_CONTEXT = b"\x34"

SALT_LABEL = b"ramparts-margin/salt/v1"
BLINDING_LABEL = b"ramparts-margin/blinding/v1"
SIGN_DOMAIN = "ramparts/margin-proof/sign/v1"

#: ``base`` (cash − cost basis, signed) is proven in ``[-2**64, 2**64)``.
BASE_OFFSET = 2**64
BASE_BITS = 65
#: ``M_i`` (a position's requirement) in ``[0, 2**52)``: a requirement never exceeds its notional.
REQ_BITS = MAX_NOTIONAL.bit_length()
#: ``E − Σ M_i`` in ``[0, 2**64)``.
MARGIN_BITS = 64
MAX_INSTRUMENTS = 256
#: The sign proof: ``e``, ``e_0``, ``s_0``, ``s_1``.
SIGN_BYTES = 4 * SCALAR_BYTES
MAX_PROOF_BYTES = pp.MAX_PROOF_BYTES
MARGIN_SNAPSHOT_RE = re.compile(r"seq-(\d+)-margin\Z")

_HEX64 = re.compile(r"[0-9a-f]{64}\Z")
_HEX66 = re.compile(r"[0-9a-f]{66}\Z")
_INT = re.compile(r"(0|-?[1-9][0-9]{0,40})\Z")


# --------------------------------------------------------------------------- public terms


@dataclass(frozen=True)
class Market:
    """The public terms of one instrument in a margin root: its mark (lot price) and tiers ``(floor, im ppm, mm ppm)``."""

    symbol: str
    mark: int
    tiers: tuple[tuple[int, int, int], ...]
    schedule: MarginSchedule = field(compare=False, repr=False)

    @classmethod
    def make(cls, symbol: str, mark: int, tiers: Sequence[Sequence[int]]) -> Market:
        if type(mark) is not int or not 0 <= mark < 2**63:
            raise InvalidInput("mark", f"{symbol}: a mark is an int lot price in [0, 2**63), got {mark!r}")
        tt = tuple((int(f), int(i), int(m)) for f, i, m in tiers)
        sched = MarginSchedule(tiers=tuple(MarginTier(f, i, m) for f, i, m in tt))
        return cls(symbol, mark, tt, sched)

    def abs_bits(self) -> int:
        """The width of ``|lots|``: ``N = |lots|·mark <= MAX_NOTIONAL`` (63 bits at a zero mark)."""
        return max(1, (MAX_NOTIONAL // self.mark).bit_length()) if self.mark else 63

    def lines(self, level: str) -> list[tuple[int, int]]:
        """``[(rate_j ppm, C_j scaled by 1e6)]`` of every tier for ``level`` (the schedule's own amounts)."""
        s = self.schedule
        if level == "maintenance":
            return [(t.maintenance_rate_ppm, c) for t, c in zip(s.tiers, s.mm_cum_scaled, strict=True)]
        return [(t.initial_rate_ppm, c) for t, c in zip(s.tiers, s.im_cum_scaled, strict=True)]

    def requirement(self, lots: int, level: str) -> int:
        """The engine's requirement of ``lots`` at this mark (:class:`MarginSchedule`, rounded up)."""
        if lots == 0:
            return 0
        n = abs(lots) * self.mark
        return self.schedule.maintenance_margin(n) if level == "maintenance" else self.schedule.initial_margin(n)


def slack_bits(cum: int) -> int:
    """The width of a tier slack ``10^6·M − (N·rate − C)``: at most ``10^6·MAX_NOTIONAL + C``."""
    return (PPM * MAX_NOTIONAL + cum).bit_length()


def header_digest(snapshot_id: str, sequence: int, settlement: str, markets: Sequence[Market], account_count: int) -> bytes:
    parts = [TAG_HEADER, pf.encode_str(ROOT_FORMAT), pf.encode_u32(VERSION), pf.encode_str(snapshot_id),
             pf.encode_u64(sequence), pf.encode_str(settlement), pf.encode_u32(len(markets))]
    for m in markets:
        parts += [pf.encode_str(m.symbol), pf.encode_u64(m.mark), pf.encode_u32(len(m.tiers))]
        for f, i, mm in m.tiers:
            parts += [pf.encode_u64(f), pf.encode_u32(i), pf.encode_u32(mm)]
    parts += [pf.encode_u64(account_count), G_BYTES, H_BYTES]
    return hashlib.sha256(b"".join(parts)).digest()


def leaf_hash(account: bytes, commitments: Sequence[bytes]) -> bytes:
    return hashlib.sha256(TAG_LEAF + account + b"".join(commitments)).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(TAG_NODE + left + right).digest()


def root_hash(header: bytes, tree_hash: bytes) -> bytes:
    return hashlib.sha256(TAG_ROOT + header + tree_hash).digest()


def context(root: bytes, account: bytes, step: str, instrument: int = 0, tier: int = 0) -> bytes:
    """The transcript context of one range or sign proof: root, account, step, instrument, tier."""
    return TAG_CONTEXT + root + account + pf.encode_str(step) + pf.encode_u32(instrument) + pf.encode_u32(tier)


# --------------------------------------------------------------------------- the sign proof


def _sign_challenge(ctx: bytes, y0: Point, y1: Point, a0: Point, a1: Point) -> int:
    t = Transcript(SIGN_DOMAIN)
    t.append("G", G_BYTES)
    t.append("H", H_BYTES)
    t.append("context", ctx)
    for name, pt in (("Y0", y0), ("Y1", y1), ("A0", a0), ("A1", a1)):
        t.append_point(name, pt)
    return t.challenge("e")


def prove_sign(ctx: bytes, y0: Point, y1: Point, branch: int, witness: int) -> bytes:
    """CDS OR-proof of knowledge of ``x`` with ``Y_branch = x·H`` (the other branch simulated); 128 bytes."""
    k, e_sim, s_sim = random_scalar(), random_scalar(), random_scalar()
    real = point_mul(H, k)
    sim = point_add(point_mul(H, s_sim), point_mul(y1 if branch == 0 else y0, -e_sim))
    a0, a1 = (real, sim) if branch == 0 else (sim, real)
    e = _sign_challenge(ctx, y0, y1, a0, a1)
    e_real = (e - e_sim) % Q
    s_real = (k + e_real * witness) % Q
    e0, s0, s1 = (e_real, s_real, s_sim) if branch == 0 else (e_sim, s_sim, s_real)
    return b"".join(encode_scalar(x) for x in (e, e0, s0, s1))


def verify_sign(ctx: bytes, y0: Point, y1: Point, proof: bytes) -> bool:
    """True iff ``proof`` shows a discrete logarithm to base ``H`` of ``Y_0`` or of ``Y_1``."""
    if len(proof) != SIGN_BYTES:
        return False
    try:
        e, e0, s0, s1 = (decode_scalar(proof[i : i + SCALAR_BYTES]) for i in range(0, SIGN_BYTES, SCALAR_BYTES))
    except EncodingError:
        return False
    e1 = (e - e0) % Q
    a0 = point_add(point_mul(H, s0), point_mul(y0, -e0))
    a1 = point_add(point_mul(H, s1), point_mul(y1, -e1))
    return _sign_challenge(ctx, y0, y1, a0, a1) == e


# --------------------------------------------------------------------------- the root


def derive_salt(secret: bytes, snapshot_id: str, subaccount: str) -> bytes:
    return hmac.digest(secret, SALT_LABEL + pf.encode_str(snapshot_id) + pf.encode_str(subaccount), "sha256")


def derive_blinding(secret: bytes, snapshot_id: str, subaccount: str, what: str) -> int:
    """A non-zero blinding: ``HMAC-SHA512(secret, label || str(snapshot) || str(sub) || str(what)) mod (Q − 1) + 1``."""
    msg = BLINDING_LABEL + pf.encode_str(snapshot_id) + pf.encode_str(subaccount) + pf.encode_str(what)
    return int.from_bytes(hmac.digest(secret, msg, "sha512"), "big") % (Q - 1) + 1


@dataclass(frozen=True)
class Account:
    """The private state of one sub-account: ``base`` (cash − cost basis) and signed lots per root instrument."""

    subaccount: str
    base: int
    lots: tuple[int, ...]


class MarginNotMet(InvalidInput):
    """The sub-account's equity is below the requirement it was asked to prove."""


class MarginRoot:
    """Commitments of every eligible sub-account at one state, their Merkle tree and the root hash."""

    def __init__(self, accounts: Sequence[Account], markets: Sequence[Market], *, snapshot_id: str, sequence: int,
                 settlement: str, secret: bytes):
        if not isinstance(secret, bytes | bytearray) or len(secret) < 16:
            raise InvalidInput("secret", "the secret must hold at least 16 bytes")
        if not 0 < len(markets) <= MAX_INSTRUMENTS:
            raise InvalidInput("instruments", f"a margin root covers 1 to {MAX_INSTRUMENTS} instruments")
        if not accounts:
            raise InvalidInput("subaccount", "no sub-account is eligible for a margin proof")
        self.snapshot_id, self.sequence, self.settlement = snapshot_id, sequence, settlement
        self.markets = list(markets)
        self._secret = bytes(secret)
        rows = []
        for a in accounts:
            if len(a.lots) != len(self.markets):
                raise InvalidInput("lots", f"{a.subaccount}: one lot count per instrument of the root")
            if not -BASE_OFFSET <= a.base < BASE_OFFSET:
                raise InvalidInput("base", f"{a.subaccount}: cash − cost basis {a.base} is outside [-2**64, 2**64)")
            salt = derive_salt(self._secret, snapshot_id, a.subaccount)
            rows.append((pf.account_commitment(salt, a.subaccount), salt, a))
        rows.sort(key=lambda r: r[0])
        self.account_count = len(rows)
        self._accounts = [r[2] for r in rows]
        self._salts = [r[1] for r in rows]
        self._ids = [r[0] for r in rows]
        self._index = {a.subaccount: i for i, a in enumerate(self._accounts)}
        self._commitments = [self._commit(a) for a in self._accounts]
        levels = [[leaf_hash(h, [encode_point(c) for c, _ in cs]) for h, cs in zip(self._ids, self._commitments, strict=True)]]
        while len(levels[-1]) > 1:
            prev = levels[-1]
            levels.append([node_hash(prev[i], prev[i + 1]) if i + 1 < len(prev) else prev[i] for i in range(0, len(prev), 2)])
        self._levels = levels
        self.tree_hash = levels[-1][0]
        self.header = header_digest(snapshot_id, sequence, settlement, self.markets, self.account_count)
        self.root = root_hash(self.header, self.tree_hash)
        self.hash = self.root.hex()

    def _commit(self, a: Account) -> list[tuple[Point, int]]:
        out = []
        for what, v in (("base", a.base), *((f"lots:{m.symbol}", n) for m, n in zip(self.markets, a.lots, strict=True))):
            r = derive_blinding(self._secret, self.snapshot_id, a.subaccount, what)
            out.append((commit(v, r), r))
        return out

    def subaccounts(self) -> list[str]:
        return [a.subaccount for a in self._accounts]

    def account(self, subaccount: str) -> Account:
        return self._accounts[self._i(subaccount)]

    def _i(self, subaccount: str) -> int:
        try:
            return self._index[subaccount]
        except (KeyError, TypeError):
            raise UnknownEntity("subaccount", f"{subaccount!r} is not in the margin root") from None

    def record(self) -> dict[str, Any]:
        """The published ``root.json``."""
        return {
            "format": ROOT_FORMAT, "version": VERSION, "snapshot_id": self.snapshot_id, "sequence": self.sequence,
            "settlement": self.settlement,
            "instruments": [{"symbol": m.symbol, "mark": str(m.mark), "tiers": [[str(f), i, mm] for f, i, mm in m.tiers]}
                            for m in self.markets],
            "account_count": self.account_count,
            "generators": {"G": G_BYTES.hex(), "H": H_BYTES.hex(), "H_counter": H_COUNTER},
            "tree_hash": self.tree_hash.hex(), "hash": self.hash,
        }

    def requirements(self, subaccount: str) -> dict[str, int]:
        """``{"equity", "maintenance", "initial"}`` of a sub-account by the engine's rule (what a proof is about)."""
        a = self.account(subaccount)
        eq = a.base + sum(n * m.mark for n, m in zip(a.lots, self.markets, strict=True))
        out = {"equity": eq}
        for lev in LEVELS:
            out[lev] = sum(m.requirement(n, lev) for n, m in zip(a.lots, self.markets, strict=True))
        return out

    def prove(self, subaccount: str, levels: Sequence[str] = ("maintenance",)) -> dict[str, Any]:
        """The margin proof (JSON-ready) of ``subaccount`` for ``levels``; :class:`MarginNotMet` if it does not hold."""
        levels = _check_levels(levels)
        req = self.requirements(subaccount)
        for lev in levels:
            if req["equity"] < req[lev]:
                raise MarginNotMet("subaccount", f"{subaccount}: equity {req['equity']} is below its {lev} requirement "
                                                 f"{req[lev]}: no proof of {lev} margin health exists")
        return _build_proof(self, subaccount, levels)


def _check_levels(levels: Sequence[str]) -> tuple[str, ...]:
    out = tuple(dict.fromkeys(levels))
    if not out or any(lev not in LEVELS for lev in out):
        raise InvalidInput("requirement", f"expected maintenance, initial or both, got {list(levels)}")
    return out


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def _build_proof(root: MarginRoot, subaccount: str, levels: Sequence[str], *, witness: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Assemble a proof. ``witness`` overrides the honest values (``abs``, ``req``: ``{(level, i): M}``) for the
    soundness tests, which pair it with a cheating range prover; the public :meth:`MarginRoot.prove` never passes it."""
    w = dict(witness or {})
    idx = root._i(subaccount)
    a, acc, cs = root._accounts[idx], root._ids[idx], root._commitments[idx]
    rt = root.root
    (c_base, r_base), lots_cs = cs[0], cs[1:]
    path = [root._levels[level][(idx >> level) ^ 1].hex() for level, _ in pp.path_shape(idx, root.account_count)]
    base_rp = prove_range(a.base + BASE_OFFSET, BASE_BITS, context(rt, acc, "base"), blinding=r_base)
    positions: dict[str, Any] = {}
    r_equity = r_base
    c_req: dict[str, list[tuple[Point, int, int]]] = {lev: [] for lev in levels}
    for i, (m, lots, (c_l, r_l)) in enumerate(zip(root.markets, a.lots, lots_cs, strict=True)):
        absv = w.get("abs", {}).get(i, abs(lots))
        arp = prove_range(absv, m.abs_bits(), context(rt, acc, "abs", i))
        r_a = arp.blinding
        c_a = commit(absv, r_a)  # arp.commitment for an honest prover
        neg_a = point_mul(c_a, -1)
        branch = 0 if lots == absv else 1
        sign = prove_sign(context(rt, acc, "sign", i), point_add(c_l, neg_a), point_add(c_l, c_a), branch,
                          (r_l - r_a) % Q if branch == 0 else (r_l + r_a) % Q)
        r_equity = (r_equity + m.mark * r_l) % Q
        reqs = {}
        for lev in levels:
            mval = w.get("req", {}).get((lev, i), m.requirement(lots, lev))
            mrp = prove_range(mval, REQ_BITS, context(rt, acc, f"req:{lev}", i))
            c_m = commit(mval, mrp.blinding)  # mrp.commitment for an honest prover
            tiers = []
            for j, (rate, cum) in enumerate(m.lines(lev)):
                slack = PPM * mval - (absv * m.mark * rate - cum)
                blind = (PPM * mrp.blinding - rate * m.mark * r_a) % Q
                tiers.append(_b64(prove_range(slack, slack_bits(cum), context(rt, acc, f"tier:{lev}", i, j),
                                              blinding=blind).proof))
            c_req[lev].append((c_m, mrp.blinding, mval))
            reqs[lev] = {"commitment": encode_point(c_m).hex(), "range": _b64(mrp.proof), "tiers": tiers}
        positions[m.symbol] = {"abs": encode_point(c_a).hex(), "abs_range": _b64(arp.proof), "sign": _b64(sign),
                               "requirements": reqs}
    equity = a.base + sum(n * m.mark for n, m in zip(a.lots, root.markets, strict=True))
    margin = {}
    for lev in levels:
        excess = equity - sum(v for _, _, v in c_req[lev])
        blind = (r_equity - sum(r for _, r, _ in c_req[lev])) % Q
        margin[lev] = _b64(prove_range(excess, MARGIN_BITS, context(rt, acc, f"margin:{lev}"), blinding=blind).proof)
    return {
        "format": FORMAT, "version": VERSION, "root_hash": root.hash, "snapshot_id": root.snapshot_id,
        "sequence": root.sequence, "subaccount": subaccount, "salt": root._salts[idx].hex(), "index": idx,
        "requirements": list(levels),
        "commitments": {"base": encode_point(c_base).hex(),
                        "lots": {m.symbol: encode_point(c).hex() for m, (c, _) in zip(root.markets, lots_cs, strict=True)}},
        "path": path, "base_range": _b64(base_rp.proof), "positions": positions, "margin": margin,
    }


def dumps(obj: Any) -> str:
    return json.dumps(obj, indent=1, ensure_ascii=False) + "\n"


# --------------------------------------------------------------------------- verification


@dataclass(frozen=True)
class MarginVerification:
    """The verdict on a margin proof: ``ok``; else ``code`` and ``reason`` (``malformed`` is a file that is not a proof)."""

    ok: bool
    code: str = ""
    reason: str = ""
    subaccount: str | None = None
    snapshot_id: str | None = None
    sequence: int | None = None
    root_hash: str | None = None
    requirements: tuple[str, ...] = ()
    instruments: tuple[str, ...] = ()
    range_proofs: int = 0

    @property
    def malformed(self) -> bool:
        return self.code in ("malformed", "unsupported_version")


class _Fail(Exception):
    def __init__(self, code: str, reason: str):
        super().__init__(reason)
        self.code, self.reason = code, reason


def _obj(v: Any, where: str, keys: set[str]) -> dict:
    if not isinstance(v, dict):
        raise _Fail("malformed", f"{where}: expected an object")
    if set(v) != keys:
        extra, missing = sorted(set(v) - keys), sorted(keys - set(v))
        raise _Fail("malformed", f"{where}: " + (f"unknown key {extra[0]!r}" if extra else f"missing key {missing[0]!r}"))
    return v


def _point(v: Any, where: str) -> Point:
    if not isinstance(v, str) or not _HEX66.match(v):
        raise _Fail("malformed", f"{where}: expected a 66-hex point")
    try:
        return decode_point(bytes.fromhex(v))
    except EncodingError as exc:
        raise _Fail("malformed", f"{where}: {exc}") from None


def _bytes64(v: Any, where: str) -> bytes:
    if not isinstance(v, str):
        raise _Fail("malformed", f"{where}: expected base64")
    try:
        return base64.b64decode(v, validate=True)
    except (binascii.Error, ValueError):
        raise _Fail("malformed", f"{where}: not base64") from None


def _int_str(v: Any, where: str, lo: int, hi: int) -> int:
    if not isinstance(v, str) or not _INT.match(v) or not lo <= int(v) < hi:
        raise _Fail("malformed", f"{where}: expected a decimal integer string in [{lo}, {hi})")
    return int(v)


def _plain_int(v: Any, where: str, lo: int, hi: int) -> int:
    if type(v) is not int or not lo <= v < hi:
        raise _Fail("malformed", f"{where}: expected an int in [{lo}, {hi})")
    return v


def _load(obj: Any, what: str) -> Any:
    if isinstance(obj, bytes | bytearray | str):
        try:
            return json.loads(obj, object_pairs_hook=pf._no_duplicate_keys)
        except (ValueError, pf._Reject) as exc:
            raise _Fail("malformed", f"{what} is not JSON: {exc}") from None
    return obj


@dataclass(frozen=True)
class PublicRoot:
    """A checked ``root.json``: the header fields, the markets, the tree and root hashes."""

    snapshot_id: str
    sequence: int
    settlement: str
    markets: tuple[Market, ...]
    account_count: int
    tree_hash: bytes
    root: bytes


def parse_root(record: Any) -> PublicRoot:
    """Check a ``root.json`` (its hash recomputed from its fields); raises ``_Fail``."""
    r = _obj(_load(record, "the root record"), "root", {"format", "version", "snapshot_id", "sequence", "settlement",
                                                        "instruments", "account_count", "generators", "tree_hash", "hash"})
    if r["format"] != ROOT_FORMAT:
        raise _Fail("malformed", f"root: format is {r['format']!r}, not {ROOT_FORMAT!r}")
    if r["version"] != VERSION:
        raise _Fail("unsupported_version", f"root: version {r['version']!r} (this verifier reads version {VERSION})")
    if r["generators"] != {"G": G_BYTES.hex(), "H": H_BYTES.hex(), "H_counter": H_COUNTER}:
        raise _Fail("generators_mismatch", "root: the generators are not the documented G and H")
    for k in ("snapshot_id", "settlement"):
        if not isinstance(r[k], str) or not 0 < len(r[k]) <= 1024:
            raise _Fail("malformed", f"root.{k}: expected a non-empty string")
    seq = _plain_int(r["sequence"], "root.sequence", 0, 2**64)
    count = _plain_int(r["account_count"], "root.account_count", 1, 2**32 + 1)
    ins = r["instruments"]
    if not isinstance(ins, list) or not 0 < len(ins) <= MAX_INSTRUMENTS:
        raise _Fail("malformed", f"root.instruments: expected 1 to {MAX_INSTRUMENTS} instruments")
    markets = []
    for n, item in enumerate(ins):
        o = _obj(item, f"root.instruments[{n}]", {"symbol", "mark", "tiers"})
        if not isinstance(o["symbol"], str) or not 0 < len(o["symbol"]) <= 64:
            raise _Fail("malformed", f"root.instruments[{n}].symbol: expected a symbol")
        mark = _int_str(o["mark"], f"root.instruments[{n}].mark", 0, 2**63)
        if not isinstance(o["tiers"], list) or not 0 < len(o["tiers"]) <= 64:
            raise _Fail("malformed", f"root.instruments[{n}].tiers: expected 1 to 64 tiers")
        tiers = []
        for t, tier in enumerate(o["tiers"]):
            if not isinstance(tier, list) or len(tier) != 3:
                raise _Fail("malformed", f"root.instruments[{n}].tiers[{t}]: expected [floor, initial ppm, maintenance ppm]")
            tiers.append((_int_str(tier[0], f"root.instruments[{n}].tiers[{t}][0]", 0, MAX_NOTIONAL + 1),
                          _plain_int(tier[1], f"root.instruments[{n}].tiers[{t}][1]", 1, PPM + 1),
                          _plain_int(tier[2], f"root.instruments[{n}].tiers[{t}][2]", 1, PPM + 1)))
        try:
            markets.append(Market.make(o["symbol"], mark, tiers))
        except InvalidInput as exc:
            raise _Fail("malformed", f"root.instruments[{n}]: {exc}") from None
    if len({m.symbol for m in markets}) != len(markets):
        raise _Fail("malformed", "root.instruments: duplicate symbol")
    for k in ("tree_hash", "hash"):
        if not isinstance(r[k], str) or not _HEX64.match(r[k]):
            raise _Fail("malformed", f"root.{k}: expected 64 lowercase hex")
    tree = bytes.fromhex(r["tree_hash"])
    header = header_digest(r["snapshot_id"], seq, r["settlement"], markets, count)
    rt = root_hash(header, tree)
    if rt.hex() != r["hash"]:
        raise _Fail("root_mismatch", "root: the hash is not the hash of the root's fields (marks, schedules, tree)")
    return PublicRoot(r["snapshot_id"], seq, r["settlement"], tuple(markets), count, tree, rt)


def verify_margin(proof: Any, root_record: Any, expected_root: str | None = None) -> MarginVerification:
    """Check a margin proof against the published root (and, when given, the journaled root hash); never raises."""
    info: dict[str, Any] = {}
    try:
        _verify(_load(proof, "the proof"), root_record, expected_root, info)
    except _Fail as f:
        return MarginVerification(False, f.code, f.reason, **info)
    return MarginVerification(True, **info)


def _rp(c: Point, raw: Any, bits: int, ctx: bytes, where: str, code: str, info: dict) -> None:
    data = _bytes64(raw, where)
    if len(data) != proof_size(bits):
        raise _Fail("malformed", f"{where}: a {bits}-bit range proof is {proof_size(bits)} bytes, got {len(data)}")
    try:
        verify_range(c, data, bits, ctx)
    except RangeProofError as exc:
        raise _Fail(code, f"{where}: {exc.reason}") from None
    info["range_proofs"] = info.get("range_proofs", 0) + 1


def _verify(p: Any, root_record: Any, expected_root: str | None, info: dict[str, Any]) -> None:
    if isinstance(p, dict) and p.get("format") == FORMAT and p.get("version") != VERSION:
        raise _Fail("unsupported_version", f"proof: version {p.get('version')!r} (this verifier reads version {VERSION})")
    p = _obj(p, "proof", {"format", "version", "root_hash", "snapshot_id", "sequence", "subaccount", "salt", "index",
                          "requirements", "commitments", "path", "base_range", "positions", "margin"})
    if p["format"] != FORMAT:
        raise _Fail("malformed", f"proof: format is {p['format']!r}, not {FORMAT!r}")
    if not isinstance(p["subaccount"], str) or not 0 < len(p["subaccount"]) <= 1024:
        raise _Fail("malformed", "proof.subaccount: expected a sub-account id")
    info["subaccount"] = p["subaccount"]
    root = parse_root(root_record)
    info.update(snapshot_id=root.snapshot_id, sequence=root.sequence, root_hash=root.root.hex(),
                instruments=tuple(m.symbol for m in root.markets))
    if expected_root is not None and root.root.hex() != expected_root.strip().lower():
        raise _Fail("unexpected_root", f"the root is {root.root.hex()}, not the journaled {expected_root.strip().lower()}")
    if (p["root_hash"], p["snapshot_id"], p["sequence"]) != (root.root.hex(), root.snapshot_id, root.sequence):
        raise _Fail("root_mismatch", "the proof was made for another root (hash, snapshot or sequence differ)")
    try:
        levels = _check_levels(p["requirements"]) if isinstance(p["requirements"], list) else ()
    except InvalidInput:
        levels = ()
    if not levels:
        raise _Fail("malformed", "proof.requirements: expected a list of maintenance / initial")
    info["requirements"] = levels
    if not isinstance(p["salt"], str) or not _HEX64.match(p["salt"]):
        raise _Fail("malformed", "proof.salt: expected 64 hex")
    idx = _plain_int(p["index"], "proof.index", 0, root.account_count)
    account = pf.account_commitment(bytes.fromhex(p["salt"]), p["subaccount"])
    cm = _obj(p["commitments"], "proof.commitments", {"base", "lots"})
    symbols = [m.symbol for m in root.markets]
    lots = _obj(cm["lots"], "proof.commitments.lots", set(symbols))
    c_base = _point(cm["base"], "proof.commitments.base")
    c_lots = [_point(lots[s], f"proof.commitments.lots.{s}") for s in symbols]
    # the leaf and its path to the root's tree hash
    h = leaf_hash(account, [bytes.fromhex(cm["base"])] + [bytes.fromhex(lots[s]) for s in symbols])
    shape = pp.path_shape(idx, root.account_count)
    if not isinstance(p["path"], list) or len(p["path"]) != len(shape):
        raise _Fail("path_mismatch", f"proof.path: expected {len(shape)} sibling hashes for leaf {idx} of {root.account_count}")
    for (level, side), sib in zip(shape, p["path"], strict=True):
        if not isinstance(sib, str) or not _HEX64.match(sib):
            raise _Fail("malformed", f"proof.path[{level}]: expected 64 hex")
        h = node_hash(bytes.fromhex(sib), h) if side == "left" else node_hash(h, bytes.fromhex(sib))
    if h != root.tree_hash:
        raise _Fail("path_mismatch", "the sub-account's commitments and path do not lead to the root's tree hash")
    rt = root.root
    _rp(point_add(c_base, base_mul(BASE_OFFSET)), p["base_range"], BASE_BITS, context(rt, account, "base"),
        "proof.base_range", "range_proof_invalid", info)
    pos = _obj(p["positions"], "proof.positions", set(symbols))
    c_equity = c_base
    c_sum = {lev: None for lev in levels}
    for i, (m, c_l) in enumerate(zip(root.markets, c_lots, strict=True)):
        where = f"proof.positions.{m.symbol}"
        q = _obj(pos[m.symbol], where, {"abs", "abs_range", "sign", "requirements"})
        c_a = _point(q["abs"], f"{where}.abs")
        _rp(c_a, q["abs_range"], m.abs_bits(), context(rt, account, "abs", i), f"{where}.abs_range",
            "range_proof_invalid", info)
        neg_a = point_mul(c_a, -1)
        if not verify_sign(context(rt, account, "sign", i), point_add(c_l, neg_a), point_add(c_l, c_a),
                           _bytes64(q["sign"], f"{where}.sign")):
            raise _Fail("sign_invalid", f"{where}.sign: the position is not shown to be plus or minus its size")
        c_equity = point_add(c_equity, point_mul(c_l, m.mark))
        reqs = _obj(q["requirements"], f"{where}.requirements", set(levels))
        for lev in levels:
            wl = f"{where}.requirements.{lev}"
            o = _obj(reqs[lev], wl, {"commitment", "range", "tiers"})
            c_m = _point(o["commitment"], f"{wl}.commitment")
            _rp(c_m, o["range"], REQ_BITS, context(rt, account, f"req:{lev}", i), f"{wl}.range",
                "range_proof_invalid", info)
            lines = m.lines(lev)
            if not isinstance(o["tiers"], list) or len(o["tiers"]) != len(lines):
                raise _Fail("malformed", f"{wl}.tiers: expected {len(lines)} tier proofs")
            scaled = point_mul(c_m, PPM)
            for j, ((rate, cum), raw) in enumerate(zip(lines, o["tiers"], strict=True)):
                c_s = point_add(scaled, point_mul(c_a, -(rate * m.mark)), base_mul(cum))
                _rp(c_s, raw, slack_bits(cum), context(rt, account, f"tier:{lev}", i, j), f"{wl}.tiers[{j}]",
                    "tier_proof_invalid", info)
            c_sum[lev] = point_add(c_sum[lev], c_m)
    marg = _obj(p["margin"], "proof.margin", set(levels))
    for lev in levels:
        c_x = point_add(c_equity, point_mul(c_sum[lev], -1))
        _rp(c_x, marg[lev], MARGIN_BITS, context(rt, account, f"margin:{lev}"), f"proof.margin.{lev}",
            "margin_proof_invalid", info)


# --------------------------------------------------------------------------- the engine


def engine_markets(engine: Any) -> tuple[list[Market], list[int], dict[int, str]]:
    """The root's instruments (tiered, no size premium, in listing order), their engine indices, and the others with why."""
    markets, index, out = [], [], {}
    for instr in engine.instruments:
        if getattr(instr, "is_option", False):
            out[instr.index] = f"{instr.symbol} is an option (its requirement is not a notional tier)"
        elif instr.schedule.size_premium_ppm:
            out[instr.index] = f"{instr.symbol} has a size premium (a floating-point square root)"
        else:
            tiers = [(t.notional_floor, t.initial_rate_ppm, t.maintenance_rate_ppm) for t in instr.schedule.tiers]
            markets.append(Market.make(instr.symbol, int(engine.markets[instr.index].mark), tiers))
            index.append(instr.index)
    return markets, index, out


def engine_accounts(engine: Any) -> tuple[list[Market], list[Account], dict[str, str]]:
    """``(markets, eligible accounts, {refused sub-account: why})`` at the engine's current state."""
    markets, index, out = engine_markets(engine)
    pos_of = {ix: n for n, ix in enumerate(index)}
    settle = engine.settlement.symbol
    other_assets = {k for a, k, v in engine.ledger.items() if isinstance(k, int) and a != settle and v}
    accounts, refused = [], {}
    for s, sub in enumerate(engine.subs):
        sid = str(sub.id)
        equity = engine.equity(s)  # brings a lazily re-margined sub-account up to date
        why = None
        if engine.is_portfolio[s]:
            why = "it is a portfolio-margin sub-account (scenario requirements are not proven)"
        elif s in other_assets or int(engine.sub_coll[s]):
            why = "it holds collateral other than the settlement asset (haircuts and borrows are not proven)"
        lots = [0] * len(markets)
        for ix, slot in engine.book.positions_of(s):
            n = int(engine.book.lots[slot])
            if not n:
                continue
            if ix not in pos_of:
                why = why or f"it holds {out[ix]}"
            else:
                lots[pos_of[ix]] = n
        if why is None and any(int(getattr(engine, f)[s]) for f in ("sub_opt_adj_mm", "sub_pm_adj_mm", "sub_borrow_mm",
                                                                     "sub_corr_mm", "sub_opt_adj_im", "sub_pm_adj_im",
                                                                     "sub_borrow_im", "sub_corr_im")):
            why = "its requirement carries option, portfolio, borrow or correlation add-ons"
        if why is not None:
            refused[sid] = why
            continue
        base = equity - sum(n * m.mark for n, m in zip(lots, markets, strict=True))
        accounts.append(Account(sid, base, tuple(lots)))
    return markets, accounts, refused


def engine_margin_root(engine: Any, secret: bytes, *, snapshot_id: str | None = None,
                       sequence: int | None = None) -> tuple[MarginRoot, dict[str, str]]:
    """The margin root of the engine's current state, and the sub-accounts left out with why."""
    if engine.settlement is None:
        raise InvalidInput("journal", "the journal has no Genesis: nothing to prove")
    markets, accounts, refused = engine_accounts(engine)
    if not markets:
        raise InvalidInput("journal", "no listed instrument is a tiered perpetual or future: nothing to prove")
    seq = engine.seq if sequence is None else sequence
    root = MarginRoot(accounts, markets, snapshot_id=snapshot_id or f"seq-{seq}-margin", sequence=seq,
                      settlement=engine.settlement.symbol, secret=secret)
    return root, refused


@dataclass(frozen=True)
class PublishedMarginRoot:
    root: MarginRoot
    refused: dict[str, str]
    journaled: bool
    build_seconds: float


def publish_margin_root(node: Any, secret: bytes, check: Any = None) -> PublishedMarginRoot:
    """The margin root at the node's state, journaled as a ``LiabilitiesRoot`` (or the one journaled just before, reused).

    Reused when the journal's last event is the margin root of the state before it (a
    ``LiabilitiesRoot`` changes no balance): rebuilt from the secret, its hash must equal the
    journaled one, or the secret is not the one that built it. ``check(root, refused)``, when
    given, runs before anything is journaled (a refusal there journals nothing).
    """
    from ramparts.engine import events as ev

    engine = node.engine
    t0 = time.perf_counter()
    last = engine.liabilities_roots[-1] if engine.liabilities_roots else None
    if last is not None and MARGIN_SNAPSHOT_RE.match(last["snapshot_id"]) and last["sequence"] == engine.seq - 1:
        root, refused = engine_margin_root(engine, secret, snapshot_id=last["snapshot_id"], sequence=last["sequence"])
        if root.hash != last["root_hash"]:
            raise InvalidInput("secret_file", f"the margin root journaled as {last['snapshot_id']} was built from another "
                                              "secret: its hash differs from the one this secret gives")
        if check is not None:
            check(root, refused)
        return PublishedMarginRoot(root, refused, False, time.perf_counter() - t0)
    root, refused = engine_margin_root(engine, secret)
    built = time.perf_counter() - t0
    if check is not None:
        check(root, refused)
    count, totals = engine.liabilities_totals()
    node.submit(ev.LiabilitiesRoot(ts=engine.time_ns, snapshot_id=root.snapshot_id, sequence=root.sequence,
                                   root_hash=root.hash, account_count=count, totals=totals))
    return PublishedMarginRoot(root, refused, True, built)


__all__ = [
    "FORMAT", "LEVELS", "ROOT_FORMAT", "Account", "MarginNotMet", "MarginRoot", "MarginVerification", "Market",
    "PublicRoot", "PublishedMarginRoot", "derive_blinding", "derive_salt", "engine_accounts", "engine_margin_root",
    "engine_markets", "parse_root", "prove_sign", "publish_margin_root", "verify_margin", "verify_sign",
]
