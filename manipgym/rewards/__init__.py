"""Answer parsing and verifiable rewards: pure functions, no simulator."""

from manipgym.rewards.answer import Answer, ParseFailure, format_answer, parse_answer
from manipgym.rewards.terms import (
    RewardWeights,
    TrajectoryScales,
    affordance_reward,
    format_reward,
    reward_terms,
    success_reward,
    trajectory_reward,
    trajectory_terms,
)

__all__ = [
    "Answer",
    "ParseFailure",
    "RewardWeights",
    "TrajectoryScales",
    "affordance_reward",
    "format_answer",
    "format_reward",
    "parse_answer",
    "reward_terms",
    "success_reward",
    "trajectory_reward",
    "trajectory_terms",
]
