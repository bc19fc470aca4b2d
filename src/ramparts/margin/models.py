"""Margin models: the pluggable strategy that turns positions into initial and maintenance margin.

The engine asks its margin model for the requirement of one position (exact, scalar) and for the
requirements of every holder of an instrument at once (vectorised, exact int64). The tiered model
sums per-position requirements from each instrument's
:class:`~ramparts.margin.schedule.MarginSchedule`, which serves both ``cross`` and ``isolated``
sub-accounts; a portfolio (scenario) model will plug in through the same two methods.
"""

from __future__ import annotations

from bisect import bisect_right
from typing import Protocol

import numpy as np

from ramparts.fixedpoint import MAX_NOTIONAL, PPM
from ramparts.margin.vectorised import initial_margin_array, maintenance_margin_array


class MarginModel(Protocol):
    name: str

    def position_requirements(self, instrument, lots: int, mark: int) -> tuple[int, int]:
        """(initial, maintenance) margin of ``lots`` at lot price ``mark``, quote units, rounded up."""
        ...

    def position_requirements_array(self, instrument, lots: np.ndarray, mark: int) -> tuple[np.ndarray, np.ndarray]:
        """The same for an array of positions in one instrument (int64 arrays)."""
        ...

    def invalidate(self, instrument) -> None:
        """Forget anything cached about ``instrument`` (its schedule changed)."""
        ...


