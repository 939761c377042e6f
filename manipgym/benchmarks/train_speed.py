"""Seconds per optimiser step of each training stage on this machine (CPU or CUDA), quoted in the README.

    python -m manipgym.benchmarks.train_speed [--device auto] [--models tiny,large] [--out DIR]

Runs the README's recipe (``manipgym train ground`` and ``train sft --init`` with the shipped
model's options, then ``train grpo`` with the options of the GRPO runs there; learning
curves off) for a few steps on a few scenes,
for the recipe's tiny model and, with ``--models tiny,large``, a larger one (the same commands
with wider, deeper ``--text-*``/``--vision-*`` options). Then it loads each GRPO checkpoint with
``VLMAgent`` on the device and answers four validation scenes per task (a check that it loads and
answers). A GRPO step's time is mostly executing its answers in the
simulator, and an answer that does not parse is not executed; so the tiny model's GRPO starts
from the shipped model (the recipe's SFT stage in full), whose answers parse, and the table gives
the share of sampled answers that parsed (the large model's few-step SFT stage writes none, so
its GRPO figure leaves the simulation out). Seconds per step come from each run's own record
(``manipgym_train.json``: ``ran_on``, ``precision``, ``wall_seconds``) and, for GRPO, its
``log.jsonl``. This is the GPU path's check: the same commands, ``--device auto``, bfloat16 mixed
precision on CUDA.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from pathlib import Path

from safetensors import safe_open

from manipgym.agents import SHIPPED_CHECKPOINT
from manipgym.cli import DEVICE_HELP
from manipgym.cli import main as manipgym_cli
from manipgym.envs import TASK_NAMES
from manipgym.rewards.answer import parse_answer

# The recipe's tiny model (as `train ground --merge 2 --text-layers 4`), and a larger one.
MODELS = {
    "tiny": ["--text-layers", "4"],
    "large": ["--text-hidden", "1024", "--text-layers", "12", "--vision-hidden", "512", "--vision-layers", "8"],
}
RECIPE_JITTER = ["--color-jitter", "0.5"]  # the shipped recipe's, in both grounding and SFT
# Where GRPO starts: a model whose answers parse, so that its steps execute them as a real run's do
# (the tiny model's is the shipped one); a model without one starts from its own few-step SFT stage.
GRPO_START = {"tiny": SHIPPED_CHECKPOINT}
GRPO_GENERATIONS = 8  # answers sampled per scene, as in the README's GRPO runs


def stage_commands(model: str, out: Path, args: argparse.Namespace) -> dict[str, list[str]]:
    """The README recipe's three commands, scaled down to ``args``' steps and scenes."""
    cache, common = str(out / "cache"), ["--device", args.device, "--workers", str(args.workers), "--no-progress"]
    run = out / model
    return {
        "ground": ["train", "ground", "--out", str(run / "ground"), "--merge", "2", *MODELS[model]]
        + ["--scenes-per-task", str(args.scenes), "--steps", str(args.ground_steps), "--data-cache", cache, *common]
        + ["--batch-size", str(min(32, len(TASK_NAMES) * args.scenes)), *RECIPE_JITTER],  # 32: the recipe's
        "sft": ["train", "sft", "--init", str(run / "ground"), "--out", str(run / "sft"), "--affordance", "point"]
        + ["--episodes-per-task", str(args.scenes), "--pointing-scenes", str(args.scenes)]
        + ["--pointing-attention", "1", "--task-attention", "--goal-attention", "--freeze-vision"]
        + [*RECIPE_JITTER, "--steps", str(args.sft_steps), "--lr", "1e-3"]
        + ["--save-steps", str(args.sft_steps), "--eval-every", "0", "--data-cache", cache, *common],
        "grpo": ["train", "grpo", "--init", str(GRPO_START.get(model, run / "sft")), "--out", str(run / "grpo")]
        + ["--scenes-per-task", str(args.scenes), "--steps", str(args.grpo_steps), "--save-steps", str(args.grpo_steps)]
        + ["--eval-every", "0", "--batch-size", str(args.grpo_batch_size), "--lr", "5e-5", "--beta", "0.04"]
        + ["--num-generations", str(GRPO_GENERATIONS), "--temperature", "0.3", "--freeze-vision"]
        + ["--data-cache", cache, *common],
    }


def answer_check(checkpoint: Path, device: str, cache: Path, per_task: int = 4) -> dict:
    """Load ``checkpoint`` on ``device`` and answer validation scenes of every task greedily."""
    from manipgym.agents.curve import observations_and_answers, validation_scenes
    from manipgym.agents.vlm import VLMAgent

    agent = VLMAgent(checkpoint, device=device, batch_size=per_task * len(TASK_NAMES))
    observations, _ = observations_and_answers(validation_scenes(cache, TASK_NAMES, per_task, progress=False))
    answers = agent.act(observations)
    dtype = str(next(agent.model.parameters()).dtype).removeprefix("torch.")
    valid = sum(bool(parse_answer(a)) for a in answers) / len(answers)
    return {"answers": len(answers), "format_valid": valid, "dtype": dtype}


def grpo_log(folder: Path, column: str) -> list[float]:
    """One column of a GRPO run's ``log.jsonl``, step by step."""
    return [json.loads(line)[column] for line in (folder / "log.jsonl").read_text().splitlines()]


