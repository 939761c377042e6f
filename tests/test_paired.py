"""Paired comparison of two runs (manipgym report --paired): McNemar's exact test on shared episodes."""

import json

import pytest

from manipgym.benchmarks.paired import mcnemar_p, paired_table
from manipgym.benchmarks.runner import EPISODES_FILE


def test_mcnemar_p_is_the_two_sided_binomial_tail_of_the_discordant_pairs():
    assert mcnemar_p(0, 0) == 1.0  # nothing differs: no evidence
    assert mcnemar_p(11, 0) == pytest.approx(2 / 2**11)
    assert mcnemar_p(8, 2) == pytest.approx(2 * (1 + 10 + 45) / 2**10)
    assert mcnemar_p(2, 8) == mcnemar_p(8, 2)
    assert mcnemar_p(3, 3) == 1.0


def _run(directory, successes: dict[tuple[str, int], bool]):
    directory.mkdir()
    with open(directory / EPISODES_FILE, "w") as f:
        for (split, index), success in successes.items():
            f.write(
                json.dumps({"task": "Lift", "split": split, "index": index, "seed": 100 + index, "success": success})
            )
            f.write("\n")
    return directory


def test_paired_table_counts_gains_and_losses_on_the_shared_episodes_only(tmp_path):
    base = _run(
        tmp_path / "sft",
        {("test", 0): True, ("test", 1): False, ("test", 2): False, ("test", 3): True, ("ood_color", 0): False},
    )
    new = _run(
        tmp_path / "grpo",
        {
            ("test", 0): True,
            ("test", 1): True,
            ("test", 2): True,
            ("test", 3): False,
            ("ood_color", 0): True,
            ("ood_color", 1): True,
        },
    )  # index 1: not in the base run
    rows = {line.split(" | ")[1]: line for line in paired_table([base, new]).splitlines() if line.startswith("| grpo")}
    assert rows["test"] == f"| grpo | test | 4 | 50% → 75% | 2 | 1 | {mcnemar_p(2, 1):.3f} |"
    assert rows["ood_color"].startswith("| grpo | ood_color | 1 | 0% → 100% | 1 | 0 |")
    assert rows["ood (pooled)"].startswith("| grpo | ood (pooled) | 1 |")
    assert rows["all"].startswith("| grpo | all | 5 | 40% → 80% | 3 | 1 |")
    with pytest.raises(ValueError, match="share no episodes"):
        paired_table([base, _run(tmp_path / "other", {("test", 7): True})])
    with pytest.raises(ValueError, match="at least two"):
        paired_table([base])
