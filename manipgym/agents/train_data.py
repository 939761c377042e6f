"""Training scenes: which ``train``-manifest episodes each stage uses, and oracle examples of them.

The ``train`` manifest holds 2000 scenes per task. Training draws only from the first
:data:`TRAINING_SCENES`; the rest are a validation set for learning curves, so that no curve is
ever measured on an evaluation split (``test`` or ``ood_*``) or on scenes seen in training.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np
from PIL import Image

from manipgym.agents.prompt import build_prompt
from manipgym.agents.scene_render import LABELS, ORACLE, render_scenes
from manipgym.envs.manifests import EPISODES_PER_SPLIT, manifest_seed
from manipgym.rewards import format_answer, parse_answer

TRAINING_SCENES = 1900  # per task; train-manifest indices [0, 1900) train, [1900, 2000) validate
VALIDATION_INDICES = range(TRAINING_SCENES, EPISODES_PER_SPLIT["train"])
MASK_SIZE = 28  # object footprints are kept as MASK_SIZE² coverage fractions
MIN_COVER = 0.2  # an image token's patch shows an object when the object covers at least this share of it
MASK_COLUMNS = {"target_mask": "target", "goal_mask": "goal"}  # example column -> role (task_object_masks)


def check_scene_count(scenes_per_task: int) -> None:
    """A run's --scenes-per-task must name at least one scene (before anything is written)."""
    if scenes_per_task < 1:
        raise ValueError(f"--scenes-per-task must be at least 1, not {scenes_per_task}")


def check_training_indices(indices: Sequence[int]) -> None:
    if indices and (min(indices) < 0 or max(indices) >= TRAINING_SCENES):
        raise ValueError(
            f"training scenes are train-manifest indices 0..{TRAINING_SCENES - 1} per task "
            f"(the rest validate); asked for up to {max(indices)}"
        )


def validation_indices(per_task: int) -> range:
    """The train-manifest indices of the first ``per_task`` validation scenes of a task."""
    if not 1 <= per_task <= len(VALIDATION_INDICES):
        raise ValueError(f"there are {len(VALIDATION_INDICES)} validation scenes per task, not {per_task}")
    return VALIDATION_INDICES[:per_task]


AFFORDANCE_FORMS = ("box", "point")


def training_answer(answer: str, coord_step: int = 0, affordance: str = "box") -> str:
    """The completion a model is trained on: the oracle's ``answer`` with its affordance as the box
    or as the box's centre (``"point"``, which the schema also accepts), and every coordinate
    rounded to a multiple of ``coord_step`` (each one a single location token of the tiny VLM's
    tokenizer; 0 keeps them as they are)."""
    if affordance not in AFFORDANCE_FORMS:
        raise ValueError(f"affordance form must be one of {', '.join(AFFORDANCE_FORMS)}, not {affordance!r}")
    parsed = parse_answer(answer)
    if not parsed or (affordance == "box" and not coord_step):
        return answer
    place = parsed.affordance if affordance == "box" else parsed.affordance_point

    def snap(values: np.ndarray) -> np.ndarray:
        if not coord_step:
            return np.round(values)
        return np.minimum(np.round(values / coord_step) * coord_step, 1000 - coord_step)

    return format_answer(snap(place), snap(parsed.trajectory), think=parsed.think)


