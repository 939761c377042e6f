"""What a scene can contain: named colours and object shapes.

Everything here is plain data, so that variation settings (and, later, out-of-distribution
splits) can name colours and shapes by string.
"""

from __future__ import annotations

from dataclasses import dataclass

# Named colours (RGB in [0, 1]). Names are what instructions say, so each must be a colour
# a person would name the same way from the rendered image.
COLORS: dict[str, tuple[float, float, float]] = {
    "red": (0.85, 0.10, 0.10),
    "green": (0.10, 0.65, 0.15),
    "blue": (0.10, 0.25, 0.90),
    "yellow": (0.95, 0.85, 0.10),
    "orange": (1.00, 0.50, 0.00),
    "purple": (0.50, 0.15, 0.70),
    "cyan": (0.10, 0.80, 0.85),
    "pink": (1.00, 0.55, 0.75),
    "white": (0.95, 0.95, 0.95),
    "black": (0.08, 0.08, 0.08),
    "brown": (0.45, 0.25, 0.08),
    "gray": (0.50, 0.50, 0.50),
}


@dataclass(frozen=True)
class Shape:
    """A graspable primitive. Sizes are MuJoCo half-sizes in metres."""

    name: str
    geom: str  # robosuite primitive: "box", "cylinder" or "ball"
    size: tuple[float, ...]
    half_height: float  # centre height above the table when resting
    footprint_radius: float  # radius of the circle that covers it seen from above
    rolls: bool = False  # a ball: not pushable, needs rolling friction to stay put


SHAPES: dict[str, Shape] = {
    "cube": Shape("cube", "box", (0.022, 0.022, 0.022), 0.022, 0.032),
    "cylinder": Shape("cylinder", "cylinder", (0.022, 0.021), 0.021, 0.022),
    "ball": Shape("ball", "ball", (0.024,), 0.024, 0.024, rolls=True),
    # Shapes held out of training for the ood_object split:
    "bar": Shape("bar", "box", (0.016, 0.032, 0.02), 0.02, 0.036),
    "disc": Shape("disc", "cylinder", (0.03, 0.013), 0.013, 0.03),
}

# Instances of each shape in the scene's object pool: the target plus up to three
# distractors can then all share one shape.
POOL_PER_SHAPE = 4
