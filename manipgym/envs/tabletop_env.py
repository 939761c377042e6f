"""``TabletopEnv``: the Gymnasium environment behind every ``manipgym/<Task>-v0`` id.

One episode is one answer: ``reset`` renders a scene and an instruction, ``step`` takes the
model's answer text, executes it on the simulated arm and ends the episode (DESIGN.md).
"""

from __future__ import annotations

import json
import string
import time
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from manipgym.envs.camera import CameraGeometry, camera_geometry
from manipgym.envs.catalog import COLORS
from manipgym.envs.executor import Executor, StepBudgetExceeded
from manipgym.envs.scene import TabletopScene
from manipgym.envs.tasks import TASKS, Episode, Unreachable
from manipgym.envs.variation import Variation
from manipgym.rewards.answer import MAX_ANSWER_CHARS, NORM, Answer, ParseFailure, parse_answer
from manipgym.rewards.metrics import box_iou, point_in_mask
from manipgym.rewards.terms import RewardWeights, reward_terms, trajectory_terms

INSTRUCTION_MAX_CHARS = 256
VIDEO_FRAME_EVERY = 2  # control steps per recorded frame (10 fps of a 20 Hz controller)
ACTION_CHARSET = frozenset(string.printable)

GOAL_BODIES = {"plate": "plate_main", "circle": "marker_main", "block": "stackbase_main"}  # goal word -> body


@dataclass(frozen=True)
class WallTime:
    """Wall-clock seconds spent on a reset or step.

    Timing is not part of an episode's outcome, so any two values compare equal: the same
    seed and answer give equal ``info`` dicts (which Gymnasium's determinism checks compare).
    """

    seconds: float = field(compare=False)

    def __float__(self) -> float:
        return self.seconds


