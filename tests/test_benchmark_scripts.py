"""The README's figures come from these scripts; run each on the smallest input."""

import json

import numpy as np
import pytest

from manipgym.agents import SHIPPED_CHECKPOINT
from manipgym.agents.nonce_words import COLOR_WORDS, SHAPE_WORDS
from manipgym.benchmarks import (
    correctness,
    curves,
    render_match,
    render_speed,
    speed,
    train_match,
    train_speed,
    validation,
)
from manipgym.envs import TASK_NAMES


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


def test_curves_script_tabulates_every_point_and_names_a_missing_curve(tmp_path, capsys):
    run = tmp_path / "sft-a"
    run.mkdir()
    points = [
        {
            "step": 500,
            "train_seconds": 240.0,
            "format_valid": 1.0,
            "point_error_mean": 80.4,
            "point_error_median": 41.0,
            "within_40": 0.49,
        },
        {
            "step": 250,
            "train_seconds": 120.0,
            "format_valid": 0.5,
            "point_error_mean": 300.0,
            "point_error_median": 280.0,
            "within_40": 0.02,
        },
    ]
    start = {"step": 0, "train_seconds": 0.0, "format_valid": 0.0, "point_error_mean": None, "within_40": 0.0}
    old_start = {**start, "point_error_mean": float("nan")}  # as curves written before errors became null
    points += [{**start, "point_error_median": None}, {**old_start, "point_error_median": float("nan")}]
    (run / "curve.jsonl").write_text("".join(json.dumps(p) + "\n" for p in points))
    assert curves.main([str(run)]) == 0
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| sft-a")]
    no_answer = "| sft-a | 0 | 0.0 | 0% | – | – | 0% |"  # no answer parsed: no point error to show
    assert rows == [
        no_answer,
        no_answer,
        "| sft-a | 250 | 2.0 | 50% | 300 | 280 | 2% |",
        "| sft-a | 500 | 4.0 | 100% | 80 | 41 | 49% |",
    ]
    assert curves.main([str(tmp_path / "none")]) == 2
    assert "--eval-every" in capsys.readouterr().err


def test_validation_script_executes_the_greedy_answers_of_each_checkpoint(tmp_path, capsys):
    assert validation.main([str(SHIPPED_CHECKPOINT), "--per-task", "1", "--tasks", "Lift,Push", "--workers", "1"]) == 0
    printed = capsys.readouterr().out
    assert "success (2 scenes)" in printed  # one scene for each of the two tasks asked for
    row = [line for line in printed.splitlines() if line.startswith(f"| {SHIPPED_CHECKPOINT}")]
    assert len(row) == 1
    cells = [cell.strip() for cell in row[0].strip("|").split("|")]
    format_valid, within_40, success = (float(cells[i].rstrip("%")) for i in (1, 3, 5))
    assert 0 <= within_40 <= format_valid <= 100 and 0 <= success <= format_valid
    assert 0 <= float(cells[4]) <= 1415  # the trajectory end's median error, within the image's diagonal
    args = [str(SHIPPED_CHECKPOINT), "--per-task", "1", "--tasks", "Lift", "--workers", "1"]
    args += ["--nonce-nouns", "--nonce-colors"]
    assert validation.main(args) == 0 and "success (1 scenes)" in capsys.readouterr().out
    assert validation.main([str(tmp_path), "--per-task", "1", "--workers", "1"]) == 2  # not a checkpoint: one line
    assert "error:" in capsys.readouterr().err


def test_nonce_validation_renames_each_target_or_colour_and_keeps_the_scene():
    image = np.zeros((4, 4, 3), np.uint8)
    scenes = [
        {"images": [image], "instruction": text, "oracle_answer": f"answer {i}"}
        for i, text in enumerate(["lift the red cube", "stack the blue ball on the green block"])
    ]
    plain, answers = validation.validation_observations(scenes)
    renamed, same_answers = validation.validation_observations(scenes, [SHAPE_WORDS])
    assert [o["instruction"] for o in plain] == ["lift the red cube", "stack the blue ball on the green block"]
    first, second = (o["instruction"] for o in renamed)
    assert first.startswith("lift the red ") and "cube" not in first
    assert second.startswith("stack the blue ") and second.endswith(" on the green block") and "ball" not in second
    assert answers == same_answers == ["answer 0", "answer 1"] and renamed[0]["image"] is image
    both, _ = validation.validation_observations(scenes, [SHAPE_WORDS, COLOR_WORDS])
    first, second = (o["instruction"] for o in both)
    assert first.startswith("lift the ") and not {"red", "cube"} & set(first.split())
    assert second.startswith("stack the ") and second.endswith(" block")
    assert not {"blue", "ball", "green"} & set(second.split()) and len(set(second.split())) == 7  # three new words


