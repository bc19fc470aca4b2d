"""Circuit breakers: a deterministic state machine that pauses engine actions while a danger lasts.

This module owns the breaker configuration (:class:`BreakerRule`, grouped in
:class:`CircuitBreakers`), its immutable state (:class:`BreakerState`, :class:`RuleState`) and the
pure transitions :meth:`~CircuitBreakers.observe`, :meth:`~CircuitBreakers.tick` and
:meth:`~CircuitBreakers.reset`, each returning ``(new_state, effects)``. It does not decide what an
individual oracle reading may be used for (that is :mod:`ramparts.oracle.gates`); a breaker is the
*sticky* counterpart: once tripped it stays tripped until its condition has been clear for a
cool-down, or until an operator resets it.

Scope
-----
Every rule belongs to one **instrument** (market symbol) or to the whole venue (``"*"``), and to
one **layer** of the engine (:data:`LAYERS`: ``oracle``, ``margin``, ``liquidation``,
``insurance``, ``solvency``) for reporting. An observation made for instrument ``m`` feeds the
rules whose instrument is exactly ``m`` (venue-wide facts, e.g. the global insurance fund, are
observed with ``instrument="*"``); a tripped rule pauses its actions for its own instrument, and a
venue-wide rule for every instrument.

Triggers (:data:`TRIGGERS`)
---------------------------
``price_move``      the new price differs from some price observed in the last ``window_ns`` by
                    more than ``move_ppm`` of that older price (up or down);
``oracle_invalid``  an observation ``oracle_valid=False``;
``insurance_low``   an observation ``insurance_fund < threshold`` (base units);
``insolvency``      an observation ``insolvent=True``.

The default paused actions (:data:`DEFAULT_PAUSES`, same names as
:data:`ramparts.oracle.gates.ACTIONS`): risk-increasing fills on a price move or a thin insurance
fund, liquidations (and new risk) while the oracle is invalid, withdrawals while insolvent.

Transitions
-----------
* A rule whose condition is observed true while not tripped **trips** (effect ``BreakerTripped``).
* While tripped, the first observation of a clear condition starts the cool-down
  (``clear_since``); an observation of the condition again cancels it.
* At every :meth:`~CircuitBreakers.observe` or :meth:`~CircuitBreakers.tick`, a tripped rule with
  ``auto_reset`` whose condition has been clear for ``cooldown_ns`` **resets** (effect
  ``BreakerReset``, ``mode="auto"``).
* :meth:`~CircuitBreakers.reset` resets a tripped rule by hand (``mode="manual"``); a
  ``price_move`` rule then forgets its window except the newest price, so that the move that
  tripped it does not trip it again. Other triggers re-trip on the next observation of their
  condition.

Time is the engine's event time in integer ns and may not go backwards. Effects are plain JSON-able
dicts (ints, strings, lists) for the journal.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ramparts.errors import InvalidInput, Rejected
from ramparts.fixedpoint import PPM
from ramparts.oracle.aggregate import _check_keys, _int, _name, _price
from ramparts.oracle.gates import ACTIONS

TRIGGERS = ("price_move", "oracle_invalid", "insurance_low", "insolvency")
LAYERS = ("oracle", "margin", "liquidation", "insurance", "solvency")
#: Venue-wide scope.
VENUE = "*"

DEFAULT_LAYER = {"price_move": "oracle", "oracle_invalid": "oracle", "insurance_low": "insurance", "insolvency": "solvency"}
DEFAULT_PAUSES: dict[str, frozenset[str]] = {
    "price_move": frozenset({"risk_increasing_fill"}),
    "oracle_invalid": frozenset({"liquidation", "risk_increasing_fill"}),
    "insurance_low": frozenset({"risk_increasing_fill"}),
    "insolvency": frozenset({"withdrawal"}),
}


def _bool(value: Any, field: str) -> bool:
    if not isinstance(value, bool):
        raise InvalidInput(field, f"expected true or false, got {value!r}")
    return value


@dataclass(frozen=True, slots=True)
class BreakerRule:
    """One circuit breaker.

    Parameters
    ----------
    name : str
        Unique name (e.g. ``"BTC-PERP/move-10pct-5m"``).
    trigger : str
        One of :data:`TRIGGERS`.
    instrument : str
        Instrument symbol, or ``"*"`` for the venue.
    layer : str, optional
        One of :data:`LAYERS`; defaults by trigger (:data:`DEFAULT_LAYER`).
    pauses : iterable of str, optional
        Actions paused while tripped; defaults by trigger (:data:`DEFAULT_PAUSES`).
    move_ppm : int, optional
        ``price_move`` only (required): largest move within the window, ppm of the older price.
    window_ns : int, optional
        ``price_move`` only (required): the look-back window, ns.
    threshold : int, optional
        ``insurance_low`` only (required): trips when the fund is below this, base units.
    cooldown_ns : int
        How long the condition must stay clear before an automatic reset, ns (``≥ 0``).
    auto_reset : bool
        ``False``: only :meth:`CircuitBreakers.reset` clears it.
    """

    name: str
    trigger: str
    instrument: str = VENUE
    layer: str | None = None
    pauses: Iterable[str] | None = None
    move_ppm: int | None = None
    window_ns: int | None = None
    threshold: int | None = None
    cooldown_ns: int = 0
    auto_reset: bool = True

    def __post_init__(self) -> None:
        name = _name(self.name, "breaker.name")
        f = f"breaker[{name}]"
        object.__setattr__(self, "name", name)
        if self.trigger not in TRIGGERS:
            raise InvalidInput(f"{f}.trigger", f"unknown trigger {self.trigger!r} (known: {', '.join(TRIGGERS)})")
        object.__setattr__(self, "instrument", _name(self.instrument, f"{f}.instrument"))
        layer = DEFAULT_LAYER[self.trigger] if self.layer is None else self.layer
        if layer not in LAYERS:
            raise InvalidInput(f"{f}.layer", f"unknown layer {layer!r} (known: {', '.join(LAYERS)})")
        object.__setattr__(self, "layer", layer)
        pauses = DEFAULT_PAUSES[self.trigger] if self.pauses is None else self.pauses
        if isinstance(pauses, str) or not isinstance(pauses, Iterable):
            raise InvalidInput(f"{f}.pauses", f"expected a list of actions, got {pauses!r}")
        ps = []
        for a in pauses:
            if a not in ACTIONS:
                raise InvalidInput(f"{f}.pauses", f"unknown action {a!r} (known: {', '.join(ACTIONS)})")
            ps.append(a)
        object.__setattr__(self, "pauses", tuple(sorted(set(ps))))
        is_move = self.trigger == "price_move"
        for key, needed in (("move_ppm", is_move), ("window_ns", is_move), ("threshold", self.trigger == "insurance_low")):
            v = getattr(self, key)
            if needed and v is None:
                raise InvalidInput(f"{f}.{key}", f"required by the {self.trigger} trigger")
            if not needed and v is not None:
                raise InvalidInput(f"{f}.{key}", f"not used by the {self.trigger} trigger")
        if is_move:
            object.__setattr__(self, "move_ppm", _int(self.move_ppm, f"{f}.move_ppm", lo=1, hi=100 * PPM))
            object.__setattr__(self, "window_ns", _int(self.window_ns, f"{f}.window_ns", lo=1))
        if self.threshold is not None:
            object.__setattr__(self, "threshold", _int(self.threshold, f"{f}.threshold"))
        object.__setattr__(self, "cooldown_ns", _int(self.cooldown_ns, f"{f}.cooldown_ns", lo=0))
        object.__setattr__(self, "auto_reset", _bool(self.auto_reset, f"{f}.auto_reset"))

    def applies_to(self, instrument: str) -> bool:
        """Whether this rule's pauses cover ``instrument``."""
        return self.instrument in (VENUE, instrument)

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "trigger": self.trigger,
            "instrument": self.instrument,
            "layer": self.layer,
            "pauses": list(self.pauses),
            "move_ppm": self.move_ppm,
            "window_ns": self.window_ns,
            "threshold": self.threshold,
            "cooldown_ns": self.cooldown_ns,
            "auto_reset": self.auto_reset,
        }

    @classmethod
    def from_dict(cls, d: Mapping) -> BreakerRule:
        keys = tuple(cls.__dataclass_fields__)
        _check_keys(d, "breaker", ("name", "trigger"), keys)
        return cls(**{k: d[k] for k in keys if k in d})


