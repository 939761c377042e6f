import gc
import random

import cv2
import gymnasium as gym
import mujoco
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from manipgym.agents import OracleAgent
from manipgym.envs import ENV_IDS, TASK_NAMES
from manipgym.rewards import RewardWeights, parse_answer


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_gymnasium_env_checker_passes(env_id):
    env = gym.make(env_id)
    check_env(env.unwrapped, skip_render_check=True)
    env.close()


def test_observation_has_documented_layout(make_env):
    env = make_env("PickPlace")
    obs, info = env.reset(seed=3)
    assert obs["image"].shape == (224, 224, 3) and obs["image"].dtype == np.uint8
    assert obs["depth"].shape == (224, 224) and obs["depth"].dtype == np.float32
    assert np.isfinite(obs["depth"]).all() and 0.3 < obs["depth"].min() < obs["depth"].max() < 5.0
    assert obs["intrinsics"].shape == (3, 3) and obs["cam_to_world"].shape == (4, 4)
    assert env.observation_space.contains(obs)
    truth = info["ground_truth"]
    assert truth["target"] in obs["instruction"]
    assert "plate" in obs["instruction"]
    assert 3 <= len(truth["trajectory"]) <= 10
    assert ((truth["trajectory"] >= 0) & (truth["trajectory"] <= 1000)).all()


def test_same_seed_same_scene_and_outcome(make_env):
    env = make_env("Stack")
    agent = OracleAgent()
    runs = []
    for _ in range(2):
        obs, info = env.reset(seed=11)
        answer = agent.act([{**obs, "ground_truth": info["ground_truth"]}])[0]
        _, reward, _, _, step = env.step(answer)
        runs.append((obs["image"].tobytes(), obs["depth"].tobytes(), obs["instruction"], answer, reward, step))
    fresh = gym.make("manipgym/Stack-v0").unwrapped
    fresh_obs, _ = fresh.reset(seed=11)
    fresh.close()
    (img_a, depth_a, text_a, ans_a, r_a, step_a), (img_b, depth_b, text_b, ans_b, r_b, step_b) = runs
    assert img_a == img_b == fresh_obs["image"].tobytes()
    assert depth_a == depth_b and text_a == text_b and ans_a == ans_b
    assert (r_a, step_a["success"], step_a["waypoints"]) == (r_b, step_b["success"], step_b["waypoints"])
    other, _ = env.reset(seed=12)
    assert other["image"].tobytes() != img_a


def test_reset_and_step_leave_global_rngs_alone(make_env):
    env = make_env("Lift")
    np.random.seed(123)
    random.seed(123)
    expected_np, expected_py = np.random.random(), random.random()
    np.random.seed(123)
    random.seed(123)
    obs, info = env.reset(seed=5)
    env.step(OracleAgent().act([{**obs, "ground_truth": info["ground_truth"]}])[0])
    assert (np.random.random(), random.random()) == (expected_np, expected_py)


def test_pixel_world_pixel_round_trip_and_ray_cast(make_env):
    env = make_env("Lift")
    obs, info = env.reset(seed=2)
    cam = env._camera
    truth = info["ground_truth"]
    # Interior pixels of the target (edge pixels mix object and background depth under the
    # renderer's multisampling, as on a real depth camera), the affordance point the executor
    # lifts, and a few table pixels.
    interior = cv2.erode(truth["affordance_mask"].astype(np.uint8), np.ones((3, 3), np.uint8), iterations=2)
    rows, cols = np.nonzero(interior)
    pick = np.random.default_rng(0).choice(len(rows), 10, replace=False)
    box = truth["affordance_box"]
    affordance = [(box[0] + box[2]) / 2 * 224 / 1000, (box[1] + box[3]) / 2 * 224 / 1000]
    uv = np.vstack([np.stack([cols[pick] + 0.5, rows[pick] + 0.5], 1), [affordance, [20.5, 200.5], [200.5, 210.5]]])
    world = cam.unproject(uv, cam.depth_at(obs["depth"], uv))
    np.testing.assert_allclose(cam.project(world), uv, atol=1e-6)
    model, data = env.scene.sim.model._model, env.scene.sim.data._data
    origin, dirs = cam.rays(uv)
    visible_groups = np.array([0, 1, 0, 0, 0, 0], dtype=np.uint8)  # what the camera renders
    geom = np.zeros(1, dtype=np.int32)
    for point, direction in zip(world, dirs):
        dist = mujoco.mj_ray(model, data, origin, direction, visible_groups, 1, -1, geom)
        assert dist > 0
        assert np.linalg.norm(origin + dist * direction - point) < 0.005


