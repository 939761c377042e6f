import json
import os
import subprocess
import sys

import pytest

from manipgym.agents import SHIPPED_CHECKPOINT
from manipgym.agents.grpo import GRPORunConfig
from manipgym.agents.sft import LR_SCHEDULES
from manipgym.cli import build_parser, grpo_run_config, main
from manipgym.versions import package_versions


def test_doctor_reports_backend_versions_and_frame_time(capsys):
    assert main(["doctor"]) == 0
    out = capsys.readouterr().out
    assert "GL backend" in out and ("EGL" in out or "OSMESA" in out)
    assert "mujoco" in out and "robosuite" in out and "ms" in out


def test_package_versions_name_each_installed_version_and_none_for_a_missing_package():
    import numpy

    found = package_versions(["numpy", "no-such-package-manipgym"])
    assert found == {"numpy": numpy.__version__, "no-such-package-manipgym": None}


def test_doctor_fails_with_one_line_when_no_backend_works():
    env = {**os.environ, "MUJOCO_GL": "", "PATH": os.environ["PATH"]}
    # Hide every GL library: the probe must say so in one line, not crash on import.
    code = (
        "import ctypes.util, sys; ctypes.util.find_library = lambda name: None; "
        "import ctypes; ctypes.CDLL = lambda *a, **k: (_ for _ in ()).throw(OSError('hidden')); "
        "from manipgym.cli import main; sys.exit(main(['doctor']))"
    )
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(errors) == 1 and errors[0].startswith("error: no headless OpenGL backend")


def test_bench_runs_a_suite_and_prints_the_summary(tmp_path, capsys):
    out = tmp_path / "run"
    args = ["bench", "--agent", "oracle", "--tasks", "Lift", "--splits", "test", "--episodes", "2", "--out", str(out)]
    args.append("--no-progress")
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "| Lift | 100% (34%–100%) |" in printed and (out / "results.json").exists()
    assert main(args) == 2  # the run exists: say so instead of overwriting it
    assert "--resume" in capsys.readouterr().err
    assert main([*args, "--resume"]) == 0
    assert main(["report", str(out)]) == 0
    assert "| run | test | all |" in capsys.readouterr().out
    assert main(["report", str(out), str(out), "--paired"]) == 0  # a run against itself: nothing gained or lost
    assert "| run | test | 2 | 100% → 100% | 0 | 0 | 1.000 |" in capsys.readouterr().out
    assert main(["report", str(out), str(tmp_path), "--paired"]) == 2  # no episodes there: one line
    assert "error:" in capsys.readouterr().err


def test_record_writes_a_video(tmp_path, capsys):
    assert main(["record", "--agent", "oracle", "--task", "Lift", "--seed", "1", "--out", str(tmp_path)]) == 0
    assert "success" in capsys.readouterr().out
    assert (tmp_path / "Lift_test_seed1_oracle.mp4").stat().st_size > 10_000


def test_export_refuses_a_folder_without_a_model_in_one_line(tmp_path, capsys):
    assert main(["export", str(tmp_path), "--out", str(tmp_path / "model")]) == 2
    errors = capsys.readouterr().err.splitlines()
    assert len(errors) == 1 and errors[0].startswith("error:") and "not a model checkpoint" in errors[0]
    assert not (tmp_path / "model").exists()


def test_bench_rejects_unknown_task(capsys):
    try:
        main(["bench", "--tasks", "Fly"])
    except SystemExit as exit_:
        assert exit_.code == 2
    assert "unknown task(s) Fly" in capsys.readouterr().err


@pytest.mark.parametrize("flag", ["--workers", "--episodes"])
def test_bench_refuses_a_count_below_one(flag, capsys):
    with pytest.raises(SystemExit) as exit_:  # argparse, before any simulator starts
        main(["bench", "--agent", "oracle", flag, "0"])
    assert exit_.value.code == 2
    assert f"{flag}: expected a whole number of 1 or more, got '0'" in capsys.readouterr().err


