"""Checkpoints on the train-manifest validation scenes: greedy answers, executed.

    python -m manipgym.benchmarks.validation CHECKPOINT [CHECKPOINT ...] [--per-task 25] [--tasks Lift,...]
        [--nonce-nouns] [--nonce-colors]

The figures to choose between training runs or checkpoints by without touching an evaluation
split: validation scenes (train-manifest indices 1900-1999) are drawn from the training
distribution and no training stage uses them. Per checkpoint: format-valid rate, affordance point
error (0-1000 units, vs the oracle's) and its within-40 rate, the median error of the trajectory's
end point, and the success rate of executing each greedy answer. ``train grpo --eval-every``
logs the same figures during a run (curve.jsonl). ``--nonce-nouns`` names each target by a
made-up word instead of its shape, ``--nonce-colors`` each colour (the target's and the goal's)
by one, the same scenes otherwise (see agents/nonce_words.py).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from tqdm import tqdm

from manipgym.agents.curve import curve_point, observations_and_answers, units, validation_scenes
from manipgym.agents.grpo import executed_success
from manipgym.agents.nonce_words import WordKind, nonce_instructions, requested_kinds
from manipgym.agents.train_data import VALIDATION_INDICES
from manipgym.agents.vlm import CheckpointError, VLMAgent, check_checkpoint
from manipgym.cli import positive_int
from manipgym.envs import TASK_NAMES, task_list
from manipgym.envs.workers import Worker


def validation_observations(scenes, nonce_kinds: Sequence[WordKind] = ()) -> tuple[list[dict], list[str]]:
    """What the agent sees of each validation scene, and the oracle's answers; each kind of word
    in ``nonce_kinds`` (target shape, colours) is replaced by made-up words (agents/nonce_words.py)."""
    observations, oracle_answers = observations_and_answers(scenes)
    for kind in nonce_kinds:
        texts = nonce_instructions([observation["instruction"] for observation in observations], kind)
        observations = [observation | {"instruction": text} for observation, text in zip(observations, texts)]
    return observations, oracle_answers


def validation_table(
    checkpoints: list[Path],
    per_task: int,
    workers: int,
    data_cache: str | None,
    tasks: Sequence[str] = TASK_NAMES,
    nonce_kinds: Sequence[WordKind] = (),
) -> str:
    for checkpoint in checkpoints:  # a bad path fails in one line before any scene is rendered
        check_checkpoint(checkpoint)
    scenes = validation_scenes(data_cache, list(tasks), per_task, workers=workers)
    observations, oracle_answers = validation_observations(scenes, nonce_kinds)
    lines = [
        "| checkpoint | format valid | point error median | within 40 | end error median "
        f"| success ({len(scenes)} scenes) |",
        "|---|---|---|---|---|---|",
    ]
    pool = [Worker() for _ in range(max(1, workers))]
    try:
        for checkpoint in tqdm(checkpoints, desc="checkpoints"):
            answers = VLMAgent(checkpoint).act(observations)
            figures = curve_point(answers, oracle_answers)
            success = executed_success(pool, scenes, answers)
            lines.append(
                f"| {checkpoint} | {figures['format_valid']:.0%} | {units(figures['point_error_median'])} "
                f"| {figures['within_40']:.1%} | {units(figures['end_error_median'])} | {success:.1%} |"
            )
    finally:
        for worker in pool:
            worker.close()
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoints", nargs="+", type=Path, help="checkpoint directories (train sft/grpo outputs)")
    parser.add_argument("--per-task", type=int, default=25, help="validation scenes per task (1-100, default 25)")
    parser.add_argument(
        "--tasks", type=task_list, default=list(TASK_NAMES), help="comma-separated tasks (default: all)"
    )
    parser.add_argument(
        "--workers",
        type=positive_int,
        default=2,
        help="simulator worker processes: render uncached scenes, execute the answers (default 2)",
    )
    parser.add_argument("--data-cache", help="folder that keeps rendered scenes (as train --data-cache)")
    parser.add_argument(
        "--nonce-nouns",
        action="store_true",
        help="name each scene's target by a made-up word instead of its shape (cube, cylinder, ball), "
        "to see whether a model finds objects it cannot name",
    )
    parser.add_argument(
        "--nonce-colors",
        action="store_true",
        help="name each colour of a scene's instruction (its target's, its goal's) by a made-up word, "
        "to see whether a model finds objects whose colour it cannot read",
    )
    args = parser.parse_args(argv)
    if not 1 <= args.per_task <= len(VALIDATION_INDICES):
        parser.error(f"--per-task must be between 1 and {len(VALIDATION_INDICES)}")
    try:
        print(
            validation_table(
                args.checkpoints,
                args.per_task,
                args.workers,
                args.data_cache,
                args.tasks,
                [kind for kind, _ in requested_kinds(float(args.nonce_nouns), float(args.nonce_colors))],
            )
        )
    except CheckpointError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
