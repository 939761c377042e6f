import pytest
from scipy.stats import binomtest

from manipgym.benchmarks.episodes import EpisodeResult, success_table, wilson_interval


@pytest.mark.parametrize("wins, n", [(0, 10), (3, 10), (10, 10), (57, 100)])
def test_wilson_interval_brackets_the_rate(wins, n):
    low, high = wilson_interval(wins, n)
    assert 0 <= low <= wins / n <= high <= 1
    ref = binomtest(wins, n).proportion_ci(method="wilson")
    assert low == pytest.approx(ref.low, abs=1e-9) and high == pytest.approx(ref.high, abs=1e-9)


def test_success_table_counts_failures():
    results = [
        EpisodeResult("Push", s, s % 2 == 0, None if s % 2 == 0 else "goal_not_reached", True, 1.0) for s in range(4)
    ]
    table = success_table(results)
    assert "| Push | 4 | 50% |" in table and "goal_not_reached 2" in table