def sampled_format_rate(folder: Path, record: dict) -> float | None:
    """GRPO: the share of sampled answers that parsed, over its steps (the rest were not
    executed); None for the other stages, which sample nothing."""
    if record["stage"] != "grpo":
        return None
    return statistics.mean(grpo_log(folder, "format_rate"))


def seconds_per_step(folder: Path, record: dict) -> float:
    """GRPO: the median step after the first (which pays for warm-up), from ``log.jsonl``; the
    other stages: the training loop's wall seconds over its steps (their steps are uniform)."""
    if record["stage"] == "grpo":
        steps = grpo_log(folder, "step_seconds")
        return statistics.median(steps[1:] or steps)
    return record["wall_seconds"] / max(1, record["step"])


def parameters(checkpoint: Path) -> float:
    """Millions of parameters in a checkpoint's weights (read from the safetensors header)."""
    with safe_open(str(checkpoint / "model.safetensors"), "pt") as f:
        return sum(math.prod(f.get_slice(name).get_shape()) for name in f.keys()) / 1e6


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto", help=f"{DEVICE_HELP} (default auto)")
    parser.add_argument("--models", default="tiny", help="comma-separated: tiny, large (default tiny)")
    parser.add_argument("--out", default="runs/train-speed", help="work folder, must not hold runs (runs/train-speed)")
    parser.add_argument("--scenes", type=int, default=16, help="train-manifest scenes per task (default 16)")
    parser.add_argument("--ground-steps", type=int, default=40, help="grounding steps timed (default 40)")
    parser.add_argument("--sft-steps", type=int, default=40, help="SFT steps timed (default 40)")
    parser.add_argument("--grpo-steps", type=int, default=3, help="GRPO steps timed (default 3)")
    parser.add_argument(
        "--grpo-batch-size",
        type=int,
        default=32,
        help="answers sampled per GRPO step, a multiple of 8 (32: the recipe's)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=2,
        help="simulator workers of every stage: rendering, GRPO's episodes (default 2)",
    )
    args = parser.parse_args(argv)
    models = args.models.split(",")
    unknown = sorted(set(models) - set(MODELS))
    if unknown:
        parser.error(f"unknown model {unknown[0]!r}: choose from {', '.join(MODELS)}")
    if args.grpo_batch_size <= 0 or args.grpo_batch_size % GRPO_GENERATIONS:
        parser.error(f"--grpo-batch-size must be a positive multiple of {GRPO_GENERATIONS}, got {args.grpo_batch_size}")
    out = Path(args.out)
    earlier = [str(out / model) for model in models if (out / model).exists()]
    if earlier:
        parser.error(f"{earlier[0]} holds an earlier measurement's runs: remove it or choose another --out")
    stages, answers = [], []
    for model in models:
        for stage, command in stage_commands(model, out, args).items():
            started = time.perf_counter()
            if manipgym_cli(command) != 0:
                print(f"manipgym {' '.join(command)} failed", file=sys.stderr)
                return 1
            wall = time.perf_counter() - started
            folder = out / model / stage
            record = json.loads((folder / "manipgym_train.json").read_text())
            per_step, parsed = seconds_per_step(folder, record), sampled_format_rate(folder, record)
            stages.append((model, parameters(folder), stage, record, per_step, parsed, wall))
        answers.append((model, answer_check(out / model / "grpo", args.device, out / "cache")))

    columns = ["model", "M parameters", "stage", "ran on", "precision", "steps", "s/step", "sampled answers parsed"]
    print("\n| " + " | ".join([*columns, "stage wall s"]) + " |")
    print("|---|---|---|---|---|---|---|---|---|")
    for model, params, stage, record, per_step, parsed, wall in stages:
        print(
            f"| {model} | {params:.1f} | {stage} | {record['ran_on']} | {record['precision']} | {record['step']} "
            f"| {per_step:.3f} | {'–' if parsed is None else f'{parsed:.0%}'} | {wall:.0f} |"
        )
    print(
        f"\ns/step: the training loop's wall seconds over its steps; GRPO: the median step after the first "
        f"({args.grpo_batch_size} sampled answers, those that parse executed by {args.workers} simulator workers; "
        f"tiny starts from the shipped model, other models from their own SFT stage). Stage wall s adds "
        "loading, rendering and saving."
    )
    print("\n| model | GRPO checkpoint loaded as | greedy answers | format-valid |")
    print("|---|---|---|---|")
    for model, check in answers:
        print(f"| {model} | {check['dtype']} | {check['answers']} | {check['format_valid']:.0%} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
