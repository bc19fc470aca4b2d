"""Mark price models as strategies: pure functions from (state, index, book, time) to a new state.

This module owns the :class:`MarkModel` protocol, the :class:`MarkState` it threads through the
engine, the two models :class:`IndexMark` and :class:`ClampedBasisEMAMark`, and
:func:`mark_model_from_dict`, which rebuilds a model from its canonical :meth:`~MarkModel.to_dict`
form (as journaled in snapshots and accepted in ``ListInstrument.mark`` / ``ParameterChange``).

Every price is an int *lot price* (:mod:`ramparts.fixedpoint`) and every state field is an int,
so that states hash and replay byte for byte. Times are the engine's event times: integer
**nanoseconds** since the epoch; half-lives are given in seconds.

The clamped basis EMA
---------------------
The mark is the index plus an exponentially weighted moving average of the *basis*
``book − index`` (Hyperliquid's first mark component, ``oracle + 150 s EMA(mid − oracle)``), with
the EMA clamped to ``±basis_cap_ppm`` of the index so that a thin or manipulated book cannot drag
the mark far from the index::

    α    = 1 − 2^(−Δt / half_life)                     (integer ppm, see below)
    ema' = round((ema·(10^6 − α) + basis·α) / 10^6)      (basis = 0 when there is no book price)
    mark = index + clamp(ema', −⌊cap·index/10^6⌋, +⌊cap·index/10^6⌋)

``α`` is computed with :mod:`decimal` (libmpdec, bundled with CPython, identical on every
platform) and rounded half-even to an integer ppm before use; the EMA step is rounded half-even.
The EMA starts at zero (mark = index), so a fresh listing is not marked away from its index by a
single book print; without a book price it decays toward zero at the half-life rate.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Context, Decimal
from typing import Any, Protocol, runtime_checkable

from ramparts.errors import InvalidInput
from ramparts.fixedpoint import PPM

_NS = 1_000_000_000
_CTX = Context(prec=34, rounding=ROUND_HALF_EVEN)


def _checked(value: Any, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise InvalidInput(field, f"expected an int, got {type(value).__name__} {value!r}")
    return int(value)


def _round_div(a: int, b: int) -> int:
    """``a / b`` rounded half to even, exact on ints (``b > 0``)."""
    q, r = divmod(a, b)
    twice = 2 * r
    if twice > b or (twice == b and q % 2):
        q += 1
    return q


@dataclass(frozen=True, slots=True)
class MarkState:
    """The state a mark model threads from one oracle update to the next (ints only).

    Attributes
    ----------
    mark : int
        The mark lot price after the update.
    ema_basis : int
        The (unclamped) EMA of ``book − index``, quote base units per lot; 0 for :class:`IndexMark`.
    last_ts : int
        Time of the update, ns since the epoch.
    """

    mark: int
    ema_basis: int
    last_ts: int


@runtime_checkable
class MarkModel(Protocol):
    """A mark price model: a pure function of its parameters, the previous state and the inputs."""

    def update(self, state: MarkState | None, index_price: int, book_price: int | None, ts: int) -> MarkState:
        """The new state after an oracle update at ``ts`` (ns); ``state`` is ``None`` on the first one.

        ``index_price`` is the oracle lot price (``> 0``), ``book_price`` the book's mid or impact
        lot price, or ``None`` when the book has none. Never mutates ``state``.
        """
        ...

    def to_dict(self) -> dict:
        """Canonical JSON-able form (ints and strings), accepted by :func:`mark_model_from_dict`."""
        ...


def _check_inputs(state: Any, index_price: Any, book_price: Any, ts: Any, monotonic: bool) -> tuple[int, int | None, int]:
    if state is not None and not isinstance(state, MarkState):
        raise InvalidInput("mark_state", f"expected a MarkState, got {type(state).__name__}")
    index = _checked(index_price, "price")
    if index <= 0:
        raise InvalidInput("price", f"the index price must be positive, got {index}")
    book = None
    if book_price is not None:
        book = _checked(book_price, "book_price")
        if book <= 0:
            raise InvalidInput("book_price", f"must be positive, got {book}")
    t = _checked(ts, "ts")
    if monotonic and state is not None and t < state.last_ts:
        raise InvalidInput("ts", f"time went backwards ({t} < {state.last_ts})")
    return index, book, t


@dataclass(frozen=True, slots=True)
class IndexMark:
    """The simplest model: the mark is the index (``ema_basis`` stays 0; time is not used, so an
    update older than the last one is accepted)."""

    def update(self, state: MarkState | None, index_price: int, book_price: int | None, ts: int) -> MarkState:
        index, _, t = _check_inputs(state, index_price, book_price, ts, monotonic=False)
        return MarkState(index, 0, t)

    def to_dict(self) -> dict:
        return {"model": "index"}


@dataclass(frozen=True, slots=True)
class ClampedBasisEMAMark:
    """Index plus a time-decayed EMA of the book's basis, clamped to a fraction of the index.

    An update older than the state's ``last_ts`` is refused (:class:`~ramparts.errors.InvalidInput`
    on ``ts``): the decay needs a non-negative elapsed time.

    Parameters
    ----------
    half_life_seconds : int
        Time after which a basis observation has half its weight; ``> 0``.
    basis_cap_ppm : int
        The largest ``|mark − index|`` as ppm of the index, ``0 ≤ cap < 1e6`` (so the mark stays
        positive).

    Raises
    ------
    InvalidInput
        Non-int or out-of-range parameters.

    Examples
    --------
    One half-life after a first update, a book 1,000 above the index pulls the EMA half way:

    >>> m = ClampedBasisEMAMark(half_life_seconds=60, basis_cap_ppm=10_000)
    >>> s = m.update(None, 1_000_000, 1_001_000, 0)
    >>> m.update(s, 1_000_000, 1_001_000, 60 * 10**9)
    MarkState(mark=1000500, ema_basis=500, last_ts=60000000000)
    """

    half_life_seconds: int
    basis_cap_ppm: int

    def __post_init__(self) -> None:
        hl = _checked(self.half_life_seconds, "mark.half_life_seconds")
        cap = _checked(self.basis_cap_ppm, "mark.basis_cap_ppm")
        if not 0 < hl <= 10**9:
            raise InvalidInput("mark.half_life_seconds", f"must lie in (0, 1e9], got {hl}")
        if not 0 <= cap < PPM:
            raise InvalidInput("mark.basis_cap_ppm", f"must lie in [0, 1e6), got {cap}")
        object.__setattr__(self, "half_life_seconds", hl)
        object.__setattr__(self, "basis_cap_ppm", cap)

    def alpha_ppm(self, elapsed_ns: int) -> int:
        """The EMA weight of a new observation after ``elapsed_ns``: ``1 − 2^(−Δt/half_life)`` in ppm.

        Computed in a fixed :mod:`decimal` context (34 digits, half-even) and rounded half-even to
        an int, so that it is the same on every platform; 0 for ``Δt = 0``, 500,000 after one
        half-life, 1,000,000 once ``2^(−Δt/half_life) < 0.5e-6`` (about 21 half-lives).
        """
        dt = _checked(elapsed_ns, "elapsed_ns")
        if dt < 0:
            raise InvalidInput("elapsed_ns", f"must be non-negative, got {dt}")
        if dt == 0:
            return 0
        if dt >= 64 * self.half_life_seconds * _NS:
            return PPM
        exponent = _CTX.divide(Decimal(-dt), Decimal(self.half_life_seconds * _NS))
        decay = _CTX.power(Decimal(2), exponent)
        alpha = _CTX.multiply(_CTX.subtract(Decimal(1), decay), Decimal(PPM))
        return int(alpha.to_integral_value(rounding=ROUND_HALF_EVEN))

    def update(self, state: MarkState | None, index_price: int, book_price: int | None, ts: int) -> MarkState:
        index, book, t = _check_inputs(state, index_price, book_price, ts, monotonic=True)
        if state is None:
            ema, alpha = 0, 0
        else:
            ema, alpha = state.ema_basis, self.alpha_ppm(t - state.last_ts)
        basis = 0 if book is None else book - index
        ema = _round_div(ema * (PPM - alpha) + basis * alpha, PPM)
        cap = self.basis_cap_ppm * index // PPM
        return MarkState(index + min(max(ema, -cap), cap), ema, t)

    def to_dict(self) -> dict:
        return {"model": "clamped_basis_ema", "half_life_seconds": self.half_life_seconds, "basis_cap_ppm": self.basis_cap_ppm}


_MODELS: dict[str, tuple[type, tuple[str, ...]]] = {
    "index": (IndexMark, ()),
    "clamped_basis_ema": (ClampedBasisEMAMark, ("half_life_seconds", "basis_cap_ppm")),
}


def mark_model_from_dict(d: dict) -> MarkModel:
    """Rebuild a mark model from its :meth:`~MarkModel.to_dict` form.

    ``{"model": "index"}`` or ``{"model": "clamped_basis_ema", "half_life_seconds": int,
    "basis_cap_ppm": int}``; raises :class:`~ramparts.errors.InvalidInput` for an unknown model,
    missing or unknown keys, or bad values.

    Examples
    --------
    >>> mark_model_from_dict({"model": "clamped_basis_ema", "half_life_seconds": 150, "basis_cap_ppm": 5000})
    ClampedBasisEMAMark(half_life_seconds=150, basis_cap_ppm=5000)
    """
    if not isinstance(d, dict):
        raise InvalidInput("mark", f"expected an object, got {type(d).__name__}")
    name = d.get("model")
    if name not in _MODELS:
        raise InvalidInput("mark.model", f"unknown mark model {name!r} (known: {', '.join(sorted(_MODELS))})")
    cls, keys = _MODELS[name]
    extra = set(d) - {"model", *keys}
    if extra:
        raise InvalidInput("mark", f"unknown keys {sorted(extra)} for the {name} model")
    missing = [k for k in keys if k not in d]
    if missing:
        raise InvalidInput(f"mark.{missing[0]}", f"required by the {name} model")
    return cls(**{k: d[k] for k in keys})


__all__ = ["ClampedBasisEMAMark", "IndexMark", "MarkModel", "MarkState", "mark_model_from_dict"]