def test_validation_script_refuses_zero_workers(capsys):
    with pytest.raises(SystemExit) as exit_info:
        validation.main([str(SHIPPED_CHECKPOINT), "--workers", "0"])
    assert exit_info.value.code == 2
    assert "--workers: expected a whole number of 1 or more" in capsys.readouterr().err


def test_train_speed_script_times_every_stage_of_the_recipe_and_loads_its_model(tmp_path, capsys):
    options = ["--device", "cpu", "--out", str(tmp_path), "--scenes", "1", "--workers", "1"]
    steps = ["--ground-steps", "2", "--sft-steps", "2", "--grpo-steps", "1", "--grpo-batch-size", "8"]
    assert train_speed.main([*options, *steps]) == 0
    lines = capsys.readouterr().out.splitlines()
    rows = [line.split(" | ") for line in lines if line.startswith("| tiny | 0.")]
    assert [row[2:6] for row in rows] == [
        ["ground", "cpu", "fp32", "2"],
        ["sft", "cpu", "fp32", "2"],
        ["grpo", "cpu", "fp32", "1"],
    ]
    # GRPO starts from the shipped model, so its sampled answers parse and the simulator executes them
    assert [row[7] for row in rows[:2]] == ["–", "–"] and int(rows[2][7].rstrip("%")) >= 50
    answered = next(line for line in lines if line.startswith("| tiny | float32 |"))  # the GRPO checkpoint answered
    assert int(answered.split(" | ")[3].rstrip("% |")) >= 50
    with pytest.raises(SystemExit):  # never mixes a new measurement with an earlier one's runs
        train_speed.main(options)
    assert "earlier measurement" in capsys.readouterr().err
    with pytest.raises(SystemExit):  # a batch that is not whole groups fails before any training
        train_speed.main([*options, "--out", str(tmp_path / "other"), "--grpo-batch-size", "12"])
    assert "multiple of 8" in capsys.readouterr().err and not (tmp_path / "other").exists()


def test_render_speed_script_times_each_worker_count(capsys):
    assert render_speed.main(["--scenes", "1", "--workers", "1,2,8", "--kind", "labels"]) == 0
    rows = [line.split("|")[1:-1] for line in capsys.readouterr().out.splitlines()[2:]]
    # one scene per task: 8 workers asked, 4 used (no more processes than scenes)
    assert [(row[0].strip(), int(row[1]), int(row[2])) for row in rows] == [("labels", w, 4) for w in (1, 2, 4)]
    assert all(float(row[4]) > 0 for row in rows)
    with pytest.raises(SystemExit):
        render_speed.main(["--workers", "0"])


def test_render_match_counts_the_pixels_that_differ_from_a_reference(tmp_path, capsys):
    reference = tmp_path / "reference"
    assert render_match.main(["--write", str(reference)]) == 0
    assert json.loads((reference / "machine.json").read_text())["versions"]["mujoco"]
    scenes = dict(np.load(reference / "scenes.npz"))
    assert list(scenes["scenes"]) == [f"{task}:0" for task in TASK_NAMES]
    scenes["images"][1, 10, 20] = 255 - scenes["images"][1, 10, 20]  # one pixel of PickPlace's wall, inverted
    y, x = np.argwhere(scenes["labels"][2] >= 0)[0]  # and one on an object of Push's scene
    scenes["images"][2, y, x] = 255 - scenes["images"][2, y, x]
    np.savez_compressed(reference / "scenes.npz", **scenes)
    capsys.readouterr()
    assert render_match.main(["--against", str(reference)]) == 0
    table = capsys.readouterr().out
    assert "| Lift:0 | yes | 0 | 0.00% | 0 | 0 |" in table  # rendering repeats on one machine
    differing = next(line for line in table.splitlines() if line.startswith("| PickPlace:0 "))
    assert differing.split(" | ")[1:5] == ["yes", "1", "0.00%", "0"] and "no difference" in table
    on_object = next(line for line in table.splitlines() if line.startswith("| Push:0 "))
    assert on_object.split(" | ")[1:5] == ["yes", "1", "0.00%", "1"]
    assert render_match.main(["--against", str(reference), "--scenes", "2"]) == 2
    assert "holds 1 scenes per task: use --scenes 1 or fewer" in capsys.readouterr().err
    assert render_match.main(["--against", str(tmp_path)]) == 2
    assert "holds no scenes.npz: pass a folder written by --write" in capsys.readouterr().err
    with pytest.raises(ValueError, match="has no scene Lift:0"):  # a reference missing a scene asked for
        render_match.compare({key: value[1:] for key, value in scenes.items()}, scenes)
    for folder in (render_match.STORED_REFERENCE, render_match.STORED_REFERENCE / "intel-avx512"):  # in the package
        stored, stored_machine = render_match.load_reference(folder)
        assert stored["images"].shape == scenes["images"].shape and stored_machine["cpu_flags"]


