"""What a GRPO group can teach: G sampled answers per training scene, each executed.

    python -m manipgym.benchmarks.group_signal CHECKPOINT [--per-task 10] [--generations 8]
        [--temperature 0.3] [--first-scene 0] [--tasks Lift,...] [--seed 0]

GRPO learns from the success term only in groups whose answers include both a success and a
failure ("mixed" scenes); in the others every answer gets the same success reward. This prints,
for the prompts ``train grpo`` would use (train-manifest scenes), how many groups are mixed, and
inside the mixed groups whether the successful answers differ from the failing ones in a way a
model can learn across scenes: their affordance point error (vs the oracle's point) and their
trajectory reward. If successes are not nearer the oracle, the success advantage points a
different way in each scene.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from manipgym.agents.curve import observations_and_answers, point_error
from manipgym.agents.grpo import train_scene_rewards
from manipgym.agents.train_data import cached_examples, check_training_indices
from manipgym.agents.vlm import CheckpointError, VLMAgent, check_checkpoint
from manipgym.cli import positive_int
from manipgym.envs import TASK_NAMES, task_list
from manipgym.envs.workers import Worker


@dataclass
class SampledAnswer:
    """One executed answer: which scene it answers, whether it succeeded, how far its affordance
    point is from the oracle's (NaN when the answer does not parse), its trajectory reward, and
    whether it is the greedy answer (what a benchmark executes) rather than a sample."""

    scene: tuple[str, int]
    success: bool
    point_error: float
    trajectory: float
    greedy: bool = False


def group_statistics(answers: Sequence[SampledAnswer]) -> dict[str, float]:
    """Sampled success, the share of mixed groups, inside the mixed groups the mean point error
    and trajectory reward of successes and failures and the share of mixed groups whose
    successes point nearer the oracle than their failures (mean over each side); and where the
    greedy answers fail: the share of scenes whose greedy answer fails in a mixed group (the
    success term can move it) and in a group with no success (it cannot)."""
    groups: dict[tuple[str, int], list[SampledAnswer]] = {}
    samples = [a for a in answers if not a.greedy]
    for sample in samples:
        groups.setdefault(sample.scene, []).append(sample)
    greedy = {a.scene: a.success for a in answers if a.greedy}
    mixed = [g for g in groups.values() if len({s.success for s in g}) == 2]
    mixed_scenes = {g[0].scene for g in mixed}
    failed_scenes = {scene for scene, g in groups.items() if not any(s.success for s in g)}
    won = [s for g in mixed for s in g if s.success]
    lost = [s for g in mixed for s in g if not s.success]

    def mean(values) -> float:
        values = [v for v in values if np.isfinite(v)]
        return float(np.mean(values)) if values else float("nan")

    sides = [
        (mean(s.point_error for s in g if s.success), mean(s.point_error for s in g if not s.success)) for g in mixed
    ]
    nearer = [won_error < lost_error for won_error, lost_error in sides if np.isfinite(won_error + lost_error)]
    return {
        "scenes": len(groups),
        "success": mean(float(s.success) for s in samples),
        "mixed_groups": len(mixed) / max(1, len(groups)),
        "point_error_success": mean(s.point_error for s in won),
        "point_error_failure": mean(s.point_error for s in lost),
        "trajectory_success": mean(s.trajectory for s in won),
        "trajectory_failure": mean(s.trajectory for s in lost),
        "successes_nearer": float(np.mean(nearer)) if nearer else float("nan"),
        "greedy_success": mean(float(success) for success in greedy.values()),
        "greedy_failures_mixed": mean(float(scene in mixed_scenes and not ok) for scene, ok in greedy.items()),
        "greedy_failures_no_success": mean(float(scene in failed_scenes and not ok) for scene, ok in greedy.items()),
    }


def sample_and_execute(
    checkpoint: Path,
    tasks: Sequence[str],
    scenes: range,
    generations: int,
    temperature: float,
    workers: int,
    seed: int,
    data_cache: str | None,
) -> list[SampledAnswer]:
    """G sampled answers and the greedy answer of each scene, each executed from its scene."""
    examples = cached_examples(data_cache, list(tasks), scenes, 0, True, workers=workers)
    observations, oracle_answers = observations_and_answers(examples)
    torch.manual_seed(seed)  # the sampled answers are the same on every rerun
    agent = VLMAgent(checkpoint, temperature=temperature)
    repeated = [i for i in range(len(examples)) for _ in range(generations)]
    answers = agent.act([observations[i] for i in repeated])
    agent.temperature = 0.0  # then each scene's greedy answer
    greedy = [False] * len(answers) + [True] * len(examples)
    repeated += list(range(len(examples)))
    answers += agent.act(observations)
    pool = [Worker() for _ in range(max(1, workers))]
    try:
        jobs = [(examples[i]["task"], examples[i]["seed"], answer) for i, answer in zip(repeated, answers)]
        rewards = train_scene_rewards(pool, jobs)
    finally:
        for worker in pool:
            worker.close()
    return [
        SampledAnswer(
            scene=(examples[i]["task"], int(examples[i]["seed"])),
            success=terms["success"] > 0.5,
            point_error=point_error(answer, oracle_answers[i]),
            trajectory=float(terms["trajectory"]),
            greedy=is_greedy,
        )
        for i, answer, terms, is_greedy in zip(repeated, answers, rewards, greedy)
    ]


def report(stats: dict[str, float]) -> str:
    return "\n".join(
        [
            f"scenes {stats['scenes']}, sampled success {stats['success']:.0%}, "
            f"mixed groups (a success and a failure) {stats['mixed_groups']:.0%}",
            "inside mixed groups | successes | failures",
            "---|---|---",
            f"point error vs oracle (mean) | {stats['point_error_success']:.1f} | {stats['point_error_failure']:.1f}",
            f"trajectory reward (mean) | {stats['trajectory_success']:.3f} | {stats['trajectory_failure']:.3f}",
            f"groups whose successes point nearer the oracle: {stats['successes_nearer']:.0%}",
            f"greedy success {stats['greedy_success']:.0%}; greedy failures in mixed groups "
            f"{stats['greedy_failures_mixed']:.0%} of scenes, in groups with no success "
            f"{stats['greedy_failures_no_success']:.0%}",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", type=Path, help="checkpoint directory (a train sft/grpo output)")
    parser.add_argument("--per-task", type=int, default=10, help="training scenes per task (default 10)")
    parser.add_argument("--first-scene", type=int, default=0, help="index of the first scene per task (default 0)")
    parser.add_argument("--generations", type=int, default=8, help="answers sampled per scene, G (default 8)")
    parser.add_argument("--temperature", type=float, default=0.3, help="sampling temperature (default 0.3)")
    parser.add_argument("--tasks", type=task_list, default=list(TASK_NAMES), help="comma-separated tasks")
    parser.add_argument(
        "--workers",
        type=positive_int,
        default=2,
        help="simulator worker processes: render uncached scenes, execute the answers (default 2)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the sampling (default 0)")
    parser.add_argument("--data-cache", help="folder that keeps rendered scenes (as train --data-cache)")
    args = parser.parse_args(argv)
    if args.per_task < 1 or args.generations < 2 or args.temperature <= 0:
        parser.error("--per-task must be at least 1, --generations at least 2, --temperature above 0")
    scenes = range(args.first_scene, args.first_scene + args.per_task)
    try:
        check_training_indices(scenes)
        check_checkpoint(args.checkpoint)
    except (ValueError, CheckpointError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    samples = sample_and_execute(
        args.checkpoint,
        args.tasks,
        scenes,
        args.generations,
        args.temperature,
        args.workers,
        args.seed,
        args.data_cache,
    )
    print(report(group_statistics(samples)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
