"""Fixed episode manifests: (task, split, index) -> seed, versioned and shipped in the package.

Seeds are drawn once, without replacement, from a fixed generator, so no seed appears in two
splits (nothing of ``train`` leaks into evaluation). ``python -m manipgym.envs.manifests``
rewrites the shipped file; a test checks that it is exactly what :func:`generate` gives.
"""

from __future__ import annotations

import json
import sys
from functools import lru_cache
from importlib.resources import files

import numpy as np

from manipgym.envs import TASK_NAMES
from manipgym.envs.splits import SPLITS

MANIFEST_VERSION = 1
EPISODES_PER_SPLIT = {"train": 2000}  # every other split
EVAL_EPISODES = 100
SEED_SPACE = 2**31 - 1
_MASTER_SEED = 20261121  # the manifests' own generator, fixed for version 1
SUITES = {"quick": 5, "standard": 25, "full": EVAL_EPISODES}  # episodes per task and split


def generate(version: int = MANIFEST_VERSION) -> dict:
    """The manifest of ``version``: seeds per split and task."""
    if version != 1:
        raise ValueError(f"unknown manifest version {version}")
    counts = {split: EPISODES_PER_SPLIT.get(split, EVAL_EPISODES) for split in SPLITS}
    total = len(TASK_NAMES) * sum(counts.values())
    seeds = np.random.default_rng(_MASTER_SEED).choice(SEED_SPACE, size=total, replace=False).tolist()
    episodes: dict[str, dict[str, list[int]]] = {}
    for split, count in counts.items():
        episodes[split] = {}
        for task in TASK_NAMES:
            episodes[split][task], seeds = seeds[:count], seeds[count:]
    return {"version": version, "seed_space": SEED_SPACE, "episodes": episodes}


def _path():
    return files("manipgym") / "assets" / "manifests" / f"v{MANIFEST_VERSION}.json"


@lru_cache(maxsize=1)
def load_manifest() -> dict:
    return json.loads(_path().read_text())


def manifest_seed(task: str, split: str, index: int) -> int:
    """The seed of episode ``index`` of ``task`` on ``split``."""
    seeds = load_manifest()["episodes"][split][task]
    if not 0 <= index < len(seeds):
        raise IndexError(f"{task}/{split} has {len(seeds)} episodes in manifest v{MANIFEST_VERSION}, not {index + 1}")
    return seeds[index]


def all_manifest_seeds() -> set[int]:
    return {s for by_task in load_manifest()["episodes"].values() for seeds in by_task.values() for s in seeds}


def fresh_seeds(count: int, seed: int) -> list[int]:
    """``count`` seeds outside every manifest, drawn from a generator seeded with ``seed``."""
    taken, rng, fresh = all_manifest_seeds(), np.random.default_rng(seed), []
    while len(fresh) < count:
        candidate = int(rng.integers(SEED_SPACE))
        if candidate not in taken and candidate not in fresh:
            fresh.append(candidate)
    return fresh


if __name__ == "__main__":
    target = _path()
    with open(str(target), "w") as f:
        json.dump(generate(), f, separators=(",", ":"))
        f.write("\n")
    print(f"wrote {target}", file=sys.stderr)
