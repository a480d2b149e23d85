"""Evidence: causal analysis of what moves an outcome, stored as an evidence graph.

The package holds the feature's service, repository and background tasks, and the pure
causal-analysis modules re-exported here (no database, no HTTP). The service reads metrics,
calls these functions (in a worker process: DoWhy refuters are CPU-bound), and persists
the results in the evidence graph.
"""

from backend.services.evidence.causal import CausalSettings, analyze_effect, estimate_effect
from backend.services.evidence.refute import RefutationSettings
from backend.services.evidence.table import AnalysisTable, build_analysis_table, validate_design
from backend.services.evidence.timeseries import granger_causality, screen_drivers
from backend.services.evidence.whatif import predict_what_if

__all__ = [
    "AnalysisTable",
    "CausalSettings",
    "RefutationSettings",
    "analyze_effect",
    "build_analysis_table",
    "estimate_effect",
    "granger_causality",
    "predict_what_if",
    "screen_drivers",
    "validate_design",
]
