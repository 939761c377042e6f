"""The oracle: answers from privileged ground truth, in the answer schema."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from manipgym.rewards.answer import format_answer


class OracleAgent:
    """Answers with the ground-truth affordance box and oracle trajectory of each scene."""

    name = "oracle"
    needs_ground_truth = True

    def act(self, observations: Sequence[Mapping[str, Any]]) -> list[str]:
        answers = []
        for obs in observations:
            if "ground_truth" not in obs:
                raise KeyError("OracleAgent needs obs['ground_truth'] (reset's info['ground_truth'])")
            truth = obs["ground_truth"]
            think = f"The {truth['target']} is the object to act on."
            answers.append(format_answer(truth["affordance_box"], truth["trajectory"], think=think))
        return answers
