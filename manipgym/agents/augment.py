"""Photometric augmentation of training images (colour jitter), for the SFT and grounding stages.

Why: the train distribution renders every scene under one band of light and a few table colours,
and a tiny VLM trained on those images alone breaks when the light changes: its frozen vision
tower's image tokens move, and the language model stops writing the answer format at all
(README, "Recipe study"). Jittering brightness, contrast and saturation is the
usual domain randomisation for that. The hue is left alone: the instructions name colours, and
a hue shift would change which colour an object is.

Factors are drawn uniformly from ``[1 - s, 1 + s]`` for strength ``s`` (torchvision's
``ColorJitter`` convention), applied in a fixed order (brightness, contrast, saturation), from a
generator the caller seeds, so a run is reproducible (SFT saves the generator's state with each
checkpoint so that ``--resume`` draws on from there: collator_draws.py).
"""

from __future__ import annotations

import numpy as np
from PIL import Image

# ITU-R BT.601 luma weights, as PIL's "L" conversion uses
LUMA = np.array([0.299, 0.587, 0.114], np.float32)


def check_strength(strength: float) -> None:
    if not 0 <= strength < 1:
        raise ValueError(f"--color-jitter must be in [0, 1) (e.g. 0.5; 0 is off), got {strength:g}")


def color_jitter(image: np.ndarray, strength: float, rng: np.random.Generator) -> np.ndarray:
    """One H × W × 3 uint8 image with random brightness, contrast and saturation factors in
    ``[1 - strength, 1 + strength]``; ``strength`` 0 returns the image unchanged and draws nothing."""
    check_strength(strength)
    if strength == 0:
        return image
    brightness, contrast, saturation = rng.uniform(1 - strength, 1 + strength, size=3)
    pixels = image.astype(np.float32) * brightness
    pixels = np.clip(pixels, 0, 255)
    mean_luma = (pixels @ LUMA).mean()
    pixels = np.clip((pixels - mean_luma) * contrast + mean_luma, 0, 255)
    luma = (pixels @ LUMA)[..., None]
    pixels = np.clip((pixels - luma) * saturation + luma, 0, 255)
    return pixels.round().astype(np.uint8)


class ColorJitterCollator:
    """Wraps a TRL collator: each example's images are colour-jittered before the processor
    sees them, with fresh factors every time the example is drawn (so every epoch differs)."""

    def __init__(self, collate, strength: float, seed: int):
        check_strength(strength)
        self.collate = collate
        self.strength = strength
        self.rng = np.random.default_rng(seed)

    def __call__(self, examples: list[dict]) -> dict:
        for example in examples:
            example["images"] = [self._jitter(image) for image in example["images"]]
        return self.collate(examples)

    def _jitter(self, image) -> Image.Image:
        return Image.fromarray(color_jitter(np.asarray(image.convert("RGB")), self.strength, self.rng))
