"""SFT warm start: fine-tune a VLM on oracle answers that the simulator generates for free.

Scenes come from the ``train`` manifest (never from an evaluation split); each example is the
rendered image and prompt, and the oracle's answer as the completion. Training is TRL's
``SFTTrainer`` (prompt/completion format, so the loss covers only the answer tokens).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import gymnasium as gym
from PIL import Image
from tqdm import tqdm

from manipgym.agents.oracle import OracleAgent
from manipgym.agents.prompt import build_prompt
from manipgym.envs import TASK_NAMES
from manipgym.envs.manifests import manifest_seed


@dataclass
class SFTRunConfig:
    """One SFT run. ``init`` is a checkpoint directory; without it a fresh tiny VLM is built."""

    out: str
    init: str | None = None
    arch: str = "qwen2_5_vl"
    tasks: Sequence[str] = field(default_factory=lambda: list(TASK_NAMES))
    episodes_per_task: int = 250
    steps: int = 500
    batch_size: int = 16
    learning_rate: float = 1e-3
    save_steps: int = 100
    seed: int = 0
    resume: bool = False
    device: str = "auto"


def oracle_examples(tasks: Sequence[str], episodes_per_task: int, progress: bool = True) -> list[dict]:
    """Prompt/completion examples from the first ``episodes_per_task`` train-manifest scenes."""
    oracle, examples = OracleAgent(), []
    for task in tasks:
        env = gym.make(f"manipgym/{task}-v0")
        for index in tqdm(range(episodes_per_task), desc=f"oracle answers {task}", disable=not progress):
            obs, info = env.reset(seed=manifest_seed(task, "train", index))
            answer = oracle.act([{**obs, "ground_truth": info["ground_truth"]}])[0]
            content = [{"type": "image"}, {"type": "text", "text": build_prompt(obs["instruction"])}]
            examples.append(
                {
                    "images": [Image.fromarray(obs["image"])],
                    "prompt": [{"role": "user", "content": content}],
                    "completion": [{"role": "assistant", "content": [{"type": "text", "text": answer}]}],
                }
            )
        env.close()
    return examples


def train_sft(config: SFTRunConfig, progress: bool = True) -> Path:
    """Run SFT and write a Hugging Face checkpoint (model, processor) to ``config.out``."""
    from datasets import Dataset
    from trl import SFTConfig, SFTTrainer

    from manipgym.agents.tiny_vlm import TinyVLMConfig, build_tiny_vlm
    from manipgym.agents.vlm import VLMAgent

    out = Path(config.out)
    checkpoints = out / "checkpoints"
    if (out / "config.json").exists() and not config.resume:
        raise FileExistsError(f"{out} already holds a model: pass --resume to continue, or choose another --out")
    init = config.init
    if init is None:
        init = str(build_tiny_vlm(config.arch, out / "init", TinyVLMConfig(seed=config.seed)))
    agent = VLMAgent(init, device=config.device)
    dataset = Dataset.from_list(oracle_examples(config.tasks, config.episodes_per_task, progress))
    args = SFTConfig(
        output_dir=str(checkpoints),
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
    trainer = SFTTrainer(model=agent.model, args=args, train_dataset=dataset, processing_class=agent.processor)
    last = max(checkpoints.glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[1]), default=None)
    trainer.train(resume_from_checkpoint=str(last) if config.resume and last else None)
    trainer.save_model(str(out))
    agent.processor.save_pretrained(str(out))
    (out / "manipgym_train.json").write_text(json.dumps({"stage": "sft", **asdict(config)}, indent=2) + "\n")
    return out
