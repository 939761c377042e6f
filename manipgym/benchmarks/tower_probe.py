"""What a checkpoint's image tokens say about the objects they show: a linear probe.

    python -m manipgym.benchmarks.tower_probe CHECKPOINT [CHECKPOINT ...] [--fit-per-task 500]
        [--held-out-per-task 100] [--tasks Lift,...] [--steps 300] [--data-cache DIR] [--workers 2]

Why: SFT and GRPO train with the vision tower frozen (``--freeze-vision``), so whatever grounding
leaves out of the image tokens, no later stage can put back. For each checkpoint, the image
tokens of patches that show an object (the object covering most of the patch, at least
``MIN_COVER`` of it, as grounding labels them) are computed for the first train scenes of each
task (those grounding fits on) and for the validation scenes (train-manifest indices 1900-...,
which no training stage uses). Two linear classifiers, one for the object's colour and one for
its shape, are fitted on the first set and scored on both. The held-out score is how well the
tokens encode colour and shape on scenes the model never saw; "chance" is the held-out share of
the most common class.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from manipgym.agents.ground import image_tokens, patch_objects
from manipgym.agents.train_data import labelled_scenes, validation_indices
from manipgym.agents.vlm import CheckpointError, VLMAgent, check_checkpoint
from manipgym.cli import positive_int
from manipgym.envs import TASK_NAMES, task_list

ATTRIBUTES = ("colour", "shape")  # the two halves of a label's words, (colour, noun)
BATCH = 32  # images per forward pass of the vision tower


def object_patches(agent: VLMAgent, scenes, progress: bool = False) -> tuple[np.ndarray, list[tuple[str, str]]]:
    """The image tokens of every patch that shows an object (P × hidden, float32), and that
    object's (colour, noun)."""
    images, labels, words, _ = scenes
    features, names = [], []
    for start in tqdm(range(0, len(images), BATCH), desc="image tokens", disable=not progress, leave=False):
        with torch.no_grad():
            tokens = image_tokens(agent.model, agent.processor, images[start : start + BATCH], agent.device)
        grid = int(round(tokens.shape[1] ** 0.5))
        shown, _ = patch_objects(labels[start : start + BATCH], grid)
        on_object = shown >= 0
        features.append(tokens.float().cpu().numpy()[on_object])
        names += [words[k] for k in shown[on_object]]
    return np.concatenate(features), names


def probe_accuracy(
    fit_x: np.ndarray, fit_y: Sequence[str], test_x: np.ndarray, test_y: Sequence[str], steps: int = 300, seed: int = 0
) -> tuple[float, float]:
    """Fit a multinomial logistic regression (standardised features, full-batch Adam) on
    ``fit_x`` → ``fit_y``; its accuracy on the fitted set and on ``test_x`` → ``test_y``. A class
    the fit never saw counts as a miss."""
    classes = sorted(set(fit_y))
    index = {name: i for i, name in enumerate(classes)}
    mean, scale = fit_x.mean(axis=0), fit_x.std(axis=0) + 1e-6
    x = torch.from_numpy((fit_x - mean) / scale).float()
    y = torch.tensor([index[name] for name in fit_y])
    torch.manual_seed(seed)
    probe = torch.nn.Linear(x.shape[1], len(classes))
    optimizer = torch.optim.Adam(probe.parameters(), lr=1e-2, weight_decay=1e-4)
    for _ in range(steps):
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(probe(x), y).backward()
        optimizer.step()
    with torch.no_grad():
        fitted = (probe(x).argmax(-1) == y).float().mean().item()
        guesses = probe(torch.from_numpy((test_x - mean) / scale).float()).argmax(-1).tolist()
    held_out = float(np.mean([classes[g] == name for g, name in zip(guesses, test_y)]))
    return fitted, held_out


def chance(names: Sequence[str]) -> float:
    """The share of the most common class: what always guessing it scores."""
    _, counts = np.unique(names, return_counts=True)
    return float(counts.max() / counts.sum())


def probe_table(
    checkpoints: Sequence[Path],
    fit_per_task: int,
    held_out_per_task: int,
    tasks: Sequence[str] = TASK_NAMES,
    steps: int = 300,
    data_cache: str | None = None,
    workers: int = 1,
    progress: bool = True,
) -> str:
    """A markdown table: per checkpoint, held-out and fitted accuracy of a linear probe of its
    image tokens for each object's colour and shape."""
    for checkpoint in checkpoints:  # a bad path or count fails in one line before any scene is rendered
        check_checkpoint(checkpoint)
    validation_indices(held_out_per_task)  # the fit scenes' count is checked before they render, below
    fit_scenes = labelled_scenes(tasks, fit_per_task, data_cache, progress, workers)
    held_out_scenes = labelled_scenes(tasks, held_out_per_task, data_cache, progress, workers, validation=True)
    lines = [
        "| checkpoint | colour: held out | colour: fitted | shape: held out | shape: fitted "
        "| object patches (fitted / held out) |",
        "|---|---|---|---|---|---|",
    ]
    held_out_names = None
    for checkpoint in checkpoints:
        agent = VLMAgent(checkpoint)
        fit_x, fit_names = object_patches(agent, fit_scenes, progress)
        test_x, held_out_names = object_patches(agent, held_out_scenes, progress)
        cells = []
        for part in range(len(ATTRIBUTES)):
            fitted, held_out = probe_accuracy(
                fit_x, [n[part] for n in fit_names], test_x, [n[part] for n in held_out_names], steps
            )
            cells += [f"{held_out:.1%}", f"{fitted:.1%}"]
        lines.append(f"| {checkpoint} | {' | '.join(cells)} | {len(fit_names)} / {len(held_out_names)} |")
    colour, shape = (chance([n[part] for n in held_out_names]) for part in range(len(ATTRIBUTES)))
    lines.append(f"| chance (most common class) | {colour:.1%} | | {shape:.1%} | | |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m manipgym.benchmarks.tower_probe",
        description="Linear probe of checkpoints' image tokens: how well they encode each object's colour and "
        "shape on validation scenes no training stage uses.",
    )
    parser.add_argument("checkpoints", nargs="+", type=Path, help="checkpoint folders (any training stage)")
    parser.add_argument(
        "--fit-per-task",
        type=positive_int,
        default=500,
        help="train scenes per task the probes fit on (500: those grounding fits on by default)",
    )
    parser.add_argument(
        "--held-out-per-task", type=positive_int, default=100, help="validation scenes per task scored (100, all)"
    )
    parser.add_argument("--tasks", type=task_list, default=list(TASK_NAMES), help="comma-separated (default: all)")
    parser.add_argument("--steps", type=positive_int, default=300, help="optimiser steps of each probe (default 300)")
    parser.add_argument("--data-cache", help="folder that keeps the rendered, labelled scenes")
    parser.add_argument(
        "--workers", type=positive_int, default=2, help="simulator processes that render scenes (default 2)"
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    args = parser.parse_args(argv)
    try:
        table = probe_table(
            args.checkpoints,
            args.fit_per_task,
            args.held_out_per_task,
            args.tasks,
            args.steps,
            args.data_cache,
            args.workers,
            not args.no_progress,
        )
    except (CheckpointError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
