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

from manipgym.agents.scene_render import LABELS, ORACLE, render_processes, render_scenes
from manipgym.cli import positive_int
from manipgym.envs import TASK_NAMES


def worker_counts(text: str) -> list[int]:
    """``"1,2"`` -> ``[1, 2]``; a count under 1 is an argparse error."""
    return [positive_int(count) for count in text.split(",")]


def timed_render(kind: str, scenes: list[tuple[str, int]], workers: int) -> float:
    """Seconds taken to render ``scenes`` in ``workers`` processes (one pool for all tasks, as
    the training commands' labelled scenes; their oracle scenes take one pool per task)."""
    started = time.perf_counter()
    # min_per_worker=1: the pool is timed even on a few scenes (the commands render those in-process)
    for _ in render_scenes(kind, scenes, workers, progress=False, min_per_worker=1):
        pass
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenes", type=positive_int, default=100, help="train scenes per task (default 100)")
    parser.add_argument(
        "--workers", type=worker_counts, default=[1, 2], help="comma-separated worker counts, each 1 or more (1,2)"
    )
    parser.add_argument("--kind", choices=[ORACLE, LABELS], default=ORACLE, help="what is rendered (default oracle)")
    args = parser.parse_args(argv)
    scenes = [(task, index) for task in TASK_NAMES for index in range(args.scenes)]
    print("| kind | workers | scenes | wall time (s) | scenes/s | scaling efficiency |")
    print("|---|---|---|---|---|---|")
    per_worker = None  # the first row's scenes/s per worker: the efficiency's baseline
    for asked in args.workers:
        workers = render_processes(len(scenes), asked, min_per_worker=1)  # no more processes than scenes
        seconds = timed_render(args.kind, scenes, workers)
        rate = len(scenes) / seconds
        per_worker = per_worker or rate / workers
        efficiency = rate / per_worker / workers
        print(f"| {args.kind} | {workers} | {len(scenes)} | {seconds:.0f} | {rate:.2f} | {efficiency:.0%} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
