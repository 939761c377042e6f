"""Keep a resumed SFT run's random draws where an uninterrupted run's would be.

SFT's colour jitter and made-up words are drawn in the data collators (augment.py,
nonce_words.py), each from a numpy generator seeded by ``--seed``. The trainer's checkpoints
restore the model, the optimiser, the schedule, the data order and torch's generators, but not
these; without this module a run resumed with ``--resume`` drew from the seed again and trained
other bytes than a run that was never stopped.

:class:`CheckpointedDraws` wraps the outermost collator, notes the generators' states before
every batch it collates, writes the states of the first batch not yet trained on into each
checkpoint (``collator_draws.json``) and puts them back before a resumed run collates again.
It notes a state per batch, not just the current one, because the trainer's data loader
collates a batch ahead of the step it trains (accelerate fetches the next batch to know whether
the current one is the last), so when a checkpoint is saved the generators have already drawn
for the batch after it. The skipped batches of a resumed epoch are skipped in the sampler
(accelerate's ``skip_first_batches``), never collated, so the restored states meet exactly the
batch they were noted before. Collation must run in the main process (the trainer's default,
``dataloader_num_workers`` 0): a loader worker would draw from its own copy of the generators.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
from transformers import TrainerCallback

FILE = "collator_draws.json"
NOTED_BATCHES = 8  # states kept for the most recent batches; the loader runs at most one ahead


class CheckpointedDraws(TrainerCallback):
    """A data collator and a trainer callback in one: pass it as the trainer's ``data_collator``
    (wrapping the collators that draw) and among its callbacks.

    ``generators`` names each generator the wrapped collators draw from; the names key the saved
    states, so a checkpoint restores only into a run that draws from the same generators."""

    def __init__(self, collate: Callable[[list[dict]], dict], generators: dict[str, np.random.Generator]):
        self.collate = collate
        self.generators = generators
        self.collated = 0  # batches collated since the run (or the resumed run) began, counted from 0
        self.noted: dict[int, dict] = {}  # batch number -> the generators' states before it

    def __call__(self, examples: list[dict]) -> dict:
        self.noted[self.collated] = self.states()
        self.noted.pop(self.collated - NOTED_BATCHES, None)
        self.collated += 1
        return self.collate(examples)

    def states(self) -> dict:
        return {name: generator.bit_generator.state for name, generator in self.generators.items()}

    def on_save(self, args, state, control, **kwargs):
        trained = state.global_step * args.gradient_accumulation_steps  # batches the model has seen
        checkpoint = Path(args.output_dir) / f"checkpoint-{state.global_step}"
        if not checkpoint.is_dir():
            return
        states = self.states() if trained == self.collated else self.noted.get(trained)
        if states is None:  # cannot happen with the trainer's loader; rather no file than a wrong one
            return
        (checkpoint / FILE).write_text(json.dumps({"batches": trained, "states": states}, indent=1) + "\n")

    def restore(self, checkpoint: str | Path) -> bool:
        """Put back the states saved in ``checkpoint``; False (and a warning on stderr) where it
        holds none, as checkpoints written before this module do not."""
        saved = Path(checkpoint) / FILE
        if not saved.exists():
            print(
                f"warning: {checkpoint} has no {FILE} (written by an older manipgym): the colour jitter and "
                "made-up words draw from --seed again, so this run will not train the bytes of one never stopped",
                file=sys.stderr,
            )
            return False
        record = json.loads(saved.read_text())
        if set(record["states"]) != set(self.generators):
            raise ValueError(
                f"{saved} holds draws for {sorted(record['states'])}, this run draws {sorted(self.generators)}: "
                "resume with the options the run started with"
            )
        for name, generator in self.generators.items():
            generator.bit_generator.state = record["states"][name]
        self.collated = record["batches"]
        self.noted.clear()
        return True
