"""Made-up shape and colour words: what they may be, what they replace, determinism, and TRL's real collator."""

import re

import numpy as np
import pytest
from PIL import Image
from trl.trainer.sft_trainer import DataCollatorForVisionLanguageModeling

from manipgym.agents.nonce_words import (
    COLOR_WORDS,
    RESERVED,
    SHAPE_WORDS,
    NonceWordCollator,
    WordKind,
    nonce_instructions,
    nonce_word,
    rename,
    renaming,
)
from manipgym.agents.prompt import build_prompt
from manipgym.agents.tiny_vlm import TinyVLMConfig, build_tiny_vlm
from manipgym.agents.train_data import chat_prompt, completion_message
from manipgym.agents.vlm import VLMAgent
from manipgym.envs.splits import HELDOUT_COLORS, HELDOUT_SHAPES


def test_nonce_words_are_short_fresh_and_never_a_word_of_the_task():
    rng = np.random.default_rng(0)
    words = [nonce_word(rng) for _ in range(2000)]
    assert all(3 <= len(word) <= 6 and word.isalpha() and word.islower() for word in words)
    assert not set(words) & RESERVED
    assert set(HELDOUT_SHAPES) | set(HELDOUT_COLORS) <= RESERVED  # the OOD splits' names are never trained on
    assert {"cube", "red", "plate", "stack"} <= RESERVED
    assert len(set(words)) > 1900


def rename_shape(text: str, word: str) -> str:
    return rename(text, renaming(text, SHAPE_WORDS, [word]))


def rename_colors(text: str, words: list[str], kind: WordKind = COLOR_WORDS) -> str:
    return rename(text, renaming(text, kind, words))


def test_only_the_target_shape_word_is_replaced():
    assert rename_shape("stack the red ball on the green block", "wug") == "stack the red wug on the green block"
    think = "The white cylinder is the object to act on."
    assert rename_shape(think, "wug") == "The white wug is the object to act on."
    assert rename_shape("push the blue cube to the red circle", "wug") == "push the blue wug to the red circle"
    assert rename_shape("cubes and a cubed ball", "wug") == "cubes and a cubed wug"  # whole words only
    prompt = build_prompt("lift the red cube")
    assert rename_shape(prompt, "wug") == build_prompt("lift the red wug")  # the template names no shape
    assert rename_shape("point to the yellow plate", "wug") == "point to the yellow plate"  # no shape: unchanged


def test_each_colour_gets_its_own_word_and_the_think_the_targets():
    instruction = "put the red cube on the yellow plate"
    mapping = renaming(instruction, COLOR_WORDS, ["wug", "dax"])
    assert mapping == {"red": "wug", "yellow": "dax"}  # in order of appearance: the target's first
    assert rename(instruction, mapping) == "put the wug cube on the dax plate"
    assert rename("The red cube is the object to act on.", mapping) == "The wug cube is the object to act on."
    assert rename_colors("lift the reddish red cube", ["wug", "dax"]) == "lift the reddish wug cube"
    with pytest.raises(ValueError, match="holds 3 different --nonce-colors words"):
        rename_colors("put the red cube and the blue ball on the green plate", ["wug", "dax"])
    prompt = build_prompt("lift the blue ball")
    assert rename_colors(prompt, ["wug", "dax"]) == build_prompt("lift the wug ball")  # nor any colour


def test_shape_words_are_drawn_as_before_colours_existed():
    # the words the first nonce-noun module drew (the shipped model's stream and validation figures)
    instructions = ["lift the red cube", "put the blue ball on the green plate"]
    assert nonce_instructions(instructions) == ["lift the red qnhibb", "put the blue evq on the green plate"]
    examples = [{"prompt": chat_prompt("lift the red cube"), "completion": completion_message("")}] * 12
    picked = NonceWordCollator(lambda batch: batch, SHAPE_WORDS, 0.2, seed=0)(examples)
    last_words = [instruction(example).split()[-1] for example in picked]
    assert last_words == ["cube"] * 2 + ["aev"] + ["cube"] * 6 + ["woat", "cwaoc", "cube"]


def test_validation_instructions_are_renamed_the_same_way_every_time():
    instructions = ["lift the red cube", "put the blue ball on the green plate"]
    first = nonce_instructions(instructions)
    assert first == nonce_instructions(instructions)
    assert first[0].startswith("lift the red ") and first[1].endswith(" on the green plate")
    assert not any(shape in text for text in first for shape in ("cube", "ball"))
    assert nonce_instructions(instructions, seed=1) != first
    colours = nonce_instructions(instructions, COLOR_WORDS)
    assert colours == nonce_instructions(instructions, COLOR_WORDS)
    assert colours[0].startswith("lift the ") and colours[0].endswith(" cube") and "red" not in colours[0]
    target, goal = re.fullmatch(r"put the (\w+) ball on the (\w+) plate", colours[1]).groups()
    assert target != goal and not {target, goal} & RESERVED
    # each kind draws from its own stream: the shape's word is never the target colour's
    assert first[0].split()[-1] != colours[0].split()[2]


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
    batch = NonceWordCollator(collate, SHAPE_WORDS, 0.5, seed=0)(examples())
    again = NonceWordCollator(collate, SHAPE_WORDS, 0.5, seed=0)(examples())
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
        NonceWordCollator(collate, SHAPE_WORDS, 1.5, seed=0)


def test_collator_leaves_the_examples_it_was_given_as_they_were():
    think = "<think>The red cube is the object to act on.</think>"
    examples = [{"prompt": chat_prompt("lift the red cube"), "completion": completion_message(think)}]
    [renamed] = NonceWordCollator(lambda batch: batch, SHAPE_WORDS, 1.0, seed=0)(examples)
    assert "cube" not in renamed["completion"][0]["content"][0]["text"]
    assert examples[0]["completion"] == completion_message(think)
    assert examples[0]["prompt"] == chat_prompt("lift the red cube")


def text(messages: list[dict]) -> str:
    """The text part of a one-message chat (the prompt's last part, the completion's only one)."""
    return messages[0]["content"][-1]["text"]


def instruction(example: dict) -> str:
    return re.search(r'The task is "(.*?)"', text(example["prompt"])).group(1)


def test_colour_collator_renames_target_and_goal_and_its_draws_are_not_the_shapes():
    think = "<think>The red cube is the object to act on.</think>"
    examples = [
        {"prompt": chat_prompt("put the red cube on the yellow plate"), "completion": completion_message(think)}
    ] * 40
    colours = NonceWordCollator(lambda batch: batch, COLOR_WORDS, 0.5, seed=3)(examples)
    shapes = NonceWordCollator(lambda batch: batch, SHAPE_WORDS, 0.5, seed=3)(examples)
    renamed = [example for example in colours if instruction(example) != "put the red cube on the yellow plate"]
    assert 0 < len(renamed) < len(examples)
    for example in renamed:
        target, goal = re.fullmatch(r"put the (\w+) cube on the (\w+) plate", instruction(example)).groups()
        assert target != goal and not {target, goal} & RESERVED
        assert text(example["completion"]) == f"<think>The {target} cube is the object to act on.</think>"
    # same --seed, yet the two kinds' generators differ from their first draw (else both would pick alike)
    assert COLOR_WORDS.rng(3).random() != SHAPE_WORDS.rng(3).random()
    assert any("cube" not in instruction(example) for example in shapes)
    with pytest.raises(ValueError, match="--nonce-colors must be a probability"):
        NonceWordCollator(lambda batch: batch, COLOR_WORDS, -0.5, seed=0)
