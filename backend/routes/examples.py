"""Request examples for Swagger UI's "Try it out", chosen to succeed on the demo shop.

``make demo`` (``backend/demo``) builds Riverside Goods: daily ``revenue`` and ``orders`` per
``store`` (downtown, riverside) and ``channel``, ``footfall``, ``ad_spend_search`` / ``_social`` /
``_email``, a file data source and two goals. Every example here names only those, so the
prefilled request answers 2xx when signed in as the demo owner;
``tests/routes/test_openapi_examples.py`` sends each one against a freshly built demo shop.

The only example that writes a data point writes it to ``example_metric``, a name no real KPI
has, and says so in its description.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from fastapi.openapi.models import Example

from backend.services.optimizer.templates import budget_allocation

# The demo owner that `make demo` creates (a development credential, printed by the command).
DEMO_LOGIN = {"email": "owner@demo-shop.example.com", "password": "demo-shop-password"}
EXAMPLE_METRIC = "example_metric"


def _example(summary: str, value: Any, description: str | None = None) -> dict[str, Example]:
    example = Example(summary=summary, value=value)
    if description:
        example["description"] = description
    return {"demo": example}


def _end_of_next_year() -> str:
    """A goal deadline that is always in the future (the API refuses a past one)."""
    return date(date.today().year + 1, 12, 31).isoformat()


LOGIN = _example("The demo shop's owner", DEMO_LOGIN, "The account `make demo` creates.")
LOGIN_FORM = _example(
    "The demo shop's owner (form)", {"username": DEMO_LOGIN["email"], "password": DEMO_LOGIN["password"]}
)

INGEST = _example(
    f"Writes one point to {EXAMPLE_METRIC}",
    {"points": [{"metric": EXAMPLE_METRIC, "ts": "2026-01-01T09:00:00", "value": 1}], "source": "manual"},
    f"**Writes one data point** (value 1 on 2026-01-01) to the metric `{EXAMPLE_METRIC}`, which then "
    "appears in the catalog. Sending it again changes nothing (ingest is idempotent); remove it with "
    f"`DELETE /api/v1/metrics/{EXAMPLE_METRIC}`.",
)

METRIC_NAME = _example("Revenue of the demo shop", "revenue")
ROLLUP_BUCKET = _example("Monthly buckets", "month")
ROLLUP_AGG = _example("Sum per bucket", "sum")
ROLLUP_GROUP_BY = _example("One series per store", "store")

FORECAST = _example(
    "Daily revenue for the next 30 days",
    {"metric": "revenue", "horizon": 30},
    "With 80% and 95% intervals and the backtest of every candidate model; answered in the request.",
)

GOAL = _example(
    "A monthly orders goal",
    {
        "title": "Reach 4,000 orders a month",
        "metric": "orders",
        "target_value": 4000,
        "period": "month",
        "deadline": _end_of_next_year(),
    },
    "Creates a goal; its progress is then `GET /api/v1/goals/{goal_id}/progress`.",
)

GOAL_PLAN = _example(
    "Drafts for a revenue objective",
    {"objective": "Grow revenue 10% by the end of next quarter", "metric": "revenue", "change_percent": 10},
    "Nothing is stored: the answer lists drafts to post to `/api/v1/goals`.",
)

EVIDENCE_ANALYSIS = _example(
    "Does search advertising move revenue?",
    {"outcome": "revenue", "treatment": "ad_spend_search", "options": {"refutation_simulations": 10}},
    "The effect with its interval, refutations and a verdict; 10 refuter draws keep it in the request "
    "(the default 20 on two years of daily points is queued as a job: 202).",
)

DRIVERS = _example(
    "Which of the shop's metrics go with revenue?",
    {
        "outcome": "revenue",
        "candidates": ["ad_spend_search", "ad_spend_social", "ad_spend_email", "footfall"],
    },
    "Screening with false-discovery control, then a quick estimate for the top three; nothing is stored.",
)

GRANGER = _example(
    "Does past social spend help predict revenue?",
    {"cause": "ad_spend_social", "effect": "revenue", "max_lag": 7},
    "F-tests for lags 1 to 7 days; predictive precedence, not proof of cause. Nothing is stored.",
)

BUDGET_PLAN = _example(
    "Split a $10,000 ad budget across four channels",
    {"template": budget_allocation.SPEC.name, "params": budget_allocation.example()},
    "The budget_allocation template's worked example (response curves: revenue at each spend level, "
    "to maximise profit). Stores the run (status `optimal`).",
)

BUDGET_WHAT_IF = _example(
    "The same plan with 10% more budget",
    {"changes": [{"path": "/total_budget", "op": "scale", "value": 1.1, "label": "budget +10%"}]},
    "For a budget_allocation run (post the plan example to `/api/v1/optimizer/runs` first).",
)

CHAT = _example(
    "A question for a new session",
    {"message": "How can I increase revenue?"},
    "Starts a new coaching session; add its `session_id` to continue it.",
)
CHAT_STREAM = _example(
    "A question, answered as Server-Sent Events",
    {"message": "What will revenue look like next quarter?"},
    "Starts a new coaching session; add its `session_id` to continue it.",
)
