"""SFT warm start: a real (tiny) TRL run on simulator-generated oracle answers, with a learning curve."""

import json
import time
from dataclasses import replace
from types import SimpleNamespace

import gymnasium as gym
import numpy as np
import pytest
import torch
from conftest import assert_ran_here, stop_run_after
from safetensors.torch import load_file

from manipgym.agents.curve import PointErrorCurve, curve_point
from manipgym.agents.sft import SFTRunConfig, train_sft, training_dataset
from manipgym.agents.tiny_vlm import TinyVLMConfig
from manipgym.agents.train_data import (
    MASK_SIZE,
    VALIDATION_INDICES,
    cached_examples,
    coverage_mask,
    labelled_scenes,
    oracle_examples,
    pointing_examples,
    training_answer,
)
from manipgym.agents.vlm import VLMAgent
from manipgym.envs.manifests import load_manifest
from manipgym.rewards import format_answer, parse_answer


def test_oracle_examples_come_from_the_train_manifest():
    examples = oracle_examples(["Push"], [0, 1], progress=False)
    assert len(examples) == 2
    completion = examples[0]["completion"][0]["content"][0]["text"]
    assert parse_answer(completion)  # the target is a valid answer
    assert examples[0]["prompt"][0]["content"][0] == {"type": "image"}
    assert examples[0]["images"][0].size == (224, 224)
    assert examples[0]["seed"] == load_manifest()["episodes"]["train"]["Push"][0]
    assert examples[0]["seed"] not in load_manifest()["episodes"]["test"]["Push"]


def test_training_never_draws_validation_scenes():
    with pytest.raises(ValueError, match="the rest validate"):
        train_sft(SFTRunConfig(out="unused", episodes_per_task=VALIDATION_INDICES[0] + 1), progress=False)


def test_training_needs_answers_or_pointing(tmp_path):
    with pytest.raises(ValueError, match="nothing to train on"):
        train_sft(SFTRunConfig(out=str(tmp_path / "sft"), episodes_per_task=0), progress=False)
    assert not (tmp_path / "sft").exists()  # refused before building anything
    with pytest.raises(ValueError, match="--pointing-attention needs pointing examples"):
        train_sft(SFTRunConfig(out=str(tmp_path / "sft"), pointing_attention=1.0), progress=False)
    assert not (tmp_path / "sft").exists()
    digits = SFTRunConfig(out=str(tmp_path / "digits"), pointing_scenes_per_task=1, pointing_attention=1.0)
    with pytest.raises(ValueError, match="needs location tokens"):
        train_sft(digits, progress=False)  # the default fresh tiny VLM spells coordinates as digits
    assert not (tmp_path / "digits").exists()


def test_pointing_only_training_data():
    config = SFTRunConfig(out="unused", tasks=["Lift"], episodes_per_task=0, pointing_scenes_per_task=2)
    dataset = training_dataset(config, coord_step=10, progress=False)
    prompts = [example["prompt"][0]["content"][1]["text"] for example in dataset]
    assert len(dataset) >= 2 and all('The task is "point to the ' in prompt for prompt in prompts)
    mixed = training_dataset(replace(config, episodes_per_task=1), coord_step=10, progress=False)
    assert len(mixed) == len(dataset) + 1 and dataset.features == mixed.features
    masked = training_dataset(replace(config, episodes_per_task=1, pointing_attention=1.0), 10, progress=False)
    footprints = [sum(mask) for mask in masked["target_mask"]]
    assert sum(f == 0 for f in footprints) == 1 and all(f > 0 for f in footprints if f)  # oracle answer: none


