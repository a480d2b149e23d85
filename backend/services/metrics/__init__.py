"""Business metrics: time-series ingest, rollups and the metric catalog."""
