"""Margin models: the pluggable strategy that turns positions into initial and maintenance margin.

The engine asks its margin model for the requirement of one position (exact, scalar) and for the
requirements of every holder of an instrument at once (vectorised, exact int64). The tiered model
sums per-position requirements from each instrument's
:class:`~ramparts.margin.schedule.MarginSchedule`, which serves both ``cross`` and ``isolated``
sub-accounts; a portfolio (scenario) model will plug in through the same two methods.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

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
        size = self._size(instrument, lots) if sched.size_premium_ppm else 0.0
        return (sched.initial_margin(notional, size), sched.maintenance_margin(notional, size))

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
