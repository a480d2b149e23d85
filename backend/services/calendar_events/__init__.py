"""Events a tenant marks on its calendar; the forecaster takes them as regressors of daily forecasts."""
