"""SFT warm start: a real (tiny) TRL run on simulator-generated oracle answers."""

import json

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from manipgym.agents.sft import SFTRunConfig, oracle_examples, train_sft
from manipgym.agents.vlm import VLMAgent
from manipgym.envs.manifests import load_manifest
from manipgym.rewards import parse_answer


def test_oracle_examples_come_from_the_train_manifest():
    examples = oracle_examples(["Push"], 2, progress=False)
    assert len(examples) == 2
    completion = examples[0]["completion"][0]["content"][0]["text"]
    assert parse_answer(completion)  # the target is a valid answer
    assert examples[0]["prompt"][0]["content"][0] == {"type": "image"}
    assert examples[0]["images"][0].size == (224, 224)
    assert load_manifest()["episodes"]["train"]["Push"][0] not in load_manifest()["episodes"]["test"]["Push"]


def test_train_sft_writes_a_loadable_checkpoint_that_changed(tmp_path):
    out = tmp_path / "sft"
    config = SFTRunConfig(out=str(out), tasks=["Lift"], episodes_per_task=4, steps=3, batch_size=4, save_steps=2)
    train_sft(config, progress=False)
    before = load_file(out / "init" / "model.safetensors")
    after = load_file(out / "model.safetensors")
    assert before.keys() == after.keys()
    assert any(not torch.equal(before[k], after[k]) for k in before)
    assert json.loads((out / "manipgym_train.json").read_text())["stage"] == "sft"
    agent = VLMAgent(out, max_new_tokens=8)
    blank = {"image": np.zeros((224, 224, 3), np.uint8), "instruction": "lift the red cube"}
    assert isinstance(agent.act([blank])[0], str)
    with pytest.raises(FileExistsError, match="--resume"):
        train_sft(config, progress=False)
    assert (out / "checkpoints" / "checkpoint-2").is_dir()
