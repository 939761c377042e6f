"""Correctness figures of the environments, quoted in the README.

    python -m manipgym.benchmarks.correctness [--episodes 100] [--out FILE.json]

Measures, for every task: oracle success over seeds 0..N-1, random-agent success on the same
seeds, the pixel -> world -> pixel round trip, the depth-lifted affordance against a MuJoCo ray
cast, and determinism (the same seed twice gives identical image bytes and oracle outcome).
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import gymnasium as gym
import mujoco
import numpy as np

import manipgym  # noqa: F401  (registers the ids)
from manipgym.agents import OracleAgent, RandomAgent
from manipgym.benchmarks.episodes import run_episodes, success_table, wilson_interval
from manipgym.envs import TASK_NAMES, task_list

_VISIBLE_GROUPS = np.array([0, 1, 0, 0, 0, 0], dtype=np.uint8)  # geom groups the camera renders


def geometry_errors(task: str, seeds: range) -> dict[str, float]:
    """Largest round-trip error (pixels) and depth-vs-ray-cast error (metres) at the affordance."""
    env = gym.make(f"manipgym/{task}-v0").unwrapped
    round_trip, ray = 0.0, 0.0
    for seed in seeds:
        obs, info = env.reset(seed=seed)
        cam, box = env._camera, info["ground_truth"]["affordance_box"]
        uv = np.array([[(box[0] + box[2]) / 2, (box[1] + box[3]) / 2]]) * np.array(env.image_size) / 1000
        world = cam.unproject(uv, cam.depth_at(obs["depth"], uv))
        round_trip = max(round_trip, float(np.abs(cam.project(world) - uv).max()))
        origin, dirs = cam.rays(uv)
        geom = np.zeros(1, dtype=np.int32)
        dist = mujoco.mj_ray(
            env.scene.sim.model._model, env.scene.sim.data._data, origin, dirs[0], _VISIBLE_GROUPS, 1, -1, geom
        )
        ray = max(ray, float(np.linalg.norm(origin + dist * dirs[0] - world[0])))
    env.close()
    return {"round_trip_px_max": round_trip, "affordance_vs_raycast_m_max": ray}


def deterministic(task: str, seeds: range) -> bool:
    """Same seed twice, in one env and in a fresh one: identical image bytes and oracle outcome."""
    outcomes = []
    for _ in range(2):
        env = gym.make(f"manipgym/{task}-v0").unwrapped
        for seed in seeds:
            runs = []
            for _ in range(2):
                obs, info = env.reset(seed=seed)
                answer = OracleAgent().act([{**obs, "ground_truth": info["ground_truth"]}])[0]
                _, _, _, _, step = env.step(answer)
                runs.append((obs["image"].tobytes(), answer, step["success"], step["waypoints"]))
            if runs[0] != runs[1]:
                return False
            outcomes.append(runs[0])
        env.close()
    half = len(outcomes) // 2
    return outcomes[:half] == outcomes[half:]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=100, help="seeds per task (default 100)")
    parser.add_argument(
        "--tasks", type=task_list, default=list(TASK_NAMES), help="comma-separated tasks (default: all)"
    )
    parser.add_argument("--out", help="also write the figures to this JSON file")
    args = parser.parse_args(argv)
    tasks = args.tasks
    seeds = range(args.episodes)
    started = time.perf_counter()
    oracle = run_episodes(OracleAgent(), tasks, seeds)
    random_results = run_episodes(RandomAgent(seed=0), tasks, seeds)
    report: dict = {"episodes_per_task": args.episodes, "tasks": {}}
    for task in tasks:
        geometry = geometry_errors(task, range(20))
        same = deterministic(task, range(3))
        rows = {
            "oracle": [r for r in oracle if r.task == task],
            "random": [r for r in random_results if r.task == task],
        }
        entry = {}
        for agent, results in rows.items():
            wins = sum(r.success for r in results)
            entry[agent] = {"success": wins / len(results), "ci95": wilson_interval(wins, len(results))}
        report["tasks"][task] = {**entry, **geometry, "deterministic": same}
    report["seconds"] = time.perf_counter() - started
    print("\nOracle agent\n" + success_table(oracle))
    print("\nRandom agent\n" + success_table(random_results))
    print("\n| task | round trip (px, max) | depth vs ray cast (mm, max) | deterministic |")
    print("|---|---|---|---|")
    for task, entry in report["tasks"].items():
        print(
            f"| {task} | {entry['round_trip_px_max']:.1e} | {entry['affordance_vs_raycast_m_max'] * 1000:.2f} "
            f"| {'yes' if entry['deterministic'] else 'NO'} |"
        )
    print(f"\n{report['seconds']:.0f} s in all")
    if args.out:
        with open(args.out, "w") as f:
            json.dump(report, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
