"""The output directory of a training run (grounding, SFT or GRPO), shared by the three stages.

Layout: the final Hugging Face checkpoint at the top (``config.json``, ``model.safetensors``,
processor files), ``checkpoints/checkpoint-N`` written during training (what ``--resume`` continues
from; grounding's hold its training state only), ``manipgym_train.json`` (the run's configuration;
once finished, also its last step and :func:`hardware`), and the logs (``curve.jsonl``,
``log.jsonl``, ``ground_log.jsonl``), which :func:`prepare` cuts back to the newest checkpoint.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import MISSING, asdict, fields, is_dataclass
from fnmatch import fnmatch
from pathlib import Path

import torch
from transformers import TrainerCallback

from manipgym.agents.tiny_vlm import TinyVLMConfig, build_tiny_vlm
from manipgym.agents.vlm import has_bfloat16

RECORD = "manipgym_train.json"
# Training keeps float32 weights on every device; on CUDA the matrix products run in bfloat16
# (mixed precision). Pure bfloat16 weights would lose every AdamW update smaller than 1/256 of
# the weight it changes, and the tiny models learn at rates where many are.
TRAINING_DTYPE = "float32"
# A checkpoint's files that are not the model: training state (what --resume reads), logs, model cards.
NOT_MODEL_FILES = (
    "optimizer.pt",
    "scheduler.pt",
    "scaler.pt",
    "rng_state*.pth",
    "trainer_state.json",
    "training_args.bin",
    "*.jsonl",
    "README.md",
)


def check_folder_path(out: str | Path, option: str = "--out") -> None:
    """A ValueError (one line) where ``out``, or a folder above it, is a file: ``mkdir`` would
    raise an OSError that reads as if the run already existed, or a traceback."""
    out = Path(out)
    for folder in (out, *out.parents):
        if folder.exists() and not folder.is_dir():
            raise ValueError(f"{option} {out}: {folder} is a file, not a folder; choose another {option}")


def check_new_model_folder(out: str | Path) -> None:
    """Refuse a folder that already holds a model (``export``, ``build-tiny-vlm``): writing over it
    would leave the old model's training record and curve beside new weights."""
    check_folder_path(out)
    if (Path(out) / "config.json").exists():
        raise FileExistsError(f"{out} already holds a model: remove it first, or choose another --out")


def prepare(out: str | Path, resume: bool, record: dict | None = None, defaults: dict | None = None) -> Path:
    """The output directory; refuses to overwrite a finished or stopped run unless resuming, to
    resume where there is no checkpoint, and to resume with training options other than the
    run's (``record``: the resumed invocation's :func:`run_record`; ``defaults``: its config's
    :func:`option_defaults`, what a run recorded before an option existed ran with)."""
    out = Path(out)
    check_folder_path(out)
    if not resume:
        if (out / "config.json").exists():
            raise FileExistsError(f"{out} already holds a model: pass --resume to continue, or choose another --out")
        if last_checkpoint(out):  # a stopped run: starting afresh would mix its checkpoints with the new run's
            raise FileExistsError(
                f"{out} holds a stopped run's checkpoints: pass --resume to continue it, or choose another --out"
            )
    if resume and last_checkpoint(out) is None:  # before any folder is made: --out may be mistyped
        if (out / "config.json").exists():
            raise ValueError(f"{out} holds a finished run with no checkpoint to resume from: choose another --out")
        raise ValueError(f"{out} holds no checkpoint to resume: check --out, or run without --resume")
    if resume and record is not None:
        check_resume(out, record, defaults)
    out.mkdir(parents=True, exist_ok=True)
    trim_logs(out)
    return out


def trim_logs(out: Path) -> None:
    """Cut the run's logs (``*.jsonl``) back to its newest checkpoint, where training goes on
    from: a run killed after logging later steps (or half-way through a line) would otherwise log
    those steps twice, and a curve would start its clock from a step the run no longer has. With
    no checkpoint, the logs start empty."""
    last = last_checkpoint(out)
    step = checkpoint_step(last) if last else -1
    for log in out.glob("*.jsonl"):
        kept = []
        for line in log.read_text().splitlines():
            try:
                if json.loads(line)["step"] <= step:
                    kept.append(line)
            except (json.JSONDecodeError, KeyError, TypeError):  # a line torn by the kill
                continue
        log.write_text("".join(line + "\n" for line in kept))


