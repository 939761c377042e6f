"""A random agent: well-formed answers with uniformly random coordinates (a chance baseline)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from manipgym.rewards.answer import MAX_POINTS, MIN_POINTS, format_answer


class RandomAgent:
    """Uniform random box and 3–10 trajectory points starting at the box centre.

    Args:
        seed: seed of the agent's own generator (the env's RNG is never touched).
    """

    name = "random"
    needs_ground_truth = False

    def __init__(self, seed: int = 0):
        self.rng = np.random.default_rng(seed)

    def act(self, observations: Sequence[Mapping[str, Any]]) -> list[str]:
        answers = []
        for _ in observations:
            corners = np.sort(self.rng.uniform(0, 1000, size=(2, 2)), axis=0)  # rows: min, max of x and y
            box = [corners[0, 0], corners[0, 1], corners[1, 0], corners[1, 1]]
            n = int(self.rng.integers(MIN_POINTS, MAX_POINTS + 1))
            points = self.rng.uniform(0, 1000, size=(n, 2))
            points[0] = [(box[0] + box[2]) / 2, (box[1] + box[3]) / 2]
            answers.append(format_answer(box, points))
        return answers
