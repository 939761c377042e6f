import pytest

from manipgym.agents import OracleAgent, RandomAgent, make_agent
from manipgym.rewards import Answer, parse_answer


def test_random_agent_answers_are_well_formed_and_seeded():
    answers = RandomAgent(seed=4).act([{}] * 20)
    assert all(isinstance(parse_answer(a), Answer) for a in answers)
    assert RandomAgent(seed=4).act([{}] * 20) == answers
    assert RandomAgent(seed=5).act([{}] * 20) != answers
    assert len({len(parse_answer(a).trajectory) for a in answers}) > 1


def test_oracle_needs_ground_truth_and_answers_in_schema(make_env):
    env = make_env("Lift")
    obs, info = env.reset(seed=0)
    with pytest.raises(KeyError, match="ground_truth"):
        OracleAgent().act([obs])
    parsed = parse_answer(OracleAgent().act([{**obs, "ground_truth": info["ground_truth"]}])[0])
    assert isinstance(parsed, Answer) and parsed.is_box and parsed.think


def test_random_agent_in_env_is_scored(make_env):
    env = make_env("PickPlace")
    agent = make_agent("random", seed=0)
    for seed in range(3):
        obs, _ = env.reset(seed=seed)
        _, reward, _, _, step = env.step(agent.act([obs])[0])
        assert step["parse_ok"] and step["failure_reason"] != "unparseable"
        assert step["rewards"]["format"] == 1.0 and 0.1 <= reward < 0.6  # format, no success


def test_unknown_agent_is_a_clear_error():
    with pytest.raises(ValueError, match="oracle"):
        make_agent("gpt")