def chat_prompt(instruction: str) -> list[dict]:
    """The user turn the model sees: the image, then the filled-in prompt template."""
    return [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": build_prompt(instruction)}]}]


def completion_message(text: str) -> list[dict]:
    """The assistant turn a model is trained to write."""
    return [{"role": "assistant", "content": [{"type": "text", "text": text}]}]


def oracle_examples(
    tasks: Sequence[str],
    indices: Sequence[int],
    coord_step: int = 0,
    progress: bool = True,
    affordance: str = "box",
    workers: int = 1,
) -> list[dict]:
    """Prompt/completion examples (image, prompt, oracle answer) of the given train-manifest
    scenes, rendered in ``workers`` processes (:func:`render_scenes`)."""
    examples, scenes = [], [(task, index) for task in tasks for index in indices]
    rendered = render_scenes(ORACLE, scenes, workers, progress)
    # the generator first: zip then runs it to its end, so that its pool and envs close at once
    for (image, instruction, answer, seed), (task, _) in zip(rendered, scenes):
        examples.append(
            {
                "images": [Image.fromarray(image)],
                "prompt": chat_prompt(instruction),
                "completion": completion_message(training_answer(answer, coord_step, affordance)),
                "task": task,
                "seed": seed,
                "instruction": instruction,
                "oracle_answer": answer,
            }
        )
    return examples


class LabelledScenes(NamedTuple):
    """Train-manifest scenes with the simulator's per-pixel object labels."""

    images: np.ndarray  # N × H × W × 3 uint8
    labels: np.ndarray  # N × H × W int16: indices into ``words``, -1 where no object is seen
    words: list[tuple[str, str]]  # (colour, noun) of each label
    targets: np.ndarray  # N int16: the label of each scene's task target (the object the task acts on)


def labelled_scenes(
    tasks: Sequence[str],
    scenes_per_task: int,
    cache_dir: str | None,
    progress: bool = True,
    workers: int = 1,
    validation: bool = False,
):
    """The first ``scenes_per_task`` train scenes of each task (in ``tasks`` order), labelled
    (:class:`LabelledScenes`), rendered in ``workers`` processes; kept under ``cache_dir`` when
    given. ``validation``: the first of the validation scenes (:data:`VALIDATION_INDICES`)
    instead, which no training stage uses. A cache written before the targets were kept is
    rendered again (the same images and labels: rendering is deterministic)."""
    if validation:
        indices, name = validation_indices(scenes_per_task), f"labels-validation-{'-'.join(tasks)}-{scenes_per_task}"
    else:
        check_training_indices(range(scenes_per_task))
        indices, name = range(scenes_per_task), f"labels-{'-'.join(tasks)}-{scenes_per_task}"
    path = Path(cache_dir) / f"{name}.npz" if cache_dir else None
    if path is not None and path.exists():
        data = np.load(path, allow_pickle=False)
        if "targets" in data.files:
            words = [tuple(w) for w in json.loads(str(data["words"]))]
            return LabelledScenes(data["images"], data["labels"], words, data["targets"])
    images, labels, targets, vocabulary = [], [], [], {}
    scenes = [(task, index) for task in tasks for index in indices]
    for image, local, names in render_scenes(LABELS, scenes, workers, progress):
        # local label 0 is the task's target; -1 indexes the appended -1: background stays -1
        remap = np.array([vocabulary.setdefault(words, len(vocabulary)) for words in names] + [-1], np.int16)
        images.append(image)
        labels.append(remap[local])
        targets.append(remap[0])
    words = sorted(vocabulary, key=vocabulary.get)
    result = LabelledScenes(np.stack(images), np.stack(labels), words, np.array(targets, np.int16))
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(path, images=result.images, labels=result.labels, words=json.dumps(words), targets=result.targets)
    return result


def object_centre(label: np.ndarray, index: int) -> np.ndarray:
    """The centre of the pixels labelled ``index`` in one label map, as [x, y] in 0–1000 image units."""
    ys, xs = np.nonzero(label == index)
    height, width = label.shape
    return np.array([(xs.mean() + 0.5) / width * 1000, (ys.mean() + 0.5) / height * 1000])


def coverage_mask(mask: np.ndarray, size: int = MASK_SIZE) -> list[float]:
    """The share of each of size × size cells (row-major) that ``mask`` (H × W bools) covers: an
    object's footprint small enough to store with every example, fine enough to pool to any
    model's image-token grid (see :mod:`manipgym.agents.pointing_attention`)."""
    h, w = mask.shape
    cells = mask[: h // size * size, : w // size * size].reshape(size, h // size, size, w // size)
    return cells.mean(axis=(1, 3)).round(3).flatten().tolist()


POINTING_TASK = "Point"  # the ``task`` of pointing examples, which no benchmark runs
MIN_POINTING_PIXELS = 30  # objects showing fewer pixels (hidden behind others, out of view) are not asked for


def pointing_examples(
    images: np.ndarray, labels: np.ndarray, words: Sequence[tuple[str, str]], coord_step: int = 0
) -> list[dict]:
    """ "Point to the <colour> <noun>" examples: one per visible object of each labelled scene
    (:func:`labelled_scenes`), answered in the task's own schema with
    the object's centre as the affordance (and a trajectory that stays there), and the object's
    footprint as ``target_mask`` (:func:`coverage_mask`).

    Why: a scene's task asks about one object, so a model can lower its loss by learning where
    that kind of task's target usually is and never look. Asking about every object of the same
    image, with different answers, pays only for finding the named one."""
    examples = []
    for image, label in zip(images, labels):
        present = [k for k in np.unique(label) if k >= 0 and (label == k).sum() >= MIN_POINTING_PIXELS]
        names = [" ".join(w for w in words[k] if w) for k in present]
        for k, name in zip(present, names):
            if names.count(name) > 1:  # two objects answer to this name: no single right point
                continue
            point = object_centre(label, k)
            answer = format_answer(point, np.stack([point] * 3), think=f"The {name} is the object to act on.")
            instruction = f"point to the {name}"
            target = training_answer(answer, coord_step, "point")
            examples.append(
                {
                    "images": [Image.fromarray(image)],
                    "prompt": chat_prompt(instruction),
                    "completion": completion_message(target),
                    "task": POINTING_TASK,
                    "seed": -1,
                    "instruction": instruction,
                    "oracle_answer": answer,
                    "target_mask": coverage_mask(label == k),
                }
            )
    return examples


def cached_pointing(
    cache_dir: str | Path | None,
    tasks: Sequence[str],
    scenes_per_task: int,
    coord_step: int = 0,
    progress: bool = True,
    scenes: LabelledScenes | None = None,
    workers: int = 1,
):
    """:func:`pointing_examples` of the first ``scenes_per_task`` train scenes of each task, as a
    ``datasets.Dataset`` kept under ``cache_dir`` (when given) for later runs; ``scenes``: those
    scenes, when the caller has already loaded them (else rendered in ``workers`` processes)."""
    from datasets import Dataset, load_from_disk

    name = f"pointing-v2-{'-'.join(tasks)}-{scenes_per_task}-step{coord_step}"
    path = Path(cache_dir) / name if cache_dir else None
    if path is not None and (path / "dataset_info.json").exists():
        return load_from_disk(str(path))
    scenes = scenes if scenes is not None else labelled_scenes(tasks, scenes_per_task, cache_dir, progress, workers)
    dataset = Dataset.from_list(pointing_examples(scenes.images, scenes.labels, scenes.words, coord_step))
    if path is not None:
        dataset.save_to_disk(str(path))
    return dataset


def task_object_masks(
    scenes: LabelledScenes, tasks: Sequence[str], role: str = "target"
) -> dict[tuple[str, int], list[float]]:
    """(task, seed) -> the footprint (:func:`coverage_mask`) of one object of the task in that
    scene, for :func:`labelled_scenes` of ``tasks``: ``role`` "target" is the object the task acts
    on, "goal" the object its trajectory ends at (the task's ``goal_word``: plate, block, circle).
    An empty list where the task has no such object or it shows fewer than
    :data:`MIN_POINTING_PIXELS` pixels. These are the task answers' counterpart of the pointing
    examples' ``target_mask``."""
    from manipgym.envs.tasks import TASKS  # here, not at the top: it loads MuJoCo, which `manipgym doctor` probes first

    if role not in MASK_COLUMNS.values():
        raise ValueError(f"unknown role {role!r}: use target or goal")
    scenes_per_task, masks = len(scenes.targets) // len(tasks), {}
    for n, (label, target) in enumerate(zip(scenes.labels, scenes.targets)):
        task, index = tasks[n // scenes_per_task], n % scenes_per_task
        if role == "target":
            shown = label == target
        else:  # no distractor shares a goal's noun, so the noun finds the goal among the scene's labels
            goal = [k for k in np.unique(label) if k >= 0 and scenes.words[k][1] == TASKS[task].goal_word]
            shown = label == goal[0] if goal else np.zeros_like(label, bool)
        masks[(task, manifest_seed(task, "train", index))] = (
            coverage_mask(shown) if shown.sum() >= MIN_POINTING_PIXELS else []
        )
    return masks


def cached_examples(
    cache_dir: str | Path | None,
    tasks: Sequence[str],
    indices: Sequence[int],
    coord_step: int = 0,
    progress: bool = True,
    affordance: str = "box",
    workers: int = 1,
):
    """:func:`oracle_examples` as a ``datasets.Dataset``, saved under ``cache_dir`` (when given) and
    reused by later runs that ask for the same scenes, or for some of the scenes a cached run
    rendered (GRPO's first 500 scenes come from SFT's 1500). Rendering is most of a run's set-up:
    ``workers`` processes share it."""
    from datasets import Dataset, concatenate_datasets, load_from_disk

    if cache_dir is None:
        return Dataset.from_list(oracle_examples(tasks, list(indices), coord_step, progress, affordance, workers))
    parts = []
    for task in tasks:  # cached per task, so runs on other task mixes reuse the renders
        path = _oracle_cache_path(cache_dir, task, indices)
        if (path / "dataset_info.json").exists():
            parts.append(load_from_disk(str(path)))
        elif (covering := _covering_oracle_cache(cache_dir, task, indices)) is not None:
            parts.append(covering)
        else:
            examples = oracle_examples([task], list(indices), 0, progress, workers=workers)
            Dataset.from_list(examples).save_to_disk(str(path))
            parts.append(load_from_disk(str(path)))
    dataset = concatenate_datasets(parts)
    if not coord_step and affordance == "box":
        return dataset

    def target(example: dict) -> dict:
        text = training_answer(example["oracle_answer"], coord_step, affordance)
        return {"completion": completion_message(text)}

    return dataset.map(target)


def _oracle_cache_path(cache_dir: str | Path, task: str, indices: Sequence[int]) -> Path:
    """Where :func:`cached_examples` keeps the oracle examples of ``indices`` of ``task``: the name
    hashes the scene list and the examples' format version."""
    key = json.dumps({"task": task, "indices": list(indices), "v": 2})
    return Path(cache_dir) / f"oracle-{task}-{hashlib.sha1(key.encode()).hexdigest()[:12]}"


def _covering_oracle_cache(cache_dir: str | Path, task: str, indices: Sequence[int]):
    """The rows of ``indices`` from a cached render of ``task`` that holds them all, in that order;
    None if there is none. A cache counts only if its name is the hash of the scenes it holds in
    this format version (so an older format's render is never mixed in)."""
    from datasets import load_from_disk

    index_of = {manifest_seed(task, "train", i): i for i in range(EPISODES_PER_SPLIT["train"])}
    wanted = [manifest_seed(task, "train", i) for i in indices]
    for path in sorted(Path(cache_dir).glob(f"oracle-{task}-*")):
        if not (path / "dataset_info.json").exists():
            continue
        cached = load_from_disk(str(path))
        seeds = cached["seed"]
        row_of = {seed: row for row, seed in enumerate(seeds)}
        if any(seed not in index_of for seed in seeds) or not all(seed in row_of for seed in wanted):
            continue
        if _oracle_cache_path(cache_dir, task, [index_of[seed] for seed in seeds]) == path:
            return cached.select([row_of[seed] for seed in wanted])
    return None
