"""How a rebuild in several processes shares the projections out (services/jobs/rebuild.py)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from projections.registry import PROJECTION_NAMES
from services.jobs.rebuild import shares


def test_two_processes_give_the_pipeline_one_and_every_other_projection_the_other() -> None:
    assert shares(PROJECTION_NAMES, 2) == [["pipeline"], [n for n in PROJECTION_NAMES if n != "pipeline"]]


@given(names=st.lists(st.sampled_from(PROJECTION_NAMES), min_size=1, unique=True), jobs=st.integers(1, 12))
def test_every_projection_goes_to_exactly_one_process_and_no_process_goes_without(names: list[str], jobs: int) -> None:
    groups = shares(names, jobs)
    assert sorted(n for group in groups for n in group) == sorted(names)
    assert len(groups) == min(jobs, len(names)) and all(groups)
