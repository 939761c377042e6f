"""Build a small vision-language model from scratch, with a tokenizer trained on manipgym's own text.

Nothing is downloaded: the tokenizer is a byte-level BPE trained here on prompts and answers in
manipgym's schema (digits split one by one so that coordinates are learnable), the model is a
randomly initialised Hugging Face architecture, and everything is written with
``save_pretrained`` so that :class:`~manipgym.agents.vlm.VLMAgent` (or any HF code) loads it.

Two architectures: ``qwen2_5_vl`` (shaped like the paper's Qwen2.5-VL) and ``idefics3`` (a
processor without a video slot).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast

from manipgym.agents.prompt import build_prompt
from manipgym.envs.instructions import TEMPLATES
from manipgym.envs.variation import TRAIN_COLORS, TRAIN_SHAPES
from manipgym.rewards.answer import format_answer

ARCHITECTURES = ("qwen2_5_vl", "idefics3")

QWEN_SPECIAL = [
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|image_pad|>",
    "<|video_pad|>",
]
QWEN_CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}{% else %}"
    "{% for part in message['content'] %}{% if part['type'] == 'image' %}<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif part['type'] == 'text' %}{{ part['text'] }}{% endif %}{% endfor %}{% endif %}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
IDEFICS_SPECIAL = [
    "<|begin_of_text|>",
    "<end_of_utterance>",
    "<|pad|>",
    "<fake_token_around_image>",
    "<image>",
    "<global-img>",
    *[f"<row_{i + 1}_col_{j + 1}>" for i in range(6) for j in range(6)],
]
IDEFICS_CHAT_TEMPLATE = (
    "<|begin_of_text|>{% for message in messages %}{{ message['role'] | capitalize }}:"
    "{% if message['content'] is string %}{{ message['content'] }}{% else %}"
    "{% for part in message['content'] %}{% if part['type'] == 'image' %}<image>"
    "{% elif part['type'] == 'text' %}{{ part['text'] }}{% endif %}{% endfor %}{% endif %}<end_of_utterance>\n"
    "{% endfor %}{% if add_generation_prompt %}Assistant:{% endif %}"
)


@dataclass(frozen=True)
class TinyVLMConfig:
    """Sizes of the tiny model. Defaults: ~1 M parameters, 64 image tokens for a 224² image."""

    text_hidden: int = 128
    text_layers: int = 2
    text_heads: int = 4
    vision_hidden: int = 64
    vision_layers: int = 2
    vision_heads: int = 2
    image_size: int = 224
    merge: int = 2  # image patches merged per side into one token (Qwen spatial merge, Idefics3 scale factor)
    coord_step: int = 0  # > 0: one token per multiple of coord_step in 0..1000 (location tokens); 0: digits
    vocab_size: int = 1024
    seed: int = 0

    def __post_init__(self):
        if self.merge not in (1, 2) or self.coord_step < 0 or (self.coord_step and 1000 % self.coord_step):
            raise ValueError(f"merge must be 1 or 2 and coord_step divide 1000: {self}")


def coordinate_tokens(coord_step: int) -> list[str]:
    """The location tokens: each multiple of ``coord_step`` in 0..1000, spelt as the number itself,
    so that decoded answers stay plain JSON that :func:`~manipgym.rewards.parse_answer` reads."""
    return [str(value) for value in range(0, 1001, coord_step)] if coord_step else []


def tokenizer_corpus(rng: np.random.Generator, answers: int = 3000) -> list[str]:
    """manipgym's own text: every instruction template filled in, prompts, and random answers."""
    texts = []
    for templates in TEMPLATES.values():
        for template in (t for group in templates.values() for t in group):
            for color in TRAIN_COLORS:
                for shape in TRAIN_SHAPES:
                    goal = str(rng.choice(TRAIN_COLORS))
                    instruction = template.format(obj=f"{color} {shape}", goal=goal)
                    texts.append(build_prompt(instruction))
    for _ in range(answers):
        box = np.sort(rng.uniform(0, 1000, (2, 2)), axis=0).T.ravel()[[0, 2, 1, 3]]
        points = rng.uniform(0, 1000, (int(rng.integers(3, 11)), 2))
        think = f"The {rng.choice(TRAIN_COLORS)} {rng.choice(TRAIN_SHAPES)} is the object to act on."
        texts.append(format_answer(box, points, think=think))
    return texts


def train_tokenizer(special_tokens: list[str], vocab_size: int, seed: int, coord_step: int = 0) -> Tokenizer:
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Digits(individual_digits=True), pre_tokenizers.ByteLevel(add_prefix_space=False)]
    )
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=special_tokens,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(tokenizer_corpus(np.random.default_rng(seed)), trainer)
    # Added tokens are matched (longest first) before the digit split, so "350" is one token and
    # "357" still falls back to single digits.
    tokenizer.add_tokens(coordinate_tokens(coord_step))
    return tokenizer


