"""Policies that turn (image, instruction) into answer text.

The VLM agent and the tiny-VLM builder import torch and transformers, so they load only when
asked for (``manipgym.agents.vlm``, ``manipgym.agents.tiny_vlm``).
"""

from pathlib import Path

from manipgym.agents.base import Agent
from manipgym.agents.heuristic import HeuristicAgent
from manipgym.agents.oracle import OracleAgent
from manipgym.agents.random_agent import RandomAgent

AGENT_NAMES = ("oracle", "random", "heuristic", "vlm")
# The tiny VLM that manipgym trains itself (README, "Training"); ``vlm`` without a checkpoint uses it.
SHIPPED_CHECKPOINT = Path(__file__).resolve().parents[1] / "assets" / "models" / "tiny-vlm"


def make_agent(name: str, checkpoint: str | None = None, **kwargs) -> Agent:
    """Build an agent by name; ``vlm`` loads ``checkpoint`` (a Hugging Face directory), by default
    the shipped :data:`SHIPPED_CHECKPOINT`."""
    if checkpoint is not None and name != "vlm":  # ignored, it would still be recorded as the run's checkpoint
        raise ValueError(f"--checkpoint is for --agent vlm; the {name} agent loads no model")
    if name == "oracle":
        return OracleAgent()
    if name == "random":
        return RandomAgent(**kwargs)
    if name == "heuristic":
        return HeuristicAgent()
    if name == "vlm":
        from manipgym.agents.vlm import VLMAgent

        return VLMAgent(SHIPPED_CHECKPOINT if checkpoint is None else checkpoint, **kwargs)
    raise ValueError(f"unknown agent {name!r}; choose one of {', '.join(AGENT_NAMES)}")


__all__ = ["AGENT_NAMES", "SHIPPED_CHECKPOINT", "Agent", "HeuristicAgent", "OracleAgent", "RandomAgent", "make_agent"]