def test_task_attention_masks_the_task_target_on_the_pointing_scenes():
    config = SFTRunConfig(
        out="unused", tasks=["Lift"], episodes_per_task=3, pointing_scenes_per_task=2, pointing_attention=1.0
    )
    plain = training_dataset(config, coord_step=10, progress=False)
    dataset = training_dataset(replace(config, task_attention=True), coord_step=10, progress=False)
    answers = [example for example in dataset if "point to the" not in example["prompt"][0]["content"][1]["text"]]
    assert len(dataset) == len(plain) and len(answers) == 3
    assert [bool(example["target_mask"]) for example in answers] == [True, True, False]  # scene 2 is not labelled
    for example in answers[:2]:  # the footprint lies under the answer's point: the object the task acts on
        footprint = np.array(example["target_mask"]).reshape(MASK_SIZE, MASK_SIZE)
        point = parse_answer(example["completion"][0]["content"][0]["text"]).affordance_point
        col, row = (point / 1000 * MASK_SIZE).astype(int)
        assert footprint[max(0, row - 1) : row + 2, max(0, col - 1) : col + 2].max() > 0
    with pytest.raises(ValueError, match="--task-attention needs --pointing-attention"):
        train_sft(replace(config, pointing_attention=0.0, task_attention=True), progress=False)


def test_goal_attention_masks_the_goal_the_trajectory_ends_at():
    config = SFTRunConfig(
        out="unused", tasks=["Lift", "Push"], episodes_per_task=2, pointing_scenes_per_task=1, pointing_attention=1.0
    )
    dataset = training_dataset(replace(config, goal_attention=True), coord_step=10, progress=False)
    answers = [example for example in dataset if "point to the" not in example["prompt"][0]["content"][1]["text"]]
    assert [bool(example["goal_mask"]) for example in answers] == [False, False, True, False]  # Lift has no goal
    _, info = gym.make("manipgym/Push-v0").reset(seed=load_manifest()["episodes"]["train"]["Push"][0])
    expected = coverage_mask(info["ground_truth"]["goal_mask"])  # the circle, as the simulator segments it
    assert np.allclose(answers[2]["goal_mask"], expected, atol=1e-6) and sum(expected) > 0
    assert not any(example["target_mask"] for example in answers)  # without --task-attention: goal only
    end = parse_answer(answers[2]["completion"][0]["content"][0]["text"]).trajectory[-1]
    col, row = (end / 1000 * MASK_SIZE).astype(int)  # a push ends on its goal
    assert (
        np.array(expected).reshape(MASK_SIZE, MASK_SIZE)[max(0, row - 1) : row + 2, max(0, col - 1) : col + 2].max() > 0
    )
    with pytest.raises(ValueError, match="--goal-attention needs --pointing-attention"):
        train_sft(replace(config, pointing_attention=0.0, goal_attention=True), progress=False)


def test_quantized_answers_use_location_tokens_only():
    answer = format_answer([12, 347, 996, 500], [[12, 347], [501, 504], [994, 3]], think="t")
    quantized = parse_answer(training_answer(answer, 10))
    assert quantized.affordance.tolist() == [10, 350, 990, 500]  # 1000 is out of range: the top bin is 990
    assert quantized.trajectory.tolist() == [[10, 350], [500, 500], [990, 0]]
    assert training_answer(answer, 0) == answer
    as_point = parse_answer(training_answer(answer, 10, affordance="point"))
    assert as_point.affordance.tolist() == [500, 420]  # the box centre (504, 423.5), snapped
    assert as_point.trajectory.tolist() == quantized.trajectory.tolist()
    with pytest.raises(ValueError, match="box, point"):
        training_answer(answer, 10, affordance="circle")


def test_examples_cache_is_reused(tmp_path):
    first = cached_examples(tmp_path, ["Lift"], range(2), progress=False)
    assert len(list(tmp_path.iterdir())) == 1
    again = cached_examples(tmp_path, ["Lift"], range(2), coord_step=10, progress=False)
    assert again["seed"] == first["seed"]
    assert parse_answer(again[0]["completion"][0]["content"][0]["text"]).affordance.tolist()[0] % 10 == 0


