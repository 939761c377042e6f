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


def test_heuristic_agent_finds_objects_by_colour(make_env):
    from manipgym.agents import HeuristicAgent

    env = make_env("Lift")
    agent = HeuristicAgent()
    wins, hits = 0, 0
    for seed in range(4):
        obs, info = env.reset(seed=seed)
        answer = agent.act([obs])[0]
        parsed = parse_answer(answer)
        assert isinstance(parsed, Answer)
        truth = info["ground_truth"]
        box = truth["affordance_box"]
        centre = parsed.affordance_point
        hits += box[0] <= centre[0] <= box[2] and box[1] <= centre[1] <= box[3]
        _, _, _, _, step = env.step(answer)
        wins += step["success"]
    assert hits >= 3 and wins >= 2


def test_heuristic_agent_answers_without_an_object_are_scored_failures(make_env):
    from manipgym.agents import HeuristicAgent

    env = make_env("Lift")
    obs, _ = env.reset(seed=0)
    answer = HeuristicAgent().act([{**obs, "instruction": "do a little dance"}])[0]
    _, reward, _, _, step = env.step(answer)
    assert step["failure_reason"] == "unparseable" and reward == 0.0
