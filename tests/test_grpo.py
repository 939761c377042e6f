"""GRPO: simulator rewards for sampled answers, and a real (tiny) TRL run that writes a checkpoint."""

import json
import re
from dataclasses import replace

import gymnasium as gym
import numpy as np
import pytest
from conftest import assert_ran_here, stop_run_after
from transformers import AutoTokenizer

from manipgym.agents import SHIPPED_CHECKPOINT, OracleAgent
from manipgym.agents.grpo import (
    REWARD_TERMS,
    GRPORunConfig,
    SimulatorRewards,
    completion_text,
    grpo_dataset,
    load_policy,
    mixed_share,
    train_grpo,
)
from manipgym.agents.run_dir import export_model
from manipgym.agents.sft import SFTRunConfig, train_sft
from manipgym.agents.vlm import VLMAgent
from manipgym.envs.manifests import manifest_seed
from manipgym.envs.variation import TRAIN_COLORS
from manipgym.envs.workers import Worker


def _oracle_answer(task: str, seed: int) -> str:
    env = gym.make(f"manipgym/{task}-v0")
    obs, info = env.reset(seed=seed)
    env.close()
    return OracleAgent().act([{**obs, "ground_truth": info["ground_truth"]}])[0]


def test_simulator_rewards_execute_each_answer_once_from_its_scene():
    seed = manifest_seed("Lift", "train", 0)
    good = _oracle_answer("Lift", seed)
    completions = [[{"role": "assistant", "content": good}], [{"role": "assistant", "content": "no idea"}]] * 2
    workers = [Worker()]
    try:
        rewards = SimulatorRewards(workers)
        functions = rewards.reward_functions()
        assert [f.__name__ for f in functions] == list(REWARD_TERMS)
        scores = {f.__name__: f(None, completions, task=["Lift"] * 4, seed=[seed] * 4) for f in functions}
    finally:
        workers[0].close()
    assert scores["success"] == [1.0, 0.0, 1.0, 0.0]  # the oracle's answer lifts the cube in the simulator
    assert scores["format"] == [1.0, 0.0, 1.0, 0.0]
    assert scores["affordance"][0] > 0.5 and scores["trajectory"][0] > 0.5
    assert rewards.episodes == 2  # two distinct answers, each executed once for all four functions
    assert rewards.mixed_success_groups == 1.0  # the one scene's answers hold a success and a failure


def test_mixed_share_counts_groups_with_both_outcomes():
    outcomes = [("a", 1.0), ("a", 0.0), ("b", 1.0), ("b", 1.0), ("c", 0.0), ("c", 0.0), ("d", 0.0), ("d", 1.0)]
    assert mixed_share(outcomes) == 0.5


def test_completion_text_reads_every_completion_shape():
    assert completion_text("a") == "a"
    assert completion_text([{"role": "assistant", "content": "b"}]) == "b"
    assert completion_text([{"role": "assistant", "content": [{"type": "text", "text": "c"}]}]) == "c"


def test_batch_must_hold_whole_groups():
    with pytest.raises(ValueError, match="multiple of --num-generations"):
        GRPORunConfig(out="x", init="y", batch_size=6, num_generations=4)


@pytest.fixture(scope="module")
def sft(tmp_path_factory):
    """A two-step SFT model: the GRPO runs' --init."""
    out = tmp_path_factory.mktemp("init") / "sft"
    train_sft(
        SFTRunConfig(out=str(out), tasks=["Lift"], episodes_per_task=2, steps=2, batch_size=2, eval_every=0),
        progress=False,
    )
    return out


def _tiny_run(out, init, **options) -> GRPORunConfig:
    """A GRPO run small enough for a test: two Lift scenes, groups of two short answers."""
    return GRPORunConfig(
        out=str(out),
        init=str(init),
        tasks=["Lift"],
        scenes_per_task=2,
        first_scene=1,  # prompts: train scenes 1 and 2
        batch_size=4,
        num_generations=2,
        max_completion_length=24,
        workers=1,
        **options,
    )


def _optimised_parameters(checkpoint) -> int:
    """How many parameter tensors the optimizer state of a saved checkpoint updates."""
    import torch

    state = torch.load(checkpoint / "optimizer.pt", weights_only=True)
    return sum(len(group["params"]) for group in state["param_groups"])