@dataclass(frozen=True, slots=True)
class RuleState:
    """State of one rule (ints, strings and tuples only).

    Attributes
    ----------
    tripped : bool
    tripped_at : int or None
        Time of the current trip, ns.
    clear_since : int or None
        While tripped: first time the condition was observed clear since the last time it held.
    trips : int
        Number of trips so far.
    reason : str
        Why it tripped (empty when not tripped).
    window : tuple of (int, int)
        ``price_move`` only: the ``(ts_ns, price)`` observations inside the window.
    """

    tripped: bool = False
    tripped_at: int | None = None
    clear_since: int | None = None
    trips: int = 0
    reason: str = ""
    window: tuple[tuple[int, int], ...] = ()

    def to_dict(self) -> dict:
        return {
            "tripped": self.tripped,
            "tripped_at": self.tripped_at,
            "clear_since": self.clear_since,
            "trips": self.trips,
            "reason": self.reason,
            "window": [[t, p] for t, p in self.window],
        }

    @classmethod
    def from_dict(cls, d: Mapping, field: str = "rule_state") -> RuleState:
        keys = ("tripped", "tripped_at", "clear_since", "trips", "reason", "window")
        _check_keys(d, field, keys)
        tripped = _bool(d["tripped"], f"{field}.tripped")
        opt = {k: None if d[k] is None else _int(d[k], f"{field}.{k}", lo=0) for k in ("tripped_at", "clear_since")}
        if tripped != (opt["tripped_at"] is not None):
            raise InvalidInput(f"{field}.tripped_at", "must be set exactly when tripped")
        if not tripped and opt["clear_since"] is not None:
            raise InvalidInput(f"{field}.clear_since", "must be null when not tripped")
        if not isinstance(d["reason"], str):
            raise InvalidInput(f"{field}.reason", f"expected a string, got {d['reason']!r}")
        w = d["window"]
        if isinstance(w, (str, bytes)) or not isinstance(w, Iterable):
            raise InvalidInput(f"{field}.window", f"expected a list of [ts, price], got {w!r}")
        window: list[tuple[int, int]] = []
        for i, pair in enumerate(w):
            if isinstance(pair, (str, bytes)) or not isinstance(pair, Iterable) or len(tuple(pair)) != 2:
                raise InvalidInput(f"{field}.window[{i}]", f"expected [ts, price], got {pair!r}")
            t, p = tuple(pair)
            t, p = _int(t, f"{field}.window[{i}].ts", lo=0), _price(p, f"{field}.window[{i}].price")
            if window and t < window[-1][0]:
                raise InvalidInput(f"{field}.window[{i}].ts", "times must not decrease")
            window.append((t, p))
        return cls(tripped, opt["tripped_at"], opt["clear_since"], _int(d["trips"], f"{field}.trips", lo=0), d["reason"], tuple(window))


