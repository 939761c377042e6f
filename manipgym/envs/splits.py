"""Named variation settings: the training distribution and one held-out axis per OOD split.

``train`` and ``test`` draw from the same distribution (different seeds, see the manifests);
each ``ood_*`` split changes one axis to values that ``train`` never shows.
"""

from __future__ import annotations

from dataclasses import replace

from manipgym.envs.variation import Variation

TRAIN = Variation()
HELDOUT_COLORS = ("cyan", "pink", "brown", "gray")
HELDOUT_SHAPES = ("bar", "disc")
HELDOUT_TABLE_COLORS = ((0.33, 0.45, 0.33), (0.55, 0.38, 0.40))

SPLITS: dict[str, Variation] = {
    "train": TRAIN,
    "test": TRAIN,
    "ood_color": replace(TRAIN, colors=HELDOUT_COLORS),
    "ood_object": replace(TRAIN, shapes=HELDOUT_SHAPES),
    "ood_layout": replace(TRAIN, distractors=(4, 5), x_range=(-0.17, 0.2)),
    "ood_camera": replace(TRAIN, camera_jitter=0.06),
    "ood_lighting": replace(TRAIN, light_range=(0.35, 0.55), table_colors=HELDOUT_TABLE_COLORS),
    "ood_instruction": replace(TRAIN, template_set="ood"),
}
EVAL_SPLITS = tuple(name for name in SPLITS if name != "train")
OOD_SPLITS = tuple(name for name in SPLITS if name.startswith("ood_"))


def variation_for(split: str) -> Variation:
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; choose one of {', '.join(SPLITS)}")
    return SPLITS[split]
