"""Grounded vision pretraining: teach a tiny VLM's image tokens to *say* what and where they show.

Why: trained only on answers, a tiny VLM learns the answer's format long before it learns where
objects are (REFERENCE.md §4). The simulator labels every pixel for free, so before SFT each
image token is trained to predict, through the language model's own (tied) word embeddings, four
words about its patch: the colour and noun of the object it shows ("red", "cube"; "table" where
none), and where that object's centre is (or the patch's own, on the table) as location tokens
("350", "420"). Afterwards an image token of
the red cube carries the embeddings of " red", " cube" and of its coordinates, so the language
model can find it by matching the instruction's words and copy its position into the answer.

The four per-patch predictions use small linear heads on top of the image tokens (dropped after
this stage); the loss trains the vision tower, the connector and the word embeddings. The result
is a full Hugging Face checkpoint for ``manipgym train sft --init``.

Every ``save_steps`` steps the whole training state (model, heads, optimiser, schedule, the batch
and jitter generator, torch's generator) goes to ``OUT/checkpoints/checkpoint-N/ground_state.pt``,
the newest one kept; ``--resume`` continues from it and trains the bytes of a run never stopped.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from manipgym.agents import run_dir
from manipgym.agents.augment import check_strength, color_jitter
from manipgym.agents.tiny_vlm import TinyVLMConfig
from manipgym.agents.train_data import (
    MIN_COVER,
    check_scene_count,
    check_training_indices,
    labelled_scenes,
    object_centre,
)
from manipgym.envs import TASK_NAMES

IGNORE = -100
BACKGROUND_WORD = "table"
HEADS = ("colour", "noun", "x", "y")


@dataclass
class GroundRunConfig:
    """One grounding run on a fresh tiny Idefics3 VLM (``tiny``; location tokens required).

    Idefics3, because its vision tower adds learned absolute position embeddings and keeps the
    image tokens in row-major patch order; Qwen2.5-VL's window attention reorders them."""

    out: str
    tiny: TinyVLMConfig = field(default_factory=lambda: TinyVLMConfig(merge=1, coord_step=10))
    tasks: Sequence[str] = field(default_factory=lambda: list(TASK_NAMES))
    scenes_per_task: int = 500
    steps: int = 1500
    batch_size: int = 32
    learning_rate: float = 2e-3
    color_jitter: float = 0.0  # > 0: jitter brightness, contrast, saturation of each drawn image (augment.py)
    data_cache: str | None = None
    workers: int = 2  # simulator processes that render the labelled scenes
    seed: int = 0
    device: str = "auto"
    save_steps: int = 250  # steps between saves of the training state (the newest is kept)
    resume: bool = False  # continue from OUT's newest saved state

    def __post_init__(self):
        if self.tiny.coord_step <= 0:
            raise ValueError("grounding needs location tokens: pass --coord-step (e.g. 10)")
        check_scene_count(self.scenes_per_task)
        check_training_indices(range(self.scenes_per_task))  # before a long run starts, not after
        check_strength(self.color_jitter)
        if self.save_steps <= 0:
            raise ValueError(f"--save-steps must be positive, got {self.save_steps}")


def patch_objects(labels: np.ndarray, grid: int) -> tuple[np.ndarray, np.ndarray]:
    """For row-major patches of a grid × grid split of each label image (N × H × W): the label
    of the object covering most of each patch, if it covers at least MIN_COVER (else -1), and
    that object's centre (else the patch's own), x and y in 0–1000 image units (N × grid² × 2)."""
    n, h, w = labels.shape
    ph, pw = h // grid, w // grid
    patches = labels[:, : ph * grid, : pw * grid].reshape(n, grid, ph, grid, pw).transpose(0, 1, 3, 2, 4)
    patches = patches.reshape(n, grid * grid, ph * pw)
    rows, cols = np.divmod(np.arange(grid * grid), grid)
    place = np.empty((n, grid * grid, 2))
    place[..., 0] = (cols + 0.5) / grid * 1000
    place[..., 1] = (rows + 0.5) / grid * 1000
    shown = np.full((n, grid * grid), -1)
    for i in range(n):
        best = np.zeros(grid * grid)
        for k in np.unique(labels[i][labels[i] >= 0]):
            cover = (patches[i] == k).mean(axis=1)
            wins = (cover >= MIN_COVER) & (cover > best)
            shown[i, wins], best[wins] = k, cover[wins]
            place[i, wins] = object_centre(labels[i], k)
    return shown, place