# Options a resumed run may change: how long it runs, how it saves and reports, where and how it
# computes (gradient checkpointing trades memory for time and trains the same weights) and where
# it keeps files. Any other option would train a different run from the resumed step on (a
# default changed between versions would slip in unnoticed). A new --steps
# also stretches the learning-rate schedule (cosine, wsd) to the new end: that is the point of
# resuming with more steps.
RESUMABLE_OPTIONS = frozenset(
    {
        "out",
        "steps",
        "resume",
        "save_steps",
        "keep_checkpoints",
        "eval_every",
        "validation_per_task",
        "workers",
        "device",
        "gradient_checkpointing",
        "data_cache",
    }
)
# The command-line flag of a record key, where it is not "--" + the key with dashes.
FLAGS = {"learning_rate": "--lr", "pointing_scenes_per_task": "--pointing-scenes", "tiny": "the TINY options"}


def option_defaults(config) -> dict:
    """The default of each option of ``config``'s dataclass that has one, in the form a record holds."""
    defaults = {}
    for option in fields(config):
        if option.default is not MISSING:
            defaults[option.name] = option.default
        elif option.default_factory is not MISSING:
            value = option.default_factory()
            defaults[option.name] = asdict(value) if is_dataclass(value) else value
    return json.loads(json.dumps(defaults, default=str))


def check_resume(out: Path, record: dict, defaults: dict | None = None) -> None:
    """Raise ValueError when ``record`` differs from the record of ``out``'s last checkpoint in an
    option outside :data:`RESUMABLE_OPTIONS`. A checkpoint without a record is not checked; the
    tiny model's options are not compared for a run that started from ``--init`` (they build
    nothing there; older records hold them), and ``--init`` paths count as one when they name the same folder.
    An option the saved record lacks (it was added after the run started) counts as its default
    in ``defaults``, the behaviour the version that wrote the record had."""
    last = last_checkpoint(Path(out))
    saved = Path(last) / RECORD if last else None
    if saved is None or not saved.exists():
        return
    before = json.loads(saved.read_text())
    now = json.loads(json.dumps(record, default=str))  # the form write_record gave the saved one
    ignored = RESUMABLE_OPTIONS | ({"tiny", "arch"} if before.get("init") else set())
    if before.get("init") and now.get("init") and os.path.realpath(before["init"]) == os.path.realpath(now["init"]):
        ignored |= {"init"}
    changed = []
    for key in now:
        if key in ignored:
            continue
        if key in before:
            used, note = before[key], ""
        elif defaults and key in defaults:  # the option came after the record: the run had its default
            used, note = defaults[key], ", the default before the option existed"
        else:
            continue
        if now[key] != used:
            changed.append(f"{FLAGS.get(key, '--' + key.replace('_', '-'))} {now[key]!r} (the run used {used!r}{note})")
    if changed:
        raise ValueError(
            f"--resume with options the run did not use: {'; '.join(changed)}. "
            f"Pass the run's own options ({saved} records them)"
        )


def initial_checkpoint(out: Path, init: str | None, arch: str, tiny: TinyVLMConfig) -> str:
    """``init`` if given, else a fresh tiny VLM built (once) under ``out/init``."""
    if init is not None:
        return init
    if not (out / "init" / "config.json").exists():
        build_tiny_vlm(arch, out / "init", tiny)
    return str(out / "init")


def coord_step_of(checkpoint: str | Path) -> int:
    """The location-token step of a manipgym-built checkpoint (0: digits, or not built by manipgym)."""
    for name in (RECORD, "manipgym.json"):  # a trained run's record, or build_tiny_vlm's
        path = Path(checkpoint) / name
        if path.exists():
            return int(json.loads(path.read_text()).get("coord_step", 0))
    return 0


def checkpoint_step(checkpoint: str | Path) -> int:
    """The step of a ``checkpoints/checkpoint-N`` folder: N."""
    return int(Path(checkpoint).name.split("-")[1])


def last_checkpoint(out: Path) -> str | None:
    """The newest ``checkpoints/checkpoint-N`` in ``out``, if any."""
    found = max((out / "checkpoints").glob("checkpoint-*"), key=checkpoint_step, default=None)
    return str(found) if found else None