def test_examples_cache_serves_some_of_its_scenes_without_rendering(tmp_path):
    cached_examples(tmp_path, ["Lift"], range(3), progress=False)
    some = cached_examples(tmp_path, ["Lift"], [2, 0], progress=False)
    assert len(list(tmp_path.iterdir())) == 1  # nothing new rendered or written
    fresh = oracle_examples(["Lift"], [2, 0], progress=False)
    assert some["seed"] == [example["seed"] for example in fresh]
    assert some["completion"] == [example["completion"] for example in fresh]
    cached_examples(tmp_path, ["Lift"], [3], progress=False)  # scene 3 is not held: rendered
    assert len(list(tmp_path.iterdir())) == 2


def test_pointing_examples_point_at_the_named_object():
    images, labels, words, _ = labelled_scenes(["Stack"], 3, None, progress=False)
    examples = pointing_examples(images, labels, words)
    per_scene = [len({k for k in np.unique(label) if k >= 0}) for label in labels]
    assert 0 < len(examples) <= sum(per_scene) and len(examples) > len(images)  # several objects per image
    for example in examples:
        scene = next(i for i, image in enumerate(images) if np.array_equal(np.asarray(example["images"][0]), image))
        answer = parse_answer(example["completion"][0]["content"][0]["text"])
        x, y = (answer.affordance_point / 1000 * labels.shape[1]).astype(int)  # a centroid: on or near the object
        window = labels[scene, max(0, y - 6) : y + 7, max(0, x - 6) : x + 7]
        named = {" ".join(w for w in words[k] if w) for k in np.unique(window) if k >= 0}
        assert example["instruction"].removeprefix("point to the ") in named
        assert example["instruction"].removeprefix("point to the ") in answer.think
        footprint = np.array(example["target_mask"]).reshape(MASK_SIZE, MASK_SIZE)  # the named object's cells
        col, row = (answer.affordance_point / 1000 * MASK_SIZE).astype(int)
        assert footprint[max(0, row - 1) : row + 2, max(0, col - 1) : col + 2].max() > 0


def test_curve_point_scores_position_and_counts_invalid_answers_as_misses():
    target = format_answer([100, 100, 200, 200], [[150, 150], [300, 300], [400, 400]])
    near = format_answer([110, 100, 210, 200], [[150, 150], [300, 300], [400, 400]])  # centre 10 units away
    far = format_answer([500, 100, 600, 200], [[150, 150], [300, 300], [400, 430]])  # 400 away, ends 30 away
    point = curve_point([near, far, "garbage"], [target] * 3)
    assert point["format_valid"] == pytest.approx(2 / 3)
    assert point["point_error_mean"] == pytest.approx(205.0)
    assert point["within_40"] == pytest.approx(1 / 3)
    assert point["end_error_median"] == pytest.approx(15.0)  # ends 0 and 30 units from the oracle's
    unparsed = curve_point(["garbage", ""], [target] * 2)  # a start that has not learnt the format
    assert unparsed["format_valid"] == unparsed["within_40"] == 0.0
    assert unparsed["point_error_median"] is None and unparsed["end_error_median"] is None
    assert json.loads(json.dumps(unparsed, allow_nan=False)) == unparsed  # standard JSON: null, not NaN


def test_curve_clock_counts_batch_loading_and_leaves_out_the_evaluations(tmp_path):
    # The trainer loads a step's batch before on_step_begin; that is training time. The curve's own
    # evaluations are not. Here loading takes 0.1 s a step, a step 0.05 s and an evaluation 0.3 s.
    clock = []

    class SlowEvaluation(PointErrorCurve):
        def record(self, model, step):
            clock.append((step, self.train_seconds))
            time.sleep(0.3)

    curve = SlowEvaluation([], None, tmp_path / "curve.jsonl", every=2)
    state = SimpleNamespace(global_step=0, max_steps=4)
    curve.on_train_begin(None, state, None)
    for step in range(1, 5):
        time.sleep(0.1)
        curve.on_step_begin(None, state, None)
        time.sleep(0.05)
        state.global_step = step
        curve.on_step_end(None, state, None)
    assert [step for step, _ in clock] == [0, 2, 4]
    seconds = dict(clock)
    assert seconds[0] == 0.0
    assert 0.3 <= seconds[2] < 0.3 + 0.25  # two loads and two steps, not the step-0 evaluation
    assert 0.6 <= seconds[4] < 0.6 + 0.25