def test_train_match_compares_a_short_grounding_tensor_by_tensor(tmp_path, capsys):
    reference = tmp_path / "reference"
    assert train_match.main(["--write", str(reference)]) == 0
    stored = json.loads((reference / "train.json").read_text())
    assert stored["machine"]["torch_threads"] == 1 and stored["initial"].keys() == stored["trained"].keys()
    trained = [name for name, value in stored["trained"].items() if stored["initial"][name] != value]
    assert trained  # the grounding steps changed some tensors
    stored["trained"][trained[0]] = "0" * 16  # as if the reference machine had computed one tensor otherwise
    (reference / "train.json").write_text(json.dumps(stored))
    capsys.readouterr()
    assert train_match.main(["--against", str(reference)]) == 0
    out = capsys.readouterr().out
    assert "images (rendered here) equal: yes" in out and "no difference" in out  # training repeats on one machine
    assert f"fresh model's tensors equal: {len(stored['initial'])} of {len(stored['initial'])}" in out
    assert f"trained, equal: {len(trained) - 1} of {len(trained)}" in out
    assert train_match.main(["--against", str(tmp_path)]) == 2
    assert "holds no train.json: pass a folder written by --write" in capsys.readouterr().err
    (tmp_path / "train.json").write_text('{"images": ')  # a broken reference: one line, before any training
    assert train_match.main(["--against", str(tmp_path)]) == 2
    assert "is not JSON" in capsys.readouterr().err
    # --images: train on a render_match reference's stored pixels instead of this machine's renders
    pixels = tmp_path / "pixels"
    assert render_match.main(["--write", str(pixels)]) == 0
    capsys.readouterr()
    assert train_match.main(["--against", str(reference), "--images", str(pixels)]) == 0
    out = capsys.readouterr().out
    assert f"images (stored in {pixels}) equal: yes" in out and f"trained, equal: {len(trained) - 1} of" in out
    scenes = dict(np.load(pixels / "scenes.npz"))
    scenes["images"][0, 100, 100] ^= 1  # one channel of one pixel of Lift's scene, one step brighter or darker
    np.savez_compressed(pixels / "scenes.npz", **scenes)
    assert train_match.main(["--against", str(reference), "--images", str(pixels)]) == 0
    out = capsys.readouterr().out
    equal = int(out.split("trained, equal: ")[1].split(" of")[0])
    assert "equal: no" in out and equal < len(trained) - 1  # the grounding trained on that pixel
    np.savez_compressed(pixels / "scenes.npz", **{key: value[1:] for key, value in scenes.items()})
    assert train_match.main(["--against", str(reference), "--images", str(pixels)]) == 2
    assert "not ['Lift:0', 'PickPlace:0', 'Push:0', 'Stack:0']" in capsys.readouterr().err
    assert train_match.main(["--against", str(reference), "--images", str(tmp_path)]) == 2
    assert "holds no scenes.npz" in capsys.readouterr().err
    for folder in (train_match.STORED_REFERENCE, train_match.STORED_REFERENCE / "intel-avx512"):  # in the package
        shipped = train_match.load_reference(folder)
        assert shipped["trained"].keys() == stored["trained"].keys() and shipped["machine"]["torch_threads"] == 1
