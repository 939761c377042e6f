import os
import subprocess
import sys

from manipgym.cli import main


def test_doctor_reports_backend_versions_and_frame_time(capsys):
    assert main(["doctor"]) == 0
    out = capsys.readouterr().out
    assert "GL backend" in out and ("EGL" in out or "OSMESA" in out)
    assert "mujoco" in out and "robosuite" in out and "ms" in out


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


def test_bench_prints_a_success_table(capsys):
    assert main(["bench", "--agent", "oracle", "--tasks", "Lift", "--episodes", "2", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "| Lift | 2 |" in out and "95% CI" in out


def test_bench_rejects_unknown_task(capsys):
    try:
        main(["bench", "--tasks", "Fly"])
    except SystemExit as exit_:
        assert exit_.code == 2
    assert "unknown task(s) Fly" in capsys.readouterr().err


def test_build_tiny_vlm_and_bench_it(tmp_path, capsys):
    out = tmp_path / "tiny"
    assert main(["build-tiny-vlm", "--arch", "idefics3", "--out", str(out)]) == 0
    assert (out / "model.safetensors").exists() and (out / "config.json").exists()
    assert main(["bench", "--agent", "vlm", "--checkpoint", str(out), "--tasks", "Push", "--episodes", "1"]) == 0
    assert "| Push | 1 | 0% |" in capsys.readouterr().out  # untrained: unparseable, scored


def test_bench_with_a_bad_checkpoint_prints_one_line(tmp_path, capsys):
    assert main(["bench", "--agent", "vlm", "--checkpoint", str(tmp_path / "nope")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"error: checkpoint directory {tmp_path / 'nope'} does not exist"]
    assert main(["bench", "--agent", "vlm"]) == 2
    assert "needs a checkpoint" in capsys.readouterr().err
