"""The ``manipgym`` command."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from manipgym.agents import AGENT_NAMES
from manipgym.agents.train_data import AFFORDANCE_FORMS
from manipgym.envs import TASK_NAMES, task_list
from manipgym.envs.manifests import SUITES
from manipgym.envs.splits import EVAL_SPLITS, SPLITS

SPLIT_NAMES = tuple(SPLITS)
SUITE_NAMES = tuple(SUITES)
ARCHITECTURES = ("qwen2_5_vl", "idefics3")  # kept in step with manipgym.agents.tiny_vlm (which loads torch)
DEVICE_HELP = "auto (CUDA when present: bf16 mixed precision, float32 weights), cpu, cuda"
RENDER_WORKERS_HELP = (
    "simulator processes that render the scenes not in --data-cache: up to N, at least 16 scenes each; "
    "1 renders in this process (default 2)"
)


def positive_int(text: str) -> int:
    """An argparse ``type=`` for counts that must be 1 or more (worker processes, episodes)."""
    return _int_at_least(text, 1)


def non_negative_int(text: str) -> int:
    """An argparse ``type=`` for counts where 0 means none (videos to record)."""
    return _int_at_least(text, 0)


def _int_at_least(text: str, low: int) -> int:
    try:
        value = int(text)
    except ValueError:
        value = low - 1
    if value < low:
        raise argparse.ArgumentTypeError(f"expected a whole number of {low} or more, got {text!r}")
    return value


def _doctor(args: argparse.Namespace) -> int:
    import platform
    import time

    from manipgym.envs import sim_setup
    from manipgym.versions import package_versions

    print(f"GL backend      {sim_setup.GL_BACKEND.upper()} (MUJOCO_GL)")
    if sim_setup.GL_ERROR is not None:
        print(f"error: {sim_setup.GL_ERROR}", file=sys.stderr)
        return 1
    print(f"python          {platform.python_version()}")
    for package, installed in package_versions(("manipgym", "mujoco", "robosuite", "gymnasium", "numpy")).items():
        print(f"{package:<15} {installed or 'not installed'}")
    try:
        import numpy as np

        from manipgym.envs.scene import TabletopScene
        from manipgym.envs.tasks import TASKS
        from manipgym.envs.variation import Variation

        scene = TabletopScene(image_size=(args.size, args.size))
        scene.arrange(TASKS["Lift"].sample(np.random.default_rng(0), Variation()).arrangement)
        scene.render_rgbd()  # the first frame pays for context set-up
        started = time.perf_counter()
        rgb, depth = scene.render_rgbd()
        elapsed = time.perf_counter() - started
        scene.close()
    except Exception as err:  # any failure here means rendering does not work on this machine
        hint = "try MUJOCO_GL=egl or MUJOCO_GL=osmesa"
        print(f"error: rendering failed ({type(err).__name__}: {err}); {hint}", file=sys.stderr)
        return 1
    if not np.isfinite(depth).all() or rgb.std() == 0:
        print("error: rendered frame is blank or has invalid depth", file=sys.stderr)
        return 1
    print(f"render          {args.size}x{args.size} RGB-D frame in {elapsed * 1000:.1f} ms")
    return 0


def _make_agent(args: argparse.Namespace):
    """The agent the options ask for, or None after printing one line saying what is wrong."""
    from manipgym.agents import make_agent

    options = {"trust_remote_code": args.trust_remote_code, "device": args.device} if args.agent == "vlm" else {}
    try:
        return make_agent(args.agent, checkpoint=args.checkpoint, **options)
    except ValueError as err:  # unknown agent, missing or unusable checkpoint: one line, no traceback
        print(f"error: {err}", file=sys.stderr)
        return None


def _bench(args: argparse.Namespace) -> int:
    import time

    from manipgym.benchmarks.results import summarise
    from manipgym.benchmarks.runner import RunConfig, RunFolderError, check_run_folder, run_suite

    out = args.out or f"runs/{args.agent}-{args.suite}-{time.strftime('%Y%m%d-%H%M%S')}"
    config = RunConfig(
        out=out,
        suite=args.suite,
        tasks=args.tasks,
        splits=args.splits,
        episodes=args.episodes,
        workers=args.workers,
        resume=args.resume,
        fresh_seeds=args.fresh_seeds,
        fresh_seed=args.seed,
        record=args.record,
        agent=args.agent,
        checkpoint=args.checkpoint,
    )
    try:
        check_run_folder(config)  # before a model is loaded
    except RunFolderError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    agent = _make_agent(args)
    if agent is None:
        return 2
    try:
        run_suite(agent, config, progress=not args.no_progress)
    except KeyboardInterrupt:
        print(
            f"\ninterrupted: finished episodes are in {out}/episodes.jsonl; rerun with --resume --out {out}",
            file=sys.stderr,
        )
        return 130
    results = summarise(out)
    print("\n" + (Path(out) / "summary.md").read_text())
    print(f"results: {out}/results.json, {out}/summary.md, {out}/success_by_split.png")
    return 0 if results["overall"]["episodes"] else 1


def _report(args: argparse.Namespace) -> int:
    from manipgym.benchmarks.paired import paired_table
    from manipgym.benchmarks.results import report

    try:
        table = report(args.runs)
        paired = "\n" + paired_table(args.runs) if args.paired else ""  # built first: an error prints alone
        print(table + paired, end="")
    except (OSError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


def _record(args: argparse.Namespace) -> int:
    import gymnasium as gym

    from manipgym.agents.run_dir import check_folder_path
    from manipgym.benchmarks.video import write_episode_video
    from manipgym.envs.splits import variation_for

    try:
        check_folder_path(args.out)  # before the episode runs, not after
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    agent = _make_agent(args)
    if agent is None:
        return 2
    env = gym.make(f"manipgym/{args.task}-v0", variation=variation_for(args.split))
    obs, info = env.reset(seed=args.seed, options={"record_video": True})
    answer = agent.act([{**obs, "ground_truth": info["ground_truth"]} if agent.needs_ground_truth else obs])[0]
    _, _, _, _, step = env.step(answer)
    env.close()
    path = Path(args.out) / f"{args.task}_{args.split}_seed{args.seed}_{agent.name}.mp4"
    write_episode_video(path, step.pop("frames"), answer, step)
    outcome = "success" if step["success"] else f"failure ({step['failure_reason']})"
    print(f"{path}: {outcome}")
    return 0


def _tiny_config(args: argparse.Namespace):
    from manipgym.agents.tiny_vlm import TinyVLMConfig

    return TinyVLMConfig(
        text_hidden=args.text_hidden,
        text_layers=args.text_layers,
        vision_hidden=args.vision_hidden,
        vision_layers=args.vision_layers,
        merge=args.merge,
        coord_step=args.coord_step,
        seed=args.seed,
    )


def _build_tiny_vlm(args: argparse.Namespace) -> int:
    from manipgym.agents.run_dir import check_new_model_folder
    from manipgym.agents.tiny_vlm import build_tiny_vlm

    try:
        check_new_model_folder(args.out)
    except (FileExistsError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    out = build_tiny_vlm(args.arch, args.out, _tiny_config(args))
    print(f"wrote a {args.arch} tiny VLM to {out}")
    return 0


def _tiny_options(parser: argparse.ArgumentParser, arch: bool = True, merge: int = 2, coord_step: int = 0) -> None:
    if arch:
        parser.add_argument(
            "--arch", choices=ARCHITECTURES, default="qwen2_5_vl", help="architecture (default qwen2_5_vl)"
        )
    parser.add_argument("--text-hidden", type=int, default=128, help="text model width (default 128)")
    parser.add_argument("--text-layers", type=int, default=2, help="text model layers (default 2)")
    parser.add_argument("--vision-hidden", type=int, default=64, help="vision tower width (default 64)")
    parser.add_argument("--vision-layers", type=int, default=2, help="vision tower layers (default 2)")
    parser.add_argument(
        "--merge",
        type=int,
        choices=[1, 2],
        default=merge,
        help=f"patches merged per side into one image token (default {merge})",
    )
    parser.add_argument(
        "--coord-step",
        type=int,
        default=coord_step,
        help=f"one token per multiple of N in 0..1000 (location tokens); 0: digits (default {coord_step})",
    )


def _agent_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--agent",
        choices=AGENT_NAMES,
        default="vlm",
        help="agent (default vlm: the shipped tiny VLM, which beats the heuristic on test; see --checkpoint)",
    )
    parser.add_argument(
        "--checkpoint", help="Hugging Face checkpoint directory for --agent vlm (default: the shipped tiny VLM)"
    )
    parser.add_argument("--device", default="auto", help="vlm device: auto (CUDA when present), cpu, cuda")
    parser.add_argument(
        "--trust-remote-code", action="store_true", help="allow code shipped with the checkpoint (off by default)"
    )


def _split_list(text: str) -> list[str]:
    splits = [t.strip() for t in text.split(",") if t.strip()]
    unknown = [t for t in splits if t not in SPLIT_NAMES]
    if unknown or not splits:
        raise argparse.ArgumentTypeError(
            f"unknown split(s) {', '.join(unknown) or repr(text)}; choose from {', '.join(SPLIT_NAMES)}"
        )
    return splits


def _train(args: argparse.Namespace) -> int:
    from manipgym.agents.sft import SFTRunConfig, train_sft

    config = SFTRunConfig(
        out=args.out,
        init=args.init,
        arch=args.arch,
        tiny=_tiny_config(args),
        tasks=args.tasks,
        episodes_per_task=args.episodes_per_task,
        affordance=args.affordance,
        pointing_scenes_per_task=args.pointing_scenes,
        pointing_attention=args.pointing_attention,
        task_attention=args.task_attention,
        goal_attention=args.goal_attention,
        freeze_vision=args.freeze_vision,
        gradient_checkpointing=args.gradient_checkpointing,
        color_jitter=args.color_jitter,
        nonce_nouns=args.nonce_nouns,
        nonce_colors=args.nonce_colors,
        steps=args.steps,
        batch_size=args.batch_size,
        learning_rate=args.lr,
        lr_schedule=args.lr_schedule,
        save_steps=args.save_steps,
        keep_checkpoints=args.keep_checkpoints,
        eval_every=args.eval_every,
        data_cache=args.data_cache,
        workers=args.workers,
        seed=args.seed,
        resume=args.resume,
        device=args.device,
    )
    try:
        out = train_sft(config, progress=not args.no_progress)
    except (FileExistsError, ValueError) as err:  # an existing run or an unusable --init
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"wrote the SFT checkpoint to {out}")
    return 0


def _train_options(parser: argparse.ArgumentParser, default_lr: float, default_steps: int) -> None:
    """Options both training stages take."""
    parser.add_argument("--out", required=True, help="output checkpoint directory")
    parser.add_argument("--init", help="checkpoint to start from (default: a fresh tiny VLM, see --arch)")
    _tiny_options(parser)
    parser.add_argument(
        "--tasks", type=task_list, default=list(TASK_NAMES), help="comma-separated tasks (default: all)"
    )
    parser.add_argument("--steps", type=int, default=default_steps, help=f"optimiser steps (default {default_steps})")
    parser.add_argument("--batch-size", type=int, default=16, help="examples (completions) per step (default 16)")
    parser.add_argument("--lr", type=float, default=default_lr, help=f"peak learning rate (default {default_lr:g})")
    parser.add_argument("--save-steps", type=int, default=100, help="checkpoint every N steps (default 100)")
    _keep_checkpoints_option(parser)
    parser.add_argument("--seed", type=int, default=0, help="seed of the initialisation and data order (default 0)")
    parser.add_argument("--device", default="auto", help=DEVICE_HELP)
    parser.add_argument("--resume", action="store_true", help=RESUME_TRAINING_HELP)
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")


def _keep_checkpoints_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--keep-checkpoints",
        type=int,
        default=2,
        metavar="N",
        help="newest checkpoints kept in OUT/checkpoints (default 2; 0: all, e.g. to pick one by the curve)",
    )


def _gradient_checkpointing_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--gradient-checkpointing",
        action="store_true",
        help="recompute activations in the backward pass instead of keeping them: less memory, more time per "
        "step (for a large --init on a GPU; the tiny model does not need it; on a CPU the same weights either way)",
    )


def _color_jitter_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--color-jitter",
        type=float,
        default=0.0,
        metavar="S",
        help="augment training images: brightness, contrast and saturation factors drawn from [1-S, 1+S] "
        "(e.g. 0.5; default 0: off)",
    )


def _nonce_word_options(parser: argparse.ArgumentParser, nouns_help: str, colors_help: str) -> None:
    """--nonce-nouns and --nonce-colors (agents/nonce_words.py), each with its help text."""
    for option, text in (("--nonce-nouns", nouns_help), ("--nonce-colors", colors_help)):
        parser.add_argument(
            option,
            type=float,
            default=0.0,
            metavar="P",
            help=f"{text}, so that unknown words do not derail the model (e.g. 0.2; default 0: off)",
        )


RESUME_TRAINING_HELP = (
    "continue from the last checkpoint in --out with the run's own options; only how long it runs, "
    "how it saves and reports, and where and how it computes and caches may change"
)


def grpo_run_config(args: argparse.Namespace):
    """The :class:`~manipgym.agents.grpo.GRPORunConfig` of parsed ``train grpo`` arguments."""
    from manipgym.agents.grpo import GRPORunConfig
    from manipgym.rewards import RewardWeights

    return GRPORunConfig(
        out=args.out,
        init=args.init,
        tasks=args.tasks,
        scenes_per_task=args.scenes_per_task,
        first_scene=args.first_scene,
        steps=args.steps,
        batch_size=args.batch_size,
        num_generations=args.num_generations,
        learning_rate=args.lr,
        beta=args.beta,
        epsilon=args.epsilon,
        epsilon_high=args.epsilon_high,
        loss_type=args.loss_type,
        scale_rewards=args.scale_rewards,
        temperature=args.temperature,
        max_completion_length=args.max_completion_length,
        weights=RewardWeights(**dict(zip(("format", "affordance", "trajectory", "success"), args.weights))),
        nonce_nouns=args.nonce_nouns,
        nonce_colors=args.nonce_colors,
        freeze_vision=args.freeze_vision,
        gradient_checkpointing=args.gradient_checkpointing,
        workers=args.workers,
        save_steps=args.save_steps,
        keep_checkpoints=args.keep_checkpoints,
        eval_every=args.eval_every,
        data_cache=args.data_cache,
        seed=args.seed,
        resume=args.resume,
        device=args.device,
    )


def _train_grpo(args: argparse.Namespace) -> int:
    from manipgym.agents.grpo import train_grpo
    from manipgym.agents.vlm import CheckpointError

    try:
        out = train_grpo(grpo_run_config(args), progress=not args.no_progress)
    except (FileExistsError, ValueError, CheckpointError) as err:  # bad options, an existing run, a bad --init
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"wrote the GRPO checkpoint to {out}")
    return 0


def _train_ground(args: argparse.Namespace) -> int:
    from manipgym.agents.ground import GroundRunConfig, train_ground

    try:
        config = GroundRunConfig(
            out=args.out,
            tiny=_tiny_config(args),
            tasks=args.tasks,
            scenes_per_task=args.scenes_per_task,
            steps=args.steps,
            batch_size=args.batch_size,
            learning_rate=args.lr,
            color_jitter=args.color_jitter,
            data_cache=args.data_cache,
            workers=args.workers,
            seed=args.seed,
            device=args.device,
            save_steps=args.save_steps,
            resume=args.resume,
        )
        out = train_ground(config, progress=not args.no_progress)
    except (FileExistsError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"wrote the grounded checkpoint to {out} (train it further with: manipgym train sft --init {out})")
    return 0


def _export(args: argparse.Namespace) -> int:
    from manipgym.agents.run_dir import export_model

    try:
        out = export_model(args.checkpoint, args.out)
    except (FileExistsError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"wrote the model to {out} (bench it with: manipgym bench --agent vlm --checkpoint {out})")
    return 0


def _weights(text: str) -> list[float]:
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        values = []
    if len(values) != 4:
        raise argparse.ArgumentTypeError(f"expected four comma-separated numbers, got {text!r}")
    if not all(0 <= v < float("inf") for v in values):  # NaN fails both comparisons
        raise argparse.ArgumentTypeError(f"each weight must be a finite number of 0 or more, got {text!r}")
    if not any(values):
        raise argparse.ArgumentTypeError("all four weights are 0, so every reward would be 0: give one above 0")
    return values


def _add_ground_stage(stages) -> None:
    """`manipgym train ground`: the tower's grounding, the first stage."""
    ground = stages.add_parser(
        "ground", help="before sft: teach a fresh tiny Idefics3 VLM's image tokens the words and place of each patch"
    )
    ground.add_argument("--out", required=True, help="output checkpoint directory")
    _tiny_options(ground, arch=False, merge=1, coord_step=10)
    ground.add_argument(
        "--tasks", type=task_list, default=list(TASK_NAMES), help="comma-separated tasks (default: all)"
    )
    ground.add_argument("--scenes-per-task", type=int, default=500, help="train-manifest scenes per task (default 500)")
    ground.add_argument("--steps", type=int, default=1500, help="optimiser steps (default 1500)")
    ground.add_argument("--batch-size", type=int, default=32, help="images per step (default 32)")
    ground.add_argument("--lr", type=float, default=2e-3, help="peak learning rate, one-cycle (default 2e-3)")
    _color_jitter_option(ground)
    ground.add_argument("--data-cache", help="folder that keeps the rendered, labelled scenes for later runs")
    ground.add_argument("--workers", type=positive_int, default=2, help=RENDER_WORKERS_HELP)
    ground.add_argument("--seed", type=int, default=0, help="seed of the initialisation and batches (default 0)")
    ground.add_argument("--device", default="auto", help=DEVICE_HELP)
    ground.add_argument(
        "--save-steps",
        type=int,
        default=250,
        help="save the training state every N steps, the newest kept (default 250)",
    )
    ground.add_argument(
        "--resume",
        action="store_true",
        help="continue from the saved state in --out with the run's own options (--steps included); "
        "only how it saves and reports, and where it computes and caches may change",
    )
    ground.add_argument("--no-progress", action="store_true", help="hide progress bars")
    ground.set_defaults(func=_train_ground)


