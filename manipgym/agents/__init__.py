"""Policies that turn (image, instruction) into answer text.

The VLM agent and the tiny-VLM builder import torch and transformers, so they load only when
asked for (``manipgym.agents.vlm``, ``manipgym.agents.tiny_vlm``).
"""

from manipgym.agents.base import Agent
from manipgym.agents.heuristic import HeuristicAgent
from manipgym.agents.oracle import OracleAgent
from manipgym.agents.random_agent import RandomAgent

AGENT_NAMES = ("oracle", "random", "heuristic", "vlm")


def make_agent(name: str, checkpoint: str | None = None, **kwargs) -> Agent:
    """Build an agent by name; ``vlm`` needs ``checkpoint`` (a Hugging Face directory)."""
    if name == "oracle":
        return OracleAgent()
    if name == "random":
        return RandomAgent(**kwargs)
    if name == "heuristic":
        return HeuristicAgent()
    if name == "vlm":
        if checkpoint is None:
            raise ValueError("the vlm agent needs a checkpoint directory (--checkpoint DIR)")
        from manipgym.agents.vlm import VLMAgent

        return VLMAgent(checkpoint, **kwargs)
    raise ValueError(f"unknown agent {name!r}; choose one of {', '.join(AGENT_NAMES)}")


__all__ = ["AGENT_NAMES", "Agent", "HeuristicAgent", "OracleAgent", "RandomAgent", "make_agent"]
