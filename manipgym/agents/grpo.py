"""GRPO on executed rewards: TRL's ``GRPOTrainer`` with the simulator as the reward model.

Each prompt is a ``train``-manifest scene (task, seed). TRL samples G answers per prompt; every
answer is executed from that same seed in a pool of simulator worker processes, and the
episode's reward terms (format, affordance, trajectory, success: :mod:`manipgym.rewards`) become
four reward functions whose weighted sum TRL turns into group-relative advantages. One episode
per answer serves all four functions (:class:`SimulatorRewards` keeps the batch's outcomes).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch.utils.data import Sampler
from tqdm import tqdm
from transformers import TrainerCallback

from manipgym.agents import run_dir
from manipgym.agents.curve import PointErrorCurve, validation_scenes
from manipgym.agents.nonce_words import rename_some, requested_kinds
from manipgym.agents.sft import freeze_vision
from manipgym.agents.train_data import cached_examples, check_scene_count, check_training_indices
from manipgym.envs import TASK_NAMES
from manipgym.envs.workers import EpisodeSpec, Worker, execute_answers
from manipgym.rewards import RewardWeights

REWARD_TERMS = ("format", "affordance", "trajectory", "success")
LOSS_TYPES = ("grpo", "dr_grpo", "dapo", "bnpo")
SCALE_REWARDS = ("group", "batch", "none")


@dataclass
class GRPORunConfig:
    """One GRPO run. ``batch_size`` counts completions per step: ``batch_size / num_generations``
    scenes, each answered ``num_generations`` times."""

    out: str
    init: str
    tasks: Sequence[str] = field(default_factory=lambda: list(TASK_NAMES))
    scenes_per_task: int = 500
    first_scene: int = 0  # prompts are train-manifest scenes first_scene .. first_scene + scenes_per_task - 1
    steps: int = 100
    # The sampling and update defaults are the shipped model's GRPO settings. The earlier ones
    # (TRL's temperature 1 and beta 0, the tower trained, G 4, lr 1e-4) collapsed the tiny VLM:
    # docs/training-study.md, "Does GRPO beat SFT here?".
    batch_size: int = 32
    num_generations: int = 8
    learning_rate: float = 5e-5
    beta: float = 0.04
    epsilon: float = 0.2
    epsilon_high: float | None = None
    loss_type: str = "dapo"
    scale_rewards: str = "group"
    temperature: float = 0.3  # near the greedy answer: at 1.0 few sampled answers of the tiny VLM succeed
    max_completion_length: int = 160
    weights: RewardWeights = field(default_factory=RewardWeights)
    nonce_nouns: float = 0.0  # chance that a scene's prompt names its object by a made-up word (nonce_words.py)
    nonce_colors: float = 0.0  # chance that a scene's prompt names its colours by made-up words (nonce_words.py)
    freeze_vision: bool = True  # train only the language model: the tower keeps what SFT/grounding gave it
    gradient_checkpointing: bool = False  # recompute activations in the backward pass (memory for time)
    workers: int = 2
    save_steps: int = 50
    keep_checkpoints: int = 2  # newest checkpoints kept in out/checkpoints; 0 keeps all
    eval_every: int = 50  # steps between validation-curve points; 0 turns the curve off
    validation_per_task: int = 25
    data_cache: str | None = None
    seed: int = 0
    resume: bool = False
    device: str = "auto"

    def __post_init__(self):
        if self.num_generations < 2 or self.batch_size % self.num_generations:
            raise ValueError(
                f"--batch-size ({self.batch_size}) must be a multiple of --num-generations "
                f"({self.num_generations}), which must be at least 2"
            )
        if self.loss_type not in LOSS_TYPES or self.scale_rewards not in SCALE_REWARDS:
            raise ValueError(f"loss_type must be one of {LOSS_TYPES} and scale_rewards one of {SCALE_REWARDS}")
        check_scene_count(self.scenes_per_task)
        requested_kinds(self.nonce_nouns, self.nonce_colors)  # raises on a probability outside [0, 1]
        run_dir.checkpoint_limit(self.keep_checkpoints)  # raises on a negative count
        check_training_indices(self.scene_indices())  # raises on scenes outside the training range

    def scene_indices(self) -> range:
        """The train-manifest indices (per task) whose scenes are the run's prompts."""
        return range(self.first_scene, self.first_scene + self.scenes_per_task)


def completion_text(completion) -> str:
    """The text of one TRL completion (conversational: a list of messages; or a plain string)."""
    if isinstance(completion, str):
        return completion
    content = completion[-1]["content"]
    if isinstance(content, str):
        return content
    return "".join(part.get("text", "") for part in content if part.get("type") == "text")


