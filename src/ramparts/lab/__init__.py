"""The crash lab: replay real and synthetic market crashes through the engine, and judge margin models.

This package owns everything the lab needs *around* the engine, each module holding one concern:

* :mod:`ramparts.lab.history`: loaders for market history (OHLCV candles in the formats the shared
  data and the usual public exports come in, tardis.dev tick files, funding-rate series), their
  validation and gap policy.
* :mod:`ramparts.lab.paths`: the conversion of candles into the oracle
  :class:`~ramparts.lab.paths.PricePath` a replay walks: four points a bar, or each coarse bar
  refined from a finer series of the same asset (a basis moving linearly in log space, a
  log-linear bridge where none covers it, unconfirmed wicks flagged), with the record of how the
  path was made.
* :mod:`ramparts.lab.events`: the registry of built-in crash windows
  (:data:`~ramparts.lab.events.NAMED_EVENTS`), their refinement candidates, and
  :func:`~ramparts.lab.events.event_path`, an event's path for a replay
  (:func:`~ramparts.lab.events.event_paths`: several markets on one time axis).
* :mod:`ramparts.lab.crowd` and :mod:`ramparts.lab.scenario`: the population from data (account
  types, warm-up, open interest matched per event and per market, reactions) and the scenario file
  that names every parameter with its source or as an assumption.
* :mod:`ramparts.lab.validate`: ``ramparts validate``, replays of windows with published outcomes,
  each figure beside the real one and its band.
* :mod:`ramparts.lab.sensitivity`: ``ramparts replay --sensitivity``, the headline figures one
  factor at a time (path and bar size, seed, fund, depth).
* :mod:`ramparts.lab.backtest`: margin backtesting statistics (exceedances, Kupiec's proportion of
  failures, Christoffersen's independence and conditional coverage, the Basel traffic light) and a
  one-call :func:`~ramparts.lab.backtest.backtest_margin`.
* :mod:`ramparts.lab.tails`: fat tails (peaks-over-threshold GPD fits, their VaR and expected
  shortfall) and seeded synthetic path generators (Merton jump diffusion, GARCH(1,1) with Student-t
  innovations, GPD shocks, scaled historical shocks): the statistics behind ``ramparts stress``.
* :mod:`ramparts.lab.coverage`: the margin coverage Monte Carlo behind ``ramparts coverage``
  (how far the price moves against a position within the liquidation horizon, millions of paths,
  on numpy or on a GPU through CuPy).
* :mod:`ramparts.lab.population`, :mod:`ramparts.lab.liquidity`, :mod:`ramparts.lab.replay`,
  :mod:`ramparts.lab.report`, :mod:`ramparts.lab.demo`: the engine replay itself and its reports.
* :mod:`ramparts.lab.book`: a risk team's own book (``--book``): the file schema and its checks, its
  opening in a replay at the entry prices, and ``ramparts export-book`` (a journal's state as a book).
* :mod:`ramparts.lab.fund`: published insurance-fund figures (with their sources and the fund /
  open-interest ratios derived from them) and the sizing of a replay's fund (``--fund``).

Nothing here touches engine state: the loaders and statistics work on floats (market data is not
money), and only the replay converts prices into the engine's fixed-point units.
"""