def test_train_sft_writes_a_loadable_checkpoint_that_changed(tmp_path):
    out = tmp_path / "sft"
    config = SFTRunConfig(
        out=str(out),
        arch="idefics3",
        tiny=TinyVLMConfig(coord_step=10),
        tasks=["Push"],
        episodes_per_task=4,
        steps=3,
        batch_size=4,
        save_steps=2,
        eval_every=2,
        validation_per_task=2,
        freeze_vision=True,
        pointing_scenes_per_task=1,  # and "point to the <object>" examples of one scene
        pointing_attention=1.0,  # with the attention loss on them
        task_attention=True,  # and on the task answers of that scene
        goal_attention=True,  # and on their trajectory's end (the goal circle)
        color_jitter=0.5,  # and jittered images
        nonce_nouns=0.5,  # and made-up shape words
        nonce_colors=0.5,  # and colour words
        data_cache=str(tmp_path / "cache"),
    )
    train_sft(config, progress=False)
    assert (tmp_path / "cache" / "pointing-v2-Push-1-step10" / "dataset_info.json").exists()
    state = json.loads((out / "checkpoints" / "checkpoint-2" / "trainer_state.json").read_text())
    attention = [row["pointing_attention_loss"] for row in state["log_history"] if "pointing_attention_loss" in row]
    assert attention and all(0 < value < 20 for value in attention)  # -log of a mass in (0, 1], on pointing rows
    goal = [row["goal_attention_loss"] for row in state["log_history"] if "goal_attention_loss" in row]
    assert goal and all(0 < value < 20 for value in goal)
    rates = [row["learning_rate"] for row in state["log_history"] if "learning_rate" in row]
    assert len(rates) == 2 and rates[0] > rates[1]  # the default cosine schedule decays
    before = load_file(out / "init" / "model.safetensors")
    after = load_file(out / "model.safetensors")
    assert before.keys() == after.keys()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert any(k.startswith("model.text_model.") for k in changed)
    assert not any(k.startswith(("model.vision_model.", "model.connector.")) for k in changed)  # frozen
    record = json.loads((out / "manipgym_train.json").read_text())
    assert record["stage"] == "sft" and record["coord_step"] == 10 and record["color_jitter"] == 0.5
    assert record["nonce_nouns"] == 0.5 and record["nonce_colors"] == 0.5
    assert record["task_attention"] is True and record["goal_attention"] is True
    assert_ran_here(out)
    curve = [json.loads(line) for line in (out / "curve.jsonl").read_text().splitlines()]
    assert [row["step"] for row in curve] == [0, 2, 3]  # the starting model, every --eval-every steps, the end
    assert 0 <= curve[-1]["within_40"] <= curve[-1]["format_valid"] <= 1 and curve[-1]["train_seconds"] > 0
    agent = VLMAgent(out, max_new_tokens=8)
    blank = {"image": np.zeros((224, 224, 3), np.uint8), "instruction": "lift the red cube"}
    assert isinstance(agent.act([blank])[0], str)
    with pytest.raises(FileExistsError, match="--resume"):
        train_sft(config, progress=False)
    assert (out / "checkpoints" / "checkpoint-2").is_dir()


