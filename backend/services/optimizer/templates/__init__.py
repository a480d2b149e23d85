"""The registry of problem templates, by name."""

from __future__ import annotations

from backend.services.optimizer.templates import budget_allocation, inventory, product_mix, staffing
from backend.services.optimizer.templates.base import Interpretation, TemplateSpec

TEMPLATES: dict[str, TemplateSpec] = {
    spec.name: spec for spec in (budget_allocation.SPEC, inventory.SPEC, staffing.SPEC, product_mix.SPEC)
}

__all__ = ["TEMPLATES", "Interpretation", "TemplateSpec"]