def _trainable_parameters(config: GRPORunConfig) -> tuple[int, bool]:
    """How many parameter tensors the policy trains, and whether the vision tower is among them."""
    trainable = [name for name, p in load_policy(config).model.named_parameters() if p.requires_grad]
    return len(trainable), any(".visual." in name for name in trainable)


def test_grpo_run_logs_each_step_and_writes_a_loadable_checkpoint(tmp_path, sft):
    out = tmp_path / "grpo"
    config = _tiny_run(
        out,
        sft,
        steps=2,
        save_steps=1,
        keep_checkpoints=0,  # all of them: checkpoint-1 stays after checkpoint-3
        eval_every=2,
        validation_per_task=1,
    )
    assert grpo_dataset(config, progress=False)["seed"] == [manifest_seed("Lift", "train", i) for i in (1, 2)]
    train_grpo(config, progress=False)
    rows = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert [row["step"] for row in rows] == [1, 2]
    for row in rows:
        assert {"reward", "success_rate", "format_rate", "completion_length", *REWARD_TERMS} <= row.keys()
        assert 0 <= row["success_rate"] <= 1 and 0 < row["completion_length"] <= 24
        assert row["mixed_success_groups"] in (0.0, 0.5, 1.0)  # two scenes a step
        assert row["step_seconds"] > 0
        assert row["kl"] >= 0  # beta 0.04 (the default): the KL to the --init model is computed and logged
    assert json.loads((out / "manipgym_train.json").read_text())["stage"] == "grpo"
    assert_ran_here(out)
    assert (out / "checkpoints" / "checkpoint-2").is_dir()
    agent = VLMAgent(out, max_new_tokens=8)
    blank = {"image": np.zeros((224, 224, 3), np.uint8), "instruction": "lift the red cube"}
    assert isinstance(agent.act([blank])[0], str)
    with pytest.raises(FileExistsError, match="--resume"):
        train_grpo(config, progress=False)
    config.steps, config.resume = 3, True  # a longer run picks up from checkpoint-2
    config.temperature = 1.0  # ... but not with another sampling temperature: refused before anything runs
    with pytest.raises(ValueError, match=r"temperature 1.0 \(the run used 0.3\)"):
        train_grpo(config, progress=False)
    config.temperature = 0.3
    train_grpo(config, progress=False)
    rows = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert [row["step"] for row in rows] == [1, 2, 3]
    kept = sorted(p.name for p in (out / "checkpoints").glob("checkpoint-*"))  # TRL also writes a README.md there
    assert kept == [f"checkpoint-{n}" for n in (1, 2, 3)]
    for n in (1, 2, 3):  # every checkpoint carries the run's record with its step, as the final model does
        record = json.loads((out / "checkpoints" / f"checkpoint-{n}" / "manipgym_train.json").read_text())
        assert (record["stage"], record["step"], record["init"]) == ("grpo", n, str(sft))
    assert json.loads((out / "manipgym_train.json").read_text())["step"] == 3
    shipped = export_model(out / "checkpoints" / "checkpoint-1", tmp_path / "shipped")  # a checkpoint chosen by step
    names = {p.name for p in shipped.iterdir()}
    assert {"model.safetensors", "config.json", "manipgym_train.json", "curve.jsonl"} <= names
    assert (out / "checkpoints" / "checkpoint-1" / "optimizer.pt").exists()
    assert not names & {"optimizer.pt", "scheduler.pt", "trainer_state.json", "training_args.bin"}
    assert json.loads((shipped / "manipgym_train.json").read_text())["step"] == 1
    assert isinstance(VLMAgent(shipped, max_new_tokens=8).act([blank])[0], str)
    assert AutoTokenizer.from_pretrained(shipped).padding_side == "left"  # for batched generation
    with pytest.raises(FileExistsError, match="already holds a model"):
        export_model(out, shipped)
    final = {p.name for p in export_model(out, tmp_path / "final").iterdir()}  # the run's final model
    assert "curve.jsonl" in final and "log.jsonl" not in final and "checkpoints" not in final
    (out / "checkpoints" / "checkpoint-2" / "manipgym_train.json").unlink()  # as saved by older versions
    older = json.loads(
        (export_model(out / "checkpoints" / "checkpoint-2", tmp_path / "older") / "manipgym_train.json").read_text()
    )
    assert (older["stage"], older["step"], older["coord_step"]) == ("grpo", 2, record["coord_step"])
    curve = [json.loads(line) for line in (out / "curve.jsonl").read_text().splitlines()]
    assert [row["step"] for row in curve] == [0, 2, 3]  # the start, every --eval-every steps, the end; once each
    assert all(0 <= row["success"] <= row["format_valid"] <= 1 for row in curve)  # executed greedy answers
    # the default (--freeze-vision): the optimizer updates the language model only
    count, with_tower = _trainable_parameters(config)
    assert not with_tower and _optimised_parameters(out / "checkpoints" / "checkpoint-3") == count


