"""The VLM path end to end on tiny models that manipgym builds itself (both architectures)."""

import json
import shutil

import numpy as np
import pytest
import torch
from PIL import Image

from manipgym.agents import hf_compat
from manipgym.agents.tiny_vlm import ARCHITECTURES, build_tiny_vlm
from manipgym.agents.vlm import CheckpointError, VLMAgent
from manipgym.rewards import parse_answer


@pytest.fixture(scope="session")
def tiny_checkpoints(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny")
    return {arch: build_tiny_vlm(arch, root / arch) for arch in ARCHITECTURES}


def _logits(agent: VLMAgent, obs) -> torch.Tensor:
    inputs = agent.processor(
        text=agent.prompts([obs]), images=[[Image.fromarray(obs["image"])]], return_tensors="pt", padding=True
    ).to(agent.device)
    with torch.no_grad():
        return agent.model(**inputs).logits


@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_build_load_answer_step_and_round_trip(arch, tiny_checkpoints, make_env, tmp_path):
    agent = VLMAgent(tiny_checkpoints[arch], max_new_tokens=24)
    assert agent.device.type == ("cuda" if torch.cuda.is_available() else "cpu")  # device="auto"
    env = make_env("PickPlace")
    observations = [env.reset(seed=s)[0] for s in (0, 1)]
    answers = agent.act(observations)
    assert len(answers) == 2 and all(isinstance(a, str) for a in answers)
    assert agent.act(observations) == answers  # greedy decoding is deterministic
    env.reset(seed=0)
    _, reward, terminated, _, step = env.step(answers[0])  # an untrained model: scored, never a crash
    assert terminated and 0.0 <= reward <= 1.0
    assert step["parse_ok"] == bool(parse_answer(answers[0]))
    # save -> load gives the same logits, bit for bit
    agent.model.save_pretrained(tmp_path / "copy", safe_serialization=True)
    agent.processor.save_pretrained(tmp_path / "copy")
    assert "ImagesOnly" not in (tmp_path / "copy" / "processor_config.json").read_text()
    reloaded = VLMAgent(tmp_path / "copy")
    assert torch.equal(_logits(agent, observations[0]), _logits(reloaded, observations[0]))


def test_sampling_varies_with_the_seed(tiny_checkpoints, make_env):
    obs, _ = make_env("Lift").reset(seed=0)
    first = VLMAgent(tiny_checkpoints["qwen2_5_vl"], temperature=1.0, max_new_tokens=16, seed=1).act([obs] * 3)
    again = VLMAgent(tiny_checkpoints["qwen2_5_vl"], temperature=1.0, max_new_tokens=16, seed=1).act([obs] * 3)
    other = VLMAgent(tiny_checkpoints["qwen2_5_vl"], temperature=1.0, max_new_tokens=16, seed=2).act([obs] * 3)
    assert first == again and first != other


@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_tokenizer_splits_digits_and_keeps_special_tokens(arch, tiny_checkpoints):
    tokenizer = VLMAgent(tiny_checkpoints[arch]).processor.tokenizer
    assert len(tokenizer("[120, 345]")["input_ids"]) >= 8  # every digit its own token
    digits = [tokenizer.decode([i]) for i in tokenizer("1234567890", add_special_tokens=False)["input_ids"]]
    assert digits == list("1234567890")
    assert len(tokenizer.tokenize(tokenizer.eos_token)) == 1


def _copy(src, dst):
    shutil.copytree(src, dst)
    return dst


def test_bad_checkpoints_give_one_clear_line(tiny_checkpoints, tmp_path):
    qwen = tiny_checkpoints["qwen2_5_vl"]
    with pytest.raises(CheckpointError, match="does not exist"):
        VLMAgent(tmp_path / "missing")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(CheckpointError, match="no config.json"):
        VLMAgent(empty)
    no_weights = _copy(qwen, tmp_path / "no_weights")
    (no_weights / "model.safetensors").unlink()
    with pytest.raises(CheckpointError, match="no model weights"):
        VLMAgent(no_weights)
    pickled = _copy(qwen, tmp_path / "pickled")
    (pickled / "model.safetensors").rename(pickled / "pytorch_model.bin")
    with pytest.raises(CheckpointError, match="only pickle weights"):
        VLMAgent(pickled)
    text_only = _copy(qwen, tmp_path / "text_only")
    (text_only / "config.json").write_text('{"model_type": "llama"}')
    with pytest.raises(CheckpointError, match="no image input"):
        VLMAgent(text_only)
    mismatched = _copy(qwen, tmp_path / "mismatched")
    for name in ("processor_config.json", "tokenizer.json", "tokenizer_config.json", "chat_template.jinja"):
        shutil.copy(tiny_checkpoints["idefics3"] / name, mismatched / name)
    with pytest.raises(CheckpointError, match="does not match the model"):
        VLMAgent(mismatched)
    not_an_object = _copy(qwen, tmp_path / "not_an_object")
    (not_an_object / "config.json").write_text("[]")
    with pytest.raises(CheckpointError, match="holds a JSON list, not a model config"):
        VLMAgent(not_an_object)
    truncated = _copy(qwen, tmp_path / "truncated")
    weights = truncated / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])  # as an interrupted copy leaves it
    with pytest.raises(CheckpointError, match="cannot be loaded .*damaged or do not fit"):
        VLMAgent(truncated)
    reshaped = _copy(qwen, tmp_path / "reshaped")
    config = json.loads((reshaped / "config.json").read_text())
    config["text_config"]["hidden_size"] *= 2
    (reshaped / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match="weights of other shapes than its config.json gives"):
        VLMAgent(reshaped)
    for error in ("does not exist", "no config.json"):
        assert "\n" not in error


def test_bad_device_gives_one_clear_line(tiny_checkpoints):
    with pytest.raises(ValueError, match="unknown --device 'tpu': use auto, cpu or cuda"):
        VLMAgent(tiny_checkpoints["idefics3"], device="tpu")
    if not torch.cuda.is_available():  # where there is a GPU, --device cuda is simply used
        with pytest.raises(ValueError, match="torch sees no CUDA GPU here"):
            VLMAgent(tiny_checkpoints["idefics3"], device="cuda")


def test_compat_fills_the_video_slot_only_without_torchvision(tiny_checkpoints, monkeypatch):
    processor = hf_compat.load_processor(tiny_checkpoints["qwen2_5_vl"])
    if hf_compat.HAS_TORCHVISION:  # nothing to stand in for
        assert not isinstance(processor.video_processor, hf_compat.ImagesOnlyVideoProcessor)
        return
    assert isinstance(processor.video_processor, hf_compat.ImagesOnlyVideoProcessor)
    # Saved checkpoints name the real video processor, so they load where torchvision exists.
    saved = (tiny_checkpoints["qwen2_5_vl"] / "processor_config.json").read_text()
    assert "Qwen2VLVideoProcessor" in saved and "ImagesOnly" not in saved
    with pytest.raises(RuntimeError, match="videos"):
        processor.video_processor(np.zeros((2, 8, 8, 3)))
    # With torchvision present the module passes straight through to AutoProcessor, which on
    # this machine cannot build the video processor: proof the stand-in was not used.
    monkeypatch.setattr(hf_compat, "HAS_TORCHVISION", True)
    with pytest.raises(ImportError):
        hf_compat.load_processor(tiny_checkpoints["qwen2_5_vl"])
    # A processor without a video slot never needs the stand-in.
    assert not hasattr(hf_compat.load_processor(tiny_checkpoints["idefics3"]), "video_processor")