def checkpoint_limit(keep_checkpoints: int) -> int | None:
    """The trainer's ``save_total_limit`` for ``--keep-checkpoints``: the newest N, or all for 0
    (to choose a checkpoint by the validation curve afterwards, every curve point's must stay)."""
    if keep_checkpoints < 0:
        raise ValueError(f"--keep-checkpoints must be 0 (keep all) or more, not {keep_checkpoints}")
    return keep_checkpoints or None


def precision(device: torch.device) -> str:
    """How a training stage computes on ``device``: ``bf16-mixed`` on a CUDA GPU that has bfloat16
    (Ampere and later), else ``fp32``."""
    return "bf16-mixed" if has_bfloat16(device) else "fp32"


def trainer_arguments(out: Path, config, device, progress: bool) -> dict:
    """The trainer arguments both stages share: where checkpoints go and how many are kept, the
    seed, whether activations are recomputed in the backward pass, and the device's
    :func:`precision` (``bf16=True`` is mixed precision: the weights stay float32)."""
    return {
        "output_dir": str(out / "checkpoints"),
        "max_steps": config.steps,
        "per_device_train_batch_size": config.batch_size,
        "learning_rate": config.learning_rate,
        "save_strategy": "steps",
        "save_steps": config.save_steps,
        "save_total_limit": checkpoint_limit(config.keep_checkpoints),
        "seed": config.seed,
        "use_cpu": device.type == "cpu",
        "bf16": precision(device) == "bf16-mixed",
        "report_to": [],
        "disable_tqdm": not progress,
        # TRL's SFT and GRPO configs turn it on by default, for large models; for the tiny one it only
        # costs time (about a quarter of an SFT step on 2 CPU cores) and trains the same bytes.
        # transformers 5 names it activation_checkpointing (gradient_checkpointing, the old name, is a
        # deprecated alias that mirrors it and warns when set)
        "activation_checkpointing": config.gradient_checkpointing,
    }


def hardware(device: torch.device, wall_seconds: float) -> dict:
    """What a run's record says about where it ran: the device (with the GPU's name), the
    precision, and the wall seconds of its training loop in this invocation (learning-curve
    points and checkpoint saves included; a resumed run counts from the resume), so that a run's
    cost can be read from its own folder. ``curve.jsonl``'s ``train_seconds`` leaves out the curve's
    evaluations only."""
    name = f"cuda ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else device.type
    return {
        "ran_on": name,
        "precision": precision(device),
        "wall_seconds": round(wall_seconds, 1),
        "machine": machine(),
    }


# The packages whose version can change a run's numbers: the physics and renderer, the image
# pipeline, the training stack. Recorded because the same command on two machines parts from the
# first rendered pixels (README, "Roadmap"), and a version is the first thing to compare.
RECORDED_PACKAGES = ("mujoco", "robosuite", "numpy", "pillow", "torch", "transformers", "trl")
# SIMD features that change which kernels the CPU libraries (and Mesa's llvmpipe) run
RECORDED_CPU_FLAGS = ("sse4_2", "avx", "avx2", "fma", "avx512f", "avx512bw", "avx512_bf16", "amx_tile")
# Environment variables that choose those kernels (each but llvmpipe's GALLIUM_OVERRIDE_CPU_CAPS
# measured to change a 20-step grounding's weights on one machine; NPY_DISABLE_CPU_FEATURES did
# not), recorded where set
KERNEL_VARIABLES = (
    "MKL_CBWR",
    "MKL_ENABLE_INSTRUCTIONS",
    "ATEN_CPU_CAPABILITY",
    "ONEDNN_MAX_CPU_ISA",
    "GALLIUM_OVERRIDE_CPU_CAPS",
)


def machine() -> dict:
    """The CPU (model and SIMD flags; Linux's /proc/cpuinfo, else the platform's name), the GL
    backend, torch's thread count and kernel choice (its CPU capability and the
    :data:`KERNEL_VARIABLES` that are set) and the versions of :data:`RECORDED_PACKAGES`, for
    comparing runs across machines. The thread count is there because it changes the weights'
    bytes: the same command with ``OMP_NUM_THREADS=1`` and with 2 threads trains different weights."""
    import platform

    from manipgym.envs.sim_setup import GL_BACKEND
    from manipgym.versions import package_versions

    cpu, flags = platform.processor() or platform.machine(), []
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        first = {}  # the first processor's fields; the others repeat them
        for line in cpuinfo.read_text().splitlines():
            key, colon, value = line.partition(":")
            if colon:
                first.setdefault(key.strip(), value.strip())
        cpu = first.get("model name", cpu)
        present = set(first.get("flags", "").split())
        flags = [flag for flag in RECORDED_CPU_FLAGS if flag in present]
    return {
        "cpu": cpu,
        "cpu_flags": flags,
        "gl_backend": GL_BACKEND,
        "torch_threads": torch.get_num_threads(),
        "torch_cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "kernel_variables": {name: os.environ[name] for name in KERNEL_VARIABLES if name in os.environ},
        "versions": package_versions(RECORDED_PACKAGES),
    }


