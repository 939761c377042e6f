"""Policies that turn (image, instruction) into answer text."""

from manipgym.agents.base import Agent
from manipgym.agents.oracle import OracleAgent
from manipgym.agents.random_agent import RandomAgent

AGENTS = {"oracle": OracleAgent, "random": RandomAgent}


def make_agent(name: str, **kwargs) -> Agent:
    """Build an agent by name (``oracle`` or ``random``)."""
    if name not in AGENTS:
        raise ValueError(f"unknown agent {name!r}; choose one of {', '.join(AGENTS)}")
    return AGENTS[name](**kwargs)


__all__ = ["AGENTS", "Agent", "OracleAgent", "RandomAgent", "make_agent"]
