"""Does this machine render the training scenes as a reference machine did, pixel for pixel?

    python -m manipgym.benchmarks.render_match [--against DIR] [--write DIR] [--scenes 1]

The same training command writes other weights on another machine, and the difference starts
before training: the grounding scenes' segmentation labels match the reference machine's byte
for byte, their RGB pixels do not (README, "Roadmap"). This renders the first ``--scenes`` train
scenes of each task as the training commands do (labelled scenes) and compares them with a
reference: per scene, whether the labels match, how many pixels differ (and how many of those lie
on an object) and by how much at most. The default reference is the one stored with manipgym
(``assets/render-reference``), rendered on the nineteenth session's machine (an AMD EPYC with AVX2,
no AVX-512), whose 2000 grounding scenes hash as those of the machine the shipped model's
grounding ran on; its ``machine.json`` names its CPU and package versions, and the lines after
the table list where this machine differs from it. Zero differing pixels means this machine
renders the shipped model's training images. ``assets/render-reference/intel-avx512`` holds an
Intel Xeon with AVX-512's renders (0.7% of their pixels differ from the default's, none on an
object). ``--write DIR`` stores this machine's scenes as a new reference instead.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from manipgym.agents.run_dir import machine
from manipgym.agents.scene_render import LABELS, render_scenes
from manipgym.cli import positive_int
from manipgym.envs import TASK_NAMES

STORED_REFERENCE = Path(__file__).resolve().parent.parent / "assets" / "render-reference"
SCENES_FILE, MACHINE_FILE = "scenes.npz", "machine.json"


def render(scenes_per_task: int) -> dict[str, np.ndarray]:
    """The first ``scenes_per_task`` train scenes of each task: ``scenes`` (task:index names),
    ``images`` (N × H × W × 3) and ``labels`` (N × H × W), in-process."""
    scenes = [(task, index) for task in TASK_NAMES for index in range(scenes_per_task)]
    rendered = list(render_scenes(LABELS, scenes, workers=1, progress=False))
    return {
        "scenes": np.array([f"{task}:{index}" for task, index in scenes]),
        "images": np.stack([image for image, _, _ in rendered]),
        "labels": np.stack([labels for _, labels, _ in rendered]),
    }


def write_reference(out: Path, rendered: dict[str, np.ndarray]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out / SCENES_FILE, **rendered)
    (out / MACHINE_FILE).write_text(json.dumps(machine(), indent=2) + "\n")


def load_reference(reference: Path) -> tuple[dict[str, np.ndarray], dict]:
    if not (reference / SCENES_FILE).exists():
        raise FileNotFoundError(f"{reference} holds no {SCENES_FILE}: pass a folder written by --write")
    scenes = dict(np.load(reference / SCENES_FILE, allow_pickle=False))
    machine_file = reference / MACHINE_FILE
    return scenes, json.loads(machine_file.read_text()) if machine_file.exists() else {}


def compare(reference: dict[str, np.ndarray], rendered: dict[str, np.ndarray]) -> list[dict]:
    """One row per rendered scene: labels equal, differing pixels (any channel), their share,
    how many of them lie on a labelled object or goal (the rest are table, floor, robot, walls),
    and the largest difference of one channel (0–255)."""
    where = {name: i for i, name in enumerate(reference["scenes"].tolist())}
    missing = [name for name in rendered["scenes"].tolist() if name not in where]
    if missing:
        raise ValueError(f"the reference has no scene {missing[0]}: write it again with --write")
    rows = []
    for i, name in enumerate(rendered["scenes"].tolist()):
        j = where[name]
        difference = np.abs(rendered["images"][i].astype(np.int16) - reference["images"][j].astype(np.int16))
        differs = difference.any(axis=-1)
        differing = int(differs.sum())
        rows.append(
            {
                "scene": name,
                "labels_equal": bool(np.array_equal(rendered["labels"][i], reference["labels"][j])),
                "differing_pixels": differing,
                "share": differing / difference[..., 0].size,
                "on_objects": int((differs & (reference["labels"][j] >= 0)).sum()),
                "max_difference": int(difference.max()),
            }
        )
    return rows


# what can change rendered pixels, and what can change the arithmetic of training as well
RENDERING_KEYS = ("cpu", "cpu_flags", "gl_backend", "kernel_variables")
TRAINING_KEYS = (*RENDERING_KEYS, "torch_threads", "torch_cpu_capability")


def machine_differences(reference: dict, here: dict, keys: tuple[str, ...] = RENDERING_KEYS) -> list[str]:
    """Lines naming what differs between two :func:`machine` records: the fields ``keys`` names
    (those both records hold) and the package versions."""
    lines = []
    for key in (key for key in keys if key in reference and key in here):
        if reference.get(key) != here.get(key):
            lines.append(f"{key}: reference {reference.get(key)!r}, here {here.get(key)!r}")
    versions, ours = reference.get("versions", {}), here.get("versions", {})
    for package in sorted(set(versions) | set(ours)):
        if versions.get(package) != ours.get(package):
            lines.append(f"{package}: reference {versions.get(package)}, here {ours.get(package)}")
    return lines


def add_reference_options(parser: argparse.ArgumentParser, stored: str) -> None:
    """``--against DIR`` (default: the reference stored with manipgym) and ``--write DIR``, which
    stores this machine's ``stored`` (scenes, hashes) as a reference instead; for both scripts."""
    parser.add_argument(
        "--against",
        type=Path,
        metavar="DIR",
        default=STORED_REFERENCE,
        help="reference folder (default: manipgym's own)",
    )
    parser.add_argument(
        "--write", type=Path, metavar="DIR", help=f"store this machine's {stored} as a reference in this folder instead"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenes", type=positive_int, default=1, help="train scenes per task (default 1)")
    add_reference_options(parser, stored="scenes")
    args = parser.parse_args(argv)
    if args.write is not None:
        rendered = render(args.scenes)
        write_reference(args.write, rendered)
        print(f"wrote {len(rendered['scenes'])} scenes to {args.write}")
        return 0
    try:
        reference, reference_machine = load_reference(args.against)  # a bad folder fails before rendering
        held = len(reference["scenes"]) // len(TASK_NAMES)
        if args.scenes > held:
            raise ValueError(f"the reference holds {held} scenes per task: use --scenes {held} or fewer")
        rows = compare(reference, render(args.scenes))
    except (FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print("| scene | labels equal | differing pixels | share | on objects | largest difference (0–255) |")
    print("|---|---|---|---|---|---|")
    for row in rows:
        print(
            f"| {row['scene']} | {'yes' if row['labels_equal'] else 'no'} | {row['differing_pixels']} "
            f"| {row['share']:.2%} | {row['on_objects']} | {row['max_difference']} |"
        )
    differences = machine_differences(reference_machine, machine())
    print("\nthis machine against the reference's: " + ("; ".join(differences) if differences else "no difference"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
