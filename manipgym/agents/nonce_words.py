"""Made-up words ("nonce words") for the target's shape or for colours: training and validation
for instructions that name an object by a word the model has never read.

Why: the training instructions name only three shapes (cube, cylinder, ball) and eight colours.
A tiny VLM whose tokenizer and language model were built on them reads "the red bar on the yellow
plate" (a shape it never saw named) as best it can, and one such model names the goal ("The
yellow plate is the object to act on") and grasps the plate; the same model writes "green" for
every held-out colour ("the cyan cube"). Replacing those words, now and then, by random strings
of letters teaches the model to copy whatever word stands in their place into its reasoning and
to find the object by the rest of the phrase and the image. The same rewrite of every
validation instruction gives a figure that sees this without touching an evaluation split: the
nonce words are random letters, never the held-out shapes' or colours' names.

Two kinds of word, each an option of its own:

- shapes (``--nonce-nouns P``): the target's shape word (an instruction names exactly one shape,
  its target's; goals are named "plate", "circle" or "block");
- colours (``--nonce-colors P``): every colour word, each distinct one by its own nonce word
  (the target's and, where the task has one, the goal's; the think names the target's).

A limit: a scene may hold another object of the target's colour (or shape); once renamed, its
instruction fits both, and only the image can tell them apart. The ood_object and ood_color
splits hold the same ambiguity for a model that has never read their names.

SFT (``train sft``) renames an example's prompt and think afresh every time the example is drawn;
GRPO (``train grpo``) renames a scene's prompt once for the run, and its rewards, which execute
the answer in the scene, do not read the words at all. The prompt template names no shape or
colour, so only the instruction's words change.
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from manipgym.envs.catalog import COLORS, SHAPES
from manipgym.envs.instructions import TEMPLATES
from manipgym.envs.variation import TRAIN_COLORS, TRAIN_SHAPES

NONCE_LENGTHS = (3, 7)  # a nonce word has 3 to 6 letters, about as long as a shape word (bar, disc, cube)
# never drawn: a real word of the task vocabulary (colours, every shape, held-out ones included,
# and the templates' words), so that a nonce word cannot name something in the scene
RESERVED = {
    word
    for text in [*COLORS, *SHAPES, *(t for sets in TEMPLATES.values() for ts in sets.values() for t in ts)]
    for word in re.findall(r"[a-z]+", text)
}


@dataclass(frozen=True)
class WordKind:
    """A kind of word that can be renamed: which words, the option that sets its probability,
    and how many nonce words one renamed text needs (the most distinct such words a prompt holds)."""

    option: str
    words: tuple[str, ...]
    per_text: int
    stream: int | None  # mixed into the generator's seed (None: the seed alone), so two kinds draw differently

    @cached_property
    def pattern(self) -> re.Pattern:
        return re.compile(r"\b(" + "|".join(self.words) + r")\b")

    def rng(self, seed: int) -> np.random.Generator:
        return np.random.default_rng(seed if self.stream is None else (seed, self.stream))

    def draw(self, rng: np.random.Generator) -> list[str]:
        """The nonce words for one renamed text."""
        return [nonce_word(rng) for _ in range(self.per_text)]


# the shape kind keeps the bare seed: the shipped model was trained on that stream
SHAPE_WORDS = WordKind("--nonce-nouns", TRAIN_SHAPES, per_text=1, stream=None)
COLOR_WORDS = WordKind("--nonce-colors", TRAIN_COLORS, per_text=2, stream=1)


def check_probability(probability: float, kind: WordKind) -> None:
    """Raise ValueError, naming the option, unless ``probability`` is in [0, 1]."""
    if not 0 <= probability <= 1:
        raise ValueError(f"{kind.option} must be a probability in [0, 1] (e.g. 0.2; 0 is off), got {probability:g}")


def requested_kinds(nouns: float, colors: float) -> list[tuple[WordKind, float]]:
    """The kinds a run renames (``--nonce-nouns``, ``--nonce-colors``) with their probabilities,
    each checked; a kind at 0 is left out. Shapes come first, as they did before colours existed."""
    settings = [(SHAPE_WORDS, nouns), (COLOR_WORDS, colors)]
    for kind, probability in settings:
        check_probability(probability, kind)
    return [(kind, probability) for kind, probability in settings if probability > 0]


def nonce_word(rng: np.random.Generator) -> str:
    """A random lowercase word of 3-6 letters that is not a word of the task vocabulary."""
    while True:
        word = "".join(rng.choice(list(string.ascii_lowercase), size=rng.integers(*NONCE_LENGTHS)))
        if word not in RESERVED:
            return word


def renaming(text: str, kind: WordKind, words: list[str]) -> dict[str, str]:
    """Which of ``text``'s words of ``kind`` become which nonce word: the distinct ones, in order
    of appearance, take ``words`` in order (no words: nothing is renamed)."""
    found = list(dict.fromkeys(kind.pattern.findall(text)))
    if words and len(found) > len(words):  # a text that names more than a prompt ever does
        raise ValueError(f"{text!r} holds {len(found)} different {kind.option} words; a renaming has {len(words)}")
    return dict(zip(found, words))


def rename(text: str, mapping: dict[str, str]) -> str:
    """``text`` with every whole word that is a key of ``mapping`` replaced by its value."""
    if not mapping:
        return text
    pattern = r"\b(" + "|".join(map(re.escape, mapping)) + r")\b"
    return re.sub(pattern, lambda match: mapping[match.group(1)], text)


def nonce_instructions(instructions: list[str], kind: WordKind = SHAPE_WORDS, seed: int = 0) -> list[str]:
    """Every instruction with its words of ``kind`` replaced by fresh nonce words, reproducibly
    (the validation scenes' instructions for ``benchmarks.validation --nonce-nouns/--nonce-colors``).
    The words follow the list's order: the same scenes in the same order get the same words."""
    rng = kind.rng(seed)
    renamed = []
    for instruction in instructions:
        renamed.append(rename(instruction, renaming(instruction, kind, kind.draw(rng))))
    return renamed


def rename_some(
    prompts: Iterable[list[dict]], kind: WordKind, probability: float, rng: np.random.Generator
) -> tuple[list[list[dict]], list[dict[str, str]]]:
    """Each prompt's chat messages, with probability ``probability`` its words of ``kind``
    replaced by fresh nonce words (GRPO's prompts: one draw per scene for the run); and the
    renaming used (empty where the prompt was left alone)."""
    check_probability(probability, kind)
    renamed, mappings = [], []
    for messages in prompts:
        # the words are drawn whatever the prompt holds, so a prompt's draws never depend on its text
        words = kind.draw(rng) if rng.random() < probability else []
        mapping = renaming(message_text(messages), kind, words)
        renamed.append(rename_in_messages(messages, mapping) if mapping else messages)
        mappings.append(mapping)
    return renamed, mappings


class NonceWordCollator:
    """Wraps a TRL collator: with probability ``probability`` an example's words of ``kind`` are
    replaced by fresh nonce words in both its prompt and its answer's think, drawn afresh every
    time the example is drawn. Examples are prompt/completion chat messages (train_data.py)."""

    def __init__(self, collate, kind: WordKind, probability: float, seed: int):
        check_probability(probability, kind)
        self.collate = collate
        self.kind = kind
        self.probability = probability
        self.rng = kind.rng(seed)

    def __call__(self, examples: list[dict]) -> dict:
        prompts = [example["prompt"] for example in examples]
        prompts, mappings = rename_some(prompts, self.kind, self.probability, self.rng)
        renamed = [
            # the answer's think names the object by the prompt's words
            {**example, "prompt": prompt, "completion": rename_in_messages(example["completion"], mapping)}
            if mapping
            else example
            for example, prompt, mapping in zip(examples, prompts, mappings)
        ]
        return self.collate(renamed)


def message_text(messages: list[dict]) -> str:
    """The text parts of chat messages, joined (to find the words a renaming replaces)."""
    return " ".join(part["text"] for message in messages for part in message["content"] if part.get("type") == "text")


def rename_in_messages(messages: list[dict], mapping: dict[str, str]) -> list[dict]:
    """Chat messages with ``mapping`` applied to each text part (new dicts: the messages passed in
    are left as they were)."""
    return [
        {
            **message,
            "content": [
                {**part, "text": rename(part["text"], mapping)} if part.get("type") == "text" else part
                for part in message["content"]
            ],
        }
        for message in messages
    ]
