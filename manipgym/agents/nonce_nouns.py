"""Made-up shape words ("nonce nouns"): training and validation for instructions that name an
object by a word the model has never read.

Why: the training instructions name only three shapes (cube, cylinder, ball). A tiny VLM whose
tokenizer and language model were built on them reads "the red bar on the yellow plate" (a shape
it never saw named) as best it can, and one such model names the goal ("The yellow plate is the
object to act on") and grasps the plate. Replacing the target's shape word, now and then, by a
random string of letters teaches the model to copy whatever word stands in the object's place
into its reasoning and to find the object by the rest of the phrase (its colour) and the image.
The same rewrite of every validation instruction gives a figure that sees this without touching
an evaluation split: the nonce words are random letters, never the held-out shapes' names.

A limit: a scene may hold another object of the target's colour (a red ball beside the red cube
to lift); once renamed, its instruction fits both, and only the image can tell them apart. The
ood_object split holds the same ambiguity for a model that has never read its two shapes' names.

SFT (``train sft --nonce-nouns P``) renames an example's prompt and think afresh every time the
example is drawn; GRPO (``train grpo --nonce-nouns P``) renames a scene's prompt once for the run,
and its rewards, which execute the answer in the scene, do not read the words at all.

Only the first shape word of a text is replaced: the prompt template names no shape, an
instruction names exactly one (its target; goals are named "plate", "circle" or "block"), and so
does the think of a training answer ("The red cube is the object to act on.").
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterable

import numpy as np

from manipgym.envs.catalog import COLORS, SHAPES
from manipgym.envs.instructions import TEMPLATES
from manipgym.envs.variation import TRAIN_SHAPES

SHAPE_WORD = re.compile(r"\b(" + "|".join(TRAIN_SHAPES) + r")\b")
NONCE_LENGTHS = (3, 7)  # a nonce word has 3 to 6 letters, about as long as a shape word (bar, disc, cube)
# never drawn: a real word of the task vocabulary (colours, every shape, held-out ones included,
# and the templates' words), so that a nonce word cannot name something in the scene
RESERVED = {
    word
    for text in [*COLORS, *SHAPES, *(t for sets in TEMPLATES.values() for ts in sets.values() for t in ts)]
    for word in re.findall(r"[a-z]+", text)
}


def check_probability(probability: float) -> None:
    """Raise ValueError, naming the option, unless ``probability`` is in [0, 1]."""
    if not 0 <= probability <= 1:
        raise ValueError(f"--nonce-nouns must be a probability in [0, 1] (e.g. 0.2; 0 is off), got {probability:g}")


def nonce_word(rng: np.random.Generator) -> str:
    """A random lowercase word of 3-6 letters that is not a word of the task vocabulary."""
    while True:
        word = "".join(rng.choice(list(string.ascii_lowercase), size=rng.integers(*NONCE_LENGTHS)))
        if word not in RESERVED:
            return word


def rename_shape(text: str, word: str) -> str:
    """``text`` with its first training shape word replaced by ``word`` (unchanged if it has none)."""
    return SHAPE_WORD.sub(word, text, count=1)


def nonce_instructions(instructions: list[str], seed: int = 0) -> list[str]:
    """Every instruction with its shape word replaced by a fresh nonce word, reproducibly (the
    validation scenes' instructions for ``benchmarks.validation --nonce-nouns``). The words
    follow the list's order: the same scenes in the same order get the same words."""
    rng = np.random.default_rng(seed)
    return [rename_shape(instruction, nonce_word(rng)) for instruction in instructions]


def rename_some(
    prompts: Iterable[list[dict]], probability: float, rng: np.random.Generator
) -> tuple[list[list[dict]], list[str | None]]:
    """Each prompt's chat messages, with probability ``probability`` its shape word replaced by a
    fresh nonce word (GRPO's prompts: one draw per scene for the run); and the word used, or None."""
    check_probability(probability)
    renamed, words = [], []
    for messages in prompts:
        word = nonce_word(rng) if rng.random() < probability else None
        renamed.append(rename_in_messages(messages, word) if word else messages)
        words.append(word)
    return renamed, words


class NonceNounCollator:
    """Wraps a TRL collator: with probability ``probability`` an example's shape word is replaced
    by one fresh nonce word in both its prompt and its answer's think, drawn afresh every time
    the example is drawn. Examples are prompt/completion chat messages (train_data.py)."""

    def __init__(self, collate, probability: float, seed: int):
        check_probability(probability)
        self.collate = collate
        self.probability = probability
        self.rng = np.random.default_rng(seed)

    def __call__(self, examples: list[dict]) -> dict:
        prompts, words = rename_some([example["prompt"] for example in examples], self.probability, self.rng)
        renamed = [
            # the answer's think names the object by the prompt's word
            {**example, "prompt": prompt, "completion": rename_in_messages(example["completion"], word)}
            if word
            else example
            for example, prompt, word in zip(examples, prompts, words)
        ]
        return self.collate(renamed)


def rename_in_messages(messages: list[dict], word: str) -> list[dict]:
    """Chat messages with the shape word of each text part replaced (new dicts: the messages
    passed in are left as they were)."""
    return [
        {
            **message,
            "content": [
                {**part, "text": rename_shape(part["text"], word)} if part.get("type") == "text" else part
                for part in message["content"]
            ],
        }
        for message in messages
    ]
