"""The linear probe of image tokens (benchmarks/tower_probe.py) and the validation scenes it scores."""

import gymnasium as gym
import numpy as np
import pytest

from manipgym.agents import SHIPPED_CHECKPOINT
from manipgym.agents.train_data import VALIDATION_INDICES, labelled_scenes
from manipgym.benchmarks import tower_probe
from manipgym.envs.manifests import manifest_seed


def test_probe_reads_a_linearly_encoded_class_and_not_noise():
    rng = np.random.default_rng(0)
    names = np.array(["cube", "ball", "cylinder"])
    classes = rng.integers(0, 3, 600)
    encoded = rng.normal(size=(600, 16))
    encoded[np.arange(600), classes] += 4.0  # class k raises feature k
    labels = list(names[classes])
    fitted, held_out = tower_probe.probe_accuracy(encoded[:400], labels[:400], encoded[400:], labels[400:])
    assert fitted > 0.95 and held_out > 0.95
    noise = rng.normal(size=(600, 16))  # the same labels, features that carry nothing
    _, held_out_noise = tower_probe.probe_accuracy(noise[:400], labels[:400], noise[400:], labels[400:])
    assert held_out_noise < 0.5


def test_a_class_the_probe_never_fitted_counts_as_a_miss():
    fit_x = np.array([[0.0], [1.0], [0.1], [0.9]])
    fitted, held_out = tower_probe.probe_accuracy(fit_x, ["a", "b", "a", "b"], np.array([[0.0], [1.0]]), ["a", "c"])
    assert fitted == 1.0 and held_out == 0.5
    assert tower_probe.chance(["a", "a", "b", "a"]) == 0.75


def test_validation_labelled_scenes_are_the_validation_indices(tmp_path):
    scenes = labelled_scenes(["Push"], 2, str(tmp_path), progress=False, validation=True)
    env = gym.make("manipgym/Push-v0").unwrapped
    _, info = env.reset(seed=manifest_seed("Push", "train", VALIDATION_INDICES[1]))
    env.close()
    assert np.array_equal(scenes.labels[1] == scenes.targets[1], info["ground_truth"]["affordance_mask"])
    assert {path.name for path in tmp_path.glob("*.npz")} == {"labels-validation-Push-2.npz"}
    with pytest.raises(ValueError, match="validation scenes per task"):
        labelled_scenes(["Push"], len(VALIDATION_INDICES) + 1, None, progress=False, validation=True)


def test_probe_script_tabulates_each_checkpoint_and_refuses_a_bad_one(tmp_path, capsys):
    args = ["--fit-per-task", "3", "--held-out-per-task", "2", "--tasks", "Lift", "--workers", "1", "--no-progress"]
    assert tower_probe.main([str(SHIPPED_CHECKPOINT), *args, "--data-cache", str(tmp_path / "cache")]) == 0
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| ")]
    shipped = next(row for row in rows if row.startswith(f"| {SHIPPED_CHECKPOINT} "))
    cells = [cell.strip() for cell in shipped.strip("|").split("|")]
    assert all(0.0 <= float(cell.rstrip("%")) <= 100.0 for cell in cells[1:5])
    fitted, held_out = (int(n) for n in cells[5].split(" / "))
    assert fitted > 0 and held_out > 0  # Lift's scenes show objects in some patches
    assert rows[-1].startswith("| chance")
    assert tower_probe.main([str(tmp_path), *args]) == 2  # not a checkpoint: one line, nothing rendered
    assert capsys.readouterr().err.count("\n") == 1
    too_many = [str(SHIPPED_CHECKPOINT), "--held-out-per-task", "101", "--data-cache", str(tmp_path / "fresh")]
    assert tower_probe.main(too_many) == 2 and "100 validation scenes" in capsys.readouterr().err
    assert not (tmp_path / "fresh").exists()  # refused before anything was rendered
