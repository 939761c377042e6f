"""Does this machine's training arithmetic match a reference machine's, bit for bit?

    python -m manipgym.benchmarks.train_match [--against DIR] [--images DIR] [--write DIR]

``render_match`` compares the rendered pixels; this compares what torch computes from them. On
one machine a training command repeats byte for byte, but the same command on a machine with
byte-identical training images still writes other weights: torch's CPU kernels (MKL, oneDNN and
its own vectorized ones) compute differently from one CPU to another, and with another thread
count (README, "Roadmap"). This runs a short grounding with the shipped recipe's options
(``--merge 2 --text-layers 4 --color-jitter 0.5 --seed 2``, :data:`STEPS` steps) on the first
train scene of each task and compares the images and every weight tensor, by hash, with those a
reference machine wrote; the lines after list where the machines differ (CPU, versions, thread
count, torch's CPU capability and the kernel-choosing variables set). Both equal: this machine
trains the reference machine's bytes. It trains with the reference's thread count (``--write``:
one thread, as the shipped model's stages ran), so that the answer is about the machine.
``--images DIR`` trains on the scenes a ``render_match`` reference stored (``DIR/scenes.npz``)
instead of this machine's renders: with the reference's own pixels, a difference is the
arithmetic's alone. ``--write DIR`` stores this machine's hashes instead.

Stored references: ``assets/render-reference`` (an AMD EPYC with AVX2, the shipped model's
pixels), ``assets/render-reference/intel-avx512`` (an Intel Xeon with AVX-512, whose kind repeats
the README's training block bit for bit) and ``assets/render-reference/portable`` (the AMD
machine with llvmpipe's and torch's most generic kernels, the variables its machine lists; on the
Intel machine those variables do not give its bytes, not even from the same pixels).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

from manipgym.agents.run_dir import machine
from manipgym.benchmarks.render_match import STORED_REFERENCE as STORED_REFERENCE  # the default --against
from manipgym.benchmarks.render_match import TRAINING_KEYS, add_reference_options, machine_differences
from manipgym.benchmarks.render_match import load_reference as load_scenes
from manipgym.envs import TASK_NAMES

TRAIN_FILE = "train.json"
STEPS = 20
SCENES = [f"{task}:0" for task in TASK_NAMES]  # the grounding's: the first train scene of each task


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:16]


def tensor_digests(checkpoint: Path) -> dict[str, str]:
    from safetensors.numpy import load_file

    weights = load_file(str(checkpoint / "model.safetensors"))
    return {name: digest(np.ascontiguousarray(weights[name]).tobytes()) for name in sorted(weights)}


def load_stored_scenes(folder: Path) -> dict[str, np.ndarray]:
    """A ``render_match`` reference's scenes, checked to be the grounding's :data:`SCENES`."""
    scenes = load_scenes(folder)[0]
    if scenes["scenes"].tolist() != SCENES:
        raise ValueError(
            f"the stored scenes are {scenes['scenes'].tolist()}, not {SCENES}: store them with render_match --write"
        )
    return scenes


def use_stored_images(config, scenes: dict[str, np.ndarray]) -> None:
    """Render the grounding's labelled scenes into its data cache, then put the stored images
    (:func:`load_stored_scenes`) in place of this machine's renders, so that the grounding trains
    on those pixels and this machine's labels."""
    from manipgym.agents.train_data import labelled_scenes

    labelled_scenes(config.tasks, config.scenes_per_task, config.data_cache, progress=False)
    (cache,) = Path(config.data_cache).glob("labels-*.npz")
    data = dict(np.load(cache, allow_pickle=False))
    np.savez(cache, **{**data, "images": scenes["images"]})


def train(threads: int, scenes: dict[str, np.ndarray] | None = None) -> dict:
    """Hashes of the training images and of each weight tensor of the fresh model (``initial``)
    and after :data:`STEPS` grounding steps (``trained``), trained on ``threads`` threads, on
    this machine's renders or, given, on stored ``scenes`` (:func:`use_stored_images`)."""
    import torch

    from manipgym.agents.ground import GroundRunConfig, train_ground
    from manipgym.agents.tiny_vlm import TinyVLMConfig

    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        with tempfile.TemporaryDirectory() as scratch:
            config = GroundRunConfig(
                out=f"{scratch}/ground",
                tiny=TinyVLMConfig(merge=2, text_layers=4, coord_step=10, seed=2),
                scenes_per_task=1,
                steps=STEPS,
                batch_size=4,
                color_jitter=0.5,
                data_cache=f"{scratch}/cache",
                workers=1,
                seed=2,
            )
            if scenes is not None:
                use_stored_images(config, scenes)
            out = train_ground(config, progress=False)
            (cache,) = Path(scratch, "cache").glob("labels-*.npz")
            return {
                "images": digest(np.ascontiguousarray(np.load(cache)["images"]).tobytes()),
                "initial": tensor_digests(out / "init"),
                "trained": tensor_digests(out),
            }
    finally:
        torch.set_num_threads(before)


def load_reference(folder: Path) -> dict:
    path = folder / TRAIN_FILE
    if not path.exists():
        raise FileNotFoundError(f"{folder} holds no {TRAIN_FILE}: pass a folder written by --write")
    try:
        reference = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise ValueError(f"{path} is not JSON ({error}): write it again with --write") from error
    if not isinstance(reference, dict) or not {"images", "initial", "trained"} <= reference.keys():
        raise ValueError(f"{path} lacks images, initial or trained hashes: write it again with --write")
    return reference


def compare(reference: dict, here: dict) -> dict:
    """Whether the images match, how many of the fresh model's tensors match the reference's, and
    how many of the tensors the grounding changed (here) match the reference's trained ones."""
    changed = [name for name, value in here["trained"].items() if here["initial"].get(name) != value]
    return {
        "images_equal": reference["images"] == here["images"],
        "initial_equal": sum(here["initial"].get(name) == value for name, value in reference["initial"].items()),
        "initial": len(reference["initial"]),
        "trained_equal": sum(reference["trained"].get(name) == here["trained"][name] for name in changed),
        "trained": len(changed),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_reference_options(parser, stored="hashes")
    parser.add_argument(
        "--images",
        type=Path,
        metavar="DIR",
        help="train on the scenes a render_match reference stored in this folder, not on this machine's renders",
    )
    args = parser.parse_args(argv)
    if args.write is not None:
        args.write.mkdir(parents=True, exist_ok=True)
        record = {**train(threads=1), "machine": {**machine(), "torch_threads": 1}}
        (args.write / TRAIN_FILE).write_text(json.dumps(record, indent=2) + "\n")
        print(f"wrote {args.write / TRAIN_FILE}")
        return 0
    try:  # a bad reference fails before the training, not after
        reference = load_reference(args.against)
        scenes = load_stored_scenes(args.images) if args.images is not None else None
    except (FileNotFoundError, ValueError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    threads = reference.get("machine", {}).get("torch_threads", 1)
    result = compare(reference, train(threads, scenes))
    source = f"stored in {args.images}" if args.images is not None else "rendered here"
    print(f"images ({source}) equal: {'yes' if result['images_equal'] else 'no'}")
    print(f"fresh model's tensors equal: {result['initial_equal']} of {result['initial']}")
    print(f"tensors the {STEPS} grounding steps trained, equal: {result['trained_equal']} of {result['trained']}")
    here = {**machine(), "torch_threads": threads}
    differences = machine_differences(reference.get("machine", {}), here, TRAINING_KEYS)
    print("this machine against the reference's: " + ("; ".join(differences) if differences else "no difference"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
