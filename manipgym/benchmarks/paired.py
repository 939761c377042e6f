"""Paired comparison of runs on the episodes they share (``manipgym report --paired``).

Two runs of the same suite execute the same scenes (task, split, manifest index, seed), so
their difference is better measured episode by episode than by comparing two success rates and
their intervals: only the episodes one run solves and the other does not (the discordant pairs)
carry information, and McNemar's exact test says how likely so uneven a split of them would be
if neither run were better.
"""

from __future__ import annotations

import math
from pathlib import Path

from manipgym.benchmarks.results import split_order
from manipgym.benchmarks.runner import load_episodes
from manipgym.envs.splits import OOD_SPLITS

OOD_POOLED = "ood (pooled)"


def mcnemar_p(gained: int, lost: int) -> float:
    """Exact two-sided McNemar p-value for ``gained`` episodes solved only by the new run and
    ``lost`` only by the baseline (a binomial test of the discordant pairs at one half)."""
    discordant = gained + lost
    if discordant == 0:
        return 1.0
    tail = sum(math.comb(discordant, k) for k in range(min(gained, lost) + 1)) / 2**discordant
    return min(1.0, 2 * tail)


def _p_value(p: float) -> str:
    return f"{p:.3f}" if p >= 0.001 else "<0.001"


def _successes(run_dir: str | Path) -> dict[tuple, bool]:
    return {
        (row["task"], row["split"], row["index"], row["seed"]): bool(row.get("success"))
        for row in load_episodes(run_dir)
    }


def _groups(keys: list[tuple]) -> dict[str, list[tuple]]:
    """Shared episodes by split (in the suite's order), then all OOD splits pooled, then all."""
    splits = sorted({key[1] for key in keys}, key=split_order)
    groups = {split: [key for key in keys if key[1] == split] for split in splits}
    ood = [key for key in keys if key[1] in OOD_SPLITS]
    if ood:
        groups[OOD_POOLED] = ood
    groups["all"] = keys
    return groups


def paired_table(run_dirs: list[str | Path]) -> str:
    """Every run after the first against the first, as a markdown table: per split, the shared
    episodes, both success rates, the episodes gained and lost, and McNemar's exact p."""
    if len(run_dirs) < 2:
        raise ValueError("--paired compares runs with the first one: give at least two run directories")
    base_name, base = Path(run_dirs[0]).name, _successes(run_dirs[0])
    lines = [
        f"Paired against {base_name} (episodes both runs finished; McNemar's exact test):",
        "",
        "| run | split | episodes | success (base → run) | gained | lost | p |",
        "|---|---|---|---|---|---|---|",
    ]
    for run_dir in run_dirs[1:]:
        other = _successes(run_dir)
        shared = [key for key in base if key in other]
        if not shared:
            raise ValueError(f"{run_dir} and {run_dirs[0]} share no episodes: compare runs of the same suite and tasks")
        for group, keys in _groups(shared).items():
            gained = sum(other[k] and not base[k] for k in keys)
            lost = sum(base[k] and not other[k] for k in keys)
            before, after = sum(base[k] for k in keys) / len(keys), sum(other[k] for k in keys) / len(keys)
            lines.append(
                f"| {Path(run_dir).name} | {group} | {len(keys)} | {before:.0%} → {after:.0%} | {gained} | {lost} "
                f"| {_p_value(mcnemar_p(gained, lost))} |"
            )
    return "\n".join(lines) + "\n"
