"""Forecaster: forecasts of any metric, backtested, stored and evaluable.

``service`` holds the rules (read the history, compute off the event loop, store),
``repository`` the queries and the only reads and writes of a forecast's JSON columns,
``types`` the literals, limits and stored shapes (the schemas import it), ``jobs`` the
background handlers. The rest is the pure compute engine (no database, no HTTP), each
module importable on its own:

- ``series``    build a regular series from (ts, value) points: frequency, gaps, holdout
- ``accuracy``  sMAPE, MASE and the MASE scale
- ``seasonality`` the 90% autocorrelation seasonality test and classical decomposition
- ``models``    candidate models (statsforecast: naive … AutoETS, AutoTheta, ARIMA, MSTL,
                Croston family) behind one ``fit_model`` function
- ``intervals`` prediction intervals: normal, empirical, combined, calibrated; coverage
- ``backtest``  rolling-origin backtest of every candidate
- ``engine``    the entry point: ``forecast_series`` / ``forecast_values``
- ``evaluate``  score a past forecast against the actuals that arrived since
- ``pool``      a process pool with BLAS threads pinned to one per worker
- ``warmup``    import statsforecast in the background at API and worker start

Nothing is imported eagerly here on purpose: the process pool's workers import
this package before they pin their BLAS threads, and numpy must not load first.
"""
