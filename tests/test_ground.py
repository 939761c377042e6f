"""Grounded vision pretraining: free per-patch labels from the simulator, and a short real run."""

import json
from dataclasses import replace

import gymnasium as gym
import numpy as np
import pytest
from conftest import assert_ran_here, stop_run_after

from manipgym.agents.ground import BACKGROUND_WORD, GroundRunConfig, patch_targets, train_ground
from manipgym.agents.tiny_vlm import TinyVLMConfig
from manipgym.agents.train_data import labelled_scenes
from manipgym.agents.vlm import VLMAgent
from manipgym.envs.manifests import manifest_seed


def test_object_labels_name_what_the_camera_sees():
    env = gym.make("manipgym/PickPlace-v0").unwrapped
    obs, info = env.reset(seed=manifest_seed("PickPlace", "train", 0))
    labels, words = env.object_labels()
    env.close()
    assert labels.shape == obs["image"].shape[:2]
    colour, shape = info["ground_truth"]["target"].split()
    assert words[0] == (colour, shape)  # the target comes first
    assert np.array_equal(labels == 0, info["ground_truth"]["affordance_mask"])
    assert any(noun == "plate" for _, noun in words)  # the goal is labelled too
    assert (labels == -1).mean() > 0.5  # most of the frame is table, robot and background


def test_patch_targets_name_objects_and_place_them_at_their_centre():
    labels = np.full((1, 8, 8), -1, np.int16)
    labels[0, 4:8, 0:3] = 0  # the object fills most of the bottom-left patch of a 2x2 grid
    vocabulary = {"red": 1, "cube": 2, BACKGROUND_WORD: 3, "0": 10, "250": 11, "500": 12, "750": 13}
    targets = patch_targets(labels, [("red", "cube")], grid=2, token_of=vocabulary.__getitem__, coord_step=250)
    assert targets.shape == (1, 4, 4)
    assert targets[0, 2].tolist() == [1, 2, 11, 13]  # row 1, column 0: the red cube, centred at (188, 750)
    assert targets[0, 0].tolist() == [3, 3, 11, 11]  # elsewhere: table, at the patch's own centre
    assert targets[0, 1, 2:].tolist() == [13, 11] and targets[0, 3, 2:].tolist() == [13, 13]


def test_labelled_scenes_are_cached_with_each_scenes_target(tmp_path):
    first = labelled_scenes(["Lift", "PickPlace"], 2, str(tmp_path), progress=False)
    (cached,) = tmp_path.glob("labels-*.npz")
    again = labelled_scenes(["Lift", "PickPlace"], 2, str(tmp_path), progress=False)
    for field in ("images", "labels", "targets"):
        assert np.array_equal(getattr(first, field), getattr(again, field))
    assert first.words == again.words
    env = gym.make("manipgym/PickPlace-v0").unwrapped
    _, info = env.reset(seed=manifest_seed("PickPlace", "train", 1))  # the fourth scene: PickPlace's second
    env.close()
    assert np.array_equal(first.labels[3] == first.targets[3], info["ground_truth"]["affordance_mask"])
    assert " ".join(first.words[first.targets[3]]) == info["ground_truth"]["target"]
    data = dict(np.load(cached))
    np.savez(cached, **{key: value for key, value in data.items() if key != "targets"})  # an older cache
    renewed = labelled_scenes(["Lift", "PickPlace"], 2, str(tmp_path), progress=False)
    assert np.array_equal(renewed.targets, first.targets) and "targets" in np.load(cached).files


def test_ground_run_learns_patch_words_and_writes_an_sft_ready_checkpoint(tmp_path):
    out = tmp_path / "ground"
    config = GroundRunConfig(
        out=str(out),
        tiny=TinyVLMConfig(merge=1, coord_step=10),
        tasks=["Lift"],
        scenes_per_task=4,
        steps=60,
        batch_size=4,
        color_jitter=0.5,  # jittered images still teach the patch words
    )
    train_ground(config, progress=False)
    log = [json.loads(line) for line in (out / "ground_log.jsonl").read_text().splitlines()]
    assert log[0]["step"] == 1 and log[-1]["step"] == 60
    assert log[-1]["loss"] < log[0]["loss"]
    assert json.loads((out / "manipgym_train.json").read_text())["coord_step"] == 10
    assert_ran_here(out)
    agent = VLMAgent(out, max_new_tokens=4)
    assert isinstance(agent.act([{"image": np.zeros((224, 224, 3), np.uint8), "instruction": "lift it"}])[0], str)


def test_the_same_ground_command_twice_writes_the_same_weights(tmp_path):
    """Same seed, same machine, same weights: colour jitter and batches come from the seed alone."""
    weights = []
    for run in ("first", "second"):
        config = GroundRunConfig(
            out=str(tmp_path / run),
            tiny=TinyVLMConfig(merge=2, coord_step=10),
            tasks=["Lift"],
            scenes_per_task=4,
            steps=3,
            batch_size=4,
            color_jitter=0.5,
            seed=2,
            data_cache=str(tmp_path / "cache"),
        )
        train_ground(config, progress=False)
        weights.append((tmp_path / run / "model.safetensors").read_bytes())
    assert weights[0] == weights[1]


def test_a_stopped_ground_run_resumes_to_the_bytes_of_a_run_never_stopped(tmp_path):
    out = tmp_path / "ground"
    config = GroundRunConfig(
        out=str(out),
        tiny=TinyVLMConfig(merge=2, coord_step=10),
        tasks=["Lift"],
        scenes_per_task=4,
        steps=6,
        batch_size=4,
        color_jitter=0.5,  # the jitter's and the batches' generator is saved with the state
        seed=2,
        save_steps=2,
        data_cache=str(tmp_path / "cache"),
    )
    train_ground(config, progress=False)
    straight = (out / "model.safetensors").read_bytes()
    log = (out / "ground_log.jsonl").read_text()
    assert [p.name for p in (out / "checkpoints").iterdir()] == ["checkpoint-4"]  # the newest state only
    stop_run_after(out, 4)
    with pytest.raises(FileExistsError, match="stopped run's checkpoints: pass --resume"):
        train_ground(config, progress=False)
    with pytest.raises(ValueError, match=r"--steps 8 \(the run used 6\)"):
        train_ground(replace(config, steps=8, resume=True), progress=False)
    with pytest.raises(ValueError, match=r"--lr 0.001 \(the run used 0.002\)"):
        train_ground(replace(config, learning_rate=1e-3, resume=True), progress=False)
    train_ground(replace(config, resume=True), progress=False)
    assert (out / "model.safetensors").read_bytes() == straight
    resumed_log = (out / "ground_log.jsonl").read_text()
    assert [json.loads(row)["step"] for row in resumed_log.splitlines()] == [1, 6]  # the torn line dropped
    assert resumed_log.splitlines()[0] == log.splitlines()[0]
    record = json.loads((out / "manipgym_train.json").read_text())
    assert record["step"] == 6 and record["wall_seconds"] > 0
    with pytest.raises(ValueError, match="finished grounding run: nothing to resume"):
        train_ground(replace(config, resume=True), progress=False)
    (out / "checkpoints" / "checkpoint-4" / "ground_state.pt").write_bytes(b"torn")
    stop_run_after(out, 4)
    with pytest.raises(ValueError, match=r"cannot read .*ground_state.pt .*: delete .*checkpoint-4"):
        train_ground(replace(config, resume=True), progress=False)
