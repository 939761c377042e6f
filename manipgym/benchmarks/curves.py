"""The learning curves of SFT runs as one Markdown table, quoted in the README's recipe study.

    python -m manipgym.benchmarks.curves RUN_DIR [RUN_DIR ...]

Each run directory holds the ``curve.jsonl`` that ``manipgym train sft --eval-every N`` writes
(held-out point error of the affordance, 0–1000 units, on train-manifest validation scenes).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from manipgym.agents.curve import units


def curve_rows(run: Path) -> list[dict]:
    """The points of one run's curve, in step order."""
    path = run / "curve.jsonl"
    if not path.exists():
        raise FileNotFoundError(f"{path} not found: was the run trained with --eval-every > 0?")
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return sorted(rows, key=lambda row: row["step"])


def curve_table(runs: list[Path]) -> str:
    lines = [
        "| run | step | train minutes | format valid | point error mean | median | within 40 |",
        "|---|---|---|---|---|---|---|",
    ]
    for run in runs:
        for row in curve_rows(run):
            lines.append(
                f"| {run.name} | {row['step']} | {row['train_seconds'] / 60:.1f} | {row['format_valid']:.0%} "
                f"| {units(row['point_error_mean'])} | {units(row['point_error_median'])} | {row['within_40']:.0%} |"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path, help="SFT run directories")
    args = parser.parse_args(argv)
    try:
        print(curve_table(args.runs))
    except FileNotFoundError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
