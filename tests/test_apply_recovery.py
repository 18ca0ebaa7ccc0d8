"""An apply killed at any moment, in any phase, converges on ONE re-run (issue 8).

The machinery is bench/recovery.py (the same trials, run as a script, print how many of N kills at
random moments converge). Each trial kills ``hopthu apply`` of a run with every kind of request — at the
first visible write of one phase, or at a random moment of the measured duration — runs it again once,
and compares the directory, the audit log and the outbox with an uninterrupted run's.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator

import pytest

from workspace import ROOT

sys.path.insert(0, str(ROOT / "bench"))
from recovery import (
    Outcome,
    Trial,
    World,
    build_world,
    differences,
    interrupted_run,
    kill_after,
    kill_when,
    phases,
    random_moments,
    uninterrupted_run,
)

pytestmark = pytest.mark.slow

RANDOM_KILLS = 6
PHASES = [
    "create",
    "create: add-member",
    "update: add-member",
    "update: transfer",
    "update: remove-member",
    "reset-password",
    "lock",
    "unlock",
    "delete: remove-member",
    "delete",
    "handover",
]


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Iterator[World]:
    # The client is killed, not the server: durability is not what is tested, so no fsync.
    world = build_world(tmp_path_factory.mktemp("recovery"), nosync=True)
    try:
        yield world
    finally:
        world.server.stop()


@pytest.fixture(scope="module")
def reference(world) -> tuple[Outcome, float]:
    outcome, took = uninterrupted_run(world)
    assert outcome.problems == []
    assert len(outcome.completed) > 2000  # the workload is what it claims to be
    return outcome, took


def assert_converged(trial: Trial, expected: Outcome) -> None:
    assert trial.killed, "the apply ended before the kill: the moment is outside the run"
    assert trial.rerun.returncode == 0, trial.rerun.stderr
    assert differences(trial.outcome, expected) == []


def test_phases_cover_the_run(world):
    assert list(phases(world)) == PHASES


@pytest.mark.parametrize("phase", PHASES)
def test_killed_at_the_start_of_a_phase_converges_on_one_rerun(world, reference, phase):
    expected, _ = reference
    assert_converged(interrupted_run(world, kill_when(world, phases(world)[phase])), expected)


@pytest.mark.parametrize("slot", range(RANDOM_KILLS))
def test_killed_at_a_random_moment_converges_on_one_rerun(world, reference, slot):
    expected, took = reference
    moment = random_moments(took, RANDOM_KILLS)[slot]
    trial = interrupted_run(world, kill_after(moment))
    for _ in range(2):
        if trial.killed:
            break
        moment /= 2  # this run was quicker than the measured one (a shared machine): an earlier moment
        trial = interrupted_run(world, kill_after(moment))
    assert_converged(trial, expected)