def train_scene_rewards(workers: list[Worker], episodes: Sequence[tuple[str, int, str]]) -> list[dict[str, float]]:
    """The reward terms of executing each (task, seed, answer) from its train-manifest scene; an
    episode that errs (a worker died) scores 0 on every term."""
    jobs = [(EpisodeSpec(task, "train", -1, int(seed)), answer) for task, seed, answer in episodes]
    infos = execute_answers(workers, jobs)
    return [info["rewards"] if isinstance(info, dict) else dict.fromkeys(REWARD_TERMS, 0.0) for info in infos]


class SimulatorRewards:
    """Executes each answer once and serves its reward terms to the four reward functions.

    TRL calls every reward function with the same batch; the first call executes the batch's
    episodes in the worker pool, later calls read the stored outcomes. An episode that errs (a
    worker died) scores 0 on every term.

    ``mixed_success_groups`` is the share of the last batch's scenes whose answers include both a
    success and a failure: only those give the success term a nonzero group-relative advantage
    (in the other groups only the dense terms separate the answers).
    """

    def __init__(self, workers: list[Worker]):
        self.workers = workers
        self._outcomes: dict[tuple, dict[str, float]] = {}
        self.episodes = 0
        self.mixed_success_groups: float | None = None

    def terms(self, completions, task: Sequence[str], seed: Sequence[int]) -> list[dict[str, float]]:
        keys = [(t, int(s), completion_text(c)) for c, t, s in zip(completions, task, seed)]
        missing = list(dict.fromkeys(k for k in keys if k not in self._outcomes))
        if missing:
            batch = set(keys)
            self._outcomes = {k: v for k, v in self._outcomes.items() if k in batch}  # keep one batch only
            self._outcomes.update(zip(missing, train_scene_rewards(self.workers, missing)))
            self.episodes += len(missing)
            self.mixed_success_groups = mixed_share([(k[:2], self._outcomes[k]["success"]) for k in keys])
        return [self._outcomes[k] for k in keys]

    def reward_functions(self) -> list:
        """One TRL reward function per term, named after it (TRL logs ``rewards/<name>/mean``)."""

        def make(term: str):
            def reward(prompts, completions, task, seed, **_) -> list[float]:
                return [float(t[term]) for t in self.terms(completions, task, seed)]

            reward.__name__ = term
            return reward

        return [make(term) for term in REWARD_TERMS]


def mixed_share(outcomes: Sequence[tuple[object, float]]) -> float:
    """The share of groups (answers with the same key) that hold both a success and a failure."""
    by_group: dict[object, set[bool]] = {}
    for group, success in outcomes:
        by_group.setdefault(group, set()).add(success > 0.5)
    return sum(len(seen) == 2 for seen in by_group.values()) / max(1, len(by_group))


class EpochReplayedSampler(Sampler):
    """TRL's ``RepeatSampler`` with each epoch's order fixed by the seed and the epoch alone.

    ``RepeatSampler`` draws every epoch's order from one generator seeded when it is built, so a
    run resumed in its second epoch or later drew the first epoch's order again and trained other
    bytes than a run never stopped. The trainer calls ``set_epoch(e)`` before each epoch, stopped
    or not; this reseeds the generator and draws the ``e`` orders before it (one ``randperm`` each,
    as ``RepeatSampler.__iter__`` draws), so an uninterrupted run's orders are unchanged."""

    def __init__(self, sampler):
        self.sampler = sampler

    def __iter__(self):
        return iter(self.sampler)

    def __len__(self) -> int:
        return len(self.sampler)

    def set_epoch(self, epoch: int) -> None:
        if not self.sampler.shuffle or self.sampler.seed is None:  # no generator, or none to repeat
            return
        self.sampler.generator.manual_seed(self.sampler.seed)
        for _ in range(epoch):
            torch.randperm(self.sampler.num_samples, generator=self.sampler.generator)


class StepLog(TrainerCallback):
    """Writes each step's means (reward terms, success and format rates, KL, completion length,
    the share of scenes with mixed success) and its seconds to ``log.jsonl``, and a one-line
    summary to the console."""

    def __init__(self, path: Path, progress: bool, rewards: SimulatorRewards | None = None):
        self.path, self.progress, self.rewards = path, progress, rewards

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not logs or "reward" not in logs:
            return
        row = {"step": state.global_step, "reward": logs["reward"]}
        for term in REWARD_TERMS:
            row[term] = logs.get(f"rewards/{term}/mean")
        row["success_rate"], row["format_rate"] = row["success"], row["format"]
        row["kl"] = logs.get("kl")
        row["completion_length"] = logs.get("completions/mean_length")
        row["reward_std"] = logs.get("reward_std")
        row["step_seconds"] = logs.get("step_time")  # sampling, simulator rewards and the update
        row["mixed_success_groups"] = self.rewards.mixed_success_groups if self.rewards else None
        with self.path.open("a") as f:
            f.write(json.dumps(row) + "\n")
        if self.progress:
            shown = {k: v for k, v in row.items() if isinstance(v, float) and math.isfinite(v)}
            tqdm.write(f"step {row['step']}: " + " ".join(f"{k}={v:.3f}" for k, v in shown.items()))


