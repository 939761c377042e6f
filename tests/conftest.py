"""Shared fixtures: one env per task for the whole session (building a scene takes seconds)."""

import gymnasium as gym
import pytest

import manipgym  # noqa: F401  (registers the ids)
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
