"""The raw MPS path: format details on a hand-made model, and classic instances with published optima."""

from __future__ import annotations

import pytest

from backend.services.errors import ValidationFailed
from backend.services.optimizer import SolveOptions, parse_mps, solve_mps, solve_mps_model
from tests.services.optimizer.conftest import close
from tests.services.optimizer.miplib import PUBLISHED, SAMPLES

# max x + 2y + z + 10 with x + y <= 4.5, 3 <= x + z <= 5 (a range on an E row), y >= 1,
# y integer <= 3.5, z <= 5 and free below. Optimum 2y + 5 + 10 at y = 3: 21. Ignoring the
# range gives 19, reading MI as "upper bound 0" gives 15.5, ignoring integrality 22.
TINY = """\
* a comment line
NAME          TINY
OBJSENSE
    MAX
ROWS
 N  obj
 L  c1
 E  c2
 G  c3
COLUMNS
    x         obj       1              c1        1
    x         c2        1
    MARKER    'MARKER'  'INTORG'
    y         obj       2              c1        1
    y         c3        1
    MARKER    'MARKER'  'INTEND'
    z         obj       1              c2        1
RHS
    RHS       obj       -10            c1        4.5
    RHS       c2        3              c3        1
RANGES
    RNG       c2        2
BOUNDS
 UP BND       y         3.5
 UP BND       z         5
 MI BND       z
ENDATA
"""


def test_ranges_free_bounds_integers_and_objective_constant_are_read(options: SolveOptions) -> None:
    model = parse_mps(TINY.splitlines())
    result = solve_mps_model(model, options)
    assert result.status == "optimal"
    assert close(result.objective, 21)
    assert result.values["y"] == pytest.approx(3)
    assert result.size.integer_variables == 1


def test_malformed_mps_is_a_validation_error() -> None:
    with pytest.raises(ValidationFailed, match="line 3"):
        parse_mps(["NAME X", "ROWS", " Q  bad"])
    with pytest.raises(ValidationFailed, match="unknown section"):
        parse_mps(["NAME X", "SOMETHING"])
    with pytest.raises(ValidationFailed, match="no objective"):
        parse_mps(["NAME X", "ROWS", " L  c1", "ENDATA"])


@pytest.mark.skipif(
    not SAMPLES.is_dir(), reason="needs Debian's coinor-libcoinutils-dev (netlib and MIPLIB samples)"
)
@pytest.mark.parametrize("instance", sorted(PUBLISHED))
def test_classic_instances_reach_their_published_optimum(options: SolveOptions, instance: str) -> None:
    result = solve_mps(SAMPLES / f"{instance}.mps", options, include_values=False)
    assert result.status == "optimal"
    # Published optima are given to 4 decimals.
    assert result.objective is not None
    assert abs(result.objective - PUBLISHED[instance]) <= max(1e-4, 1e-7 * abs(PUBLISHED[instance]))
