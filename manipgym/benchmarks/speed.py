"""Speed of manipgym's episodes against a naive robosuite loop, quoted in the README.

    python -m manipgym.benchmarks.speed [--episodes 10] [--tasks Lift,PickPlace,Push,Stack]

Both sides run the same oracle episodes (same tasks, seeds and executor) in one process:
- manipgym: soft resets (``hard_reset=False``), one RGB-D render and one segmentation render per
  reset, one RGB-D render after execution, no camera work during control;
- naive: robosuite's defaults, ``hard_reset=True`` (the model is rebuilt every reset) and the
  camera observation (RGB-D) computed at every control step.
"""

from __future__ import annotations

import argparse
import sys
import time

import gymnasium as gym
import numpy as np

import manipgym  # noqa: F401
from manipgym.agents import OracleAgent
from manipgym.envs import TASK_NAMES, task_list

NAIVE = {"hard_reset": True, "camera_obs": True}


def time_episodes(tasks: list[str], seeds: range, scene_kwargs: dict | None) -> dict[str, float]:
    agent = OracleAgent()
    reset_s, exec_s, wins, episodes, steps = [], [], 0, 0, 0
    render_s = []
    for task in tasks:
        env = gym.make(f"manipgym/{task}-v0", scene_kwargs=scene_kwargs).unwrapped
        env.reset(seed=seeds.start)  # warm-up: first frames pay for GL set-up
        for seed in seeds:
            started = time.perf_counter()
            obs, info = env.reset(seed=seed)
            reset_s.append(time.perf_counter() - started)
            answer = agent.act([{**obs, "ground_truth": info["ground_truth"]}])[0]
            started = time.perf_counter()
            _, _, _, _, step = env.step(answer)
            exec_s.append(time.perf_counter() - started)
            started = time.perf_counter()
            env.scene.render_rgbd()
            render_s.append(time.perf_counter() - started)
            wins += step["success"]
            steps += step["control_steps"]
            episodes += 1
        env.close()
    total = sum(reset_s) + sum(exec_s)
    return {
        "reset_ms": 1000 * float(np.mean(reset_s)),
        "render_ms": 1000 * float(np.mean(render_s)),
        "execute_ms": 1000 * float(np.mean(exec_s)),
        "control_steps_per_s": steps / sum(exec_s),
        "episodes_per_s": episodes / total,
        "success": wins / episodes,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=10, help="seeds per task (default 10)")
    parser.add_argument(
        "--tasks", type=task_list, default=list(TASK_NAMES), help="comma-separated tasks (default: all)"
    )
    args = parser.parse_args(argv)
    tasks, seeds = args.tasks, range(args.episodes)
    ours = time_episodes(tasks, seeds, None)
    naive = time_episodes(tasks, seeds, NAIVE)
    print(f"{len(tasks) * len(seeds)} oracle episodes each ({', '.join(tasks)}; seeds {seeds.start}-{seeds.stop - 1})")
    print(
        "\n| loop | reset (ms) | RGB-D render (ms) | execution (ms/episode) | control steps/s | episodes/s | success |"
    )
    print("|---|---|---|---|---|---|---|")
    for name, row in (("manipgym", ours), ("naive robosuite", naive)):
        print(
            f"| {name} | {row['reset_ms']:.0f} | {row['render_ms']:.1f} | {row['execute_ms']:.0f} | "
            f"{row['control_steps_per_s']:.0f} | {row['episodes_per_s']:.2f} | {row['success']:.0%} |"
        )
    print(f"\nspeed-up: {ours['episodes_per_s'] / naive['episodes_per_s']:.1f}x episodes/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