class TieredMarginModel:
    """Per-position notional-tier requirements (Binance / Hyperliquid form) with an optional
    square-root size premium (Drift's form), summed over the positions of a sub-account."""

    name = "tiered"

    def __init__(self) -> None:
        self._arrays: dict[int, tuple[object, object]] = {}

    def _schedule_arrays(self, instrument):
        cached = self._arrays.get(instrument.index)
        if cached is None or cached[0] is not instrument.schedule:
            cached = (instrument.schedule, instrument.schedule.to_arrays())
            self._arrays[instrument.index] = cached
        return cached[1]

    @staticmethod
    def _size(instrument, lots: int) -> float:
        return float(abs(lots)) * float(instrument.lot_underlying)

    def position_requirements(self, instrument, lots: int, mark: int) -> tuple[int, int]:
        if lots == 0:
            return (0, 0)
        notional = abs(lots) * mark
        sched = instrument.schedule
        if sched.size_premium_ppm:
            size = self._size(instrument, lots)
            return (sched.initial_margin(notional, size), sched.maintenance_margin(notional, size))
        # the schedule's own formula without re-validating the engine's own int (the hot path of every fill)
        if not 0 <= notional <= MAX_NOTIONAL:
            return (sched.initial_margin(notional), sched.maintenance_margin(notional))  # raises the clear error
        k = bisect_right(sched._floors, notional) - 1
        return (-((sched.im_cum_scaled[k] - notional * sched._im[k]) // PPM), -((sched.mm_cum_scaled[k] - notional * sched._mm[k]) // PPM))

    def position_requirements_array(self, instrument, lots: np.ndarray, mark: int) -> tuple[np.ndarray, np.ndarray]:
        arrays = self._schedule_arrays(instrument)
        abs_lots = np.abs(lots)
        notional = abs_lots * np.int64(mark)
        size = None
        if instrument.schedule.size_premium_ppm:
            size = abs_lots.astype(np.float64) * float(instrument.lot_underlying)
        im = initial_margin_array(notional, arrays, size)
        mm = maintenance_margin_array(notional, arrays, size)
        flat = lots == 0
        if flat.any():
            im = np.where(flat, 0, im)
            mm = np.where(flat, 0, mm)
        return im.astype(np.int64, copy=False), mm.astype(np.int64, copy=False)

    def invalidate(self, instrument) -> None:
        self._arrays.pop(instrument.index, None)


class StandardOptionMarginModel:
    """Per-position standard (strategy-based) option margin in exact integers (Deribit's form).

    For a short of ``n`` lots with spot ``S`` and mark ``m`` (lot prices; ``S`` from the option's
    index instrument, kept in ``instrument.spot_lot`` by the engine):

    * ``otm = ⌊max(K − S, 0) · 10^6 / S⌋`` (call) or ``⌊max(S − K, 0) · 10^6 / S⌋`` (put), ppm, rounded
      down (an out-of-the-money reduction never rounds in the trader's favour);
    * initial per lot ``⌈max(im_base − otm, im_floor) · S / 10^6⌉ + m``; maintenance per lot
      ``⌈mm_base · S / 10^6⌉ + m``; a short put's initial is at least its maintenance;
    * requirement = per-lot amount × ``n`` (rounded up per lot, then multiplied: never below the
      exact value).

    A long option needs no maintenance and is **not collateral**: its initial margin equals its
    premium value, so the premium cannot back new positions or withdrawals. The rates default to
    Deribit's published 15 % / 10 % / 7.5 % (:mod:`ramparts.margin.option_standard`); the max-loss
    bound of defined-risk combinations is applied per sub-account by the engine on top of this.
    """

    name = "option-standard"

    def __init__(self, im_base_ppm: int = 150_000, im_floor_ppm: int = 100_000, mm_base_ppm: int = 75_000):
        self.im_base_ppm, self.im_floor_ppm, self.mm_base_ppm = im_base_ppm, im_floor_ppm, mm_base_ppm

    def _units(self, instrument, mark: int) -> tuple[int, int]:
        spot = int(instrument.spot_lot)
        if spot <= 0:
            return mark, mark  # no spot yet: at least the premium
        k = int(instrument.strike_lot)
        otm_abs = max(k - spot, 0) if instrument.option_type == "call" else max(spot - k, 0)
        otm = otm_abs * 1_000_000 // spot
        im_rate = max(self.im_base_ppm - otm, self.im_floor_ppm)
        im = -((-im_rate * spot) // 1_000_000) + mark
        mm = -((-self.mm_base_ppm * spot) // 1_000_000) + mark
        if instrument.option_type == "put":
            im = max(im, mm)
        return im, mm

    def position_requirements(self, instrument, lots: int, mark: int) -> tuple[int, int]:
        if lots == 0:
            return (0, 0)
        if lots > 0:
            return (lots * mark, 0)
        im, mm = self._units(instrument, mark)
        return (-lots * im, -lots * mm)

    def position_requirements_array(self, instrument, lots: np.ndarray, mark: int) -> tuple[np.ndarray, np.ndarray]:
        im_u, mm_u = self._units(instrument, mark)
        lots = np.asarray(lots, dtype=np.int64)
        short = np.maximum(-lots, 0)
        long_ = np.maximum(lots, 0)
        im = short * np.int64(im_u) + long_ * np.int64(mark)
        mm = short * np.int64(mm_u)
        return im.astype(np.int64, copy=False), mm.astype(np.int64, copy=False)

    def invalidate(self, instrument) -> None:
        return None


class CompositeMarginModel:
    """Routes each instrument to its model: options to :class:`StandardOptionMarginModel`, the
    rest to :class:`TieredMarginModel`."""

    name = "composite"

    def __init__(self) -> None:
        self.tiered = TieredMarginModel()
        self.options = StandardOptionMarginModel()

    def _model(self, instrument):
        return self.options if getattr(instrument, "is_option", False) else self.tiered

    def position_requirements(self, instrument, lots: int, mark: int) -> tuple[int, int]:
        return self._model(instrument).position_requirements(instrument, lots, mark)

    def position_requirements_array(self, instrument, lots: np.ndarray, mark: int) -> tuple[np.ndarray, np.ndarray]:
        return self._model(instrument).position_requirements_array(instrument, lots, mark)

    def invalidate(self, instrument) -> None:
        self._model(instrument).invalidate(instrument)
