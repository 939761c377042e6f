"""Gymnasium environments: tabletop scenes, tasks, cameras, the executor, success checks.

Importing this module registers ``manipgym/Lift-v0``, ``manipgym/PickPlace-v0``,
``manipgym/Push-v0`` and ``manipgym/Stack-v0``; mujoco is imported only when one is made.
"""

from gymnasium.envs.registration import register, registry

# Chooses the GL backend before anything imports mujoco (every env module sits below this).
from manipgym.envs import sim_setup  # noqa: F401

TASK_NAMES = ("Lift", "PickPlace", "Push", "Stack")
ENV_IDS = tuple(f"manipgym/{name}-v0" for name in TASK_NAMES)

for _name, _env_id in zip(TASK_NAMES, ENV_IDS):
    if _env_id not in registry:
        register(id=_env_id, entry_point="manipgym.envs.tabletop_env:TabletopEnv", kwargs={"task": _name})

__all__ = ["ENV_IDS", "TASK_NAMES"]
