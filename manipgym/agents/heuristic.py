"""A non-learned baseline: find the named object and goal by colour, answer in the schema.

It reads only the RGB image and the instruction (no depth, no ground truth): pixels are
classified by hue, saturation and value against the named colour, connected blobs are ranked
by how well their outline fits the named shape, and the trajectory is drawn with fixed image
offsets that stand for "raise to carry height" (fitted once to the default camera; see
``RAISE_MAP``). A reference row for benchmark tables, not a strong policy.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import cv2
import numpy as np

from manipgym.envs.catalog import COLORS, SHAPES
from manipgym.rewards.answer import format_answer

# Image map (0-1000 units) from a point on the table to the point 17 cm above it, for the
# default camera: x' = a*x + b, y' = c*y + d (least squares on 60 scenes, rms 6 units).
RAISE_MAP = (1.189, -96.1, 0.982, -205.4)
SCENE_PIXELS = 224 * 224  # blobs are sized against the default image
LIFT_STEPS = (-70.0, -140.0, -200.0)  # image rise of a lifted object's path, 0-1000 units
_INSTRUCTION = re.compile(
    r"\b("
    + "|".join(COLORS)
    + r") ("
    + "|".join(SHAPES)
    + r")\b.*?(?:\b("
    + "|".join(COLORS)
    + r") (plate|circle|block)\b)?$"
)


def _hsv(rgb) -> np.ndarray:
    pixel = np.uint8([[np.clip(np.asarray(rgb) * 255, 0, 255)]])
    return cv2.cvtColor(pixel, cv2.COLOR_RGB2HSV)[0, 0].astype(float)


def color_mask(image: np.ndarray, color: str) -> np.ndarray:
    """Pixels that look like the named colour under the scene's lighting."""
    hsv = cv2.cvtColor(image, cv2.COLOR_RGB2HSV).astype(float)
    hue, sat, val = hsv[..., 0], hsv[..., 1], hsv[..., 2]
    if color == "white":
        return (sat < 40) & (val > 200)
    if color == "black":
        return val < 45
    if color == "gray":
        return (sat < 30) & (val > 90) & (val < 150)
    ref = _hsv(COLORS[color])
    hue_gap = np.minimum(np.abs(hue - ref[0]), 180 - np.abs(hue - ref[0]))  # OpenCV hue: 0-179
    return (hue_gap < 8) & (sat > 0.5 * ref[1]) & (val > 0.35 * ref[2])


def blobs(mask: np.ndarray, min_pixels: int = 12) -> list[dict]:
    """Connected components with their box, centre, area and circularity."""
    count, labels, stats, centroids = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    found = []
    for i in range(1, count):
        x, y, w, h, area = stats[i]
        if area < min_pixels:
            continue
        contours, _ = cv2.findContours((labels == i).astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
        perimeter = max(cv2.arcLength(contours[0], True), 1.0)
        found.append(
            {
                "box": (x, y, x + w, y + h),
                "centre": tuple(centroids[i]),
                "area": int(area),
                "circularity": float(4 * np.pi * area / perimeter**2),
            }
        )
    return found


class HeuristicAgent:
    """Colour segmentation + fixed image geometry. Uses only ``image`` and ``instruction``."""

    name = "heuristic"
    needs_ground_truth = False

    def act(self, observations: Sequence[Mapping[str, Any]]) -> list[str]:
        return [self.answer(obs["image"], obs["instruction"]) for obs in observations]

    def answer(self, image: np.ndarray, instruction: str) -> str:
        h, w = image.shape[:2]
        scale = np.array([1000.0 / w, 1000.0 / h])
        match = _INSTRUCTION.search(instruction.lower())
        if match is None:
            return "<think>I cannot find an object in the instruction.</think>"
        color, shape, goal_color, goal_word = match.groups()
        target = self._pick_object(blobs(color_mask(image, color)), shape)
        if target is None:
            return f"<think>I cannot see the {color} {shape}.</think>"
        box = np.array(target["box"], float) * np.tile(scale, 2)
        centre = np.array(target["centre"]) * scale
        goal = None
        if goal_color:
            goal_blobs = blobs(color_mask(image, goal_color))
            goal_blobs = [b for b in goal_blobs if b["box"] != target["box"]]
            if goal_blobs:
                goal = np.array(max(goal_blobs, key=lambda b: b["area"])["centre"]) * scale
        if goal_word is None:
            trajectory = [centre] + [centre + [0.0, dy] for dy in LIFT_STEPS]
        elif goal is None:
            return f"<think>I cannot see the {goal_color} {goal_word}.</think>"
        elif goal_word == "circle":
            trajectory = list(np.linspace(centre, goal, 4))
        else:
            trajectory = [centre, _raise(centre), _raise((centre + goal) / 2), _raise(goal)]
        think = f"The {color} {shape} is at {np.round(centre).astype(int).tolist()}."
        return format_answer(box, np.clip(trajectory, 0, 999), think=think)

    @staticmethod
    def _pick_object(candidates: list[dict], shape: str) -> dict | None:
        """The blob whose outline best fits the shape: balls are the roundest, cubes the least
        round; plates and circles (large, flat) are left out by size."""
        objects = [b for b in candidates if b["area"] < 0.02 * SCENE_PIXELS]
        if not objects:
            return None
        if shape == "ball":
            return max(objects, key=lambda b: b["circularity"])
        if shape == "cube":
            return min(objects, key=lambda b: b["circularity"])
        return max(objects, key=lambda b: b["area"])


def _raise(point: np.ndarray) -> np.ndarray:
    a, b, c, d = RAISE_MAP
    return np.array([a * point[0] + b, c * point[1] + d])
