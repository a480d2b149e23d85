"""Forecaster: forecasts of a metric with intervals and backtested accuracy.

The package holds the feature's service, repository and background tasks, and the pure
compute modules they run (no database, no HTTP), each importable on its own:

- ``series``    build a regular series from (ts, value) points: frequency, gaps, holdout
- ``metrics``   sMAPE, MASE and the MASE scale
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
