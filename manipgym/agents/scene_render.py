"""Render train-manifest scenes for the training stages, in one process or in several.

Rendering the training scenes (reset the simulator to a scene, draw its camera image, ask the
oracle or the segmentation) is most of a training run's set-up: about 30 minutes for the
recipe's scenes in one process. Every scene is a pure function of its (task, seed), so the
scenes can be drawn by a pool of processes and come back in order, identical to one process's.
Workers are started with ``spawn`` (as the simulator workers, :mod:`manipgym.envs.workers`) so
that no GL context or torch thread pool is inherited; each keeps one env per task.
"""

from __future__ import annotations

import multiprocessing as mp
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any

from tqdm import tqdm

from manipgym.envs.manifests import manifest_seed

ORACLE = "oracle"  # a scene's image, instruction and oracle answer
LABELS = "labels"  # a scene's image and the simulator's per-pixel object labels

# A worker takes seconds to start: fewer scenes than this per worker render sooner in this process.
MIN_SCENES_PER_WORKER = 16

_envs: dict[str, Any] = {}  # this process's env per task


def _env(task: str):
    if task not in _envs:
        import gymnasium as gym

        import manipgym  # noqa: F401  (registers the envs in a spawned worker)

        _envs[task] = gym.make(f"manipgym/{task}-v0")
    return _envs[task]


def _check_kind(kind: str) -> None:
    if kind not in (ORACLE, LABELS):
        raise ValueError(f"unknown scene kind {kind!r}: use {ORACLE!r} or {LABELS!r}")


def render_scene(job: tuple[str, str, int]) -> tuple:
    """One train-manifest scene, as ``(image, instruction, oracle answer, seed)`` for ``ORACLE``
    or ``(image, labels, names)`` for ``LABELS`` (:meth:`TabletopEnv.object_labels`: the target
    is local label 0)."""
    kind, task, index = job
    _check_kind(kind)
    env, seed = _env(task), manifest_seed(task, "train", index)
    obs, info = env.reset(seed=seed)
    if kind == ORACLE:
        from manipgym.agents.oracle import OracleAgent

        answer = OracleAgent().act([{**obs, "ground_truth": info["ground_truth"]}])[0]
        return obs["image"], obs["instruction"], answer, seed
    labels, names = env.unwrapped.object_labels()
    return obs["image"], labels, names


def render_scenes(
    kind: str,
    scenes: Sequence[tuple[str, int]],
    workers: int = 1,
    progress: bool = True,
    min_per_worker: int = MIN_SCENES_PER_WORKER,
) -> Iterator[tuple]:
    """:func:`render_scene` of each (task, train-manifest index) of ``scenes``, in order. With
    ``workers`` > 1 they are drawn by up to that many processes, at least ``min_per_worker``
    scenes each (:func:`render_processes`); a worker that dies raises ``BrokenProcessPool``."""
    _check_kind(kind)  # before any worker starts
    jobs = [(kind, task, int(index)) for task, index in scenes]
    workers = render_processes(len(jobs), workers, min_per_worker)
    bar = tqdm(total=len(jobs), desc=f"rendering {kind} scenes", disable=not progress)
    try:
        if workers == 1:
            for job in jobs:
                yield render_scene(job)
                bar.update()
        else:
            chunk = max(1, min(16, len(jobs) // (4 * workers)))  # small enough that the workers finish together
            pool = ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn"))
            try:
                for scene in pool.map(render_scene, jobs, chunksize=chunk):
                    yield scene
                    bar.update()
            finally:  # a caller that stops early does not wait for the scenes still queued
                pool.shutdown(wait=True, cancel_futures=True)
    finally:
        _close_envs()
        bar.close()


def render_processes(scenes: int, workers: int, min_per_worker: int = MIN_SCENES_PER_WORKER) -> int:
    """How many processes :func:`render_scenes` draws ``scenes`` scenes in: ``workers``, fewer
    where a process would get under ``min_per_worker`` scenes, and 1 (this process) at least."""
    return max(1, min(workers, scenes // max(1, min_per_worker)))


def _close_envs() -> None:
    for env in _envs.values():
        env.close()
    _envs.clear()
