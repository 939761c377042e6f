"""Gymnasium environments: tabletop scenes, tasks, cameras, the executor, success checks.

Importing this module registers ``manipgym/Lift-v0``, ``manipgym/PickPlace-v0``,
``manipgym/Push-v0`` and ``manipgym/Stack-v0``; mujoco is imported only when one is made.
"""

import argparse

from gymnasium.envs.registration import register, registry

# Chooses the GL backend before anything imports mujoco (every env module sits below this).
from manipgym.envs import sim_setup  # noqa: F401

TASK_NAMES = ("Lift", "PickPlace", "Push", "Stack")
ENV_IDS = tuple(f"manipgym/{name}-v0" for name in TASK_NAMES)


def task_list(text: str) -> list[str]:
    """``"Lift,Push"`` -> ``["Lift", "Push"]``; an unknown name is an argparse error that lists
    the known ones (this is the ``type=`` of every ``--tasks`` option)."""
    tasks = [t.strip() for t in text.split(",") if t.strip()]
    unknown = [t for t in tasks if t not in TASK_NAMES]
    if unknown or not tasks:
        raise argparse.ArgumentTypeError(
            f"unknown task(s) {', '.join(unknown) or repr(text)}; choose from {', '.join(TASK_NAMES)}"
        )
    return tasks


for _name, _env_id in zip(TASK_NAMES, ENV_IDS):
    if _env_id not in registry:
        register(id=_env_id, entry_point="manipgym.envs.tabletop_env:TabletopEnv", kwargs={"task": _name})

__all__ = ["ENV_IDS", "TASK_NAMES", "task_list"]
