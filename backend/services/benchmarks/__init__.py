"""External benchmarks: industry reference percentiles, imported with provenance."""
