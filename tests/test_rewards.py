"""Rewards: scales that keep a learning signal, robustness to anything a model emits, and
answers that try to game the reward."""

import json
import math
import time

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from manipgym.rewards import (
    Answer,
    RewardWeights,
    affordance_reward,
    format_answer,
    format_reward,
    parse_answer,
    reward_terms,
    trajectory_reward,
)

GT_BOX = np.array([400.0, 450.0, 480.0, 540.0])
GT_MASK = np.zeros((100, 100), bool)
GT_MASK[46:54, 41:47] = True
GT_TRAJECTORY = np.array([[440, 495], [450, 380], [550, 350], [650, 360], [700, 420]], float)


def _answer(affordance, trajectory) -> Answer:
    parsed = parse_answer(format_answer(affordance, trajectory))
    assert isinstance(parsed, Answer)
    return parsed


def _terms(text: str) -> dict:
    return reward_terms(parse_answer(text), False, GT_BOX, GT_MASK, GT_TRAJECTORY)


def test_trajectory_reward_still_changes_between_10_100_and_300_units():
    rewards = [trajectory_reward(_answer(GT_BOX, GT_TRAJECTORY + [d, 0]), GT_TRAJECTORY) for d in (0, 10, 100, 300)]
    assert rewards[0] == 1.0
    assert all(a - b > 0.05 for a, b in zip(rewards, rewards[1:]))  # 1.0, ~0.91, ~0.39, ~0.06
    assert rewards[-1] > 0.01


def test_affordance_reward_box_iou_and_point_decay():
    assert affordance_reward(_answer(GT_BOX, GT_TRAJECTORY), GT_BOX, GT_MASK) == 1.0
    inside, near, far = ([440, 495], [440, 600], [900, 100])
    scores = [affordance_reward(_answer(p, GT_TRAJECTORY), GT_BOX, GT_MASK) for p in (inside, near, far)]
    assert scores[0] == 1.0 and 0.1 < scores[1] < 1.0 and scores[2] < 0.001


def test_perfect_answer_scores_one_and_failures_score_zero():
    perfect = reward_terms(_answer(GT_BOX, GT_TRAJECTORY), True, GT_BOX, GT_MASK, GT_TRAJECTORY)
    assert perfect == {"format": 1.0, "affordance": 1.0, "trajectory": 1.0, "success": 1.0, "total": 1.0}
    assert _terms("no answer") == dict.fromkeys(perfect, 0.0)


def test_weights_are_configurable_and_validated():
    weights = RewardWeights(format=0.0, affordance=1.0, trajectory=0.0, success=0.0)
    terms = reward_terms(_answer(GT_BOX, GT_TRAJECTORY), False, GT_BOX, GT_MASK, GT_TRAJECTORY, weights)
    assert terms["total"] == 1.0
    for bad in ({"format": -1.0}, {"success": float("nan")}, {"point_scale": 0.0}):
        try:
            RewardWeights(**bad)
        except ValueError:
            continue
        raise AssertionError(f"{bad} accepted")


# --- reward hacking: none of these may score well ---------------------------------------------


def test_more_than_ten_points_gets_nothing():
    many = np.linspace(GT_TRAJECTORY[0], GT_TRAJECTORY[-1], 11)
    assert _terms(format_answer(GT_BOX, many))["total"] == 0.0


def test_repeated_points_do_not_score_well():
    assert _terms(format_answer(GT_BOX, [GT_TRAJECTORY[0]] * 10))["trajectory"] == 0.0
    assert _terms(format_answer(GT_BOX, [GT_TRAJECTORY[-1]] * 10))["trajectory"] == 0.0
    doubled = np.repeat(GT_TRAJECTORY, 2, axis=0)  # every point twice: same path, still fine
    assert _terms(format_answer(GT_BOX, doubled))["trajectory"] > 0.95


def test_points_outside_the_image_get_nothing():
    text = '<answer>{"affordance": [440, 495], "trajectory": [[440, 495], [1200, 300], [-50, 300]]}</answer>'
    assert _terms(text)["total"] == 0.0


def test_a_box_covering_the_image_scores_low_affordance():
    assert _terms(format_answer([0, 0, 999, 999], GT_TRAJECTORY))["affordance"] < 0.05


def test_trajectory_that_never_leaves_the_affordance_scores_low():
    start = GT_TRAJECTORY[0]
    stay = _terms(format_answer(GT_BOX, [start, start + 1, start + 2]))["trajectory"]
    assert stay < 0.1 < 0.95 < _terms(format_answer(GT_BOX, GT_TRAJECTORY))["trajectory"]


# --- bad input: nothing raises, nothing is NaN --------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
    lambda children: st.lists(children, max_size=12) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=40,
)


def _check_all_rewards(text: str) -> None:
    parsed = parse_answer(text)
    terms = reward_terms(parsed, False, GT_BOX, GT_MASK, GT_TRAJECTORY)
    assert all(math.isfinite(v) and 0.0 <= v <= 1.0 for v in terms.values())
    assert format_reward(parsed) == (1.0 if isinstance(parsed, Answer) else 0.0)
    if not isinstance(parsed, Answer):
        assert terms["total"] == 0.0


@settings(max_examples=1500, deadline=None)
@given(st.text(max_size=300))
def test_arbitrary_text_never_breaks_the_rewards(text):
    _check_all_rewards(text)
    _check_all_rewards(f"<answer>{text}</answer>")


@settings(max_examples=1500, deadline=None)
@given(json_values, json_values)
def test_arbitrary_json_never_breaks_the_rewards(affordance, trajectory):
    payload = json.dumps({"affordance": affordance, "trajectory": trajectory})
    _check_all_rewards(f"<think>x</think><answer>{payload}</answer>")
    _check_all_rewards(f"<answer>{json.dumps(affordance)}</answer>")


@settings(max_examples=500, deadline=None)
@given(
    st.lists(st.tuples(st.floats(-5, 1005), st.floats(-5, 1005)), min_size=1, max_size=14),
    st.lists(st.floats(-5, 1005), min_size=2, max_size=4),
)
def test_numeric_answers_anywhere_never_break_the_rewards(points, affordance):
    payload = json.dumps({"affordance": affordance, "trajectory": [list(p) for p in points]})
    _check_all_rewards(f"<answer>{payload}</answer>")


def test_a_100_kb_answer_is_refused_quickly():
    text = "<answer>" + "[1, 2], " * 12_800 + "</answer>"
    assert len(text) > 100_000
    started = time.perf_counter()
    for _ in range(100):
        parsed = parse_answer(text)
    assert parsed.reason == "too_long"
    assert (time.perf_counter() - started) / 100 < 0.010