@pytest.mark.parametrize(
    "command, message",
    [
        (["bench", "--splits", ","], "argument --splits: unknown split(s) ','"),
        (["bench", "--record", "-1"], "argument --record: expected a whole number of 0 or more, got '-1'"),
        (["doctor", "--size", "0"], "argument --size: expected a whole number of 1 or more, got '0'"),
        (["train", "grpo", "--init", "i", "--out", "o", "--weights", "0,0,0,0"], "all four weights are 0"),
        (["train", "grpo", "--init", "i", "--out", "o", "--weights=-1,0,0,1"], "a finite number of 0 or more"),
        (["train", "grpo", "--init", "i", "--out", "o", "--weights", "nan,0,0,1"], "a finite number of 0 or more"),
    ],
)
def test_options_that_would_run_nothing_are_refused_by_argparse(command, message, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(command)
    assert exit_.value.code == 2
    assert message in capsys.readouterr().err


def test_a_file_where_a_folder_should_be_is_one_line_before_any_work(tmp_path, capsys):
    afile = tmp_path / "afile"
    afile.write_text("notes")
    commands = [
        ["record", "--agent", "oracle", "--task", "Lift", "--out", str(afile)],
        ["bench", "--agent", "oracle", "--episodes", "1", "--out", str(afile / "run")],
        ["export", str(SHIPPED_CHECKPOINT), "--out", str(afile)],
        ["build-tiny-vlm", "--out", str(afile)],
    ]
    for command in commands:
        assert main(command) == 2
        assert capsys.readouterr().err.splitlines() == [
            f"error: --out {command[-1]}: {afile} is a file, not a folder; choose another --out"
        ]
    assert afile.read_text() == "notes" and sorted(p.name for p in tmp_path.iterdir()) == ["afile"]


def test_report_names_a_damaged_results_file_and_skips_rows_that_are_not_episodes(tmp_path, capsys):
    run = tmp_path / "run"
    assert (
        main(
            [
                "bench",
                "--agent",
                "oracle",
                "--tasks",
                "Lift",
                "--splits",
                "test",
                "--episodes",
                "1",
                "--workers",
                "1",
                "--out",
                str(run),
                "--no-progress",
            ]
        )
        == 0
    )
    capsys.readouterr()
    results = run / "results.json"
    results.write_text(results.read_text()[:300])  # a copy cut short
    assert main(["report", str(run)]) == 2
    assert capsys.readouterr().err.startswith(f"error: {results} is not valid JSON (")
    assert main(["report", str(results)]) == 2  # the file, not its folder
    assert (
        capsys.readouterr().err.strip()
        == f"error: {results} is not a run folder: give the --out folder of a manipgym bench run"
    )
    results.unlink()
    with open(run / "episodes.jsonl", "a") as log:
        log.write('\n{"note": "edited by hand"}\n[1, 2]\n')
    assert main(["report", str(run)]) == 0
    assert "| run | 100% (21%–100%) |" in capsys.readouterr().out  # the one episode, the odd rows skipped


def test_build_tiny_vlm_and_bench_it(tmp_path, capsys):
    out = tmp_path / "tiny"
    assert main(["build-tiny-vlm", "--arch", "idefics3", "--out", str(out)]) == 0
    assert (out / "model.safetensors").exists() and (out / "config.json").exists()
    capsys.readouterr()
    assert main(["build-tiny-vlm", "--out", str(out)]) == 2  # never over a model
    refusal = f"error: {out} already holds a model: remove it first, or choose another --out"
    assert capsys.readouterr().err.strip() == refusal
    run = ["--tasks", "Push", "--splits", "test", "--episodes", "1", "--workers", "1", "--out", str(tmp_path / "run")]
    assert main(["bench", "--agent", "vlm", "--checkpoint", str(out), *run, "--no-progress"]) == 0
    assert "| Push | 0% (0%–79%) |" in capsys.readouterr().out  # untrained: unparseable, scored


def test_bench_with_a_bad_checkpoint_prints_one_line(tmp_path, capsys):
    assert main(["bench", "--agent", "vlm", "--checkpoint", str(tmp_path / "nope")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"error: checkpoint directory {tmp_path / 'nope'} does not exist"]
    assert main(["bench", "--agent", "heuristic", "--checkpoint", str(SHIPPED_CHECKPOINT)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["error: --checkpoint is for --agent vlm; the heuristic agent loads no model"]


def test_vlm_agent_defaults_to_the_shipped_checkpoint(tmp_path, capsys):
    assert (SHIPPED_CHECKPOINT / "model.safetensors").stat().st_size < 25e6
    run = ["--tasks", "Lift", "--splits", "test", "--episodes", "1", "--workers", "1", "--out", str(tmp_path / "run")]
    assert main(["bench", "--agent", "vlm", *run, "--no-progress"]) == 0
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    assert results["config"]["agent"] == "vlm" and "| Lift |" in capsys.readouterr().out
    assert results["splits"]["test"]["format_valid_rate"] == 1.0  # trained: an untrained model's answer does not parse


def test_train_with_bad_options_or_init_prints_one_line(tmp_path, capsys):
    tiny = tmp_path / "tiny"
    assert main(["build-tiny-vlm", "--out", str(tiny), "--coord-step", "10"]) == 0
    capsys.readouterr()
    grpo = ["train", "grpo", "--out", str(tmp_path / "g"), "--no-progress"]
    assert main([*grpo, "--init", str(tiny), "--batch-size", "6", "--num-generations", "4"]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        "error: --batch-size (6) must be a multiple of --num-generations (4), which must be at least 2"
    ]
    assert main([*grpo, "--init", str(tiny), "--first-scene", "1800", "--scenes-per-task", "200"]) == 2
    message = "training scenes are train-manifest indices 0..1899 per task (the rest validate); asked for up to 1999"
    assert capsys.readouterr().err.strip() == f"error: {message}"
    assert main([*grpo, "--init", str(tiny), "--scenes-per-task", "0"]) == 2
    assert capsys.readouterr().err.strip() == "error: --scenes-per-task must be at least 1, not 0"
    assert not (tmp_path / "g").exists()
    assert main([*grpo, "--init", str(tmp_path / "missing")]) == 2
    assert capsys.readouterr().err.strip() == f"error: checkpoint directory {tmp_path / 'missing'} does not exist"
    assert main(["train", "ground", "--out", str(tmp_path / "gr"), "--coord-step", "0", "--no-progress"]) == 2
    assert "needs location tokens" in capsys.readouterr().err
    for scenes, message in (("0", "--scenes-per-task must be at least 1, not 0"), ("2000", "asked for up to 1999")):
        ground = ["train", "ground", "--out", str(tmp_path / "gr"), "--scenes-per-task", scenes]
        assert main([*ground, "--no-progress"]) == 2
        assert capsys.readouterr().err.strip().endswith(message)
        assert not (tmp_path / "gr").exists()
    for stage in ("ground", "sft"):
        assert main(["train", stage, "--out", str(tmp_path / stage), "--color-jitter", "1.5", "--no-progress"]) == 2
        message = "error: --color-jitter must be in [0, 1) (e.g. 0.5; 0 is off), got 1.5"
        assert capsys.readouterr().err.strip() == message
        assert not (tmp_path / stage).exists()
    for option in ("--nonce-nouns", "--nonce-colors"):
        assert main(["train", "sft", "--out", str(tmp_path / "sft"), option, "1.5", "--no-progress"]) == 2
        message = f"error: {option} must be a probability in [0, 1] (e.g. 0.2; 0 is off), got 1.5"
        assert capsys.readouterr().err.strip() == message and not (tmp_path / "sft").exists()
    for stage in ("sft", "grpo"):
        options = ["--init", str(tiny)] if stage == "grpo" else []
        command = ["train", stage, "--out", str(tmp_path / stage), *options, "--keep-checkpoints", "-1"]
        assert main([*command, "--no-progress"]) == 2
        message = "error: --keep-checkpoints must be 0 (keep all) or more, not -1"
        assert capsys.readouterr().err.strip() == message
        assert not (tmp_path / stage).exists()


def test_grpo_command_line_defaults_are_the_run_config_defaults():
    grpo = ["train", "grpo", "--out", "o", "--init", "i"]
    assert grpo_run_config(build_parser().parse_args(grpo)) == GRPORunConfig(out="o", init="i")  # every field
    assert not grpo_run_config(build_parser().parse_args([*grpo, "--no-freeze-vision"])).freeze_vision


def test_sft_schedules_are_the_command_line_choices(tmp_path, capsys):
    sft = ["train", "sft", "--out", str(tmp_path / "sft")]
    for schedule in LR_SCHEDULES:
        assert build_parser().parse_args([*sft, "--lr-schedule", schedule]).lr_schedule == schedule
    with pytest.raises(SystemExit) as exit_:  # argparse refuses it with its usage line
        main([*sft, "--lr-schedule", "linear"])
    assert exit_.value.code == 2
    assert "invalid choice: 'linear'" in capsys.readouterr().err
    assert not (tmp_path / "sft").exists()


def test_train_help_lists_the_stages_in_the_order_they_run(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    lines = capsys.readouterr().out.splitlines()
    listed = [line.split()[0] for line in lines if line.startswith("    ") and line[4] != " "]  # not wrapped help
    assert listed[:3] == ["ground", "sft", "grpo"]  # the usage line's {ground,sft,grpo} too
