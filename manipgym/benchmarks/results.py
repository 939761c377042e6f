"""Turn ``episodes.jsonl`` into ``results.json``, ``summary.md`` and ``success_by_split.png``,
and put several runs side by side.

Unparseable and errored episodes count in every metric: success 0, affordance IoU 0, accuracy 0,
and every trajectory distance at the image diagonal (1414 units); they are never dropped.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

import manipgym
from manipgym.benchmarks.episodes import wilson_interval
from manipgym.benchmarks.runner import load_episodes
from manipgym.envs.splits import SPLITS

SCHEMA_VERSION = 1
FAILED_DISTANCE = math.hypot(1000, 1000)  # trajectory metrics of an answer that did not parse
DISTANCES = ("dfd", "hd", "rmse", "endpoint")
REWARD_TERMS = ("format", "affordance", "trajectory", "success", "total")


def cell_metrics(rows: list[dict]) -> dict[str, Any]:
    """Success with its 95% Wilson interval and the answer metrics of a group of episodes."""
    n = len(rows)
    wins = sum(bool(r["success"]) for r in rows)
    low, high = wilson_interval(wins, n)
    metrics = [r.get("metrics") for r in rows]
    iou = [m["affordance_iou"] if m and m["affordance_iou"] is not None else 0.0 for m in metrics]
    accurate = [bool(m) and ((m["affordance_iou"] or 0) > 0.5 or m["affordance_point_in_mask"]) for m in metrics]
    out: dict[str, Any] = {
        "episodes": n,
        "successes": wins,
        "success_rate": wins / n if n else 0.0,
        "success_ci95": [low, high],
        "format_valid_rate": float(np.mean([bool(r["parse_ok"]) for r in rows])) if n else 0.0,
        "errored": sum(r.get("error") is not None for r in rows),
        "affordance_iou": float(np.mean(iou)) if n else 0.0,
        "affordance_accuracy": float(np.mean(accurate)) if n else 0.0,
        "seconds_per_episode": float(np.mean([r["seconds"] for r in rows])) if n else 0.0,
    }
    for name in DISTANCES:
        out[name] = float(np.mean([m[name] if m else FAILED_DISTANCE for m in metrics])) if n else FAILED_DISTANCE
    out["mean_reward"] = {
        term: float(np.mean([(r.get("rewards") or {}).get(term, 0.0) for r in rows])) if n else 0.0
        for term in REWARD_TERMS
    }
    return out


def summarise(run_dir: str | Path) -> dict[str, Any]:
    """Aggregate a run per task × split, per split, and overall; write the three result files."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise ValueError(f"{run_dir} is not a run folder: give the --out folder of a manipgym bench run")
    rows = load_episodes(run_dir)
    if not rows:
        raise ValueError(f"{run_dir} has no finished episodes ({run_dir / 'episodes.jsonl'})")
    config = json.loads((run_dir / "config.json").read_text()) if (run_dir / "config.json").exists() else {}
    by_cell, by_split = defaultdict(list), defaultdict(list)
    for row in rows:
        by_cell[row["task"], row["split"]].append(row)
        by_split[row["split"]].append(row)
    results = {
        "schema_version": SCHEMA_VERSION,
        "manipgym_version": manipgym.__version__,
        "config": config,
        "cells": [{"task": t, "split": s, **cell_metrics(r)} for (t, s), r in sorted(by_cell.items())],
        "splits": {s: cell_metrics(by_split[s]) for s in sorted(by_split, key=split_order)},
        "overall": cell_metrics(rows),
    }
    (run_dir / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    (run_dir / "summary.md").write_text(summary_markdown(results))
    plot_success_by_split(results, run_dir / "success_by_split.png")
    return results


def split_order(split: str) -> int:
    """Sort key: the suite's split order, unknown splits last."""
    names = list(SPLITS)
    return names.index(split) if split in names else len(names)


def _pct(rate: float, ci: list[float]) -> str:
    return f"{rate:.0%} ({ci[0]:.0%}–{ci[1]:.0%})"


def summary_markdown(results: dict) -> str:
    """Tables: success (95% CI) per task × split, and answer metrics per split."""
    config = results["config"]
    splits = list(results["splits"])
    tasks = sorted({c["task"] for c in results["cells"]})
    cells = {(c["task"], c["split"]): c for c in results["cells"]}
    agent = config.get("agent", "?") + (f" ({config['checkpoint']})" if config.get("checkpoint") else "")
    lines = [
        f"# manipgym results: {agent}, suite {config.get('suite', '?')}",
        "",
        "Success rate (95% Wilson interval) per task and split:",
        "",
        "| task | " + " | ".join(splits) + " |",
        "|---" * (len(splits) + 1) + "|",
    ]
    for task in tasks:
        row = [
            _pct(cells[task, s]["success_rate"], cells[task, s]["success_ci95"]) if (task, s) in cells else "-"
            for s in splits
        ]
        lines.append(f"| {task} | " + " | ".join(row) + " |")
    lines.append(
        "| **all** | "
        + " | ".join(_pct(results["splits"][s]["success_rate"], results["splits"][s]["success_ci95"]) for s in splits)
        + " |"
    )
    lines += [
        "",
        "Answer metrics per split (distances in 0–1000 image units; unparseable answers count as failures):",
        "",
        "| split | episodes | format valid | aff. IoU | aff. acc. | DFD | HD | RMSE | endpoint | mean reward | s/ep |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for split, m in [*results["splits"].items(), ("**all**", results["overall"])]:
        lines.append(
            f"| {split} | {m['episodes']} | {m['format_valid_rate']:.0%} | {m['affordance_iou']:.2f} | "
            f"{m['affordance_accuracy']:.0%} | {m['dfd']:.0f} | {m['hd']:.0f} | {m['rmse']:.0f} | "
            f"{m['endpoint']:.0f} | {m['mean_reward']['total']:.2f} | {m['seconds_per_episode']:.2f} |"
        )
    return "\n".join(lines) + "\n"


def plot_success_by_split(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    splits = list(results["splits"])
    rates = [results["splits"][s]["success_rate"] for s in splits]
    lows = [r - results["splits"][s]["success_ci95"][0] for r, s in zip(rates, splits)]
    highs = [results["splits"][s]["success_ci95"][1] - r for r, s in zip(rates, splits)]
    fig, ax = plt.subplots(figsize=(1.2 * len(splits) + 2, 3.5))
    ax.bar(splits, rates, yerr=[lows, highs], capsize=4, color="#4c78a8")
    ax.set_ylim(0, 1)
    ax.set_ylabel("success rate (95% CI)")
    ax.set_title(f"{results['config'].get('agent', '')} — success by split")
    ax.tick_params(axis="x", rotation=30)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _read_results(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(
            f"{path} is not valid JSON ({err}): delete it, and report rebuilds it from episodes.jsonl"
        ) from None


def report(run_dirs: list[str | Path]) -> str:
    """Success per split (95% CI) of several runs, side by side, as a markdown table."""
    runs = []
    for run_dir in run_dirs:
        path = Path(run_dir) / "results.json"
        results = _read_results(path) if path.exists() else summarise(run_dir)
        if results.get("schema_version") != SCHEMA_VERSION:
            raise ValueError(f"{path} has schema version {results.get('schema_version')}, expected {SCHEMA_VERSION}")
        runs.append((Path(run_dir).name, results))
    splits = list(dict.fromkeys(s for _, r in runs for s in r["splits"]))
    lines = ["| run | " + " | ".join(splits) + " | all |", "|---" * (len(splits) + 2) + "|"]
    for name, r in runs:
        cells = [
            _pct(r["splits"][s]["success_rate"], r["splits"][s]["success_ci95"]) if s in r["splits"] else "-"
            for s in splits
        ]
        lines.append(
            f"| {name} | "
            + " | ".join(cells)
            + f" | {_pct(r['overall']['success_rate'], r['overall']['success_ci95'])} |"
        )
    return "\n".join(lines) + "\n"
