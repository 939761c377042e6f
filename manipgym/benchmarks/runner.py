"""Run a benchmark suite: episodes from the manifests, simulated in worker processes, answered
by one agent in the main process, each finished episode appended to ``episodes.jsonl`` at once.

A run killed halfway keeps every finished episode; ``resume=True`` skips them. A worker that
dies (unstable physics, out of memory) costs only its episode, recorded as errored.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from tqdm import tqdm

from manipgym.agents.base import Agent
from manipgym.agents.run_dir import check_folder_path
from manipgym.envs import TASK_NAMES
from manipgym.envs.manifests import MANIFEST_VERSION, SUITES, fresh_seeds, manifest_seed
from manipgym.envs.splits import EVAL_SPLITS
from manipgym.envs.workers import EpisodeSpec, Worker

EPISODES_FILE = "episodes.jsonl"
EPISODE_KEY = ("task", "split", "index", "seed")  # what names an episode in a run


@dataclass
class RunConfig:
    """What to run. ``episodes`` overrides the suite's count per task and split."""

    out: str
    suite: str = "quick"
    tasks: Sequence[str] = TASK_NAMES
    splits: Sequence[str] = EVAL_SPLITS
    episodes: int | None = None
    workers: int = 2
    resume: bool = False
    fresh_seeds: bool = False
    fresh_seed: int = 0
    record: int = 0
    agent: str = ""
    checkpoint: str | None = None

    def episodes_per_cell(self) -> int:
        if self.episodes is not None:
            return self.episodes
        if self.suite not in SUITES:
            raise ValueError(f"unknown suite {self.suite!r}; choose one of {', '.join(SUITES)}")
        return SUITES[self.suite]


def episode_specs(config: RunConfig) -> list[EpisodeSpec]:
    """Every episode of the run, in a fixed order (splits, then tasks, then indices)."""
    n = config.episodes_per_cell()
    cells = [(split, task) for split in config.splits for task in config.tasks]
    if config.fresh_seeds:  # seeds outside every manifest, distinct across the whole run
        pool = fresh_seeds(n * len(cells), config.fresh_seed)
        seeds = {cell: pool[k * n : (k + 1) * n] for k, cell in enumerate(cells)}
    else:
        seeds = {(split, task): [manifest_seed(task, split, i) for i in range(n)] for split, task in cells}
    return [EpisodeSpec(task, split, i, seed) for split, task in cells for i, seed in enumerate(seeds[split, task])]


def finished_keys(path: Path) -> set[tuple]:
    """Keys of the episodes already in ``episodes.jsonl`` (a torn last line is ignored)."""
    return {tuple(r[key] for key in EPISODE_KEY) for r in _rows(path)}


def _record(spec: EpisodeSpec, answer: str | None, info: dict | None, error: str | None, seconds: float) -> dict:
    row: dict[str, Any] = {**asdict(spec), "answer": answer, "error": error, "seconds": round(seconds, 4)}
    if info is not None:
        row.update(
            success=bool(info["success"]),
            failure_reason=info["failure_reason"],
            parse_ok=bool(info["parse_ok"]),
            parse_error=info["parse_error"],
            rewards=info["rewards"],
            metrics=info["metrics"],
            control_steps=info["control_steps"],
        )
    else:
        row.update(success=False, failure_reason="error", parse_ok=False, parse_error=None, rewards=None, metrics=None)
    return row


class RunFolderError(ValueError):
    """``config.out`` cannot take this run; the message says why and what to do, in one line."""


# Options a resumed run must share with the run it continues: other values would put another
# agent's answers, or episodes of other seeds, under the same keys. The counts (suite, episodes,
# tasks, splits) may change: more of them extend the run.
SAME_ON_RESUME = ("agent", "checkpoint", "fresh_seeds", "fresh_seed", "manifest_version")


def check_run_folder(config: RunConfig) -> None:
    """Refuse, before anything is written or loaded, a run that ``config.out`` cannot take: a file
    where the folder should be, a finished run without ``resume``, ``resume`` where there is no
    run, or ``resume`` with another agent, checkpoint or seeds than the run was started with."""
    out = Path(config.out)
    if not episode_specs(config):
        raise RunFolderError("no episodes to run: give at least one task and one split")
    try:
        check_folder_path(out)
    except ValueError as err:
        raise RunFolderError(str(err)) from None
    episodes, recorded = out / EPISODES_FILE, out / "config.json"
    if episodes.exists() and not config.resume:
        raise RunFolderError(f"{out} already holds a run: pass --resume to continue it, or choose another --out")
    if not config.resume:
        return
    if not episodes.exists() and not recorded.exists():
        raise RunFolderError(f"{out} holds no run to resume: check --out, or run without --resume")
    try:
        started = json.loads(recorded.read_text()) if recorded.exists() else {}
    except ValueError:
        started = {}  # a config.json cut short: nothing to compare, the episodes still say what ran
    now = {**asdict(config), "manifest_version": MANIFEST_VERSION}
    for key in SAME_ON_RESUME:
        if key == "fresh_seed" and not now["fresh_seeds"]:
            continue  # --seed draws nothing without --fresh-seeds
        if key in started and _comparable(key, started[key]) != _comparable(key, now[key]):
            raise RunFolderError(
                f"{out} was run with {key} {started[key]!r}, not {now[key]!r}: resume it with the options "
                "it started with (its config.json), or choose another --out"
            )