# Rates the trainer logs for a 6-step run: "constant" holds the peak; "wsd" holds it through the first
# half (the decay's first step is still at the peak), then cosine, 1/2 (1 + cos(pi k/3)) for k = 1, 2.
@pytest.mark.parametrize(("schedule", "fractions_of_peak"), [("constant", [1] * 6), ("wsd", [1, 1, 1, 1, 0.75, 0.25])])
def test_lr_schedule_rates(tmp_path, schedule, fractions_of_peak):
    out = tmp_path / "sft"
    config = SFTRunConfig(
        out=str(out),
        arch="idefics3",
        tasks=["Lift"],
        episodes_per_task=2,
        steps=6,
        batch_size=2,
        learning_rate=5e-4,
        lr_schedule=schedule,
        save_steps=6,
        eval_every=0,
    )
    with pytest.raises(ValueError, match="unknown --lr-schedule 'linear': use one of cosine, constant, wsd"):
        train_sft(replace(config, lr_schedule="linear"), progress=False)
    assert not out.exists()  # refused before anything is written
    train_sft(config, progress=False)
    state = json.loads((out / "checkpoints" / "checkpoint-6" / "trainer_state.json").read_text())
    rates = [row["learning_rate"] for row in state["log_history"] if "learning_rate" in row]
    assert rates == pytest.approx([5e-4 * f for f in fractions_of_peak])
    assert json.loads((out / "manipgym_train.json").read_text())["lr_schedule"] == schedule


def test_gradient_checkpointing_trains_the_same_weights(tmp_path):
    """Off by default (TRL turns it on): recomputing the activations in the backward pass costs the
    tiny model time and changes nothing it computes."""
    config = SFTRunConfig(
        out=str(tmp_path / "plain"),
        arch="idefics3",
        tasks=["Lift"],
        episodes_per_task=2,
        steps=3,
        batch_size=2,
        save_steps=3,
        eval_every=0,
        data_cache=str(tmp_path / "cache"),
    )
    recomputed = replace(config, out=str(tmp_path / "recomputed"), gradient_checkpointing=True)
    weights = {}
    for run in (config, recomputed):
        train_sft(run, progress=False)
        arguments = torch.load(f"{run.out}/checkpoints/checkpoint-3/training_args.bin", weights_only=False)
        assert arguments.activation_checkpointing is arguments.gradient_checkpointing is run.gradient_checkpointing
        weights[run.gradient_checkpointing] = load_file(f"{run.out}/model.safetensors")
    assert weights[False].keys() == weights[True].keys()
    assert all(torch.equal(weights[False][name], weights[True][name]) for name in weights[False])


def test_a_resumed_run_trains_the_bytes_of_a_run_never_stopped(tmp_path, capsys):
    """--resume puts back the generators the colour jitter and the made-up words draw from, saved
    with each checkpoint: stopped mid-epoch after checkpoint-3 and resumed, a run writes the
    weights it wrote going straight through; from a checkpoint without them it cannot."""
    out = tmp_path / "sft"
    config = SFTRunConfig(
        out=str(out),
        arch="idefics3",
        tiny=TinyVLMConfig(coord_step=10),
        tasks=["Lift"],
        episodes_per_task=4,  # 2 steps an epoch: checkpoint-3 falls mid-epoch
        steps=6,
        batch_size=2,
        save_steps=3,
        eval_every=0,
        color_jitter=0.5,
        nonce_nouns=0.5,
        nonce_colors=0.5,
        data_cache=str(tmp_path / "cache"),
    )
    train_sft(config, progress=False)
    straight = (out / "model.safetensors").read_bytes()
    saved = json.loads((out / "checkpoints" / "checkpoint-3" / "collator_draws.json").read_text())
    assert saved["batches"] == 3 and set(saved["states"]) == {"--color-jitter", "--nonce-nouns", "--nonce-colors"}
    stop_run_after(out, 3)
    train_sft(replace(config, resume=True), progress=False)
    assert (out / "model.safetensors").read_bytes() == straight
    stop_run_after(out, 3)
    (out / "checkpoints" / "checkpoint-3" / "collator_draws.json").unlink()  # as an older manipgym wrote it
    train_sft(replace(config, resume=True), progress=False)
    assert "has no collator_draws.json" in capsys.readouterr().err
    assert (out / "model.safetensors").read_bytes() != straight  # drawn from the seed again