class TabletopEnv(gym.Env):
    """A Franka Panda at a table; the action is a VLM's answer text.

    Args:
        task: one of ``Lift``, ``PickPlace``, ``Push``, ``Stack``.
        image_size: (width, height) of the rendered observation.
        variation: what scenes are drawn from (default: the training distribution).
        coords: coordinate convention of answers, ``"norm1000"`` or ``"pixel"``.
        max_control_steps: bound on the controller steps of one episode (20 per second).
        render_mode: ``"rgb_array"`` to allow ``render()``.
        reward_weights: weights of the composite reward (default :class:`RewardWeights`).
        scene_kwargs: extra arguments of :class:`TabletopScene` (the speed benchmark's naive
            baseline sets ``hard_reset`` and ``camera_obs``).

    Observation: ``image`` (H×W×3 uint8, top-left origin), ``instruction`` (text), ``depth``
    (H×W float32 metres), ``intrinsics`` (3×3), ``cam_to_world`` (4×4, OpenCV axes).

    Action: the answer text (see :mod:`manipgym.rewards.answer`), or a dict with
    ``affordance`` and ``trajectory`` arrays in 0–1000 coordinates.
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 20}

    def __init__(
        self,
        task: str = "Lift",
        image_size: tuple[int, int] = (224, 224),
        variation: Variation | None = None,
        coords: str = "norm1000",
        max_control_steps: int = 400,
        render_mode: str | None = None,
        reward_weights: RewardWeights | None = None,
        scene_kwargs: dict | None = None,
    ):
        if task not in TASKS:
            raise ValueError(f"unknown task {task!r}; choose one of {', '.join(TASKS)}")
        if coords not in ("norm1000", "pixel"):
            raise ValueError(f"coords must be 'norm1000' or 'pixel', not {coords!r}")
        self.task = TASKS[task]
        self.image_size = (int(image_size[0]), int(image_size[1]))
        self.variation = variation or Variation()
        self.coords = coords
        self.max_control_steps = max_control_steps
        self.render_mode = render_mode
        self.reward_weights = reward_weights or RewardWeights()
        w, h = self.image_size
        self.observation_space = spaces.Dict(
            {
                "image": spaces.Box(0, 255, (h, w, 3), np.uint8),
                "instruction": spaces.Text(INSTRUCTION_MAX_CHARS, charset=ACTION_CHARSET),
                "depth": spaces.Box(0.0, np.inf, (h, w), np.float32),
                "intrinsics": spaces.Box(-np.inf, np.inf, (3, 3), np.float64),
                "cam_to_world": spaces.Box(-np.inf, np.inf, (4, 4), np.float64),
            }
        )
        self.action_space = spaces.Text(MAX_ANSWER_CHARS, min_length=0, charset=ACTION_CHARSET)
        self.scene = TabletopScene(image_size=self.image_size, **(scene_kwargs or {}))
        self._episode: Episode | None = None
        self._camera: CameraGeometry | None = None
        self._obs: dict[str, Any] | None = None
        self._truth: dict[str, Any] = {}
        self._done = True
        self._record_video = False

    # --- Gymnasium API -----------------------------------------------------------------------

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        started = time.perf_counter()
        # options: "variation" (a Variation) replaces the env's variation from this episode on;
        # "record_video" (bool) keeps frames of the execution in step's info["frames"].
        options = options or {}
        if options.get("variation") is not None:
            self.variation = options["variation"]
        self._record_video = bool(options.get("record_video", False))
        episode = self.task.sample(self.np_random, self.variation)
        self.scene.arrange(episode.arrangement)
        if episode.arrangement.stack_base is not None:  # the goal is where the block settled
            base = self.scene.body_pos("stackbase_main")
            episode.goal_xy = (float(base[0]), float(base[1]))
        self._episode = episode
        self._obs = self._observe()
        self._done = False
        self._truth = self._ground_truth()
        info = {
            "task": self.task.name,
            "instruction": episode.instruction,
            "ground_truth": {k: v.copy() if isinstance(v, np.ndarray) else v for k, v in self._truth.items()},
            "wall_time": WallTime(time.perf_counter() - started),
        }
        return self._obs, info

    def step(self, action):
        if self._done or self._episode is None:
            raise RuntimeError("the episode has ended: call reset() before step()")
        started = time.perf_counter()
        parsed = self._parse(action)
        info: dict[str, Any] = {"parse_ok": isinstance(parsed, Answer), "parse_error": None}
        executor = Executor(self.scene, max_steps=self.max_control_steps)
        frames = [self._obs["image"]] if self._record_video else None
        if frames is not None:

            def keep_frame() -> None:
                if executor.steps % VIDEO_FRAME_EVERY == 0:
                    frames.append(self.scene.render_rgb())

            executor.frame_callback = keep_frame
        if isinstance(parsed, ParseFailure):
            info["parse_error"] = parsed.reason
            reason = "unparseable"
        else:
            reason = self._execute(parsed, executor)
        success = self.task.success(self.scene, self._episode) if info["parse_ok"] else False
        if success:
            reason = None
        elif reason is None:
            reason = "goal_not_reached"
        self._done = True
        if executor.steps:
            self._obs = self._observe()
        truth = self._truth
        rewards = reward_terms(
            parsed, success, truth["affordance_box"], truth["affordance_mask"], truth["trajectory"], self.reward_weights
        )
        info.update(
            success=success,
            rewards=rewards,
            metrics=self._metrics(parsed),
            failure_reason=reason,
            waypoints=executor.waypoints,
            control_steps=executor.steps,
            wall_time=WallTime(time.perf_counter() - started),
        )
        if frames is not None:
            info["frames"] = frames + [self._obs["image"]]
        # Users keep what they are given: never hand out the same arrays twice.
        obs = {k: v.copy() if isinstance(v, np.ndarray) else v for k, v in self._obs.items()}
        return obs, rewards["total"], True, False, info

    def render(self):
        if self.render_mode != "rgb_array":
            raise RuntimeError("render() needs render_mode='rgb_array'")
        return self.scene.render_rgb()

    def close(self):
        if getattr(self, "scene", None) is not None:
            self.scene.close()
            self.scene = None

    def object_labels(self) -> tuple[np.ndarray, list[tuple[str, str]]]:
        """What each pixel of the current frame shows, from the simulator's segmentation (free
        labels for training a vision tower): an H×W map of indices into a list of (colour, noun)
        pairs, e.g. ("red", "cube") or ("green", "plate"); -1 where no object or goal is seen."""
        if self._episode is None:
            raise RuntimeError("call reset() before object_labels()")
        episode, model = self._episode, self.scene.sim.model
        names = {rgb: name for name, rgb in COLORS.items()}
        named = [(episode.target.body_name, (episode.target_color, episode.target.shape))]
        named += [(d.body_name, (names.get(tuple(d.rgb), ""), d.shape)) for d in episode.distractors]
        goal_body = GOAL_BODIES.get(self.task.goal_word)
        if goal_body and episode.goal_color:
            named.append((goal_body, (episode.goal_color, self.task.goal_word)))
        bodies = self.scene.render_body_ids()
        labels = np.full(bodies.shape, -1, dtype=np.int32)
        for index, (body, _) in enumerate(named):
            labels[bodies == model.body_name2id(body)] = index
        return labels, [words for _, words in named]

    # --- internals ---------------------------------------------------------------------------

    def _observe(self) -> dict[str, Any]:
        rgb, depth = self.scene.render_rgbd()
        w, h = self.image_size
        self._camera = camera_geometry(self.scene.sim.model, self.scene.sim.data, self.scene.camera_id, w, h)
        return {
            "image": rgb,
            "instruction": self._episode.instruction,
            "depth": depth,
            "intrinsics": self._camera.intrinsics.copy(),
            "cam_to_world": self._camera.cam_to_world.copy(),
        }

    def _parse(self, action) -> Answer | ParseFailure:
        if isinstance(action, dict):
            try:
                payload = {
                    "affordance": np.asarray(action["affordance"], float).tolist(),
                    "trajectory": np.asarray(action["trajectory"], float).tolist(),
                }
                action = "<answer>" + json.dumps(payload) + "</answer>"
            except (KeyError, TypeError, ValueError) as err:
                return ParseFailure("bad_json", f"structured action: {err}")
            return parse_answer(action)  # structured actions are always in 0-1000 units
        return parse_answer(action, coords=self.coords, image_size=self.image_size)

    def _to_pixels(self, norm: np.ndarray) -> np.ndarray:
        return np.asarray(norm, float).reshape(-1, 2) * (np.array(self.image_size) / NORM)

    def _execute(self, answer: Answer, executor: Executor) -> str | None:
        cam, depth = self._camera, self._obs["depth"]
        aff_uv = self._to_pixels(answer.affordance_point)
        contact = self.task.contact_point(cam, depth, aff_uv)
        path = self.task.lift_trajectory(cam, self._to_pixels(answer.trajectory[1:]), contact)
        try:
            return self.task.execute(executor, self._episode, contact, path)
        except Unreachable:
            return "unreachable"
        except StepBudgetExceeded:
            return "timeout"

    def _metrics(self, parsed: Answer | ParseFailure) -> dict[str, Any] | None:
        """Affordance and trajectory metrics of a parsed answer (None if it did not parse)."""
        if not isinstance(parsed, Answer):
            return None
        truth = self._truth
        metrics: dict[str, Any] = trajectory_terms(parsed.trajectory, truth["trajectory"])
        metrics["affordance_iou"] = box_iou(parsed.affordance, truth["affordance_box"]) if parsed.is_box else None
        metrics["affordance_point_in_mask"] = point_in_mask(parsed.affordance_point, truth["affordance_mask"])
        return metrics

    def _ground_truth(self) -> dict[str, Any]:
        """Privileged ground truth of the current scene, in norm1000 image coordinates."""
        scene, episode, cam = self.scene, self._episode, self._camera
        bodies = scene.render_body_ids()
        model = scene.sim.model
        target_mask = bodies == model.body_name2id(episode.target.body_name)
        goal_body = GOAL_BODIES.get(self.task.goal_word)
        goal_mask = bodies == model.body_name2id(goal_body) if goal_body else None
        target_pos = scene.body_pos(episode.target.body_name)
        box = self._mask_box(target_mask)
        if box is None:  # fully hidden: fall back to the projected object centre
            centre = cam.project(target_pos)[0] * NORM / np.array(self.image_size)
            box = np.concatenate([centre - 15, centre + 15]).clip(0, NORM - 1)
        path = self.task.oracle_path(scene, episode)
        trajectory = np.vstack([(box[:2] + box[2:]) / 2, cam.project(path) * NORM / np.array(self.image_size)])
        return {
            "affordance_box": box,
            "affordance_mask": target_mask,
            "goal_box": self._mask_box(goal_mask) if goal_mask is not None else None,
            "goal_mask": goal_mask,
            "goal_world": None if episode.goal_xy is None else np.array(episode.goal_xy, float),
            "target_world": target_pos,
            "target": episode.describe_target(),
            "trajectory": trajectory,
            "trajectory_world": path,
        }

    def _mask_box(self, mask: np.ndarray) -> np.ndarray | None:
        rows, cols = np.nonzero(mask)
        if len(rows) == 0:
            return None
        w, h = self.image_size
        return np.array([cols.min() / w, rows.min() / h, (cols.max() + 1) / w, (rows.max() + 1) / h]) * NORM
