"""The optimizer agent's plans built from the shop's data: staff per day, a price change, a budget cut.

Each answer runs the real service (inputs from :mod:`backend.services.optimizer.from_data`, a stored
run, a what-if of it) and carries a typed :class:`PlanAnswer` in ``data['answer']``: the plan, the
effect of the asked change with its interval where the method has one, and every input's source.
What the data cannot support is said plainly (``needs_data`` / ``refused``), never guessed.
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from backend.agents.question import parse_money, parse_percent, wants_decrease
from backend.agents.types import (
    AgentDeps,
    AgentName,
    AgentResult,
    AgentStatus,
    Citations,
    SuggestedAction,
)
from backend.models.optimization import OptimizationRun
from backend.services.errors import DyocenseError
from backend.services.optimizer import Change, SolveOptions
from backend.services.optimizer import service as optimizer_service
from backend.services.optimizer.elasticity import price_effect
from backend.services.optimizer.from_data import BudgetInputs, ProductFacts, budget_inputs, product_mix_inputs
from backend.services.optimizer.inputs import MissingInputs
from backend.services.optimizer.scenarios import WEEKDAY_NAMES, DayNeed, expected_outcome
from backend.services.optimizer.staffing_data import (
    StaffingInputs,
    busiest_hour_label,
    shift_staff_label,
    staffing_inputs,
    staffing_sources,
)
from backend.services.optimizer.types import (
    DataTemplate,
    FromDataAsk,
    InputSource,
    PlanAnswer,
    PlanEffect,
    PlanLine,
    QuestionKind,
    WhatIfResult,
)

AGENT: AgentName = "optimizer"
_OPTIONS = SolveOptions(solver="highs")
_WEEKDAY = re.compile(r"\b(" + "|".join(WEEKDAY_NAMES) + r")\b", re.IGNORECASE)
_PRICE_UP = re.compile(r"\b(raise|increase|put up|higher|more)\b", re.IGNORECASE)


def _cite(cite: Citations, source: InputSource) -> str:
    """``value`` or ``value [low, high]`` of a source, each number cited."""
    text = cite.number(source.value, metric=source.metric, period=source.period, method=source.method)
    if source.low is None or source.high is None:
        return text
    low = cite.number(source.low, metric=source.metric, period=source.period, method=f"{source.method}, low")
    high = cite.number(
        source.high, metric=source.metric, period=source.period, method=f"{source.method}, high"
    )
    return f"{text} [{low}, {high}]"


def _result(
    answer: PlanAnswer, report: list[str], cite: Citations, run: OptimizationRun | None
) -> AgentResult:
    actions = []
    if run is not None:
        actions.append(SuggestedAction("Open the stored plan", "GET", f"/api/v1/optimizer/runs/{run.id}"))
    status: AgentStatus = "ok" if answer.status == "ok" else "needs_input"
    data: dict[str, Any] = {"template": answer.template, "answer": answer.model_dump(mode="json")}
    if run is not None:
        data["run_id"] = str(run.id)
    return AgentResult(AGENT, status, report, data=data, citations=cite.items, suggested_actions=actions)


def _missing(template: DataTemplate, kind: QuestionKind, missing: MissingInputs) -> AgentResult:
    answer = PlanAnswer(
        template=template,
        status="needs_data",
        question_kind=kind,
        needs=missing.needs,
        notes=[missing.why],
    )
    report = [f"To plan {template} from your data I need: {'; '.join(missing.needs)}. {missing.why}"]
    return _result(answer, report, Citations(AGENT), None)


async def _solve(deps: AgentDeps, template: str, params: dict[str, object]) -> OptimizationRun:
    await deps.emit("tool", {"agent": AGENT, "tool": "optimizer.create_run", "status": "started"})
    prepared = await optimizer_service.prepare_run(
        deps.session, template=template, params=params, options=_OPTIONS
    )
    return await optimizer_service.create_run(deps.session, deps.pool, prepared)


# --------------------------------------------------------------------------- staffing


def asked_day(question: str, today: date) -> date | None:
    """The next date (after today) of the weekday the question names, if it names one."""
    match = _WEEKDAY.search(question)
    if match is None:
        return None
    weekday = [name.lower() for name in WEEKDAY_NAMES].index(match.group(1).lower())
    return today + timedelta(days=(weekday - today.weekday() - 1) % 7 + 1)


def _need_line(cite: Citations, need: DayNeed, found: StaffingInputs, sources: dict[str, InputSource]) -> str:
    when = f"{need.weekday_name} {need.day.isoformat()}"
    demand = next(s for label, s in sources.items() if label.endswith(f"forecast for {when}"))
    staff = sources[f"staff needed on {when}"]
    line = f"{when}: forecast demand {_cite(cite, demand)}, so {_cite(cite, staff)} staff"
    shifts = [
        f"{_cite(cite, sources[shift_staff_label(when, s.shift.name)])} from {s.shift.name} h "
        f"(busiest hour {s.peak_hour:02d}:00, "
        f"{_cite(cite, sources[busiest_hour_label(found.demand_metric, when, s.shift.name)])})"
        for s in found.shifts.get(need.day, [])
        if s.staff > 0
    ]
    return f"{line}: {'; '.join(shifts)}." if shifts else f"{line}."


async def staffing(deps: AgentDeps, question: str) -> AgentResult:
    """Staff needed per day of the asked week (or the asked day), and a schedule when there is a roster."""
    day = asked_day(question, deps.today)
    ask = FromDataAsk(week_start=day)
    kind: QuestionKind = "staff_count" if day is not None else "plan"
    try:
        found = await staffing_inputs(deps.session, ZoneInfo(deps.timezone), ask)
    except MissingInputs as missing:
        return _missing("staffing", kind, missing)
    cite = Citations(AGENT)
    needs = [n for n in found.needs if day is None or n.day == day]
    sources = {s.label: s for s in staffing_sources(found)}
    rate = sources[f"{found.demand_metric} served per staff hour"]
    report = [
        f"Your staff serve {_cite(cite, rate)} {found.demand_metric} per staff hour ({found.history}); "
        f"one shift is {found.shift_hours:g} hours."
    ]
    report += [_need_line(cite, need, found, sources) for need in needs]
    answer = PlanAnswer(template="staffing", status="ok", question_kind=kind, sources=list(sources.values()))
    run = None
    if found.derived is None:
        assert found.roster_missing is not None
        answer.notes.append(found.roster_missing.why)
        answer.needs = found.roster_missing.needs
        report.append(f"For a schedule I also need {'; '.join(found.roster_missing.needs)}.")
    else:
        run = await _solve(deps, "staffing", dict(found.derived.params))
        _schedule(answer, run, needs, cite, report)
    answer.plan = answer.plan or [PlanLine(name=f"staff.{n.weekday}", value=n.staff) for n in needs]
    return _result(answer, report, cite, run)


def _schedule(
    answer: PlanAnswer, run: OptimizationRun, needs: list[DayNeed], cite: Citations, report: list[str]
) -> None:
    solution = optimizer_service.run_result(run)
    answer.run_id, answer.solve_status = str(run.id), run.status
    answer.objective_label, answer.objective = solution.objective_label, solution.objective
    method = f"staffing optimizer run {run.id} ({run.status})"
    for need in needs:
        on = sorted(
            (name.split(".")[3], name.split(".")[1])
            for name, value in solution.decisions.items()
            if name.startswith("shift.") and name.split(".")[2] == need.weekday and value > 0.5
        )
        answer.plan += [PlanLine(name=f"shift.{person}.{need.weekday}", value=1.0) for _, person in on]
        by_shift = {shift: [p for s, p in on if s == shift] for shift in dict.fromkeys(s for s, _ in on)}
        if len(by_shift) > 1:
            shown = "; ".join(f"{shift} h {', '.join(people)}" for shift, people in by_shift.items())
            report.append(f"Schedule for {need.weekday_name}: {shown}.")
        elif on:
            report.append(f"Schedule for {need.weekday_name}: {', '.join(p for _, p in on)}.")
    if solution.objective is not None:
        cost = cite.number(solution.objective, metric=None, period=None, method=f"labour cost, {method}")
        report.append(f"The week's labour cost: {cost}.")


# --------------------------------------------------------------------------- pricing


def _asked_product(question: str, products: list[ProductFacts]) -> ProductFacts | None:
    lowered = question.lower()
    return next((p for p in products if re.search(rf"\b{re.escape(p.sku.lower())}s?\b", lowered)), None)


def _new_price(question: str, price: float) -> float | None:
    """The price the question asks about: ``$1`` more or less, or ``N%`` more or less."""
    money, percent = parse_money(question), parse_percent(question)
    down = wants_decrease(question) and not _PRICE_UP.search(question)
    if money is not None:
        return price - money if down else price + money
    if percent is not None:
        return price * (1 - percent if down else 1 + percent)
    return None


def _price_effect_line(cite: Citations, effect: PlanEffect, sku: str) -> str:
    method = "constant-elasticity demand at the estimated price elasticity and its 95% CI, per week"
    before = cite.number(effect.before, metric=None, period=None, method=f"weekly margin of {sku} now")
    after = cite.number(effect.after, metric=None, period=None, method=f"weekly margin of {sku}, {method}")
    low = cite.number(effect.after_low or effect.after, metric=None, period=None, method=f"{method}, low")
    high = cite.number(effect.after_high or effect.after, metric=None, period=None, method=f"{method}, high")
    return f"Weekly margin on {sku}: {before} now, {after} [{low}, {high}] at the new price."


async def pricing(deps: AgentDeps, question: str) -> AgentResult:
    """A price change of one product: units and margin before and after, from its estimated elasticity."""
    try:
        found = await product_mix_inputs(deps.session, ZoneInfo(deps.timezone))
    except MissingInputs as missing:
        return _missing("product_mix", "what_if", missing)
    product = _asked_product(question, found.products)
    new_price = _new_price(question, product.price) if product is not None else None
    if product is None or new_price is None or new_price <= 0:
        names = ", ".join(p.sku for p in found.products)
        return _missing(
            "product_mix",
            "what_if",
            MissingInputs([f"the product ({names}) and the price change (e.g. '$1' or '5%')"], "Name both."),
        )
    cite = Citations(AGENT)
    sources = {s.label: s for s in found.derived.sources}
    if product.elasticity is None:
        assert product.refused is not None
        answer = PlanAnswer(
            template="product_mix", status="refused", question_kind="what_if", needs=product.refused.needs
        )
        answer.notes.append(product.refused.why)
        price = _cite(cite, sources[f"price of {product.sku}"])
        report = [
            f"I cannot say what {product.sku} would sell at a new price: its price (now {price}) has not "
            "varied enough in your data to measure how demand answers it. Try the new price for a few "
            "weeks (or on part of the range) and ask again."
        ]
        return _result(answer, report, cite, None)
    effect = price_effect(
        product.elasticity,
        price=product.price,
        new_price=new_price,
        unit_cost=product.unit_cost,
        units=product.weekly_units,
    )
    plan_effect = PlanEffect(
        change=f"price of {product.sku} {product.price:.2f} → {new_price:.2f}",
        measure=f"weekly margin of {product.sku}",
        before=effect.margin_before,
        after=effect.margin_after.value,
        delta=effect.margin_delta.value,
        after_low=effect.margin_after.low,
        after_high=effect.margin_after.high,
        delta_low=effect.margin_delta.low,
        delta_high=effect.margin_delta.high,
        interval_method="the elasticity's 95% confidence interval",
        outside_history=effect.outside_history,
    )
    report = [
        f"{product.sku}: price {_cite(cite, sources[f'price of {product.sku}'])}, unit cost "
        f"{_cite(cite, sources[f'unit cost of {product.sku}'])}, "
        f"{_cite(cite, sources[f'weekly units of {product.sku}'])} units a week; price elasticity "
        f"{_cite(cite, sources[f'price elasticity of {product.sku}'])}.",
        _price_effect_line(cite, plan_effect, product.sku),
    ]
    if effect.outside_history:
        report.append(
            f"The new price is outside the prices seen ({product.elasticity.price_low:.2f} to "
            f"{product.elasticity.price_high:.2f}), so this extrapolates."
        )
    changes = [
        Change(path=f"/products/{product.sku}/price", op="set", value=new_price, label=plan_effect.change),
        Change(path=f"/products/{product.sku}/max_sales", op="set", value=effect.units_after.value),
    ]
    try:
        run = await _solve(deps, "product_mix", dict(found.derived.params))
        scenario = await optimizer_service.what_if(
            deps.session, deps.pool, run.id, changes=changes, options=_OPTIONS, use_baseline_solver=True
        )
    except DyocenseError as error:
        return _missing("product_mix", "what_if", MissingInputs([error.message], "The optimizer refused."))
    compared = scenario.comparison
    answer = _what_if_answer(
        "product_mix", run, compared, plan_effect, list(sources.values()), notes=found.derived.notes
    )
    return _result(answer, report, cite, run)


# --------------------------------------------------------------------------- budget


def budget_percent(question: str) -> float | None:
    """The asked change of the whole ad budget as a fraction (``cut … 20%`` → -0.2)."""
    percent = parse_percent(question)
    if percent is None:
        return None
    return -percent if wants_decrease(question) else percent


def _outcome_effect(
    found: BudgetInputs, before: dict[str, float], after: dict[str, float], label: str
) -> PlanEffect:
    def spends(decisions: dict[str, float]) -> dict[str, float]:
        return {k.removeprefix("spend."): v for k, v in decisions.items() if k.startswith("spend.")}

    base = expected_outcome(found.fit, spends(before), found.buckets)
    new = expected_outcome(found.fit, spends(after), found.buckets)
    return PlanEffect(
        change=label,
        measure=f"expected {found.model.outcome} from the channels over {found.days:g} days",
        before=base.outcome.value,
        after=new.outcome.value,
        delta=new.outcome.value - base.outcome.value,
        before_low=base.outcome.low,
        before_high=base.outcome.high,
        after_low=new.outcome.low,
        after_high=new.outcome.high,
        interval_method="the marketing-mix model's bootstrap curve bands (95%), summed over channels",
        outside_history=base.outside_history or new.outside_history,
    )


async def budget_what_if(deps: AgentDeps, question: str, percent: float, stated: float | None) -> AgentResult:
    """The recent (or stated) ad budget changed by ``percent``: both plans and the expected outcome."""
    try:
        found = await budget_inputs(deps.session, FromDataAsk(total_budget=stated))
    except MissingInputs as missing:
        return _missing("budget_allocation", "what_if", missing)
    cite = Citations(AGENT)
    label = f"ad spend {percent * 100:+g}%"
    run = await _solve(deps, "budget_allocation", dict(found.derived.params))
    change = Change(path="/total_budget", op="scale", value=1 + percent, label=label)
    try:
        scenario = await optimizer_service.what_if(
            deps.session, deps.pool, run.id, changes=[change], options=_OPTIONS, use_baseline_solver=True
        )
    except DyocenseError as error:
        return _missing(
            "budget_allocation", "what_if", MissingInputs([error.message], "The optimizer refused.")
        )
    compared = scenario.comparison
    effect = _outcome_effect(found, compared.baseline.decisions, compared.scenario.decisions, label)
    budget = found.derived.sources[0]
    asked = cite.number(abs(percent) * 100, metric=None, period=None, method="change asked in the question")
    direction = "cut" if percent < 0 else "raised"
    report = [f"Budget {_cite(cite, budget)} over the planning period; {direction} by {asked}%."]
    method = f"budget_allocation what-if of run {run.id}"
    for diff in compared.decision_diffs:
        name = diff.name.removeprefix("spend.")
        old = cite.number(diff.baseline, metric=None, period=None, method=f"spend on {name}, run {run.id}")
        new = cite.number(diff.scenario, metric=None, period=None, method=f"spend on {name}, {method}")
        report.append(f"{name}: {old} → {new}.")
    band = effect.interval_method or ""
    for when, value, low, high in (
        ("now", effect.before, effect.before_low, effect.before_high),
        ("after the change", effect.after, effect.after_low, effect.after_high),
    ):
        shown = _cite(cite, InputSource(label=when, value=value, low=low, high=high, method=band))
        report.append(f"Expected {found.model.outcome} from the channels {when}: {shown}.")
    answer = _what_if_answer("budget_allocation", run, compared, effect, found.derived.sources)
    return _result(answer, report, cite, run)


def _what_if_answer(
    template: DataTemplate,
    run: OptimizationRun,
    compared: WhatIfResult,
    effect: PlanEffect,
    sources: list[InputSource],
    *,
    notes: list[str] | None = None,
) -> PlanAnswer:
    """The answer of a what-if: the changed scenario's plan, its effect and the inputs behind it."""
    scenario = compared.scenario
    return PlanAnswer(
        template=template,
        status="ok",
        question_kind="what_if",
        run_id=str(run.id),
        solve_status=scenario.status,
        objective_label=scenario.objective_label,
        objective=scenario.objective,
        plan=[PlanLine(name=k, value=v) for k, v in scenario.decisions.items()],
        effect=effect,
        sources=sources,
        notes=notes or [],
    )
