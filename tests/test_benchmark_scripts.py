"""The README's figures come from these scripts; run each on the smallest input."""

import json

from manipgym.benchmarks import correctness, speed


def test_correctness_script_reports_every_figure(tmp_path, capsys):
    out = tmp_path / "figures.json"
    assert correctness.main(["--episodes", "2", "--tasks", "Lift", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "Oracle agent" in printed and "Random agent" in printed and "| Lift |" in printed
    figures = json.loads(out.read_text())["tasks"]["Lift"]
    assert figures["oracle"]["success"] == 1.0
    assert figures["round_trip_px_max"] < 1e-6
    assert figures["affordance_vs_raycast_m_max"] < 0.005
    assert figures["deterministic"] is True


def test_speed_script_compares_against_the_naive_loop(capsys):
    assert speed.main(["--episodes", "1", "--tasks", "Lift"]) == 0
    printed = capsys.readouterr().out
    assert "| manipgym |" in printed and "| naive robosuite |" in printed
    ratio = float(printed.split("speed-up: ")[1].split("x")[0])
    assert ratio > 1.0
