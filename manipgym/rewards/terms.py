"""Verifiable rewards: format, affordance, trajectory, success, and their weighted sum.

Every reward is in [0, 1], never NaN, and 0 for an answer that does not parse. Distances are in
0–1000 image units; each ``exp(-d / s)`` term uses a scale ``s`` of about 100 units, so the reward
still changes between 10, 100 and 300 units of error (the published code's scales, made for
0–1 units, left no signal beyond ~30 pixels: REFERENCE.md §1).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from manipgym.rewards.answer import Answer, ParseFailure
from manipgym.rewards.metrics import (
    box_iou,
    discrete_frechet,
    distance_to_mask,
    endpoint_error,
    hausdorff,
    length_agreement,
    rmse_resampled,
)


@dataclass(frozen=True)
class TrajectoryScales:
    """Weights and distance scales (0–1000 units) of the trajectory reward's terms."""

    frechet_weight: float = 0.25
    hausdorff_weight: float = 0.15
    rmse_weight: float = 0.20
    endpoint_weight: float = 0.40
    frechet_scale: float = 120.0
    hausdorff_scale: float = 120.0
    rmse_scale: float = 100.0
    endpoint_scale: float = 100.0


@dataclass(frozen=True)
class RewardWeights:
    """Weights of the composite reward (defaults sum to 1; success dominates)."""

    format: float = 0.1
    affordance: float = 0.2
    trajectory: float = 0.2
    success: float = 0.5
    point_scale: float = 50.0  # distance (0–1000 units) at which a point off the mask scores 1/e
    trajectory_scales: TrajectoryScales = TrajectoryScales()

    def __post_init__(self):
        values = [self.format, self.affordance, self.trajectory, self.success, self.point_scale]
        if not all(math.isfinite(v) and v >= 0 for v in values) or self.point_scale == 0:
            raise ValueError(f"reward weights must be finite and non-negative (point_scale > 0): {self}")


def format_reward(parsed: Answer | ParseFailure) -> float:
    """1 if the answer follows the schema (3–10 trajectory points in range), else 0."""
    return 1.0 if isinstance(parsed, Answer) else 0.0


def affordance_reward(parsed: Answer | ParseFailure, gt_box, gt_mask: np.ndarray, point_scale: float = 50.0) -> float:
    """Box answers: IoU with the ground-truth box. Point answers: 1 inside the ground-truth mask,
    else ``exp(-d / point_scale)`` with ``d`` the distance to the mask (0–1000 units)."""
    if not isinstance(parsed, Answer):
        return 0.0
    if parsed.is_box:
        return box_iou(parsed.affordance, gt_box)
    distance = distance_to_mask(parsed.affordance, gt_mask)
    return float(math.exp(-distance / point_scale)) if math.isfinite(distance) else 0.0


def trajectory_terms(predicted, ground_truth) -> dict[str, float]:
    """The trajectory metrics (0–1000 units): DFD, HD, RMSE after 20-point resampling, endpoint."""
    return {
        "dfd": discrete_frechet(predicted, ground_truth),
        "hd": hausdorff(predicted, ground_truth),
        "rmse": rmse_resampled(predicted, ground_truth),
        "endpoint": endpoint_error(predicted, ground_truth),
    }


def trajectory_reward(
    parsed: Answer | ParseFailure, gt_trajectory, scales: TrajectoryScales = TrajectoryScales()
) -> float:
    """Weighted ``exp(-d / s)`` of DFD, HD, RMSE and endpoint error, normalised to [0, 1], times
    the square root of the path lengths' agreement (so a path that stays put, or parks on the
    goal, earns nothing however close its points are)."""
    if not isinstance(parsed, Answer):
        return 0.0
    d = trajectory_terms(parsed.trajectory, gt_trajectory)
    weighted = (
        scales.frechet_weight * math.exp(-d["dfd"] / scales.frechet_scale)
        + scales.hausdorff_weight * math.exp(-d["hd"] / scales.hausdorff_scale)
        + scales.rmse_weight * math.exp(-d["rmse"] / scales.rmse_scale)
        + scales.endpoint_weight * math.exp(-d["endpoint"] / scales.endpoint_scale)
    )
    total = scales.frechet_weight + scales.hausdorff_weight + scales.rmse_weight + scales.endpoint_weight
    if total <= 0:
        return 0.0
    return float(weighted / total * math.sqrt(length_agreement(parsed.trajectory, gt_trajectory)))


def success_reward(success: bool) -> float:
    return 1.0 if success else 0.0


def reward_terms(
    parsed: Answer | ParseFailure,
    success: bool,
    gt_box,
    gt_mask: np.ndarray,
    gt_trajectory,
    weights: RewardWeights = RewardWeights(),
) -> dict[str, float]:
    """Every reward term and their weighted sum under ``"total"``."""
    terms = {
        "format": format_reward(parsed),
        "affordance": affordance_reward(parsed, gt_box, gt_mask, weights.point_scale),
        "trajectory": trajectory_reward(parsed, gt_trajectory, weights.trajectory_scales),
        "success": success_reward(success),
    }
    term_weights = {k: v for k, v in asdict(weights).items() if k in terms}
    terms["total"] = float(sum(term_weights[k] * terms[k] for k in term_weights))
    return terms