def _text_config(cfg: TinyVLMConfig, tokenizer: PreTrainedTokenizerFast) -> dict:
    """The language model's sizes and token ids, shared by both architectures."""
    return {
        "vocab_size": len(tokenizer),
        "hidden_size": cfg.text_hidden,
        "intermediate_size": cfg.text_hidden * 2,
        "num_hidden_layers": cfg.text_layers,
        "num_attention_heads": cfg.text_heads,
        "num_key_value_heads": max(1, cfg.text_heads // 2),
        "max_position_embeddings": 2048,
        "tie_word_embeddings": True,
        "eos_token_id": tokenizer.eos_token_id,
        "pad_token_id": tokenizer.pad_token_id,
    }


def _build_qwen(cfg: TinyVLMConfig):
    from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration, Qwen2_5_VLProcessor
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

    from manipgym.agents.hf_compat import HAS_TORCHVISION, images_only_video_processor

    fast = PreTrainedTokenizerFast(
        tokenizer_object=train_tokenizer(QWEN_SPECIAL, cfg.vocab_size, cfg.seed, cfg.coord_step),
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        chat_template=QWEN_CHAT_TEMPLATE,
    )
    ids = {t: fast.convert_tokens_to_ids(t) for t in QWEN_SPECIAL}
    pixels = cfg.image_size * cfg.image_size
    image_processor = Qwen2VLImageProcessorPil(
        min_pixels=pixels, max_pixels=pixels, patch_size=14, merge_size=cfg.merge, temporal_patch_size=2
    )
    if HAS_TORCHVISION:
        from transformers.models.qwen2_vl.video_processing_qwen2_vl import Qwen2VLVideoProcessor

        video_processor = Qwen2VLVideoProcessor(patch_size=14, merge_size=cfg.merge, temporal_patch_size=2)
    else:
        video_processor = images_only_video_processor(
            {
                "video_processor_type": "Qwen2VLVideoProcessor",
                "patch_size": 14,
                "merge_size": cfg.merge,
                "temporal_patch_size": 2,
            }
        )
    processor = Qwen2_5_VLProcessor(
        image_processor=image_processor,
        tokenizer=fast,
        video_processor=video_processor,
        chat_template=fast.chat_template,
    )
    head_dim = cfg.text_hidden // cfg.text_heads
    section = head_dim // 2 // 4  # mrope splits the rotary half-dimension into (t, h, w)
    config = Qwen2_5_VLConfig(
        text_config={
            **_text_config(cfg, fast),
            "rope_scaling": {"type": "mrope", "mrope_section": [head_dim // 2 - 2 * section, section, section]},
            "bos_token_id": ids["<|endoftext|>"],
        },
        vision_config={
            "depth": cfg.vision_layers,
            "hidden_size": cfg.vision_hidden,
            "intermediate_size": cfg.vision_hidden * 2,
            "num_heads": cfg.vision_heads,
            "out_hidden_size": cfg.text_hidden,
            "patch_size": 14,
            "spatial_merge_size": cfg.merge,
            "temporal_patch_size": 2,
            "window_size": 112,
            "fullatt_block_indexes": [cfg.vision_layers - 1],
        },
        image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"],
        tie_word_embeddings=True,
    )
    torch.manual_seed(cfg.seed)
    return Qwen2_5_VLForConditionalGeneration(config), processor


def _build_idefics3(cfg: TinyVLMConfig):
    from transformers import Idefics3Config, Idefics3ForConditionalGeneration, Idefics3Processor
    from transformers.models.idefics3.image_processing_pil_idefics3 import Idefics3ImageProcessorPil

    fast = PreTrainedTokenizerFast(
        tokenizer_object=train_tokenizer(IDEFICS_SPECIAL, cfg.vocab_size, cfg.seed, cfg.coord_step),
        bos_token="<|begin_of_text|>",
        eos_token="<end_of_utterance>",
        pad_token="<|pad|>",
        chat_template=IDEFICS_CHAT_TEMPLATE,
    )
    patch, scale = 16, cfg.merge
    image_seq_len = (cfg.image_size // patch) ** 2 // scale**2
    image_processor = Idefics3ImageProcessorPil(
        do_image_splitting=False,
        size={"longest_edge": cfg.image_size},
        max_image_size={"longest_edge": cfg.image_size},
    )
    processor = Idefics3Processor(
        image_processor=image_processor, tokenizer=fast, image_seq_len=image_seq_len, chat_template=fast.chat_template
    )
    ids = {t: fast.convert_tokens_to_ids(t) for t in IDEFICS_SPECIAL}
    config = Idefics3Config(
        text_config={"model_type": "llama", **_text_config(cfg, fast), "bos_token_id": ids["<|begin_of_text|>"]},
        vision_config={
            "hidden_size": cfg.vision_hidden,
            "intermediate_size": cfg.vision_hidden * 2,
            "num_hidden_layers": cfg.vision_layers,
            "num_attention_heads": cfg.vision_heads,
            "image_size": cfg.image_size,
            "patch_size": patch,
        },
        scale_factor=scale,
        image_token_id=ids["<image>"],
        tie_word_embeddings=True,
        pad_token_id=ids["<|pad|>"],
    )
    torch.manual_seed(cfg.seed)
    return Idefics3ForConditionalGeneration(config), processor


def build_tiny_vlm(arch: str, out_dir: str | Path, config: TinyVLMConfig = TinyVLMConfig()) -> Path:
    """Build, initialise and save a tiny VLM and its processor to ``out_dir``."""
    if arch not in ARCHITECTURES:
        raise ValueError(f"unknown architecture {arch!r}; choose one of {', '.join(ARCHITECTURES)}")
    model, processor = (_build_qwen if arch == "qwen2_5_vl" else _build_idefics3)(config)
    model.generation_config.pad_token_id = processor.tokenizer.pad_token_id
    model.generation_config.eos_token_id = processor.tokenizer.eos_token_id
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out, safe_serialization=True)
    processor.save_pretrained(out)
    (out / "manipgym.json").write_text(json.dumps({"arch": arch, **config.__dict__}, indent=2) + "\n")
    return out