@dataclass(frozen=True, slots=True)
class BreakerState:
    """State of all rules: ``rules`` maps each rule name (sorted) to its :class:`RuleState`;
    ``last_ts`` is the time of the latest transition (``None`` before the first)."""

    last_ts: int | None
    rules: dict[str, RuleState]

    def __getitem__(self, name: str) -> RuleState:
        if name not in self.rules:
            raise InvalidInput("breaker", f"unknown breaker {name!r} (known: {', '.join(self.rules)})")
        return self.rules[name]

    def to_dict(self) -> dict:
        """Canonical JSON-able form (rules sorted by name)."""
        return {"last_ts": self.last_ts, "rules": {n: self.rules[n].to_dict() for n in sorted(self.rules)}}


@dataclass(frozen=True, slots=True)
class CircuitBreakers:
    """A set of :class:`BreakerRule` (stored sorted by name) and the transitions of its state.

    Examples
    --------
    >>> cb = CircuitBreakers([BreakerRule("btc-move", "price_move", "BTC-PERP", move_ppm=100_000,
    ...                                   window_ns=60, cooldown_ns=30)])
    >>> s = cb.initial_state()
    >>> s, fx = cb.observe(s, 0, "BTC-PERP", price=1_000)
    >>> s, fx = cb.observe(s, 10, "BTC-PERP", price=880)      # −12 % within 60 ns
    >>> [e["kind"] for e in fx], cb.is_paused(s, "BTC-PERP", "risk_increasing_fill")
    (['BreakerTripped'], True)
    >>> s, fx = cb.observe(s, 71, "BTC-PERP", price=880)      # the 1,000 left the window: clear
    >>> s, fx = cb.tick(s, 101)                               # clear for 30 ns
    >>> [e["kind"] for e in fx], cb.is_paused(s, "BTC-PERP", "risk_increasing_fill")
    (['BreakerReset'], False)
    """

    rules: tuple[BreakerRule, ...]

    def __post_init__(self) -> None:
        if isinstance(self.rules, (str, bytes, Mapping)) or not isinstance(self.rules, Iterable):
            raise InvalidInput("breakers", f"expected a list of BreakerRule, got {type(self.rules).__name__}")
        rules = []
        for r in self.rules:
            if not isinstance(r, BreakerRule):
                raise InvalidInput("breakers", f"expected BreakerRule items, got {type(r).__name__}")
            rules.append(r)
        names = [r.name for r in rules]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise InvalidInput("breakers", f"duplicate breaker names {dup}")
        object.__setattr__(self, "rules", tuple(sorted(rules, key=lambda r: r.name)))

    # -- config ------------------------------------------------------------------------------

    def rule(self, name: str) -> BreakerRule:
        for r in self.rules:
            if r.name == name:
                return r
        raise InvalidInput("breaker", f"unknown breaker {name!r} (known: {', '.join(r.name for r in self.rules)})")

    def to_dict(self) -> dict:
        return {"rules": [r.to_dict() for r in self.rules]}

    @classmethod
    def from_dict(cls, d: Mapping) -> CircuitBreakers:
        _check_keys(d, "breakers", ("rules",))
        if isinstance(d["rules"], (str, bytes, Mapping)) or not isinstance(d["rules"], Iterable):
            raise InvalidInput("breakers.rules", "expected a list")
        return cls(tuple(BreakerRule.from_dict(r) for r in d["rules"]))

    # -- state -------------------------------------------------------------------------------

    def initial_state(self) -> BreakerState:
        """Every rule armed (not tripped), no history."""
        return BreakerState(None, {r.name: RuleState() for r in self.rules})

    def state_from_dict(self, d: Mapping) -> BreakerState:
        """Rebuild a :class:`BreakerState` of this configuration from :meth:`BreakerState.to_dict`."""
        _check_keys(d, "breaker_state", ("last_ts", "rules"))
        last = None if d["last_ts"] is None else _int(d["last_ts"], "breaker_state.last_ts", lo=0)
        rs = d["rules"]
        if not isinstance(rs, Mapping):
            raise InvalidInput("breaker_state.rules", f"expected an object, got {type(rs).__name__}")
        names = [r.name for r in self.rules]
        if sorted(rs) != names:
            raise InvalidInput("breaker_state.rules", f"breakers {sorted(rs)} do not match the configuration {names}")
        return BreakerState(last, {n: RuleState.from_dict(rs[n], f"breaker_state.rules.{n}") for n in names})

    def _check_state(self, state: Any, now_ns: Any) -> tuple[int, dict[str, RuleState]]:
        if not isinstance(state, BreakerState):
            raise InvalidInput("breaker_state", f"expected a BreakerState, got {type(state).__name__}")
        if sorted(state.rules) != [r.name for r in self.rules]:
            raise InvalidInput("breaker_state", "the state does not belong to this configuration")
        now = _int(now_ns, "now_ns", lo=0)
        if state.last_ts is not None and now < state.last_ts:
            raise InvalidInput("now_ns", f"time went backwards ({now} < {state.last_ts})")
        return now, dict(state.rules)

    # -- queries -------------------------------------------------------------------------------

    def paused_by(self, state: BreakerState, instrument: str, action: str) -> tuple[str, ...]:
        """Names of the tripped rules that pause ``action`` on ``instrument``."""
        if action not in ACTIONS:
            raise InvalidInput("action", f"unknown action {action!r} (known: {', '.join(ACTIONS)})")
        inst = _name(instrument, "instrument")
        return tuple(r.name for r in self.rules if r.applies_to(inst) and action in r.pauses and state[r.name].tripped)

    def is_paused(self, state: BreakerState, instrument: str, action: str) -> bool:
        return bool(self.paused_by(state, instrument, action))

    def check(self, state: BreakerState, instrument: str, action: str) -> None:
        """Raise :class:`~ramparts.errors.Rejected` (``circuit_breaker``) when ``action`` is paused."""
        names = self.paused_by(state, instrument, action)
        if names:
            why = "; ".join(f"{n}: {state[n].reason}" for n in names)
            raise Rejected("circuit_breaker", f"{action} on {instrument} paused by {why}")

    # -- transitions ---------------------------------------------------------------------------

    def _effect(self, kind: str, r: BreakerRule, now: int, **extra: Any) -> dict:
        return {"kind": kind, "breaker": r.name, "instrument": r.instrument, "layer": r.layer, "trigger": r.trigger, "ts": now, **extra}

    def _auto_resets(self, now: int, states: dict[str, RuleState], effects: list[dict]) -> None:
        for r in self.rules:
            s = states[r.name]
            if s.tripped and r.auto_reset and s.clear_since is not None and now - s.clear_since >= r.cooldown_ns:
                states[r.name] = RuleState(False, None, None, s.trips, "", s.window)
                effects.append(self._effect("BreakerReset", r, now, mode="auto", tripped_at=s.tripped_at, by=None))

    def observe(
        self,
        state: BreakerState,
        now_ns: int,
        instrument: str = VENUE,
        *,
        price: int | None = None,
        oracle_valid: bool | None = None,
        insurance_fund: int | None = None,
        insolvent: bool | None = None,
    ) -> tuple[BreakerState, list[dict]]:
        """Feed an observation at ``now_ns`` and apply every transition it causes.

        Parameters
        ----------
        state : BreakerState
        now_ns : int
            Event time, ns; not before ``state.last_ts``.
        instrument : str
            The instrument observed, or ``"*"`` for venue-wide facts.
        price : int, optional
            Index lot price (``price_move`` rules of this instrument).
        oracle_valid : bool, optional
            Whether the instrument's oracle reading is valid (``oracle_invalid`` rules).
        insurance_fund : int, optional
            Insurance fund balance, base units (``insurance_low`` rules).
        insolvent : bool, optional
            Whether insolvency was detected (``insolvency`` rules).

        Returns
        -------
        (BreakerState, list of dict)
            The new state and the ``BreakerTripped`` / ``BreakerReset`` effects, in rule-name order
            (trips first, then automatic resets).

        Raises
        ------
        InvalidInput
            Bad values or time going backwards; the passed state is never modified.
        """
        now, states = self._check_state(state, now_ns)
        inst = _name(instrument, "instrument")
        px = None if price is None else _price(price, "price")
        ov = None if oracle_valid is None else _bool(oracle_valid, "oracle_valid")
        fund = None if insurance_fund is None else _int(insurance_fund, "insurance_fund")
        insolv = None if insolvent is None else _bool(insolvent, "insolvent")

        effects: list[dict] = []
        for r in self.rules:
            if r.instrument != inst:
                continue
            s = states[r.name]
            window = s.window
            if r.trigger == "price_move":
                if px is None:
                    continue
                window = tuple((t, p) for t, p in window if t >= now - r.window_ns) + ((now, px),)
                hi, lo = max(p for _, p in window), min(p for _, p in window)
                cond = (hi - px) * PPM > r.move_ppm * hi or (px - lo) * PPM > r.move_ppm * lo
                ref = hi if (hi - px) * lo >= (px - lo) * hi else lo
                why = f"price {px} moved {abs(px - ref) * PPM // ref} ppm from {ref} within {r.window_ns} ns (limit {r.move_ppm})"
            elif r.trigger == "oracle_invalid":
                if ov is None:
                    continue
                cond, why = not ov, "oracle reading invalid"
            elif r.trigger == "insurance_low":
                if fund is None:
                    continue
                cond, why = fund < r.threshold, f"insurance fund {fund} below {r.threshold}"
            else:
                if insolv is None:
                    continue
                cond, why = insolv, "insolvency detected"
            if cond and not s.tripped:
                states[r.name] = RuleState(True, now, None, s.trips + 1, why, window)
                effects.append(self._effect("BreakerTripped", r, now, reason=why, pauses=list(r.pauses)))
            elif cond:
                states[r.name] = RuleState(True, s.tripped_at, None, s.trips, s.reason, window)
            elif s.tripped:
                states[r.name] = RuleState(True, s.tripped_at, s.clear_since if s.clear_since is not None else now, s.trips, s.reason, window)
            else:
                states[r.name] = RuleState(False, None, None, s.trips, "", window)
        self._auto_resets(now, states, effects)
        return BreakerState(now, states), effects

    def tick(self, state: BreakerState, now_ns: int) -> tuple[BreakerState, list[dict]]:
        """Advance time to ``now_ns`` without an observation: only automatic resets happen."""
        now, states = self._check_state(state, now_ns)
        effects: list[dict] = []
        self._auto_resets(now, states, effects)
        return BreakerState(now, states), effects

    def reset(self, state: BreakerState, name: str, now_ns: int, *, by: str = "operator") -> tuple[BreakerState, list[dict]]:
        """Manual reset of the tripped rule ``name`` at ``now_ns`` by ``by``.

        Raises
        ------
        InvalidInput
            Unknown rule, bad time or operator name.
        Rejected
            ``breaker_not_tripped`` when the rule is armed already.
        """
        now, states = self._check_state(state, now_ns)
        r = self.rule(name)
        who = _name(by, "by")
        s = states[r.name]
        if not s.tripped:
            raise Rejected("breaker_not_tripped", f"breaker {r.name!r} is not tripped")
        window = s.window[-1:] if r.trigger == "price_move" else s.window
        states[r.name] = RuleState(False, None, None, s.trips, "", window)
        effects = [self._effect("BreakerReset", r, now, mode="manual", tripped_at=s.tripped_at, by=who)]
        self._auto_resets(now, states, effects)
        return BreakerState(now, states), effects


__all__ = [
    "DEFAULT_LAYER",
    "DEFAULT_PAUSES",
    "LAYERS",
    "TRIGGERS",
    "VENUE",
    "BreakerRule",
    "BreakerState",
    "CircuitBreakers",
    "RuleState",
]
