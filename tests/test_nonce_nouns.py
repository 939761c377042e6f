"""Made-up shape words: what they may be, what they replace, determinism, and TRL's real collator."""

import numpy as np
import pytest
from PIL import Image
from trl.trainer.sft_trainer import DataCollatorForVisionLanguageModeling

from manipgym.agents.nonce_nouns import (
    RESERVED,
    NonceNounCollator,
    nonce_instructions,
    nonce_word,
    rename_shape,
)
from manipgym.agents.prompt import build_prompt
from manipgym.agents.tiny_vlm import TinyVLMConfig, build_tiny_vlm
from manipgym.agents.train_data import chat_prompt, completion_message
from manipgym.agents.vlm import VLMAgent
from manipgym.envs.splits import HELDOUT_SHAPES


def test_nonce_words_are_short_fresh_and_never_a_word_of_the_task():
    rng = np.random.default_rng(0)
    words = [nonce_word(rng) for _ in range(2000)]
    assert all(3 <= len(word) <= 6 and word.isalpha() and word.islower() for word in words)
    assert not set(words) & RESERVED
    assert set(HELDOUT_SHAPES) <= RESERVED  # the ood_object split's names are never trained on
    assert {"cube", "red", "plate", "stack"} <= RESERVED
    assert len(set(words)) > 1900


def test_only_the_target_shape_word_is_replaced():
    assert rename_shape("stack the red ball on the green block", "wug") == "stack the red wug on the green block"
    think = "The white cylinder is the object to act on."
    assert rename_shape(think, "wug") == "The white wug is the object to act on."
    assert rename_shape("push the blue cube to the red circle", "wug") == "push the blue wug to the red circle"
    assert rename_shape("cubes and a cubed ball", "wug") == "cubes and a cubed wug"  # whole words only
    prompt = build_prompt("lift the red cube")
    assert rename_shape(prompt, "wug") == build_prompt("lift the red wug")  # the template names no shape


def test_validation_instructions_are_renamed_the_same_way_every_time():
    instructions = ["lift the red cube", "put the blue ball on the green plate"]
    first = nonce_instructions(instructions)
    assert first == nonce_instructions(instructions)
    assert first[0].startswith("lift the red ") and first[1].endswith(" on the green plate")
    assert not any(shape in text for text in first for shape in ("cube", "ball"))
    assert nonce_instructions(instructions, seed=1) != first


def test_collator_renames_prompt_and_think_alike_in_the_tokens_trl_feeds_the_model(tmp_path):
    processor = VLMAgent(build_tiny_vlm("idefics3", tmp_path / "vlm", TinyVLMConfig(coord_step=10))).processor
    image = Image.fromarray(np.zeros((224, 224, 3), np.uint8))

    def examples():
        return [
            {
                "images": [image],
                "prompt": chat_prompt("lift the red cube"),
                "completion": completion_message("<think>The red cube is the object to act on.</think>"),
            }
            for _ in range(8)
        ]

    collate = DataCollatorForVisionLanguageModeling(processor, completion_only_loss=True)
    decode = processor.tokenizer.decode
    plain = collate(examples())
    batch = NonceNounCollator(collate, 0.5, seed=0)(examples())
    again = NonceNounCollator(collate, 0.5, seed=0)(examples())
    assert batch["input_ids"].equal(again["input_ids"])
    texts = [decode(ids, skip_special_tokens=True) for ids in batch["input_ids"]]
    renamed = [text for text in texts if "cube" not in text]
    assert 0 < len(renamed) < len(texts)  # some examples, not all, at probability 0.5
    for text in renamed:
        word = text.split("lift the red ")[1].split('"')[0]
        assert word not in RESERVED and f"The red {word} is the object" in text  # the think copies it
    answers = [ids[labels != -100] for ids, labels in zip(batch["input_ids"], batch["labels"])]
    assert any("cube" not in decode(ids) for ids in answers)  # the renamed think is what the loss trains
    assert all("cube" in decode(ids, skip_special_tokens=True) for ids in plain["input_ids"])
    with pytest.raises(ValueError, match="--nonce-nouns must be a probability"):
        NonceNounCollator(collate, 1.5, seed=0)


def test_collator_leaves_the_examples_it_was_given_as_they_were():
    think = "<think>The red cube is the object to act on.</think>"
    examples = [{"prompt": chat_prompt("lift the red cube"), "completion": completion_message(think)}]
    [renamed] = NonceNounCollator(lambda batch: batch, 1.0, seed=0)(examples)
    assert "cube" not in renamed["completion"][0]["content"][0]["text"]
    assert examples[0]["completion"] == completion_message(think)
    assert examples[0]["prompt"] == chat_prompt("lift the red cube")