def _add_sft_stage(stages) -> None:
    """`manipgym train sft`: the supervised warm start."""
    sft = stages.add_parser("sft", help="supervised warm start on oracle answers of train-manifest scenes")
    _train_options(sft, default_lr=1e-3, default_steps=500)
    sft.add_argument("--episodes-per-task", type=int, default=250, help="train-manifest scenes per task (default 250)")
    sft.add_argument(
        "--eval-every",
        type=int,
        default=100,
        help="steps between learning-curve points in curve.jsonl (default 100; 0: off)",
    )
    sft.add_argument("--data-cache", help="folder that keeps rendered training examples for later runs")
    sft.add_argument("--workers", type=positive_int, default=2, help=RENDER_WORKERS_HELP)
    sft.add_argument(
        "--affordance",
        choices=AFFORDANCE_FORMS,
        default="box",
        help="affordance form of the training answers: the box, or its centre as a point (default box)",
    )
    sft.add_argument(
        "--pointing-scenes",
        type=int,
        default=0,
        help="also train 'point to the <object>' on every object of this many scenes per task (default 0: off)",
    )
    sft.add_argument(
        "--pointing-attention",
        type=float,
        default=0.0,
        metavar="W",
        help="weight of a loss that teaches the answer's coordinates to attend to the named object's image tokens "
        "(pointing examples only; needs --pointing-scenes and a location-token --init; default 0: off)",
    )
    sft.add_argument(
        "--task-attention",
        action="store_true",
        help="apply the --pointing-attention loss to the task answers too, on the scenes --pointing-scenes labels "
        "(attention to the object the task acts on)",
    )
    sft.add_argument(
        "--goal-attention",
        action="store_true",
        help="apply the --pointing-attention loss to the last trajectory point of the task answers on the scenes "
        "--pointing-scenes labels (attention to the goal: the plate, block or circle)",
    )
    sft.add_argument(
        "--freeze-vision", action="store_true", help="train only the language model (keeps a grounded tower as it is)"
    )
    sft.add_argument(
        "--lr-schedule",
        choices=["cosine", "constant", "wsd"],  # the keys of sft.LR_SCHEDULES (not imported: it loads the trainer)
        default="cosine",
        help="learning rate after warm-up: cosine decay to 0, constant at --lr, or wsd: constant for the first "
        "half of --steps, then cosine decay to 0 (default cosine)",
    )
    _gradient_checkpointing_option(sft)
    _color_jitter_option(sft)
    _nonce_word_options(
        sft,
        "with probability P, an example names its object by a made-up word instead of its shape, in the "
        "instruction and the answer's reasoning (drawn afresh each time the example is drawn)",
        "with probability P, an example names each of its colours by a made-up word, in the instruction and "
        "the answer's reasoning (drawn afresh each time the example is drawn)",
    )
    sft.set_defaults(func=_train)


