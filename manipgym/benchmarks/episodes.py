"""Run an agent on seeded episodes and summarise success per task.

A small sequential runner (one env per task, one episode per seed) for the correctness script,
and the Wilson interval every report uses. The suite runner (manifests, worker processes,
resume) is :mod:`manipgym.benchmarks.runner`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import gymnasium as gym
from tqdm import tqdm

from manipgym.agents.base import Agent


@dataclass
class EpisodeResult:
    task: str
    seed: int
    success: bool
    failure_reason: str | None
    parse_ok: bool
    seconds: float


def wilson_interval(successes: int, n: int, z: float = 1.959963984540054) -> tuple[float, float]:
    """95% Wilson score interval of a binomial proportion (0, 1 when n = 0)."""
    if n == 0:
        return 0.0, 1.0
    p = successes / n
    denom = 1 + z**2 / n
    centre = (p + z**2 / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / denom
    # At p = 0 or 1 the bound is exactly 0 or 1; say so rather than trust rounding.
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == n else min(1.0, centre + half)
    return low, high


def run_episodes(
    agent: Agent, tasks: Iterable[str], seeds: Iterable[int], progress: bool = True
) -> list[EpisodeResult]:
    """Reset each task's env at each seed, ask the agent, execute its answer."""
    seeds = list(seeds)
    results: list[EpisodeResult] = []
    for task in tasks:
        env = gym.make(f"manipgym/{task}-v0")
        wins = 0
        bar = tqdm(seeds, desc=f"{agent.name} {task}", disable=not progress, unit="ep")
        for seed in bar:
            obs, info = env.reset(seed=seed)
            if agent.needs_ground_truth:
                obs = {**obs, "ground_truth": info["ground_truth"]}
            _, _, _, _, step = env.step(agent.act([obs])[0])
            seconds = float(info["wall_time"]) + float(step["wall_time"])
            results.append(
                EpisodeResult(task, seed, step["success"], step["failure_reason"], step["parse_ok"], seconds)
            )
            wins += step["success"]
            bar.set_postfix(success=f"{wins / (bar.n + 1):.0%}")
        env.close()
    return results


def success_table(results: list[EpisodeResult]) -> str:
    """Markdown table: success rate with its 95% Wilson interval, and failure reasons, per task."""
    lines = [
        "| task | episodes | success | 95% CI | s/episode | failures |",
        "|---|---|---|---|---|---|",
    ]
    for task in dict.fromkeys(r.task for r in results):
        rows = [r for r in results if r.task == task]
        wins = sum(r.success for r in rows)
        low, high = wilson_interval(wins, len(rows))
        reasons: dict[str, int] = {}
        for r in rows:
            if not r.success:
                reasons[r.failure_reason] = reasons.get(r.failure_reason, 0) + 1
        failures = ", ".join(f"{k} {v}" for k, v in sorted(reasons.items(), key=lambda kv: -kv[1])) or "-"
        seconds = sum(r.seconds for r in rows) / len(rows)
        lines.append(
            f"| {task} | {len(rows)} | {wins / len(rows):.0%} | {low:.0%}-{high:.0%} | {seconds:.2f} | {failures} |"
        )
    return "\n".join(lines)