def test_grpo_without_reference_model_and_with_the_tower_trained(tmp_path, sft):
    """The paths the defaults leave out: beta 0 (no reference model, no KL term) and --no-freeze-vision."""
    out = tmp_path / "grpo"
    config = _tiny_run(out, sft, steps=1, save_steps=1, beta=0.0, freeze_vision=False, temperature=1.0, eval_every=0)
    train_grpo(config, progress=False)
    (row,) = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert row["kl"] is None  # TRL builds no reference model and logs no KL at beta 0
    count, with_tower = _trainable_parameters(config)
    assert with_tower and _optimised_parameters(out / "checkpoints" / "checkpoint-1") == count
    frozen, _ = _trainable_parameters(_tiny_run(out, sft))
    assert count > frozen  # the tower's tensors are in the optimizer as well


def test_nonce_words_rename_each_prompt_once_for_the_run(tmp_path, sft):
    shapes = ("cube", "cylinder", "ball")

    def prompt_texts(**options) -> list[str]:
        dataset = grpo_dataset(_tiny_run(tmp_path / "g", sft, **options), progress=False)
        return [part["text"] for prompt in dataset["prompt"] for part in prompt[0]["content"] if part["text"]]

    plain = prompt_texts()
    assert len(plain) == 2 and all(any(shape in text for shape in shapes) for text in plain)
    renamed = prompt_texts(nonce_nouns=1.0)
    assert len(renamed) == 2 and not any(shape in text for text in renamed for shape in shapes)
    assert renamed == prompt_texts(nonce_nouns=1.0) and renamed != prompt_texts(nonce_nouns=1.0, seed=1)
    colours = prompt_texts(nonce_colors=1.0)
    assert all(any(shape in text for shape in shapes) for text in colours)  # shapes kept, colours renamed
    assert not any(re.search(rf"\b{color}\b", text) for text in colours for color in TRAIN_COLORS)
    with pytest.raises(ValueError, match="--nonce-nouns must be a probability"):
        _tiny_run(tmp_path / "g", sft, nonce_nouns=-0.1)
    with pytest.raises(ValueError, match="--nonce-colors must be a probability"):
        _tiny_run(tmp_path / "g", sft, nonce_colors=1.1)


def test_a_stopped_grpo_run_resumes_to_the_bytes_of_a_run_never_stopped(tmp_path):
    """From the shipped model, whose answers parse and are executed: the sampling, the simulator's
    rewards and the updates after a resume repeat those of the run that went straight through."""
    out = tmp_path / "grpo"
    config = _tiny_run(out, SHIPPED_CHECKPOINT, steps=4, save_steps=2, eval_every=0, temperature=1.0)
    config = replace(config, max_completion_length=160)  # whole answers, which parse
    train_grpo(config, progress=False)
    straight = (out / "model.safetensors").read_bytes()
    assert straight != (SHIPPED_CHECKPOINT / "model.safetensors").read_bytes()  # the steps changed the weights
    stop_run_after(out, 2)
    train_grpo(replace(config, resume=True), progress=False)
    assert (out / "model.safetensors").read_bytes() == straight
    rows = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert [row["step"] for row in rows] == [1, 2, 3, 4]  # steps 3 and 4 once, the torn line gone
