"""The answer schema: parse a model's text into an affordance and a trajectory, and write one.

Schema (DESIGN.md): ``<think>…</think><answer>{"affordance": [x1, y1, x2, y2] | [x, y],
"trajectory": [[x, y], …]}</answer>`` with 3–10 trajectory points. Coordinates are in
[0, 1000) of the image width/height (``coords="norm1000"``) or in pixels (``coords="pixel"``);
parsed answers are always returned in norm1000 units as floats.

Parsing is tolerant of whitespace, ints vs floats and text after ``</answer>``, and strict
about everything else. It never raises: a bad answer is a :class:`ParseFailure` with a reason.
"""

from __future__ import annotations

import json
import math
import re
import sys
from dataclasses import dataclass

import numpy as np

MIN_POINTS = 3
MAX_POINTS = 10
MAX_ANSWER_CHARS = 8192  # longer texts are refused before any regex or JSON work
NORM = 1000.0

_ANSWER_RE = re.compile(r"<answer>(.*?)</answer>", re.DOTALL)
_THINK_RE = re.compile(r"<think>(.*?)</think>", re.DOTALL)


@dataclass(frozen=True)
class Answer:
    """A parsed answer in norm1000 image coordinates."""

    affordance: np.ndarray  # shape (4,) box [x1, y1, x2, y2] or (2,) point [x, y]
    trajectory: np.ndarray  # shape (N, 2), 3 <= N <= 10
    think: str | None = None

    @property
    def is_box(self) -> bool:
        return self.affordance.shape == (4,)

    @property
    def affordance_point(self) -> np.ndarray:
        """The point the executor acts at: the box centre, or the point itself."""
        a = self.affordance
        return (a[:2] + a[2:]) / 2.0 if self.is_box else a.copy()


@dataclass(frozen=True)
class ParseFailure:
    """Why an answer could not be parsed. ``reason`` is a short code (see REASONS)."""

    reason: str
    detail: str = ""

    def __bool__(self) -> bool:  # a failure is falsy, so `if parsed:` reads naturally
        return False


REASONS = (
    "not_text",
    "too_long",
    "no_answer_tag",
    "bad_json",
    "not_object",
    "missing_key",
    "bad_affordance",
    "bad_trajectory",
    "wrong_point_count",
    "non_finite",
    "out_of_range",
)


def _number_list(value, length: int | None = None) -> list[float] | None:
    if not isinstance(value, list) or (length is not None and len(value) != length):
        return None
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
        return None
    return [_as_float(v) for v in value]


def _as_float(number: int | float) -> float:
    """``float(number)``, except that an integer too large for a float (JSON allows any number of
    digits) becomes the largest finite float of its sign, so it fails as out of range, not as a crash."""
    try:
        return float(number)
    except OverflowError:
        return sys.float_info.max if number > 0 else -sys.float_info.max


def parse_answer(
    text: object, coords: str = "norm1000", image_size: tuple[int, int] | None = None
) -> Answer | ParseFailure:
    """Parse answer text. Returns an :class:`Answer` (norm1000 floats) or a :class:`ParseFailure`.

    Args:
        text: the model's output.
        coords: ``"norm1000"`` (integers in [0, 1000) of width/height) or ``"pixel"``.
        image_size: (width, height), required for ``coords="pixel"``.
    """
    if coords not in ("norm1000", "pixel"):
        raise ValueError(f"coords must be 'norm1000' or 'pixel', not {coords!r}")
    if coords == "pixel" and image_size is None:
        raise ValueError("coords='pixel' needs image_size=(width, height)")
    if not isinstance(text, str):
        return ParseFailure("not_text", type(text).__name__)
    if len(text) > MAX_ANSWER_CHARS:
        return ParseFailure("too_long", f"{len(text)} characters > {MAX_ANSWER_CHARS}")
    match = _ANSWER_RE.search(text)
    if match is None:
        return ParseFailure("no_answer_tag")
    think_match = _THINK_RE.search(text[: match.start()])
    think = think_match.group(1).strip() if think_match else None
    try:
        payload = json.loads(match.group(1))
    except (ValueError, RecursionError) as err:
        return ParseFailure("bad_json", str(err)[:80])
    if not isinstance(payload, dict):
        return ParseFailure("not_object")
    for key in ("affordance", "trajectory"):
        if key not in payload:
            return ParseFailure("missing_key", key)
    raw_aff = payload["affordance"]
    affordance = _number_list(raw_aff, 4) or _number_list(raw_aff, 2)
    if affordance is None:
        return ParseFailure("bad_affordance", "expected [x1, y1, x2, y2] or [x, y]")
    raw_traj = payload["trajectory"]
    if not isinstance(raw_traj, list):
        return ParseFailure("bad_trajectory", "expected a list of [x, y] points")
    points = [_number_list(p, 2) for p in raw_traj]
    if any(p is None for p in points):
        return ParseFailure("bad_trajectory", "each point must be [x, y]")
    if not MIN_POINTS <= len(points) <= MAX_POINTS:
        return ParseFailure("wrong_point_count", f"{len(points)} points, need {MIN_POINTS}-{MAX_POINTS}")
    values = affordance + [v for p in points for v in p]
    if not all(math.isfinite(v) for v in values):
        return ParseFailure("non_finite")
    aff = np.array(affordance)
    traj = np.array(points).reshape(-1, 2)
    if coords == "pixel":
        scale = np.array([NORM / image_size[0], NORM / image_size[1]])
        aff = aff * np.tile(scale, len(aff) // 2)
        traj = traj * scale
    if (aff < 0).any() or (aff > NORM).any() or (traj < 0).any() or (traj > NORM).any():
        return ParseFailure("out_of_range", "coordinates must lie in [0, 1000]")
    if len(aff) == 4 and (aff[2] < aff[0] or aff[3] < aff[1]):
        return ParseFailure("bad_affordance", "box needs x1 <= x2 and y1 <= y2")
    return Answer(affordance=aff, trajectory=traj, think=think)


def format_answer(affordance, trajectory, think: str | None = None) -> str:
    """Write an answer in the schema, rounding coordinates to integers in [0, 999]."""

    def ints(values) -> list[int]:
        return [int(min(max(round(float(v)), 0), 999)) for v in np.asarray(values).ravel()]

    body = json.dumps(
        {"affordance": ints(affordance), "trajectory": [ints(p) for p in np.asarray(trajectory)]},
        separators=(", ", ": "),
    )
    prefix = f"<think>{think}</think>" if think is not None else ""
    return f"{prefix}<answer>{body}</answer>"