def _comparable(key: str, value: Any) -> Any:
    """A checkpoint path as the folder it names, so ``runs/x`` and ``./runs/x/`` are one checkpoint."""
    return str(Path(value).resolve()) if key == "checkpoint" and value else value


def run_suite(agent: Agent, config: RunConfig, progress: bool = True) -> Path:
    """Run (or resume) the suite into ``config.out``; returns the path of ``episodes.jsonl``.
    Raises :class:`RunFolderError` (before writing anything) where ``config.out`` cannot take it."""
    check_run_folder(config)
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / EPISODES_FILE
    config_path = out / "config.json"
    config_path.write_text(json.dumps({**asdict(config), "manifest_version": MANIFEST_VERSION}, indent=2) + "\n")
    specs = episode_specs(config)
    _drop_torn_line(path)
    done = finished_keys(path) if config.resume else set()
    todo = [s for s in specs if s.key not in done]
    to_record = {s.key for s in specs[: config.record]} - done
    workers = [Worker() for _ in range(max(1, config.workers))]
    bar = tqdm(total=len(specs), initial=len(specs) - len(todo), desc="episodes", unit="ep", disable=not progress)
    wins = sum(1 for row in _rows(path) if row.get("success")) if config.resume else 0
    try:
        with open(path, "a") as log:
            for start in range(0, len(todo), len(workers)):
                batch = list(zip(workers, todo[start : start + len(workers)]))
                started = time.perf_counter()
                for worker, spec in batch:
                    worker.send("reset", spec, spec.key in to_record)
                ready, rows = [], []
                for worker, spec in batch:
                    reply = worker.receive()
                    if reply[0] == "obs":
                        ready.append((worker, spec, reply[1], reply[2]))
                    else:
                        rows.append(_record(spec, None, None, reply[1], time.perf_counter() - started))
                observations = [
                    {**obs, "ground_truth": info["ground_truth"]} if agent.needs_ground_truth else obs
                    for _, _, obs, info in ready
                ]
                answers = agent.act(observations) if observations else []
                for (worker, _, _, _), answer in zip(ready, answers):
                    worker.send("step", answer)
                for (worker, spec, _, _), answer in zip(ready, answers):
                    reply = worker.receive()
                    seconds = time.perf_counter() - started
                    if reply[0] == "result":
                        info = reply[1]
                        frames = info.pop("frames", None)
                        if frames is not None:
                            from manipgym.benchmarks.video import write_episode_video

                            write_episode_video(out / "videos" / _video_name(spec), frames, answer, info)
                        rows.append(_record(spec, answer, info, None, seconds))
                    else:
                        rows.append(_record(spec, answer, None, reply[1], seconds))
                for row in rows:
                    log.write(json.dumps(row) + "\n")
                    wins += row["success"]
                log.flush()
                bar.update(len(rows))
                bar.set_postfix(success=f"{wins / max(bar.n, 1):.0%}")
    finally:
        bar.close()
        for worker in workers:
            worker.close()
    return path


def _drop_torn_line(path: Path) -> None:
    """A run killed mid-write leaves a last line without its newline: cut it before appending."""
    if not path.exists():
        return
    data = path.read_bytes()
    if data and not data.endswith(b"\n"):
        path.write_bytes(data[: data.rfind(b"\n") + 1])


def _video_name(spec: EpisodeSpec) -> str:
    return f"{spec.task}_{spec.split}_{spec.index:03d}_seed{spec.seed}.mp4"


def _rows(path: Path) -> list[dict]:
    """The episode records in ``path``; a line that is not one (torn, blank, edited by hand) is skipped."""
    rows = []
    if path.exists():
        for line in path.read_text().splitlines():
            try:
                row = json.loads(line)
            except ValueError:
                continue
            if isinstance(row, dict) and all(key in row for key in EPISODE_KEY):
                rows.append(row)
    return rows


def load_episodes(run_dir: str | Path) -> list[dict]:
    """The finished episodes of a run (the last record of each episode wins)."""
    rows = {}
    for row in _rows(Path(run_dir) / EPISODES_FILE):
        rows[tuple(row[key] for key in EPISODE_KEY)] = row
    return list(rows.values())