def _add_grpo_stage(stages) -> None:
    """`manipgym train grpo`: GRPO on executed rewards."""
    grpo = stages.add_parser("grpo", help="GRPO on rewards from executing each sampled answer in the simulator")
    grpo.add_argument("--out", required=True, help="output checkpoint directory")
    grpo.add_argument("--init", required=True, help="checkpoint to start from (usually a train sft output)")
    grpo.add_argument("--tasks", type=task_list, default=list(TASK_NAMES), help="comma-separated tasks (default: all)")
    grpo.add_argument(
        "--scenes-per-task", type=int, default=500, help="train-manifest scenes used as prompts (default 500)"
    )
    grpo.add_argument(
        "--first-scene",
        type=int,
        default=0,
        help="index of the first prompt scene per task (default 0; e.g. 1500 after an SFT run on scenes 0-1499)",
    )
    grpo.add_argument("--steps", type=int, default=100, help="optimiser steps (default 100)")
    grpo.add_argument(
        "--batch-size", type=int, default=32, help="completions per step, a multiple of --num-generations (default 32)"
    )
    grpo.add_argument("--num-generations", type=int, default=8, help="answers sampled per scene, G (default 8)")
    grpo.add_argument("--lr", type=float, default=5e-5, help="learning rate after warm-up (default 5e-5)")
    grpo.add_argument(
        "--beta", type=float, default=0.04, help="KL coefficient (default 0.04; 0 loads no reference model)"
    )
    grpo.add_argument("--epsilon", type=float, default=0.2, help="lower clipping bound (default 0.2)")
    grpo.add_argument("--epsilon-high", type=float, help="upper clipping bound (default: --epsilon; DAPO: 0.28)")
    grpo.add_argument(
        "--loss-type", choices=["grpo", "dr_grpo", "dapo", "bnpo"], default="dapo", help="policy loss (default dapo)"
    )
    grpo.add_argument(
        "--scale-rewards", choices=["group", "batch", "none"], default="group", help="advantage scaling (default group)"
    )
    grpo.add_argument(
        "--temperature", type=float, default=0.3, help="sampling temperature (default 0.3, near the greedy answer)"
    )
    grpo.add_argument("--max-completion-length", type=int, default=160, help="tokens per answer (default 160)")
    grpo.add_argument(
        "--weights",
        type=_weights,
        default=[0.1, 0.2, 0.2, 0.5],
        help="format,affordance,trajectory,success reward weights (default 0.1,0.2,0.2,0.5)",
    )
    _nonce_word_options(
        grpo,
        "with probability P, a scene's prompt names its object by a made-up word instead of its shape "
        "(drawn once for the run)",
        "with probability P, a scene's prompt names each of its colours by a made-up word (drawn once for the run)",
    )
    grpo.add_argument(
        "--freeze-vision",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="train only the language model, keeping the SFT tower as it is (default; --no-freeze-vision trains it)",
    )
    grpo.add_argument(
        "--workers",
        type=positive_int,
        default=2,
        help="simulator worker processes: render the training scenes, execute the answers (default 2)",
    )
    _gradient_checkpointing_option(grpo)
    grpo.add_argument("--save-steps", type=int, default=50, help="checkpoint every N steps (default 50)")
    _keep_checkpoints_option(grpo)
    grpo.add_argument(
        "--eval-every",
        type=int,
        default=50,
        help="steps between validation-curve points (greedy answers on 25 validation scenes per task, executed; "
        "0: off; default 50)",
    )
    grpo.add_argument("--data-cache", help="folder that keeps rendered training scenes for later runs")
    grpo.add_argument("--seed", type=int, default=0, help="seed of sampling and data order (default 0)")
    grpo.add_argument("--device", default="auto", help=DEVICE_HELP)
    grpo.add_argument("--resume", action="store_true", help=RESUME_TRAINING_HELP)
    grpo.add_argument("--no-progress", action="store_true", help="hide progress bars and step lines")
    grpo.set_defaults(func=_train_grpo)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="manipgym", description="Benchmark vision-language models on simulated robot manipulation."
    )
    sub = parser.add_subparsers(dest="command", required=True)

    doctor = sub.add_parser("doctor", help="check rendering: GL backend, versions, one frame's time")
    doctor.add_argument("--size", type=positive_int, default=224, help="frame size in pixels (default 224)")
    doctor.set_defaults(func=_doctor)

    bench = sub.add_parser("bench", help="run a benchmark suite: success with 95%% CIs per task and split")
    _agent_options(bench)
    bench.add_argument(
        "--suite", choices=SUITE_NAMES, default="quick", help="episodes per task and split (default quick)"
    )
    bench.add_argument("--tasks", type=task_list, default=list(TASK_NAMES), help="comma-separated tasks (default: all)")
    bench.add_argument(
        "--splits",
        type=_split_list,
        default=list(EVAL_SPLITS),
        help="comma-separated splits (default: test and every ood_*)",
    )
    bench.add_argument("--episodes", type=positive_int, help="episodes per task and split (overrides --suite)")
    bench.add_argument("--workers", type=positive_int, default=2, help="simulator worker processes (default 2)")
    bench.add_argument("--out", help="run directory (default runs/<agent>-<suite>-<time>)")
    bench.add_argument("--resume", action="store_true", help="continue the run in --out, skipping finished episodes")
    bench.add_argument(
        "--record", type=non_negative_int, default=0, help="write mp4 videos of the first N episodes (default 0: none)"
    )
    bench.add_argument("--fresh-seeds", action="store_true", help="draw seeds outside every manifest (see --seed)")
    bench.add_argument("--seed", type=int, default=0, help="generator seed for --fresh-seeds (default 0)")
    bench.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    bench.set_defaults(func=_bench)

    rep = sub.add_parser("report", help="put runs side by side: success per split with 95%% CIs")
    rep.add_argument("runs", nargs="+", help="run directories")
    rep.add_argument(
        "--paired",
        action="store_true",
        help="also compare every run with the first, episode by episode (gained, lost, McNemar's exact p)",
    )
    rep.set_defaults(func=_report)

    record = sub.add_parser("record", help="execute one episode and write an mp4 with the prediction drawn on it")
    _agent_options(record)
    record.add_argument("--task", choices=TASK_NAMES, default="PickPlace", help="task (default PickPlace)")
    record.add_argument("--split", choices=list(SPLIT_NAMES), default="test", help="split (default test)")
    record.add_argument("--seed", type=int, default=0, help="episode seed (default 0)")
    record.add_argument("--out", default="videos", help="output folder (default videos)")
    record.set_defaults(func=_record)

    train = sub.add_parser("train", help="train a VLM in simulation: ground, sft (oracle answers), then grpo")
    stages = train.add_subparsers(dest="stage", required=True, metavar="{ground,sft,grpo}")
    for add_stage in (_add_ground_stage, _add_sft_stage, _add_grpo_stage):  # the pipeline's order
        add_stage(stages)

    export = sub.add_parser(
        "export",
        help="copy a trained checkpoint's model, without its training state, e.g. to ship it",
        description="Copy a trained checkpoint's model (weights, config, processor, run record and "
        "learning curve) without its training state, its tokenizer set to pad on the left for batched "
        "generation: how a checkpoint chosen by the curve becomes a model to ship or share.",
    )
    export.add_argument("checkpoint", help="a train sft/grpo output or one of its checkpoints/checkpoint-N")
    export.add_argument("--out", required=True, help="new model directory")
    export.set_defaults(func=_export)

    tiny = sub.add_parser("build-tiny-vlm", help="build a small random-init VLM with a locally trained tokenizer")
    tiny.add_argument("--out", required=True, help="output checkpoint directory")
    _tiny_options(tiny)
    tiny.add_argument("--seed", type=int, default=0, help="initialisation and tokenizer seed (default 0)")
    tiny.set_defaults(func=_build_tiny_vlm)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
