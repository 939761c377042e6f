"""The group-signal benchmark: statistics of sampled groups, and a real run on the shipped model."""

import math

import pytest

from manipgym.benchmarks.group_signal import SampledAnswer, group_statistics, main


def test_group_statistics_compare_successes_and_failures_inside_mixed_groups():
    samples = [
        SampledAnswer(("Lift", 1), True, 10.0, 0.9),  # mixed; its success points nearer
        SampledAnswer(("Lift", 1), False, 30.0, 0.5),
        SampledAnswer(("Lift", 2), True, 50.0, 0.7),  # mixed; its success points farther
        SampledAnswer(("Lift", 2), False, 20.0, 0.3),
        SampledAnswer(("Push", 1), True, 5.0, 1.0),  # all successes: not mixed, not counted inside
        SampledAnswer(("Push", 1), True, 5.0, 1.0),
        SampledAnswer(("Push", 2), False, float("nan"), 0.0),  # all failures (one unparsed)
        SampledAnswer(("Push", 2), False, 80.0, 0.1),
        SampledAnswer(("Lift", 1), False, 30.0, 0.5, greedy=True),  # fails where samples succeed
        SampledAnswer(("Lift", 2), True, 50.0, 0.7, greedy=True),
        SampledAnswer(("Push", 1), True, 5.0, 1.0, greedy=True),
        SampledAnswer(("Push", 2), False, 80.0, 0.1, greedy=True),  # fails where no sample succeeds
    ]
    stats = group_statistics(samples)
    assert stats["scenes"] == 4 and stats["success"] == 0.5 and stats["mixed_groups"] == 0.5
    assert stats["point_error_success"] == 30.0 and stats["point_error_failure"] == 25.0
    assert math.isclose(stats["trajectory_success"], 0.8) and math.isclose(stats["trajectory_failure"], 0.4)
    assert stats["successes_nearer"] == 0.5
    assert stats["greedy_success"] == 0.5
    assert stats["greedy_failures_mixed"] == 0.25 and stats["greedy_failures_no_success"] == 0.25


def test_group_signal_samples_and_executes_the_shipped_model(capsys):
    argv = ["manipgym/assets/models/tiny-vlm", "--tasks", "Lift", "--per-task", "2", "--generations", "2"]
    assert main([*argv, "--workers", "1"]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith("scenes 2, sampled success ")
    assert "groups whose successes point nearer the oracle:" in printed
    assert "greedy success " in printed


def test_group_signal_rejects_scenes_outside_the_training_range(capsys):
    assert main(["manipgym/assets/models/tiny-vlm", "--first-scene", "1899", "--per-task", "2"]) == 2
    assert capsys.readouterr().err.startswith("error: training scenes are train-manifest indices 0..1899")


def test_group_signal_refuses_zero_workers(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["manipgym/assets/models/tiny-vlm", "--workers", "0"])
    assert exit_info.value.code == 2
    assert "--workers: expected a whole number of 1 or more" in capsys.readouterr().err
