"""The demo's wait for train jobs after the traffic: while they move, not for a fixed guess."""

from __future__ import annotations

from console.demo.wait import SETTLE_S, JobWait


def moving(**kw: float | None) -> JobWait:
    return JobWait(started=0.0, fixed_s=kw.get("fixed_s"), stall_s=300.0, cap_s=2400.0)


def test_a_slow_job_that_keeps_stepping_is_waited_for_past_any_fixed_guess() -> None:
    wait = moving()
    for t in range(0, 1800, 10):  # 30 minutes, one step every 10 s
        assert wait.check(float(t), jobs=["j1", "j2"], done={"j1"}, progress={"j2": ("training", t // 10)}) is None
    assert wait.check(1810.0, jobs=["j1", "j2"], done={"j1", "j2"}, progress={}) == "every train job has its verdict"


def test_a_job_that_stops_moving_ends_the_wait_after_the_stall_window() -> None:
    wait = moving()
    assert wait.check(100.0, jobs=["j1"], done=set(), progress={"j1": ("training", 7)}) is None
    assert wait.check(150.0, jobs=["j1"], done=set(), progress={"j1": ("judging", 7)}) is None  # a phase moves too
    assert wait.check(449.0, jobs=["j1"], done=set(), progress={"j1": ("judging", 7)}) is None
    assert wait.check(450.0, jobs=["j1"], done=set(), progress={"j1": ("judging", 7)}) == \
        "no train job moved for 300 s (1 still without a verdict)"


def test_a_new_job_or_verdict_counts_as_movement() -> None:
    wait = moving()
    assert wait.check(250.0, jobs=["j1"], done=set(), progress={}) is None
    assert wait.check(500.0, jobs=["j1", "j2"], done=set(), progress={}) is None  # j2 appeared at 500
    assert wait.check(700.0, jobs=["j1", "j2"], done={"j1"}, progress={}) is None  # j1's verdict at 700
    assert wait.check(999.0, jobs=["j1", "j2"], done={"j1"}, progress={}) is None
    assert wait.check(1000.0, jobs=["j1", "j2"], done={"j1"}, progress={}) is not None


def test_the_cap_ends_even_a_moving_wait() -> None:
    wait = moving()
    for t in range(0, 2400, 60):
        assert wait.check(float(t), jobs=["j1"], done=set(), progress={"j1": ("training", t)}) is None
    assert wait.check(2400.0, jobs=["j1"], done=set(), progress={"j1": ("training", 2400)}) == \
        "the 40-minute cap on the wait is over (1 without a verdict)"


def test_verdicts_count_only_once_late_triggers_have_had_time() -> None:
    wait = moving()
    assert wait.check(SETTLE_S - 1, jobs=["j1"], done={"j1"}, progress={}) is None
    assert wait.check(SETTLE_S, jobs=["j1"], done={"j1"}, progress={}) == "every train job has its verdict"


def test_a_fixed_wait_ignores_progress_and_extends_for_the_serving_phase() -> None:
    wait = moving(fixed_s=600.0)
    assert wait.check(590.0, jobs=["j1"], done=set(), progress={}) is None  # stalled, but the wait is fixed
    wait.extend(590.0, 30.0)
    assert wait.check(615.0, jobs=["j1"], done=set(), progress={}) is None
    assert wait.check(620.0, jobs=["j1"], done=set(), progress={}) == "the fixed 10-minute wait is over"


def test_the_short_demo_does_not_stop_on_verdicts() -> None:
    wait = JobWait(started=0.0, fixed_s=480.0, stall_s=300.0, cap_s=2400.0, until_verdicts=False)
    assert wait.check(100.0, jobs=["j1"], done={"j1"}, progress={}) is None
    assert wait.check(480.0, jobs=["j1"], done={"j1"}, progress={}) is not None


def test_no_job_at_all_ends_after_the_stall_window() -> None:
    wait = moving()
    assert wait.check(299.0, jobs=[], done=set(), progress={}) is None
    assert wait.check(300.0, jobs=[], done=set(), progress={}) == "no train job moved for 300 s (no job was triggered)"


def test_the_summary_repeats_why_the_wait_ended_once() -> None:
    from console.demo.runner import summary_lines
    from console.demo.watch import DemoState

    state = DemoState(notes=["stopped waiting for train jobs: the 40-minute cap on the wait is over (2 without a "
                             "verdict)"] * 2)
    notes = [line for line in summary_lines(state) if line.startswith("note: ")]
    assert notes == ["note: stopped waiting for train jobs: the 40-minute cap on the wait is over (2 without a "
                     "verdict)"]
