"""Evidence: causal analyses of which levers move an outcome, kept as an evidence graph.

The engine modules are pure causal-analysis computations (no database, no HTTP); this
package exports their entry points. ``service`` (with ``unit_service`` and ``mmm_service``)
reads metrics, calls them (in a worker process: DoWhy refuters are CPU-bound) and persists
the results through ``repository``, the only reader and writer of the stored JSON;
``types`` holds the literals, limits, specifications and result models the schemas import.
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
