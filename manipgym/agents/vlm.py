"""``VLMAgent``: any local Hugging Face image-text-to-text checkpoint as a manipgym agent."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from PIL import Image
from transformers import AutoModelForImageTextToText
from transformers.models.auto.modeling_auto import MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES

from manipgym.agents.hf_compat import load_processor
from manipgym.agents.prompt import DEFAULT_TEMPLATE, build_prompt


class CheckpointError(ValueError):
    """A checkpoint directory that manipgym cannot use; the message says why and what to do."""


def check_checkpoint(checkpoint: str | Path, trust_remote_code: bool = False) -> dict:
    """Validate a checkpoint directory before loading it; returns its ``config.json``."""
    path = Path(checkpoint)
    if not path.is_dir():
        raise CheckpointError(f"checkpoint directory {path} does not exist")
    config_file = path / "config.json"
    if not config_file.exists():
        raise CheckpointError(f"{path} has no config.json: not a Hugging Face checkpoint directory")
    try:
        config = json.loads(config_file.read_text())
    except ValueError as err:
        raise CheckpointError(f"{config_file} is not valid JSON ({err})") from None
    if not isinstance(config, dict):
        raise CheckpointError(f"{config_file} holds a JSON {type(config).__name__}, not a model config (an object)")
    if not any(path.glob("*.safetensors")):
        pickles = sorted(p.name for p in path.glob("*.bin")) + sorted(p.name for p in path.glob("*.pt"))
        if pickles:
            raise CheckpointError(
                f"{path} has only pickle weights ({', '.join(pickles)}); manipgym loads safetensors only: "
                "re-save with model.save_pretrained(dir, safe_serialization=True)"
            )
        raise CheckpointError(f"{path} has no model weights (*.safetensors)")
    model_type = config.get("model_type")
    if model_type not in MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES and not (
        trust_remote_code and config.get("auto_map")
    ):
        raise CheckpointError(
            f"{path} holds a {model_type!r} model, which takes no image input; "
            "manipgym needs an image-text-to-text checkpoint (e.g. qwen2_5_vl, idefics3)"
        )
    return config


def _load_model(checkpoint_dir: str | Path, dtype: torch.dtype, trust_remote_code: bool):
    """The checkpoint's model; weights that cannot be read (a truncated or corrupt safetensors file)
    or that do not fit its config.json are one line (CheckpointError), not transformers' traceback."""
    from safetensors import SafetensorError

    try:
        return AutoModelForImageTextToText.from_pretrained(
            checkpoint_dir, dtype=dtype, use_safetensors=True, trust_remote_code=trust_remote_code
        )
    except (OSError, ValueError, RuntimeError, TypeError, KeyError, SafetensorError) as err:
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        if "ignore_mismatched_sizes" in reason:  # transformers has logged which tensors differ just above
            reason = "weights of other shapes than its config.json gives, listed above"
        raise CheckpointError(
            f"the model in {checkpoint_dir} cannot be loaded ({reason}): its weights are damaged or do not fit "
            "its config.json; export or copy the checkpoint again"
        ) from None


