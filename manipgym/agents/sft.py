"""SFT warm start: fine-tune a VLM on oracle answers that the simulator generates for free.

Scenes come from the ``train`` manifest (never from an evaluation split); each example is the
rendered image and prompt, and the oracle's answer as the completion. Training is TRL's
``SFTTrainer`` (prompt/completion format, so the loss covers only the answer tokens). A learning
curve of held-out point error goes to ``curve.jsonl`` (see :mod:`manipgym.agents.curve`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from manipgym.agents import run_dir
from manipgym.agents.augment import ColorJitterCollator, check_strength
from manipgym.agents.collator_draws import CheckpointedDraws
from manipgym.agents.nonce_words import NonceWordCollator, requested_kinds
from manipgym.agents.tiny_vlm import TinyVLMConfig, coordinate_tokens
from manipgym.agents.train_data import (
    MASK_COLUMNS,
    cached_examples,
    cached_pointing,
    check_training_indices,
    labelled_scenes,
    task_object_masks,
)
from manipgym.envs import TASK_NAMES

VISION_MODULES = ("vision_model", "connector", "visual")  # Idefics3's tower and connector; Qwen2.5-VL's
# --lr-schedule -> the trainer's scheduler; all warm up first. "constant" holds the peak rate, so a
# run can be stopped (or continued with --init at a lower rate) wherever its validation curve says;
# "wsd" (warmup-stable-decay) holds it for the first half of the steps, then decays it to 0 (cosine).
LR_SCHEDULES = {"cosine": "cosine", "constant": "constant_with_warmup", "wsd": "warmup_stable_decay"}


def freeze_vision(model) -> int:
    """Stop training the vision tower and the connector; returns how many parameters it froze."""
    frozen = 0
    for name, parameter in model.named_parameters():
        if set(VISION_MODULES).intersection(name.split(".")):
            parameter.requires_grad_(False)
            frozen += parameter.numel()
    if not frozen:
        raise ValueError(f"found no vision tower to freeze (no parameter under {', '.join(VISION_MODULES)})")
    return frozen


@dataclass
class SFTRunConfig:
    """One SFT run. ``init`` is a checkpoint directory; without it a fresh tiny VLM (``arch``,
    ``tiny``) is built."""

    out: str
    init: str | None = None
    arch: str = "qwen2_5_vl"
    tiny: TinyVLMConfig = field(default_factory=TinyVLMConfig)
    tasks: Sequence[str] = field(default_factory=lambda: list(TASK_NAMES))
    episodes_per_task: int = 250
    affordance: str = "box"  # the answers' affordance form: "box", or "point" (the box centre)
    pointing_scenes_per_task: int = 0  # > 0: add "point to the <object>" examples of these many scenes per task
    pointing_attention: float = 0.0  # > 0: weight of the pointing-attention loss (see pointing_attention.py)
    task_attention: bool = False  # the same loss on the task answers of the pointing scenes (their target object)
    goal_attention: bool = False  # and on their trajectory's last point (the goal object: plate, block, circle)
    freeze_vision: bool = False  # keep the vision tower and connector as --init has them (e.g. grounded)
    gradient_checkpointing: bool = False  # recompute activations in the backward pass (memory for time)
    color_jitter: float = 0.0  # > 0: jitter brightness, contrast, saturation of training images (augment.py)
    nonce_nouns: float = 0.0  # > 0: chance that an example names its object by a made-up word (nonce_words.py)
    nonce_colors: float = 0.0  # > 0: chance that an example's colour words are made-up words (nonce_words.py)
    steps: int = 500
    batch_size: int = 16
    learning_rate: float = 1e-3
    lr_schedule: str = "cosine"  # a key of LR_SCHEDULES
    save_steps: int = 100
    keep_checkpoints: int = 2  # newest checkpoints kept in out/checkpoints; 0 keeps all
    eval_every: int = 100  # steps between learning-curve points; 0 turns the curve off
    validation_per_task: int = 25
    data_cache: str | None = None  # directory where rendered examples are kept for later runs
    workers: int = 2  # simulator processes that render the training and validation scenes
    seed: int = 0
    resume: bool = False
    device: str = "auto"


def training_dataset(config: SFTRunConfig, coord_step: int, progress: bool):
    """The oracle answers of the first ``episodes_per_task`` train scenes of each task, and the
    pointing examples of the first ``pointing_scenes_per_task`` (either may be 0, not both)."""
    from datasets import Sequence, Value, concatenate_datasets

    columns, parts, labelled = ["images", "prompt", "completion"], [], None
    cache, workers = config.data_cache, config.workers
    if config.episodes_per_task > 0:
        indices = range(config.episodes_per_task)
        answers = cached_examples(cache, config.tasks, indices, coord_step, progress, config.affordance, workers)
        wanted = {"target_mask": config.task_attention, "goal_mask": config.goal_attention}
        columns_on = [column for column, on in wanted.items() if on]
        if columns_on:  # the object's footprint where the pointing scenes label it, else none
            labelled = labelled_scenes(config.tasks, config.pointing_scenes_per_task, cache, progress, workers)
            keys = list(zip(answers["task"], answers["seed"]))
            for column in columns_on:
                masks = task_object_masks(labelled, config.tasks, MASK_COLUMNS[column])
                answers = answers.add_column(column, [masks.get(key, []) for key in keys])
        parts.append(answers)
    if config.pointing_scenes_per_task > 0:
        scenes = config.pointing_scenes_per_task
        parts.append(cached_pointing(cache, config.tasks, scenes, coord_step, progress, labelled, workers))
    if config.pointing_attention > 0:  # an empty mask leaves an example out of that loss
        columns += list(MASK_COLUMNS)
        for column in MASK_COLUMNS:
            parts = [p if column in p.column_names else p.add_column(column, [[]] * len(p)) for p in parts]
    parts = [part.select_columns(columns) for part in parts]
    features = parts[-1].features.copy()
    features.update({c: Sequence(Value("float32")) for c in columns if c in MASK_COLUMNS})  # [] casts too
    return concatenate_datasets([part.cast(features) for part in parts])


def train_sft(config: SFTRunConfig, progress: bool = True):
    """Run SFT and write a Hugging Face checkpoint (model, processor) to ``config.out``."""
    from trl import SFTConfig, SFTTrainer

    from manipgym.agents.curve import PointErrorCurve, validation_scenes
    from manipgym.agents.pointing_attention import PointingAttentionTrainer
    from manipgym.agents.vlm import VLMAgent

    if config.episodes_per_task <= 0 and config.pointing_scenes_per_task <= 0:
        raise ValueError("nothing to train on: --episodes-per-task and --pointing-scenes are both 0")
    if config.pointing_attention > 0 and config.pointing_scenes_per_task <= 0:
        raise ValueError("--pointing-attention needs pointing examples (their target masks): add --pointing-scenes N")
    for flag, on in (("--task-attention", config.task_attention), ("--goal-attention", config.goal_attention)):
        if on and (config.pointing_attention <= 0 or config.episodes_per_task <= 0):
            raise ValueError(f"{flag} needs --pointing-attention W and task answers (--episodes-per-task N)")
    check_strength(config.color_jitter)
    nonce_kinds = requested_kinds(config.nonce_nouns, config.nonce_colors)
    if config.lr_schedule not in LR_SCHEDULES:
        raise ValueError(f"unknown --lr-schedule {config.lr_schedule!r}: use one of {', '.join(LR_SCHEDULES)}")
    run_dir.checkpoint_limit(config.keep_checkpoints)  # a bad value fails before anything is written
    check_training_indices(range(max(config.episodes_per_task, config.pointing_scenes_per_task)))
    coord_step = config.tiny.coord_step if config.init is None else run_dir.coord_step_of(config.init)
    if config.pointing_attention > 0 and not coord_step:  # checked before anything is written
        raise ValueError("--pointing-attention needs location tokens: --init a checkpoint built with --coord-step")
    record = run_dir.run_record("sft", config, coord_step)
    out = run_dir.prepare(config.out, config.resume, record, defaults=run_dir.option_defaults(config))
    init = run_dir.initial_checkpoint(out, config.init, config.arch, config.tiny)
    agent = VLMAgent(init, device=config.device, dtype=run_dir.TRAINING_DTYPE)
    if config.freeze_vision:
        freeze_vision(agent.model)
    dataset = training_dataset(config, coord_step, progress)
    callbacks = [run_dir.RecordCheckpoints(record)]
    if config.eval_every > 0:
        held_out = validation_scenes(
            config.data_cache, config.tasks, config.validation_per_task, progress, config.workers
        )
        callbacks.append(PointErrorCurve(held_out, agent.processor, out / "curve.jsonl", config.eval_every))
    args = SFTConfig(
        **run_dir.trainer_arguments(out, config, agent.device, progress),
        lr_scheduler_type=LR_SCHEDULES[config.lr_schedule],
        lr_scheduler_kwargs={"num_decay_steps": config.steps // 2} if config.lr_schedule == "wsd" else {},
        warmup_steps=min(20, config.steps // 10),
        logging_steps=max(1, config.steps // 50),
        max_length=None,  # never cut the image tokens
        remove_unused_columns=config.pointing_attention <= 0,  # keep the masks for the collator
    )
    trainer_class, extra = SFTTrainer, {}
    if config.pointing_attention > 0:
        agent.model.set_attn_implementation("eager")  # the loss reads the attention weights
        location_ids = agent.processor.tokenizer.convert_tokens_to_ids(coordinate_tokens(coord_step))
        trainer_class = PointingAttentionTrainer
        extra = {"attention_weight": config.pointing_attention, "location_ids": location_ids}
    trainer = trainer_class(
        model=agent.model,
        args=args,
        train_dataset=dataset,
        processing_class=agent.processor,
        callbacks=callbacks,
        **extra,
    )
    generators = {}
    if config.color_jitter > 0:
        trainer.data_collator = ColorJitterCollator(trainer.data_collator, config.color_jitter, config.seed)
        generators["--color-jitter"] = trainer.data_collator.rng
    # each its own generator from --seed (nonce_words.WordKind.rng), drawn at different rates
    for kind, probability in nonce_kinds:
        trainer.data_collator = NonceWordCollator(trainer.data_collator, kind, probability, config.seed)
        generators[kind.option] = trainer.data_collator.rng
    last = run_dir.last_checkpoint(out) if config.resume else None
    if generators:  # so that --resume draws on where the stopped run was
        draws = CheckpointedDraws(trainer.data_collator, generators)
        trainer.data_collator = draws
        trainer.add_callback(draws)
        if last:
            draws.restore(last)
    output = trainer.train(resume_from_checkpoint=last)
    return run_dir.finish(trainer, agent.processor, out, record, output)
