"""The offline answer's text repairs: only figures about the shop stay in what an agent needs."""

from __future__ import annotations

from backend.agents.citations import Backing, Citation
from backend.agents.offline_answer import without_unbacked_asides


def test_an_example_figure_and_a_bare_zero_leave_an_agents_needs_but_cited_figures_stay() -> None:
    needs = "I need: the total budget (e.g. '$10,000'); revenue at spend levels starting at spend 0."
    assert without_unbacked_asides(needs, Backing()) == (
        "I need: the total budget; revenue at spend levels starting at spend zero."
    )
    cited = Backing([Citation("revenue", None, "latest", 10000.0, "10,000", "optimizer")])
    assert without_unbacked_asides("Budget (10,000) is set.", cited) == "Budget (10,000) is set."
    assert without_unbacked_asides("Costs 0.5 each.", Backing()) == "Costs 0.5 each."