def patch_targets(labels: np.ndarray, words: list[tuple[str, str]], grid: int, token_of, coord_step: int) -> np.ndarray:
    """Per-patch token ids (N × grid² × 4: colour, noun, x, y) for row-major patches. A patch that
    shows an object names the object and the object's centre (so a coarse grid still locates it
    finely); any other patch says "table" and gives its own centre."""
    shown, place = patch_objects(labels, grid)
    # the last row is the background's, which shown's -1 picks
    word_ids = np.array([[token_of(c), token_of(s)] for c, s in words] + [[token_of(BACKGROUND_WORD)] * 2])
    bins = np.minimum(np.round(place / coord_step), 1000 // coord_step - 1).astype(int)
    location = np.array([token_of(str(b * coord_step)) for b in range(1000 // coord_step)])
    targets = np.empty((*shown.shape, 4), np.int64)
    targets[..., :2] = word_ids[shown]
    targets[..., 2:] = location[bins]
    return targets


def image_tokens(model, processor, images: Sequence[np.ndarray], device: torch.device) -> torch.Tensor:
    """The image tokens the language model reads for each image (one image per prompt):
    B × tokens × hidden, row-major over the image's patches (Idefics3)."""
    pixels = processor.image_processor([[image] for image in images], return_tensors="pt").to(device)
    return torch.stack(model.get_image_features(**pixels).pooler_output)


def _token_lookup(tokenizer):
    """Word -> token id as the word appears inside text (after a space); coordinates as they are.
    Words that are not a single token are ignored by the loss."""

    def token_of(word: str) -> int:
        ids = tokenizer.encode(word if word.isdigit() else f" {word}", add_special_tokens=False)
        return ids[0] if len(ids) == 1 else IGNORE

    return token_of


STATE = "ground_state.pt"


def train_ground(config: GroundRunConfig, progress: bool = True) -> Path:
    """Pretrain the image tokens of a fresh tiny VLM on per-patch words; write a full checkpoint."""
    from manipgym.agents.vlm import VLMAgent

    record = run_dir.run_record("ground", config, config.tiny.coord_step)
    out = run_dir.prepare(config.out, config.resume, record, defaults=run_dir.option_defaults(config))
    resumed = _resumable_state(out, config) if config.resume else None
    torch.manual_seed(config.seed)
    init = run_dir.initial_checkpoint(out, None, "idefics3", config.tiny)
    agent = VLMAgent(init, device=config.device, dtype=run_dir.TRAINING_DTYPE)
    model, processor = agent.model, agent.processor
    images, labels, words, _ = labelled_scenes(
        config.tasks, config.scenes_per_task, config.data_cache, progress, config.workers
    )
    with torch.no_grad():
        grid = int(round(image_tokens(model, processor, images[:1], agent.device).shape[1] ** 0.5))
    token_of = _token_lookup(processor.tokenizer)
    targets = torch.from_numpy(patch_targets(labels, words, grid, token_of, config.tiny.coord_step))
    background = token_of(BACKGROUND_WORD)
    hidden = model.get_input_embeddings().weight.shape[1]
    heads = torch.nn.ModuleList(torch.nn.Linear(hidden, hidden) for _ in HEADS).to(agent.device)
    params = list(model.parameters()) + list(heads.parameters())
    optimizer = torch.optim.AdamW(params, lr=config.learning_rate, weight_decay=0.01)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, config.learning_rate, total_steps=config.steps)
    generator = np.random.default_rng(config.seed)
    parts = {"model": model, "heads": heads, "optimizer": optimizer, "schedule": schedule}
    first, earlier_seconds = 1, 0.0
    if resumed is not None:
        first, earlier_seconds = _restore(resumed, parts, generator) + 1, resumed["seconds"]
    model.train()
    mixed = run_dir.precision(agent.device) == "bf16-mixed"  # as the trainers of the later stages
    log = (out / "ground_log.jsonl").open("a")  # prepare cut it back to the state resumed from
    started = time.perf_counter()
    steps = tqdm(range(first, config.steps + 1), desc="grounding", disable=not progress, initial=first - 1)
    for step in steps:
        batch = generator.choice(len(images), size=config.batch_size, replace=False)
        drawn = [color_jitter(images[i], config.color_jitter, generator) for i in batch]
        batch_targets = targets[batch].to(agent.device)
        on_object = batch_targets[..., 1] != background  # accuracy is reported on patches that show objects
        losses, accuracies = [], []
        with torch.autocast(agent.device.type, torch.bfloat16, enabled=mixed):
            tokens = image_tokens(model, processor, drawn, agent.device)  # B × grid² × hidden
            embeddings = model.get_input_embeddings().weight
            for k, head in enumerate(heads):
                logits = head(tokens) @ embeddings.T
                target = batch_targets[..., k]
                losses.append(F.cross_entropy(logits.flatten(0, 1), target.flatten(), ignore_index=IGNORE))
                hits = (logits.argmax(-1) == target) & on_object
                accuracies.append(hits.sum().item() / max(1, on_object.sum().item()))
            loss = sum(losses) / len(losses)
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        schedule.step()
        seconds = earlier_seconds + time.perf_counter() - started
        if step == 1 or step % 50 == 0 or step == config.steps:
            row = {"step": step, "seconds": round(seconds, 1), "loss": round(loss.item(), 4)}
            row |= {f"{name}_accuracy_on_objects": round(a, 4) for name, a in zip(HEADS, accuracies)}
            log.write(json.dumps(row) + "\n")
            log.flush()
        if step % config.save_steps == 0 and step < config.steps:
            _save(out, step, seconds, parts, generator, record)
    log.close()
    seconds = earlier_seconds + time.perf_counter() - started
    model.eval()
    model.save_pretrained(out, safe_serialization=True)
    processor.save_pretrained(out)
    run_dir.write_record(out, {**record, "step": config.steps, **run_dir.hardware(agent.device, seconds)})
    return out


def _resumable_state(out: Path, config: GroundRunConfig) -> dict:
    """The newest saved state of the run in ``out``, checked against ``config`` before any work."""
    if (out / "config.json").exists():
        raise ValueError(f"{out} holds a finished grounding run: nothing to resume (choose another --out)")
    last = run_dir.last_checkpoint(out)  # prepare made sure there is one
    try:
        state = torch.load(Path(last) / STATE, weights_only=False)  # written by _save, not from elsewhere
    except Exception as err:  # a truncated or foreign file: say which, in one line
        raise ValueError(
            f"cannot read {Path(last) / STATE} ({type(err).__name__}): delete {last} and resume from "
            "an earlier state, or start the run again"
        ) from None
    if state["steps"] != config.steps:
        raise ValueError(
            f"--steps {config.steps} (the run used {state['steps']}): the one-cycle schedule is fixed "
            "when a grounding run starts, so --resume keeps the run's --steps"
        )
    return state


def _save(out: Path, step: int, seconds: float, parts: dict, generator: np.random.Generator, record: dict) -> None:
    """Write the training state as ``checkpoints/checkpoint-<step>`` and delete the older ones.
    Written into a temporary folder first, so that a kill mid-write leaves the previous state whole."""
    checkpoints = out / "checkpoints"
    for stale in checkpoints.glob(".partial-*"):  # left by a run killed while saving
        shutil.rmtree(stale)
    partial = checkpoints / f".partial-{step}"
    partial.mkdir(parents=True)
    state = {name: part.state_dict() for name, part in parts.items()}
    state |= {"step": step, "steps": record["steps"], "seconds": seconds, "generator": generator.bit_generator.state}
    state["torch_rng"] = torch.get_rng_state()
    torch.save(state, partial / STATE)
    run_dir.write_record(partial, {**record, "step": step})
    partial.rename(checkpoints / f"checkpoint-{step}")
    for older in checkpoints.glob("checkpoint-*"):
        if run_dir.checkpoint_step(older) < step:
            shutil.rmtree(older)


def _restore(state: dict, parts: dict, generator: np.random.Generator) -> int:
    """Load a saved state into the run's parts and generators; returns the step it was saved at."""
    for name, part in parts.items():
        part.load_state_dict(state[name])
    generator.bit_generator.state = state["generator"]
    torch.set_rng_state(state["torch_rng"])
    return state["step"]
