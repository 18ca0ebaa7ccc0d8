"""A merger's apply killed at any moment converges on ONE re-run (issue 13), on two separate slapd servers.

The machinery is bench/merge_recovery.py, after bench/recovery.py: 600 accounts of Bình Thuận's three
units into Lâm Đồng (3 % of their usernames taken there, renamed by `hopthu assign --directory`), killed at
the first visible write of each phase and at random moments, run again once, compared with an
uninterrupted run: both trees, the audit log, every account in exactly one organisation.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator

import pytest

from workspace import ROOT

sys.path.insert(0, str(ROOT / "bench"))
from merge_recovery import (
    PHASES,
    MergeWorld,
    build_world,
    interrupted_run,
    kill_when,
    phases,
    uninterrupted_run,
)
from recovery import Outcome, differences, kill_after, random_moments

pytestmark = pytest.mark.slow

RANDOM_KILLS = 3


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Iterator[MergeWorld]:
    world = build_world(tmp_path_factory.mktemp("merge-recovery"), 600, two_servers=True)
    try:
        yield world
    finally:
        world.stop()


@pytest.fixture(scope="module")
def reference(world) -> tuple[Outcome, float]:
    outcome, took = uninterrupted_run(world)
    assert outcome.problems == []
    assert len(outcome.completed) > 1500  # 600 adds, their groups, 600 removals
    assert len(world.load.renames) == len(world.load.taken) == 18  # the collisions, renamed
    return outcome, took


def assert_converged(trial, expected: Outcome) -> None:
    assert trial.killed, "the apply ended before the kill: the moment is outside the run"
    assert trial.rerun.returncode == 0, trial.rerun.stderr
    assert differences(trial.outcome, expected) == []


def test_phases_cover_the_run(world):
    assert tuple(phases(world)) == PHASES


@pytest.mark.parametrize("phase", PHASES)
def test_killed_at_the_start_of_a_phase_converges_on_one_rerun(world, reference, phase):
    expected, _ = reference
    assert_converged(interrupted_run(world, kill_when(world, phases(world)[phase])), expected)


@pytest.mark.parametrize("slot", range(RANDOM_KILLS))
def test_killed_at_a_random_moment_converges_on_one_rerun(world, reference, slot):
    expected, took = reference
    moment = random_moments(took, RANDOM_KILLS, seed=13)[slot]
    trial = interrupted_run(world, kill_after(moment))
    for _ in range(2):
        if trial.killed:
            break
        moment /= 2  # this run was quicker than the measured one (a shared machine): an earlier moment
        trial = interrupted_run(world, kill_after(moment))
    assert_converged(trial, expected)
