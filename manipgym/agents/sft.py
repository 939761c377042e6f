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
from manipgym.agents.tiny_vlm import TinyVLMConfig
from manipgym.agents.train_data import VALIDATION_INDICES, cached_examples, check_training_indices
from manipgym.envs import TASK_NAMES

VISION_MODULES = ("vision_model", "connector", "visual")  # Idefics3's tower and connector; Qwen2.5-VL's


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
    freeze_vision: bool = False  # keep the vision tower and connector as --init has them (e.g. grounded)
    steps: int = 500
    batch_size: int = 16
    learning_rate: float = 1e-3
    save_steps: int = 100
    eval_every: int = 100  # steps between learning-curve points; 0 turns the curve off
    validation_per_task: int = 25
    data_cache: str | None = None  # directory where rendered examples are kept for later runs
    seed: int = 0
    resume: bool = False
    device: str = "auto"


def train_sft(config: SFTRunConfig, progress: bool = True):
    """Run SFT and write a Hugging Face checkpoint (model, processor) to ``config.out``."""
    from trl import SFTConfig, SFTTrainer

    from manipgym.agents.curve import PointErrorCurve
    from manipgym.agents.vlm import VLMAgent

    check_training_indices(range(config.episodes_per_task))
    out = run_dir.prepare(config.out, config.resume)
    init = run_dir.initial_checkpoint(out, config.init, config.arch, config.tiny)
    coord_step = run_dir.coord_step_of(init)
    agent = VLMAgent(init, device=config.device)
    if config.freeze_vision:
        freeze_vision(agent.model)
    dataset = cached_examples(
        config.data_cache, config.tasks, range(config.episodes_per_task), coord_step, progress, config.affordance
    )
    callbacks = []
    if config.eval_every > 0:
        validation = VALIDATION_INDICES[: config.validation_per_task]
        held_out = cached_examples(
            config.data_cache, config.tasks, validation, coord_step, progress, config.affordance
        )
        callbacks.append(PointErrorCurve(held_out, agent.processor, out / "curve.jsonl", config.eval_every))
    args = SFTConfig(
        output_dir=str(out / "checkpoints"),
        max_steps=config.steps,
        per_device_train_batch_size=config.batch_size,
        learning_rate=config.learning_rate,
        lr_scheduler_type="cosine",
        warmup_steps=min(20, config.steps // 10),
        logging_steps=max(1, config.steps // 50),
        save_strategy="steps",
        save_steps=config.save_steps,
        save_total_limit=2,
        seed=config.seed,
        use_cpu=agent.device.type == "cpu",
        bf16=agent.device.type == "cuda",
        report_to=[],
        max_length=None,  # never cut the image tokens
        disable_tqdm=not progress,
    )
    columns = ["images", "prompt", "completion"]
    trainer = SFTTrainer(
        model=agent.model,
        args=args,
        train_dataset=dataset.select_columns(columns),
        processing_class=agent.processor,
        callbacks=callbacks,
    )
    last = run_dir.last_checkpoint(out)
    trainer.train(resume_from_checkpoint=last if config.resume else None)
    return run_dir.finish(trainer, agent.processor, out, "sft", config, coord_step)
