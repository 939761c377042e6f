"""Shared fixtures: one env per task for the whole session (building a scene takes seconds)."""

import json
import shutil
from pathlib import Path

import gymnasium as gym
import mujoco
import pytest
import torch
from safetensors import safe_open

import manipgym  # noqa: F401  (registers the ids)
from manipgym.agents.run_dir import checkpoint_step
from manipgym.envs import TASK_NAMES

_ENVS: dict = {}


@pytest.fixture(scope="session")
def make_env():
    """Return the session's env for a task (unwrapped TabletopEnv)."""

    def get(task: str):
        if task not in _ENVS:
            _ENVS[task] = gym.make(f"manipgym/{task}-v0").unwrapped
        return _ENVS[task]

    yield get
    for env in _ENVS.values():
        env.close()


@pytest.fixture(params=TASK_NAMES)
def task(request):
    return request.param


def assert_ran_here(run: Path) -> None:
    """A finished training run's record says where it ran and how long its steps took, and its
    weights are float32 on every device (CUDA trains in bf16 mixed precision, not bf16 weights)."""
    record = json.loads((run / "manipgym_train.json").read_text())
    expected = ("cuda", "bf16-mixed") if torch.cuda.is_available() else ("cpu", "fp32")
    assert (record["ran_on"].split()[0], record["precision"]) == expected
    assert record["wall_seconds"] > 0
    assert record["machine"]["versions"]["torch"] == torch.__version__  # what to compare across machines
    assert record["machine"]["versions"]["mujoco"] == mujoco.__version__ and record["machine"]["cpu"]
    assert record["machine"]["torch_threads"] == torch.get_num_threads()  # the weights' bytes depend on it
    assert record["machine"]["torch_cpu_capability"] == torch.backends.cpu.get_cpu_capability()
    with safe_open(str(run / "model.safetensors"), "pt") as weights:
        assert {weights.get_tensor(name).dtype for name in weights.keys()} == {torch.float32}


def stop_run_after(run: Path, step: int) -> None:
    """Leave a finished training run as if killed after saving checkpoint-``step``: the later
    checkpoints and the final model and record gone, the logs (``*.jsonl``) kept, the last log
    line torn half-way."""
    for checkpoint in (run / "checkpoints").glob("checkpoint-*"):
        if checkpoint_step(checkpoint) > step:
            shutil.rmtree(checkpoint)
    for path in run.iterdir():
        if path.is_file() and path.suffix != ".jsonl":
            path.unlink()
    for log in run.glob("*.jsonl"):
        text = log.read_text()
        log.write_text(text + text.splitlines()[-1][:10])