@pytest.mark.parametrize("task_name", TASK_NAMES)
def test_oracle_succeeds_on_most_seeds(make_env, task_name):
    env = make_env(task_name)
    agent = OracleAgent()
    wins = 0
    for seed in range(4):
        obs, info = env.reset(seed=seed)
        _, reward, terminated, truncated, step = env.step(agent.act([{**obs, "ground_truth": info["ground_truth"]}])[0])
        assert terminated and not truncated and step["parse_ok"]
        terms = step["rewards"]
        assert reward == terms["total"]
        assert terms["format"] == 1.0 and terms["affordance"] > 0.95 and terms["trajectory"] > 0.95
        assert terms["success"] == float(step["success"])
        assert step["metrics"]["affordance_iou"] > 0.95 and step["metrics"]["dfd"] < 2.0
        assert step["success"] == (step["failure_reason"] is None)
        assert 0 < step["control_steps"] <= env.max_control_steps
        wins += step["success"]
    assert wins >= 3


@pytest.mark.parametrize("garbage", ["", "I would pick it up.", "<answer>{]</answer>", "\x0b" * 300])
def test_garbage_action_is_a_scored_failure(make_env, garbage):
    env = make_env("Push")
    env.reset(seed=0)
    _, reward, terminated, _, step = env.step(garbage)
    assert (reward, terminated, step["success"], step["failure_reason"]) == (0.0, True, False, "unparseable")
    assert step["parse_ok"] is False and step["parse_error"]
    assert set(step["rewards"].values()) == {0.0} and step["metrics"] is None
    assert step["control_steps"] == 0
    with pytest.raises(RuntimeError, match="reset"):
        env.step(garbage)


def test_structured_action_is_executed_like_text(make_env):
    env = make_env("Lift")
    obs, info = env.reset(seed=1)
    truth = info["ground_truth"]
    _, _, _, _, step = env.step({"affordance": truth["affordance_box"], "trajectory": truth["trajectory"]})
    assert step["parse_ok"] and step["success"]
    env.reset(seed=1)
    _, _, _, _, bad = env.step({"affordance": [1, 2]})
    assert bad["failure_reason"] == "unparseable"


def test_out_of_workspace_answer_is_unreachable(make_env):
    env = make_env("PickPlace")
    env.reset(seed=0)
    # Trajectory points near the top of the image lie far beyond the table at carry height.
    _, _, _, _, step = env.step(
        '<answer>{"affordance": [500, 600], "trajectory": [[500, 600], [500, 5], [10, 5]]}</answer>'
    )
    assert step["failure_reason"] == "unreachable" and not step["success"]


def test_lift_trajectory_that_never_leaves_the_affordance_fails(make_env):
    env = make_env("Lift")
    obs, info = env.reset(seed=1)
    box = [float(v) for v in info["ground_truth"]["affordance_box"]]  # plain floats print as JSON (numpy 2's don't)
    centre = [(box[0] + box[2]) / 2, (box[1] + box[3]) / 2]
    parsed = parse_answer(f'<answer>{{"affordance": {box}, "trajectory": {[centre] * 3}}}</answer>')
    assert parsed
    _, _, _, _, step = env.step({"affordance": box, "trajectory": [centre] * 3})
    assert not step["success"]


def test_scenes_vary_and_name_unique_objects(make_env, task):
    env = make_env(task)
    instructions = set()
    for seed in range(6):
        obs, info = env.reset(seed=seed)
        episode = env._episode
        pairs = [(o.rgb, o.shape) for o in [episode.target, *episode.distractors]]
        assert len(pairs) == len(set(pairs))
        assert info["ground_truth"]["affordance_mask"].sum() > 20
        instructions.add(obs["instruction"])
    assert len(instructions) >= 4


@pytest.mark.parametrize("drop", ["close", "garbage_collect"])
def test_dropping_another_env_keeps_this_envs_frames_valid(make_env, drop):
    env = make_env("Lift")
    before, _ = env.reset(seed=9)
    other = gym.make("manipgym/Push-v0")
    other.reset(seed=0)
    if drop == "close":
        other.close()
    del other
    gc.collect()
    after, _ = env.reset(seed=9)
    assert after["image"].tobytes() == before["image"].tobytes()
    assert np.array_equal(after["depth"], before["depth"]) and np.isfinite(after["depth"]).all()


def test_reward_weights_option_sets_the_composite():
    env = gym.make("manipgym/Lift-v0", reward_weights=RewardWeights(format=1.0, affordance=0, trajectory=0, success=0))
    obs, info = env.reset(seed=3)
    info["ground_truth"]["affordance_box"][:] = 0  # the env keeps its own copy of the truth
    answer = '<answer>{"affordance": [10, 10], "trajectory": [[10, 10], [20, 20], [30, 30]]}</answer>'
    _, reward, _, _, step = env.step(answer)
    assert reward == 1.0 and not step["success"]
    assert step["rewards"]["affordance"] < 0.01 and step["metrics"]["affordance_iou"] is None
    env.close()
