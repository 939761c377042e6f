"""The ``manipgym`` command."""

from __future__ import annotations

import argparse
import sys

from manipgym.agents import AGENT_NAMES
from manipgym.envs import TASK_NAMES

ARCHITECTURES = ("qwen2_5_vl", "idefics3")  # kept in step with manipgym.agents.tiny_vlm (which loads torch)


def _doctor(args: argparse.Namespace) -> int:
    import platform
    import time
    from importlib.metadata import PackageNotFoundError, version

    from manipgym.envs import sim_setup

    print(f"GL backend      {sim_setup.GL_BACKEND.upper()} (MUJOCO_GL)")
    if sim_setup.GL_ERROR is not None:
        print(f"error: {sim_setup.GL_ERROR}", file=sys.stderr)
        return 1
    print(f"python          {platform.python_version()}")
    for package in ("manipgym", "mujoco", "robosuite", "gymnasium", "numpy"):
        try:
            print(f"{package:<15} {version(package)}")
        except PackageNotFoundError:
            print(f"{package:<15} not installed")
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


def _bench(args: argparse.Namespace) -> int:
    from manipgym.agents import make_agent
    from manipgym.benchmarks.episodes import run_episodes, success_table

    options = {"trust_remote_code": args.trust_remote_code, "device": args.device} if args.agent == "vlm" else {}
    try:
        agent = make_agent(args.agent, checkpoint=args.checkpoint, **options)
    except ValueError as err:  # unknown agent, missing or unusable checkpoint: one line, no traceback
        print(f"error: {err}", file=sys.stderr)
        return 2
    seeds = range(args.seed, args.seed + args.episodes)
    results = run_episodes(agent, args.tasks, seeds, progress=not args.no_progress)
    print(f"\n{agent.name} agent, seeds {seeds.start}-{seeds.stop - 1}\n")
    print(success_table(results))
    return 0


def _build_tiny_vlm(args: argparse.Namespace) -> int:
    from manipgym.agents.tiny_vlm import TinyVLMConfig, build_tiny_vlm

    config = TinyVLMConfig(
        text_hidden=args.text_hidden, text_layers=args.text_layers, vision_layers=args.vision_layers, seed=args.seed
    )
    out = build_tiny_vlm(args.arch, args.out, config)
    print(f"wrote a {args.arch} tiny VLM to {out}")
    return 0


def _task_list(text: str) -> list[str]:
    tasks = [t.strip() for t in text.split(",") if t.strip()]
    unknown = [t for t in tasks if t not in TASK_NAMES]
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown task(s) {', '.join(unknown)}; choose from {', '.join(TASK_NAMES)}")
    return tasks


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="manipgym", description=__doc__.strip().rstrip("."))
    sub = parser.add_subparsers(dest="command", required=True)

    doctor = sub.add_parser("doctor", help="check rendering: GL backend, versions, one frame's time")
    doctor.add_argument("--size", type=int, default=224, help="frame size in pixels (default 224)")
    doctor.set_defaults(func=_doctor)

    bench = sub.add_parser("bench", help="run an agent on seeded episodes and print a success table")
    bench.add_argument("--agent", choices=AGENT_NAMES, default="oracle", help="agent (default oracle)")
    bench.add_argument("--checkpoint", help="Hugging Face checkpoint directory (for --agent vlm)")
    bench.add_argument("--device", default="auto", help="vlm device: auto (CUDA when present), cpu, cuda")
    bench.add_argument(
        "--trust-remote-code", action="store_true", help="allow code shipped with the checkpoint (off by default)"
    )
    bench.add_argument(
        "--tasks", type=_task_list, default=list(TASK_NAMES), help="comma-separated tasks (default: all four)"
    )
    bench.add_argument("--episodes", type=int, default=5, help="episodes per task (default 5)")
    bench.add_argument("--seed", type=int, default=0, help="first seed (default 0)")
    bench.add_argument("--no-progress", action="store_true", help="hide progress bars")
    bench.set_defaults(func=_bench)

    tiny = sub.add_parser("build-tiny-vlm", help="build a small random-init VLM with a locally trained tokenizer")
    tiny.add_argument("--arch", choices=ARCHITECTURES, default="qwen2_5_vl", help="architecture (default qwen2_5_vl)")
    tiny.add_argument("--out", required=True, help="output checkpoint directory")
    tiny.add_argument("--text-hidden", type=int, default=128, help="text model width (default 128)")
    tiny.add_argument("--text-layers", type=int, default=2, help="text model layers (default 2)")
    tiny.add_argument("--vision-layers", type=int, default=2, help="vision tower layers (default 2)")
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