def run_record(stage: str, config, coord_step: int) -> dict:
    """What ``manipgym_train.json`` holds: the stage, the location-token step and the run's options.
    A run that starts from ``--init`` leaves out the options that build a fresh tiny model (``arch``
    and the TINY options): they built nothing, and the model is the one ``--init`` names."""
    record = {"stage": stage, "coord_step": coord_step, **asdict(config)}
    if record.get("init"):
        record.pop("arch", None)
        record.pop("tiny", None)
    return record


def write_record(directory: Path, record: dict) -> None:
    (Path(directory) / RECORD).write_text(json.dumps(record, indent=2, default=str) + "\n")


class RecordCheckpoints(TrainerCallback):
    """Writes the run's record, with the step, into every ``checkpoints/checkpoint-N``, so that a
    checkpoint chosen by the validation curve is as complete as the run's final model (its
    ``coord_step`` reaches the next stage's ``--init``, and its record says which step it is)."""

    def __init__(self, record: dict):
        self.record = record

    def on_save(self, args, state, control, **kwargs):
        checkpoint = Path(args.output_dir) / f"checkpoint-{state.global_step}"
        if checkpoint.is_dir():
            write_record(checkpoint, {**self.record, "step": state.global_step})


def finish(trainer, processor, out: Path, record: dict, train_output) -> Path:
    """Save the final model and processor at the top of ``out`` with the run's record, which
    gains the last step and :func:`hardware` (``train_output``: what ``trainer.train`` returned)."""
    trainer.save_model(str(out))
    processor.save_pretrained(str(out))
    ran = hardware(trainer.args.device, train_output.metrics["train_runtime"])
    write_record(out, {**record, "step": trainer.state.global_step, **ran})
    return out


def export_model(checkpoint: str | Path, out: str | Path) -> Path:
    """Copy a trained model (a run's final model or one of its ``checkpoints/checkpoint-N``) to
    ``out`` without the training state (optimizer, scheduler, RNG) and logs, with the run's
    validation curve (``curve.jsonl``), which says why this checkpoint was chosen. This is how a
    checkpoint becomes the shipped model."""
    source, out = Path(checkpoint), Path(out)
    if not (source / "config.json").exists() or not any(source.glob("*.safetensors")):
        raise ValueError(f"{source} is not a model checkpoint (no config.json and *.safetensors there)")
    check_new_model_folder(out)
    out.mkdir(parents=True, exist_ok=True)
    for path in source.iterdir():  # weights (shards and their index too), config, processor files, record
        if path.is_file() and not any(fnmatch(path.name, pattern) for pattern in NOT_MODEL_FILES):
            shutil.copy2(path, out / path.name)
    run = source.parents[1] if source.parent.name == "checkpoints" else source
    if not (out / RECORD).exists() and (run / RECORD).exists():
        # a checkpoint saved before checkpoints carried the record: the run's record, with this step
        record = json.loads((run / RECORD).read_text())
        step = source.name.removeprefix("checkpoint-")
        write_record(out, {**record, "step": int(step) if step.isdigit() else record.get("step")})
    if (run / "curve.jsonl").exists():
        shutil.copy2(run / "curve.jsonl", out / "curve.jsonl")
    _pad_on_the_left(out / "tokenizer_config.json")
    return out


def _pad_on_the_left(tokenizer_config: Path) -> None:
    """An exported model is for answering, and batched generation continues from the right end of
    each prompt: record left padding, so that loaders other than VLMAgent (which sets it itself)
    pad the way generation needs. Training saves whatever padding side its collator used."""
    if tokenizer_config.exists():
        config = json.loads(tokenizer_config.read_text())
        tokenizer_config.write_text(json.dumps({**config, "padding_side": "left"}, indent=2, ensure_ascii=False) + "\n")
