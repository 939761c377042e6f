"""What varies between episodes, and over which values.

A :class:`Variation` is the set of values an env draws from at ``reset``. The default is the
training distribution; held-out values (colours, shapes, phrasings, viewpoints, ...) are kept
out of it so that out-of-distribution splits can be built from the rest.
"""

from __future__ import annotations

from dataclasses import dataclass

TRAIN_COLORS = ("red", "green", "blue", "yellow", "orange", "purple", "white", "black")
TRAIN_SHAPES = ("cube", "cylinder", "ball")


@dataclass(frozen=True)
class Variation:
    """Ranges that a scene is drawn from. Positions are metres in the world frame."""

    colors: tuple[str, ...] = TRAIN_COLORS
    shapes: tuple[str, ...] = TRAIN_SHAPES
    distractors: tuple[int, int] = (0, 3)  # inclusive range of distractor count
    x_range: tuple[float, float] = (-0.17, 0.13)
    y_range: tuple[float, float] = (-0.24, 0.24)
    camera_jitter: float = 0.0  # metres, uniform per axis, added to the camera position
    light_range: tuple[float, float] = (0.75, 1.0)  # diffuse intensity
    table_colors: tuple[tuple[float, float, float], ...] = ((0.62, 0.56, 0.48), (0.52, 0.55, 0.58))
    template_set: str = "train"
