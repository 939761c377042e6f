"""Learning curves: does the model learn *where* things are, not only the answer's format?

Before the first step (step 0: the starting model, so the curve shows what training changed) and
every ``every`` optimiser steps the model answers the validation scenes greedily, and one line goes
to ``curve.jsonl``: training time so far (wall time: the steps, the loading of their batches
and the checkpoint saves; the curve's own evaluations excluded), step, format-valid rate, mean and
median affordance point error (0–1000 units, box centre vs the oracle's), the within-40-units
rate and the median error of the trajectory's end point. Validation scenes are train-manifest
scenes that training never uses (:data:`~manipgym.agents.train_data.VALIDATION_INDICES`).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import numpy as np
from transformers import TrainerCallback

from manipgym.agents.train_data import VALIDATION_INDICES, cached_examples
from manipgym.rewards import parse_answer

WITHIN = 40.0  # units of 0–1000: about a small object's half-width in the default camera


def point_error(answer: str, oracle_answer: str, point: Literal["affordance", "end"] = "affordance") -> float:
    """Distance (0–1000 units) from the answer's affordance point (``point`` "affordance") or
    trajectory end ("end") to the oracle's; NaN when the answer does not parse."""
    parsed, target = parse_answer(answer), parse_answer(oracle_answer)
    if not parsed:
        return float("nan")
    if point == "end":
        return float(np.linalg.norm(parsed.trajectory[-1] - target.trajectory[-1]))
    return float(np.linalg.norm(parsed.affordance_point - target.affordance_point))


def point_errors(
    answers: Sequence[str], oracle_answers: Sequence[str], point: Literal["affordance", "end"] = "affordance"
) -> tuple[np.ndarray, float]:
    """:func:`point_error` of each valid answer, and the fraction of answers that were valid."""
    errors = np.array([point_error(a, o, point) for a, o in zip(answers, oracle_answers)], dtype=float)
    errors = errors[np.isfinite(errors)]
    return errors, len(errors) / max(1, len(answers))


def curve_point(answers: Sequence[str], oracle_answers: Sequence[str]) -> dict[str, float | None]:
    """Format-valid rate, affordance point error (mean, median, within-40 rate) and the median
    error of the trajectory's end (where the task ends: on the goal for Push, above it for
    PickPlace and Stack). The errors are None when no answer parses (a start that has not learnt
    the format yet), so that curve.jsonl stays standard JSON (null, not NaN)."""
    errors, valid = point_errors(answers, oracle_answers)
    ends, _ = point_errors(answers, oracle_answers, "end")
    found = len(errors) > 0
    return {
        "format_valid": valid,
        "point_error_mean": float(errors.mean()) if found else None,
        "point_error_median": float(np.median(errors)) if found else None,
        "within_40": float((errors <= WITHIN).sum() / max(1, len(answers))),  # invalid answers count as misses
        "end_error_median": float(np.median(ends)) if found else None,
    }


def units(error: float | None) -> str:
    """A point error for a table: whole units, or "–" where no answer parsed (None; NaN in curves
    written before errors became null)."""
    return "–" if error is None or not math.isfinite(error) else f"{error:.0f}"


class PointErrorCurve(TrainerCallback):
    """Appends a point of the learning curve to ``path`` at step 0, every ``every`` steps and at the end."""

    def __init__(self, validation, processor, path: str | Path, every: int, batch_size: int = 32):
        self.observations, self.oracle_answers = observations_and_answers(validation)
        self.processor, self.path, self.every, self.batch_size = processor, Path(path), every, batch_size
        self.train_seconds, self._since = _train_seconds_so_far(self.path), None

    def on_train_begin(self, args, state, control, model=None, **kwargs):
        # the start's point, which a resumed run's curve already holds
        if state.global_step == 0 and not _curve_lines(self.path):
            self.record(model, 0)
        self._since = time.perf_counter()

    def on_step_end(self, args, state, control, model=None, **kwargs):
        # The clock runs from one step's end to the next, not from on_step_begin: the trainer loads
        # (collates) a step's batch before on_step_begin, and that is training time too (about a
        # sixth of an SFT step on 2 CPU cores).
        now = time.perf_counter()
        if self._since is not None:
            self.train_seconds += now - self._since
        self._since = now
        if state.global_step % self.every == 0 or state.global_step == state.max_steps:
            self.record(model, state.global_step)
            self._since = time.perf_counter()  # the evaluation is not training time

    def record(self, model, step: int) -> dict:
        from manipgym.agents.vlm import VLMAgent

        was_training = model.training
        model.eval()
        agent = VLMAgent.from_model(model, self.processor, max_new_tokens=128, batch_size=self.batch_size)
        point = {"step": step, "train_seconds": round(self.train_seconds, 1)}
        answers = agent.act(self.observations)
        point |= curve_point(answers, self.oracle_answers) | self.extra_metrics(answers)
        model.train(was_training)
        with self.path.open("a") as f:
            f.write(json.dumps(point, allow_nan=False) + "\n")
        return point

    def extra_metrics(self, answers: list[str]) -> dict[str, float]:
        """More figures for the same answers (subclasses: e.g. executed success); none here."""
        return {}


def observations_and_answers(examples) -> tuple[list[dict], list[str]]:
    """What the agent sees of each oracle example (image, instruction), and the oracle's answers."""
    observations = [{"image": np.asarray(e["images"][0]), "instruction": e["instruction"]} for e in examples]
    return observations, [example["oracle_answer"] for example in examples]


def validation_scenes(cache_dir, tasks: Sequence[str], per_task: int, progress: bool = True, workers: int = 1):
    """The first ``per_task`` validation scenes of each task, as oracle examples (image,
    instruction, oracle answer, task, seed), rendered in ``workers`` processes when not cached."""
    return cached_examples(cache_dir, tasks, VALIDATION_INDICES[:per_task], 0, progress, workers=workers)


def _curve_lines(path: Path) -> list[str]:
    """The points already in a curve file (a resumed run's), as JSON lines."""
    return [line for line in path.read_text().splitlines() if line.strip()] if path.exists() else []


def _train_seconds_so_far(path: Path) -> float:
    """Where a resumed run's clock starts: the last curve point's training time."""
    lines = _curve_lines(path)
    try:
        return float(json.loads(lines[-1])["train_seconds"]) if lines else 0.0
    except (ValueError, KeyError):
        return 0.0
