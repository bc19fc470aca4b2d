"""Oracle gates: which engine actions an :class:`~ramparts.oracle.aggregate.IndexReading` may drive.

This module owns the gate checks, the :class:`GatePolicy` that maps each gate to the actions it
blocks, the pure :func:`evaluate` returning a :class:`GateDecision`, and :func:`confidence_addon`,
the margin add-on that prices the oracle's uncertainty. It does not aggregate sources
(:mod:`ramparts.oracle.aggregate`) and keeps no state (the stateful circuit breakers are
:mod:`ramparts.oracle.breaker`).

Gates (:data:`GATES`)
---------------------
``min_sources``      the reading is not ``valid`` or has fewer than ``policy.min_sources`` sources;
``stale``            ``now − reading.oldest_ts_ns > max_staleness_ns`` (``now`` defaults to the
                     reading's own time);
``confidence``       ``conf / price > max_conf_ppm`` (the interval is too wide);
``mark_divergence``  ``|mark − index| / index > max_mark_divergence_ppm`` (mark-price guard);
``twap_divergence``  ``|index − twap| / twap > max_twap_divergence_ppm`` (a sudden oracle move
                     away from its recent average, Drift's ``max_oracle_twap_5min_percent_divergence``).

A threshold of ``None`` disables its gate. When the reading has no price at all, every
price-dependent gate trips as well (nothing can be checked); when ``mark`` or ``twap`` is ``None``
its gate is not evaluated (a fresh market has no TWAP yet).

Actions (:data:`ACTIONS`)
-------------------------
``margin_check``         treating requirements at this price as authoritative (maintenance checks,
                         margin calls, flagging accounts for liquidation);
``liquidation``          executing liquidation steps at this price;
``funding``              paying funding computed from this price;
``withdrawal``           releasing collateral valued at this price;
``risk_increasing_fill`` accepting a fill that increases an account's risk.

:data:`DEFAULT_BLOCKS` follows Drift v2's per-action validity (liquidations and maintenance
checks continue on a stale or uncertain price, value extraction and new risk do not; a large
oracle/TWAP divergence stops liquidations) and is overridable per gate.

All comparisons are exact integer cross-multiplications; a gate trips on a strict ``>``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ramparts.errors import InvalidInput, Rejected
from ramparts.fixedpoint import PPM
from ramparts.oracle.aggregate import IndexReading, _check_keys, _int, _opt_ppm, _opt_price

#: The gates, in evaluation order.
GATES = ("min_sources", "stale", "confidence", "mark_divergence", "twap_divergence")
#: The actions a gate can block.
ACTIONS = ("margin_check", "liquidation", "funding", "withdrawal", "risk_increasing_fill")

#: Default gate → blocked actions.
DEFAULT_BLOCKS: dict[str, frozenset[str]] = {
    "min_sources": frozenset(ACTIONS),
    "stale": frozenset({"funding", "withdrawal", "risk_increasing_fill"}),
    "confidence": frozenset({"funding", "withdrawal", "risk_increasing_fill"}),
    "mark_divergence": frozenset({"funding", "risk_increasing_fill"}),
    "twap_divergence": frozenset({"liquidation", "withdrawal"}),
}


def _actions(value: Any, field: str) -> frozenset[str]:
    if isinstance(value, str) or not isinstance(value, Iterable):
        raise InvalidInput(field, f"expected a list of actions, got {value!r}")
    out = set()
    for a in value:
        if a not in ACTIONS:
            raise InvalidInput(field, f"unknown action {a!r} (known: {', '.join(ACTIONS)})")
        out.add(a)
    return frozenset(out)


@dataclass(frozen=True, slots=True)
class GatePolicy:
    """Thresholds of the gates and the actions each one blocks.

    Parameters
    ----------
    min_sources : int
        Fewest valid sources (``≥ 1``), on top of the reading's own validity.
    max_staleness_ns : int or None
        Largest age of the oldest valid source (ns), ``None`` to disable.
    max_conf_ppm : int or None
        Largest ``conf / price`` (ppm), ``None`` to disable.
    max_mark_divergence_ppm : int or None
        Largest ``|mark − index| / index`` (ppm), ``None`` to disable.
    max_twap_divergence_ppm : int or None
        Largest ``|index − twap| / twap`` (ppm, may exceed 1e6), ``None`` to disable.
    blocks : mapping of str to iterable of str
        Gate → actions it blocks; gates left out keep :data:`DEFAULT_BLOCKS`; an empty list makes a
        gate informational only.

    Raises
    ------
    InvalidInput
        Unknown gates or actions, out-of-range thresholds.
    """

    min_sources: int = 1
    max_staleness_ns: int | None = None
    max_conf_ppm: int | None = None
    max_mark_divergence_ppm: int | None = None
    max_twap_divergence_ppm: int | None = None
    blocks: Mapping[str, Iterable[str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "min_sources", _int(self.min_sources, "policy.min_sources", lo=1, hi=10_000))
        if self.max_staleness_ns is not None:
            object.__setattr__(self, "max_staleness_ns", _int(self.max_staleness_ns, "policy.max_staleness_ns", lo=0))
        object.__setattr__(self, "max_conf_ppm", _opt_ppm(self.max_conf_ppm, "policy.max_conf_ppm"))
        object.__setattr__(self, "max_mark_divergence_ppm", _opt_ppm(self.max_mark_divergence_ppm, "policy.max_mark_divergence_ppm"))
        object.__setattr__(
            self, "max_twap_divergence_ppm", _opt_ppm(self.max_twap_divergence_ppm, "policy.max_twap_divergence_ppm", hi=100 * PPM)
        )
        if not isinstance(self.blocks, Mapping):
            raise InvalidInput("policy.blocks", f"expected an object gate → actions, got {type(self.blocks).__name__}")
        for g in self.blocks:
            if g not in GATES:
                raise InvalidInput("policy.blocks", f"unknown gate {g!r} (known: {', '.join(GATES)})")
        full = {g: _actions(self.blocks[g], f"policy.blocks.{g}") if g in self.blocks else DEFAULT_BLOCKS[g] for g in GATES}
        object.__setattr__(self, "blocks", full)

    def __hash__(self) -> int:
        return hash(repr(self.to_dict()))

    def blocked_by(self, gate: str) -> frozenset[str]:
        """The actions ``gate`` blocks."""
        if gate not in GATES:
            raise InvalidInput("gate", f"unknown gate {gate!r} (known: {', '.join(GATES)})")
        return self.blocks[gate]

    def to_dict(self) -> dict:
        """Canonical JSON-able form (every gate listed, actions sorted)."""
        return {
            "min_sources": self.min_sources,
            "max_staleness_ns": self.max_staleness_ns,
            "max_conf_ppm": self.max_conf_ppm,
            "max_mark_divergence_ppm": self.max_mark_divergence_ppm,
            "max_twap_divergence_ppm": self.max_twap_divergence_ppm,
            "blocks": {g: sorted(self.blocks[g]) for g in GATES},
        }

    @classmethod
    def from_dict(cls, d: Mapping) -> GatePolicy:
        keys = tuple(cls.__dataclass_fields__)
        _check_keys(d, "policy", (), keys)
        return cls(**{k: d[k] for k in keys if k in d})


@dataclass(frozen=True, slots=True)
class GateDecision:
    """What a reading may be used for.

    Attributes
    ----------
    tripped : dict[str, str]
        Gate → human-readable reason, in :data:`GATES` order.
    blocked : dict[str, tuple[str, ...]]
        Action → the tripped gates that block it, in :data:`ACTIONS` order; an action that is
        allowed is absent.
    """

    tripped: dict[str, str]
    blocked: dict[str, tuple[str, ...]]

    def allows(self, action: str) -> bool:
        """Whether ``action`` (one of :data:`ACTIONS`) may proceed."""
        if action not in ACTIONS:
            raise InvalidInput("action", f"unknown action {action!r} (known: {', '.join(ACTIONS)})")
        return action not in self.blocked

    def require(self, action: str) -> None:
        """Raise :class:`~ramparts.errors.Rejected` (reason ``oracle_gate``) when ``action`` is blocked."""
        if not self.allows(action):
            why = "; ".join(f"{g}: {self.tripped[g]}" for g in self.blocked[action])
            raise Rejected("oracle_gate", f"{action} blocked by {why}")

    @property
    def ok(self) -> bool:
        """No gate tripped."""
        return not self.tripped

    def to_dict(self) -> dict:
        return {"tripped": dict(self.tripped), "blocked": {a: list(g) for a, g in self.blocked.items()}}


def _exceeds(diff: int, base: int, limit_ppm: int) -> bool:
    """``diff / base > limit_ppm / 1e6``, exactly."""
    return diff * PPM > limit_ppm * base


def evaluate(
    reading: IndexReading,
    mark: int | None,
    twap: int | None,
    policy: GatePolicy,
    *,
    now_ns: int | None = None,
) -> GateDecision:
    """Check a reading against every gate of ``policy``.

    Parameters
    ----------
    reading : IndexReading
        The aggregated index.
    mark : int or None
        Current mark lot price (for the mark-price guard), ``None`` to skip that gate.
    twap : int or None
        Oracle TWAP lot price (e.g. :meth:`Twap.value <ramparts.oracle.aggregate.Twap.value>`),
        ``None`` to skip that gate.
    policy : GatePolicy
        Thresholds and blocked actions.
    now_ns : int, optional
        Time the reading is used at, ns; defaults to ``reading.ts_ns``; must not precede it.

    Returns
    -------
    GateDecision

    Raises
    ------
    InvalidInput
        A wrong type, a non-positive or NaN mark/TWAP, ``now_ns`` before the reading.

    Examples
    --------
    >>> from ramparts.oracle.aggregate import IndexReading
    >>> r = IndexReading(price=1_000, conf=1, n_valid=3, rejected={}, valid=True, reason="ok", ts_ns=0, oldest_ts_ns=0)
    >>> d = evaluate(r, None, 1_200, GatePolicy(max_twap_divergence_ppm=100_000))
    >>> d.allows("liquidation"), d.allows("margin_check")
    (False, True)
    """
    if not isinstance(reading, IndexReading):
        raise InvalidInput("reading", f"expected an IndexReading, got {type(reading).__name__}")
    if not isinstance(policy, GatePolicy):
        raise InvalidInput("policy", f"expected a GatePolicy, got {type(policy).__name__}")
    m = _opt_price(mark, "mark")
    tw = _opt_price(twap, "twap")
    now = reading.ts_ns if now_ns is None else _int(now_ns, "now_ns", lo=0)
    if now < reading.ts_ns:
        raise InvalidInput("now_ns", f"before the reading's time ({now} < {reading.ts_ns})")

    tripped: dict[str, str] = {}
    price = reading.price
    if not reading.valid or reading.n_valid < policy.min_sources:
        need = policy.min_sources
        tripped["min_sources"] = f"{reading.n_valid} valid sources ({reading.reason}), need {need}"
    if policy.max_staleness_ns is not None:
        if reading.oldest_ts_ns is None:
            tripped["stale"] = "no valid source"
        elif now - reading.oldest_ts_ns > policy.max_staleness_ns:
            tripped["stale"] = f"oldest source is {now - reading.oldest_ts_ns} ns old, limit {policy.max_staleness_ns}"
    if policy.max_conf_ppm is not None:
        if price is None:
            tripped["confidence"] = "no price"
        elif _exceeds(reading.conf, price, policy.max_conf_ppm):
            tripped["confidence"] = f"conf {reading.conf} is {reading.conf * PPM // price} ppm of {price}, limit {policy.max_conf_ppm}"
    if policy.max_mark_divergence_ppm is not None and m is not None:
        if price is None:
            tripped["mark_divergence"] = "no price"
        elif _exceeds(abs(m - price), price, policy.max_mark_divergence_ppm):
            tripped["mark_divergence"] = (
                f"mark {m} is {abs(m - price) * PPM // price} ppm from index {price}, limit {policy.max_mark_divergence_ppm}"
            )
    if policy.max_twap_divergence_ppm is not None and tw is not None:
        if price is None:
            tripped["twap_divergence"] = "no price"
        elif _exceeds(abs(price - tw), tw, policy.max_twap_divergence_ppm):
            tripped["twap_divergence"] = (
                f"index {price} is {abs(price - tw) * PPM // tw} ppm from TWAP {tw}, limit {policy.max_twap_divergence_ppm}"
            )

    blocked = {}
    for a in ACTIONS:
        gates = tuple(g for g in GATES if g in tripped and a in policy.blocks[g])
        if gates:
            blocked[a] = gates
    return GateDecision(tripped=tripped, blocked=blocked)


def confidence_addon(reading: IndexReading, notional: Any, *, multiplier_ppm: int = PPM) -> Any:
    """Margin add-on for the oracle's uncertainty: ``⌈notional · conf / price · multiplier⌉``.

    Parameters
    ----------
    reading : IndexReading
        A reading with a price (valid or not: the caller decides whether to trade on it).
    notional : int or array_like of int
        Position notional(s) in quote base units, ``≥ 0`` (a numpy integer array gives an int64
        array of add-ons, computed exactly).
    multiplier_ppm : int
        Scales the interval (``2_000_000`` = twice the half-width), ``≥ 0``.

    Returns
    -------
    int or numpy.ndarray
        Add-on in quote base units, rounded **up**.

    Raises
    ------
    InvalidInput
        Negative or non-integer notional, a bad multiplier.
    Rejected
        ``oracle_invalid`` when the reading has no price.

    Examples
    --------
    >>> from ramparts.oracle.aggregate import IndexReading
    >>> r = IndexReading(price=3_000, conf=7, n_valid=1, rejected={}, valid=True, reason="ok", ts_ns=0, oldest_ts_ns=0)
    >>> confidence_addon(r, 1_000_000)   # 1e6 · 7 / 3000 = 2333.33…
    2334
    """
    if not isinstance(reading, IndexReading):
        raise InvalidInput("reading", f"expected an IndexReading, got {type(reading).__name__}")
    mult = _int(multiplier_ppm, "multiplier_ppm", lo=0, hi=1000 * PPM)
    if reading.price is None:
        raise Rejected("oracle_invalid", "the reading has no price to size a confidence add-on")
    num = reading.conf * mult
    den = reading.price * PPM
    if isinstance(notional, np.ndarray) or isinstance(notional, (list, tuple)):
        arr = np.asarray(notional)
        if arr.dtype.kind not in "iu":
            raise InvalidInput("notional", f"expected an integer array, got dtype {arr.dtype}")
        if arr.size and int(arr.min()) < 0:
            raise InvalidInput("notional", f"must be non-negative, got {int(arr.min())}")
        out = [-((-int(n) * num) // den) for n in arr.ravel().tolist()]
        if out and max(out) > np.iinfo(np.int64).max:
            raise InvalidInput("notional", "add-on overflows int64")
        return np.array(out, dtype=np.int64).reshape(arr.shape)
    n = _int(notional, "notional", lo=0)
    return -((-n * num) // den)


__all__ = ["ACTIONS", "DEFAULT_BLOCKS", "GATES", "GateDecision", "GatePolicy", "confidence_addon", "evaluate"]
