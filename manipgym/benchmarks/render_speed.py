"""How fast the training stages render their scenes, in 1 and more simulator processes.

    python -m manipgym.benchmarks.render_speed [--scenes 100] [--workers 1,2] [--kind oracle]

Rendering the recipe's training scenes (the oracle answers of 1500 scenes per task, the labelled
pointing scenes, the validation scenes) is most of a training command's set-up. This renders the
first ``--scenes`` train scenes of each task (as :func:`manipgym.agents.scene_render.render_scenes`
does for ``train sft``/``ground``/``grpo --workers N``), once per worker count, and reports scenes/s
and scaling efficiency (speed-up over the first row, per worker). Nothing is cached: every run renders.
"""

from __future__ import annotations

import argparse
import sys
import time

from manipgym.agents.scene_render import LABELS, ORACLE, render_scenes
from manipgym.envs import TASK_NAMES


def timed_render(kind: str, scenes: int, workers: int) -> tuple[int, float]:
    """Scenes rendered and seconds taken, over all tasks."""
    started, count = time.perf_counter(), 0
    for task in TASK_NAMES:
        # min_per_worker=1: the pool is timed even on a few scenes (the commands render those in-process)
        count += sum(1 for _ in render_scenes(kind, task, range(scenes), workers, False, min_per_worker=1))
    return count, time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenes", type=int, default=100, help="train scenes per task (default 100)")
    parser.add_argument("--workers", default="1,2", help="comma-separated worker counts (default 1,2)")
    parser.add_argument("--kind", choices=[ORACLE, LABELS], default=ORACLE, help="what is rendered (default oracle)")
    args = parser.parse_args(argv)
    print("| kind | workers | scenes | wall time (s) | scenes/s | scaling efficiency |")
    print("|---|---|---|---|---|---|")
    per_worker = None  # the first row's scenes/s per worker: the efficiency's baseline
    for workers in [int(w) for w in args.workers.split(",")]:
        count, seconds = timed_render(args.kind, args.scenes, workers)
        rate = count / seconds
        per_worker = per_worker or rate / workers
        print(f"| {args.kind} | {workers} | {count} | {seconds:.0f} | {rate:.2f} | {rate / per_worker / workers:.0%} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
