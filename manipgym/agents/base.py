"""The agent interface: a batch of observations in, one answer text per observation out."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol, runtime_checkable


@runtime_checkable
class Agent(Protocol):
    """Anything that answers observations with text in the answer schema.

    ``observations`` are env observations (``image``, ``instruction``, ...). An agent that
    needs privileged ground truth (the oracle) sets ``needs_ground_truth = True`` and reads it
    from the key ``"ground_truth"``, which runners add from ``reset``'s ``info``.
    """

    name: str
    needs_ground_truth: bool

    def act(self, observations: Sequence[Mapping[str, Any]]) -> list[str]: ...