def _pick_device(device: str) -> torch.device:
    """``auto``: CUDA when present, else CPU. A device torch does not know, or CUDA where torch sees
    none, is a ValueError with one line to show (the CLI's handlers print it) rather than torch's
    traceback from deep inside model loading."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        picked = torch.device(device)
    except RuntimeError:
        raise ValueError(f"unknown --device {device!r}: use auto, cpu or cuda") from None
    if picked.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"--device {device}, but torch sees no CUDA GPU here: use --device auto or cpu")
    return picked


def has_bfloat16(device: torch.device) -> bool:
    """Whether ``device`` is a CUDA GPU that computes in bfloat16 (Ampere and later). Elsewhere
    manipgym stays in float32: float16's range can overflow where bfloat16's does not."""
    return device.type == "cuda" and torch.cuda.is_bf16_supported()


class VLMAgent:
    """Answers observations by generating with a local HF checkpoint.

    Args:
        checkpoint_dir: Hugging Face directory (config.json, safetensors weights, processor files).
        device: ``"auto"`` (CUDA when present, else CPU), ``"cpu"``, ``"cuda"``, ...
        dtype: torch dtype name; default bfloat16 on a CUDA GPU that has it, else float32.
        temperature: 0 decodes greedily (evaluation); > 0 samples (training).
        top_p: nucleus sampling mass when sampling.
        max_new_tokens: generation budget per answer.
        batch_size: observations generated together.
        trust_remote_code: allow code shipped with the checkpoint (off unless asked for).
        prompt_template: name of a template in ``manipgym/assets/prompts``.
        seed: seeds torch's generator for sampling.
    """

    name = "vlm"
    needs_ground_truth = False

    def __init__(
        self,
        checkpoint_dir: str | Path,
        device: str = "auto",
        dtype: str | None = None,
        temperature: float = 0.0,
        top_p: float = 1.0,
        max_new_tokens: int = 256,
        batch_size: int = 8,
        trust_remote_code: bool = False,
        prompt_template: str = DEFAULT_TEMPLATE,
        seed: int = 0,
    ):
        check_checkpoint(checkpoint_dir, trust_remote_code)
        self.device = _pick_device(device)
        if dtype:
            torch_dtype = getattr(torch, dtype)
        else:
            torch_dtype = torch.bfloat16 if has_bfloat16(self.device) else torch.float32
        try:
            self.processor = load_processor(checkpoint_dir, trust_remote_code=trust_remote_code)
        except (OSError, ValueError, TypeError, KeyError) as err:
            raise CheckpointError(f"the processor in {checkpoint_dir} cannot be loaded: {err}") from None
        self.model = _load_model(checkpoint_dir, torch_dtype, trust_remote_code).to(self.device)
        self.model.eval()
        self._check_processor_matches(checkpoint_dir)
        self._set_decoding(temperature, top_p, max_new_tokens, batch_size, prompt_template)
        torch.manual_seed(seed)

    @classmethod
    def from_model(cls, model, processor, max_new_tokens: int = 256, batch_size: int = 8) -> VLMAgent:
        """Greedy answers from a model already in memory (e.g. one a trainer is training)."""
        agent = cls.__new__(cls)
        agent.model, agent.processor, agent.device = model, processor, next(model.parameters()).device
        agent._set_decoding(0.0, 1.0, max_new_tokens, batch_size, DEFAULT_TEMPLATE)
        return agent

    def _set_decoding(self, temperature, top_p, max_new_tokens, batch_size, prompt_template) -> None:
        self.processor.tokenizer.padding_side = "left"  # generation continues from the right
        self.temperature, self.top_p = temperature, top_p
        self.max_new_tokens, self.batch_size = max_new_tokens, batch_size
        self.prompt_template = prompt_template

    def _check_processor_matches(self, checkpoint_dir) -> None:
        tokenizer = getattr(self.processor, "tokenizer", None)
        if tokenizer is None or getattr(self.processor, "image_processor", None) is None:
            raise CheckpointError(f"the processor in {checkpoint_dir} has no tokenizer or image processor")
        processor_image_token = getattr(self.processor, "image_token_id", None)
        model_image_token = getattr(self.model.config, "image_token_id", None)
        if None not in (processor_image_token, model_image_token) and processor_image_token != model_image_token:
            raise CheckpointError(
                f"the processor in {checkpoint_dir} does not match the model: its image token id is "
                f"{processor_image_token}, the model's {model_image_token}"
            )
        rows = self.model.get_input_embeddings().weight.shape[0]
        if len(tokenizer) > rows:
            raise CheckpointError(
                f"the processor in {checkpoint_dir} does not match the model: its tokenizer has {len(tokenizer)} "
                f"tokens, the model's embedding {rows} rows"
            )

    def prompts(self, observations: Sequence[Mapping[str, Any]]) -> list[str]:
        """The chat-formatted prompt text of each observation (image placeholder included)."""
        texts = []
        for obs in observations:
            content = [
                {"type": "image"},
                {"type": "text", "text": build_prompt(obs["instruction"], self.prompt_template)},
            ]
            messages = [{"role": "user", "content": content}]
            texts.append(self.processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False))
        return texts

    @torch.no_grad()
    def act(self, observations: Sequence[Mapping[str, Any]]) -> list[str]:
        answers: list[str] = []
        for start in range(0, len(observations), self.batch_size):
            batch = observations[start : start + self.batch_size]
            inputs = self.processor(
                text=self.prompts(batch),
                images=[[Image.fromarray(obs["image"])] for obs in batch],
                return_tensors="pt",
                padding=True,
            ).to(self.device)
            sampling = self.temperature > 0
            output = self.model.generate(
                **inputs,
                max_new_tokens=self.max_new_tokens,
                do_sample=sampling,
                temperature=self.temperature if sampling else None,
                top_p=self.top_p if sampling else None,
            )
            new_tokens = output[:, inputs["input_ids"].shape[1] :]
            answers.extend(self.processor.batch_decode(new_tokens, skip_special_tokens=True))
        return answers
