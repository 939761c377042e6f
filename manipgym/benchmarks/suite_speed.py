"""Throughput of the suite runner with 1 and 2 simulator workers, quoted in the README.

    python -m manipgym.benchmarks.suite_speed [--suite quick] [--standard]

Runs the oracle on the same suite with 1 and then 2 worker processes (the oracle costs nothing,
so this measures the simulator side) and reports episodes/s and scaling efficiency
(speed-up / workers). ``--standard`` also times the whole standard suite with 2 workers.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time

from manipgym.agents import OracleAgent
from manipgym.benchmarks.runner import RunConfig, load_episodes, run_suite


def timed_run(suite: str, workers: int) -> tuple[int, float, float]:
    with tempfile.TemporaryDirectory() as out:
        started = time.perf_counter()
        run_suite(OracleAgent(), RunConfig(out=out, suite=suite, workers=workers, agent="oracle"), progress=False)
        seconds = time.perf_counter() - started
        rows = load_episodes(out)
    return len(rows), seconds, sum(r["success"] for r in rows) / len(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", default="quick", help="suite timed with 1 and 2 workers (default quick)")
    parser.add_argument("--standard", action="store_true", help="also time the standard suite with 2 workers")
    args = parser.parse_args(argv)
    print("| run | workers | episodes | wall time (s) | episodes/s | scaling efficiency | oracle success |")
    print("|---|---|---|---|---|---|---|")
    base = None
    for workers in (1, 2):
        n, seconds, success = timed_run(args.suite, workers)
        rate = n / seconds
        base = base or rate
        efficiency = rate / base / workers
        print(f"| {args.suite} | {workers} | {n} | {seconds:.0f} | {rate:.2f} | {efficiency:.0%} | {success:.0%} |")
    if args.standard:
        n, seconds, success = timed_run("standard", 2)
        print(f"| standard | 2 | {n} | {seconds:.0f} | {n / seconds:.2f} | - | {success:.0%} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