class ValidationCurve(PointErrorCurve):
    """The SFT learning curve plus the executed success of the same greedy answers.

    The step log's success is that of answers sampled at ``--temperature``; a benchmark answers
    greedily, and the two can move apart (GRPO may sharpen the sampled answers while the greedy
    one gets worse). This curve, on train-manifest validation scenes that no training step
    uses, is the figure to choose a checkpoint by without touching an evaluation split.
    """

    def __init__(self, validation, processor, path: Path, every: int, workers: list[Worker]):
        super().__init__(validation, processor, path, every)
        self.validation, self.workers = validation, workers

    def extra_metrics(self, answers: list[str]) -> dict[str, float]:
        return {"success": executed_success(self.workers, self.validation, answers)}


def executed_success(workers: list[Worker], examples, answers: Sequence[str]) -> float:
    """The success rate of executing each answer from its example's train-manifest scene (task,
    seed); an episode that errs counts as a failure."""
    episodes = [(example["task"], example["seed"], answer) for example, answer in zip(examples, answers)]
    terms = train_scene_rewards(workers, episodes)
    return sum(term["success"] for term in terms) / max(1, len(terms))


def grpo_dataset(config: GRPORunConfig, progress: bool):
    """Prompts (image + instruction) of the run's train-manifest scenes, with task and seed columns
    that reach the reward functions."""
    dataset = cached_examples(
        config.data_cache, config.tasks, config.scene_indices(), 0, progress, workers=config.workers
    )
    dataset = dataset.select_columns(["prompt", "images", "task", "seed"])
    for kind, probability in requested_kinds(config.nonce_nouns, config.nonce_colors):
        prompts, _ = rename_some(dataset["prompt"], kind, probability, kind.rng(config.seed))
        dataset = dataset.remove_columns("prompt").add_column("prompt", prompts)
    return dataset


def load_policy(config: GRPORunConfig):
    """The VLM to train (a :class:`~manipgym.agents.vlm.VLMAgent`), its tower frozen if asked."""
    from manipgym.agents.vlm import VLMAgent

    agent = VLMAgent(config.init, device=config.device, dtype=run_dir.TRAINING_DTYPE)
    if config.freeze_vision:
        freeze_vision(agent.model)
    return agent


def train_grpo(config: GRPORunConfig, progress: bool = True) -> Path:
    """Run GRPO from ``config.init`` and write a Hugging Face checkpoint to ``config.out``."""
    from trl import GRPOConfig, GRPOTrainer

    record = run_dir.run_record("grpo", config, run_dir.coord_step_of(config.init))
    out = run_dir.prepare(config.out, config.resume, record, defaults=run_dir.option_defaults(config))
    agent = load_policy(config)
    dataset = grpo_dataset(config, progress)
    weights = config.weights
    args = GRPOConfig(
        **run_dir.trainer_arguments(out, config, agent.device, progress),
        num_generations=config.num_generations,
        lr_scheduler_type="constant_with_warmup",
        warmup_steps=min(10, config.steps // 10),
        beta=config.beta,
        epsilon=config.epsilon,
        epsilon_high=config.epsilon_high,
        loss_type=config.loss_type,
        scale_rewards=config.scale_rewards,
        temperature=config.temperature,
        max_completion_length=config.max_completion_length,
        reward_weights=[getattr(weights, term) for term in REWARD_TERMS],
        logging_steps=1,
    )
    workers = [Worker() for _ in range(max(1, config.workers))]
    try:
        rewards = SimulatorRewards(workers)
        callbacks = [StepLog(out / "log.jsonl", progress, rewards), run_dir.RecordCheckpoints(record)]
        if config.eval_every > 0:
            held_out = validation_scenes(
                config.data_cache, config.tasks, config.validation_per_task, progress, config.workers
            )
            curve = ValidationCurve(held_out, agent.processor, out / "curve.jsonl", config.eval_every, workers)
            callbacks.append(curve)

        class ResumableGRPOTrainer(GRPOTrainer):
            def _get_train_sampler(self, dataset=None):
                return EpochReplayedSampler(super()._get_train_sampler(dataset))

        trainer = ResumableGRPOTrainer(
            model=agent.model,
            reward_funcs=rewards.reward_functions(),
            args=args,
            train_dataset=dataset,
            processing_class=agent.processor,
            callbacks=callbacks,
        )
        last = run_dir.last_checkpoint(out)
        output = trainer.train(resume_from_checkpoint=last if config.resume else None)
    finally:
        for worker in workers:
            worker.close()
    return run_dir.finish(trainer, agent.processor, out, record, output)
