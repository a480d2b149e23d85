"""Labelled example questions for the offline classifier (one list per agent, plus questions for none).

Kept small and varied in wording; the classifier compares a question with each example by
meaning (sentence embeddings), so these teach it the kind of request, not keywords.
"""

from __future__ import annotations

EXAMPLES: dict[str, tuple[str, ...]] = {
    "goal_planner": (
        "Grow revenue 20% this year",
        "Set a goal to increase monthly sales",
        "Help me set a realistic target for orders",
        "I want to reach 50k revenue per month by December",
        "Turn my objective of cutting costs into measurable goals",
        "What target should I aim for next quarter?",
        "Create a SMART goal for customer retention",
        "Plan goals to double our subscribers",
        "Is growing orders by 30% by June achievable?",
        "Suggest a goal for reducing ad spend by a tenth",
    ),
    "evidence_analyzer": (
        "Why did revenue drop last month?",
        "What drives our sales?",
        "Does ad spend actually increase orders?",
        "Which levers move revenue the most?",
        "What caused the dip in conversions?",
        "Is the discount campaign responsible for higher sales?",
        "How much does marketing affect revenue?",
        "Explain what is behind the change in churn",
        "Which factors impact customer retention?",
        "Did the price change hurt our orders?",
    ),
    "forecaster": (
        "Forecast revenue for next quarter",
        "What will sales be next month?",
        "Predict orders for the next 8 weeks",
        "What is the outlook for website traffic?",
        "How many units will we sell over the holidays?",
        "Project our revenue for the rest of the year",
        "Expected demand next week?",
        "Where is revenue heading?",
        "Give me a projection of ad spend for the coming months",
        "Will we make more money next month than this month?",
    ),
    "optimizer": (
        "How much stock should I reorder this week?",
        "Plan my inventory purchase orders",
        "How should I split my marketing budget across channels?",
        "Allocate $5,000 of ad spend between Google and Facebook",
        "Build a staff schedule for next week's shifts",
        "Which products should I produce to maximise margin?",
        "What is the best product mix given our machine hours?",
        "Optimise reorder quantities under a purchase budget",
        "How many people do I need on each shift?",
        "Minimise inventory cost without running out of stock",
        "What if I cut my ad budget by 10%?",
        "Should I raise the price of my best seller by $2?",
        "How many staff do I need on Friday?",
    ),
    "none": (
        "Hello",
        "Thanks, that helps",
        "Who are you?",
        "What can you do?",
        "Tell me a joke",
        "Good morning",
    ),
}
