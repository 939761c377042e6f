"""The four tasks: how a scene is drawn, what the oracle would do, how an answer is executed,
and what counts as success.

Every task reads an answer the same way: the affordance point is lifted to 3-D with the depth
image (the surface the camera sees there); trajectory points after the first are lifted by
intersecting their camera rays with a task-specific locus (a horizontal plane at the carry
height, or for Lift the vertical line above the grasp). The first trajectory point is the
affordance itself, so it is not executed twice.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from manipgym.envs.camera import CameraGeometry
from manipgym.envs.catalog import COLORS, POOL_PER_SHAPE, SHAPES
from manipgym.envs.executor import GRIPPER_CLOSED, GRIPPER_OPEN, Executor
from manipgym.envs.instructions import TEMPLATES
from manipgym.envs.scene import (
    CAMERA_POS,
    GOAL_MARKER_SIZE,
    GOAL_PLATE_SIZE,
    STACK_BASE_HALF,
    TABLE_TOP_Z,
    Arrangement,
    PlacedObject,
    TabletopScene,
)
from manipgym.envs.variation import Variation

CARRY_Z = TABLE_TOP_Z + 0.17  # gripper height while carrying: clears every object
PUSH_Z = TABLE_TOP_Z + 0.018  # gripper height while pushing: below the objects' centres
APPROACH_CLEARANCE = 0.10  # metres above the grasp point before descending
PUSH_OFFSET = 0.035  # gripper centre trails the object's centre by this much when pushing
WORKSPACE = {"x": (-0.36, 0.36), "y": (-0.38, 0.38), "z": (TABLE_TOP_Z - 0.01, TABLE_TOP_Z + 0.40)}
ORACLE_CARRY_POINTS = 4
PADDLE_CLOSING_STEPS = (
    6  # from open, leaves the fingertips ~4 cm apart  # trajectory points after the affordance in oracle answers
)


class Unreachable(ValueError):
    """An answer's waypoint lies outside the arm's workspace (or its ray misses the plane)."""


@dataclass
class Episode:
    """Everything ``reset`` drew for one episode."""

    task: str
    instruction: str
    target: PlacedObject
    target_color: str
    distractors: list[PlacedObject]
    goal_xy: tuple[float, float] | None
    goal_color: str | None
    arrangement: Arrangement

    def describe_target(self) -> str:
        return f"{self.target_color} {self.target.shape}"


def _in_workspace(p: np.ndarray) -> bool:
    return all(WORKSPACE[k][0] <= v <= WORKSPACE[k][1] for k, v in zip("xyz", p)) and bool(np.isfinite(p).all())


def check_reachable(points: np.ndarray) -> None:
    for p in np.atleast_2d(points):
        if not _in_workspace(p):
            raise Unreachable(f"waypoint {np.round(p, 3).tolist()} is outside the workspace")


class Task:
    """Base class: drawing scenes and the pick-carry-release behaviour shared by three tasks."""

    name = ""
    shapes: tuple[str, ...] = ("cube", "cylinder", "ball", "bar", "disc")  # targets this task allows
    goal_word = ""  # how the instruction names the goal
    goal_radius = 0.0  # footprint of the goal when sampling positions

    # --- drawing a scene -------------------------------------------------------------------

    def sample(self, rng: np.random.Generator, variation: Variation) -> Episode:
        shapes = [s for s in variation.shapes if s in self.shapes]
        if not shapes:
            raise ValueError(f"{self.name}: none of the variation's shapes {variation.shapes} suits this task")
        slots: dict[str, int] = {}

        def take(shape: str, xy, color: str, yaw: float | None = None) -> PlacedObject:
            slot = slots.get(shape, 0)
            slots[shape] = slot + 1
            if yaw is None:
                yaw = float(rng.uniform(-np.pi / 4, np.pi / 4)) if SHAPES[shape].geom == "box" else 0.0
            return PlacedObject(shape, slot, (float(xy[0]), float(xy[1])), yaw, COLORS[color])

        target_shape = str(rng.choice(shapes))
        target_color = str(rng.choice(variation.colors))
        goal_color = None
        if self.goal_word:
            goal_color = str(rng.choice([c for c in variation.colors if c != target_color]))
        for _ in range(1000):
            layout = self._sample_layout(rng, variation, target_shape)
            if layout is not None:
                break
        else:  # pragma: no cover - the ranges leave plenty of room
            raise RuntimeError(f"{self.name}: could not place the objects")
        target_xy, goal_xy, discs, target_yaw = layout
        target = take(target_shape, target_xy, target_color, target_yaw)
        distractors = []
        seen = {(target_color, target_shape)}
        n_distractors = int(rng.integers(variation.distractors[0], variation.distractors[1] + 1))
        for _ in range(n_distractors):
            for _ in range(50):
                shape, color = str(rng.choice(variation.shapes)), str(rng.choice(variation.colors))
                if (color, shape) not in seen and slots.get(shape, 0) < POOL_PER_SHAPE:
                    break
            else:
                continue
            xy = self._free_spot(rng, variation, discs, SHAPES[shape].footprint_radius)
            if xy is None:
                continue
            seen.add((color, shape))
            distractors.append(take(shape, xy, color))
        arrangement = Arrangement(
            objects=[target, *distractors],
            light_diffuse=(float(rng.uniform(*variation.light_range)),) * 3,
            table_rgb=variation.table_colors[int(rng.integers(len(variation.table_colors)))],
        )
        if variation.camera_jitter:
            jitter = rng.uniform(-variation.camera_jitter, variation.camera_jitter, 3)
            arrangement.camera_pos = tuple(float(v) for v in np.asarray(CAMERA_POS) + jitter)
        self._place_goal(arrangement, goal_xy, goal_color, rng)
        template = str(rng.choice(TEMPLATES[self.name][variation.template_set]))
        instruction = template.format(obj=f"{target_color} {target_shape}", goal=goal_color)
        return Episode(self.name, instruction, target, target_color, distractors, goal_xy, goal_color, arrangement)

    def _free_spot(self, rng, variation: Variation, discs: list, radius: float, margin: float = 0.025):
        for _ in range(100):
            xy = np.array([rng.uniform(*variation.x_range), rng.uniform(*variation.y_range)])
            if all(np.linalg.norm(xy - c) >= radius + r + margin for c, r in discs):
                discs.append((xy, radius))
                return xy
        return None

    def _sample_layout(self, rng, variation: Variation, target_shape: str):
        """Target and goal positions, the discs they occupy, and the target's yaw if the task
        fixes it (None: random). Returns None to ask for another try."""
        discs: list = []
        target_xy = self._free_spot(rng, variation, discs, SHAPES[target_shape].footprint_radius)
        goal_xy = None
        if self.goal_radius:
            goal_xy = self._free_spot(rng, variation, discs, self.goal_radius, margin=0.05)
            if goal_xy is None:
                return None
        return target_xy, goal_xy, discs, None

    def _place_goal(self, arrangement: Arrangement, goal_xy, goal_color, rng) -> None:
        """Put the task's goal object into the arrangement."""

    # --- the oracle --------------------------------------------------------------------------

    def oracle_path(self, scene: TabletopScene, episode: Episode) -> np.ndarray:
        """World points the oracle's trajectory visits after the affordance (N×3)."""
        start = scene.body_pos(episode.target.body_name)
        goal = np.array([*episode.goal_xy, CARRY_Z])
        above = np.array([start[0], start[1], CARRY_Z])
        return np.linspace(above, goal, ORACLE_CARRY_POINTS)

    # --- executing an answer -----------------------------------------------------------------

    def lift_trajectory(self, camera: CameraGeometry, uv: np.ndarray, grasp: np.ndarray) -> np.ndarray:
        """3-D waypoints for trajectory image points ``uv`` (after the first), N×3."""
        return camera.intersect_horizontal(uv, CARRY_Z)

    def contact_point(self, camera: CameraGeometry, depth_image: np.ndarray, uv: np.ndarray) -> np.ndarray:
        """Where the hand acts for the affordance point ``uv``: for a grasp, the point between the
        fingers.

        The depth at ``uv`` gives the height of the surface seen there; the camera sees an
        object's top and near side, so that surface point is biased towards the camera. The ray
        through ``uv`` at half that height (objects rest on the table) passes close to the
        object's centre instead, and the fingers close a little below the surface seen.
        """
        surface = camera.unproject(uv, camera.depth_at(depth_image, uv))[0]
        mid_height = max(TABLE_TOP_Z + 0.01, (surface[2] + TABLE_TOP_Z) / 2)
        centre = camera.intersect_horizontal(uv, mid_height)[0]
        return np.array([centre[0], centre[1], max(TABLE_TOP_Z + 0.014, surface[2] - 0.012)])

    def execute(self, executor: Executor, episode: Episode, grasp: np.ndarray, path: np.ndarray) -> str | None:
        """Run the answer on the arm. Returns a failure reason, or None if it ran to the end."""
        check_reachable(np.vstack([grasp + [0, 0, APPROACH_CLEARANCE], grasp, path]))
        executor.move(grasp + [0, 0, APPROACH_CLEARANCE], tolerance=0.015)
        executor.move(grasp, tolerance=0.008)
        executor.set_gripper(GRIPPER_CLOSED, steps=10)
        reason = self.carry(executor, episode, grasp, path)
        if reason is None:
            reason = self.finish(executor, episode, grasp)
        return reason

    def carry(self, executor: Executor, episode: Episode, grasp: np.ndarray, path: np.ndarray) -> str | None:
        """Rise with the object, then follow the path. Stops early if the target stayed behind."""
        start_z = executor.scene.body_pos(episode.target.body_name)[2]
        executor.move([grasp[0], grasp[1], CARRY_Z], tolerance=0.02)
        if executor.scene.body_pos(episode.target.body_name)[2] < start_z + 0.03:
            return "grasp_missed"
        for point in path:
            executor.move(point, tolerance=0.02)
        return None

    def finish(self, executor: Executor, episode: Episode, grasp: np.ndarray) -> str | None:
        """Lower onto the goal surface and let go."""
        grasp_height = grasp[2] - TABLE_TOP_Z
        release = executor.command.copy()
        release[2] = self.support_top() + grasp_height + 0.012
        executor.move(release, tolerance=0.01)
        executor.set_gripper(GRIPPER_OPEN, steps=8)
        executor.move(release + [0, 0, 0.08], tolerance=0.03, max_steps=20)
        executor.hold(6)
        return None

    def support_top(self) -> float:
        return TABLE_TOP_Z

    def success(self, scene: TabletopScene, episode: Episode) -> bool:
        raise NotImplementedError


class Lift(Task):
    name = "Lift"

    def oracle_path(self, scene, episode):
        c = scene.body_pos(episode.target.body_name)
        return np.array([[c[0], c[1], TABLE_TOP_Z + h] for h in np.linspace(0.08, 0.17, ORACLE_CARRY_POINTS)])

    def lift_trajectory(self, camera, uv, grasp):
        # A lift is vertical, which a horizontal plane cannot express: each point is read as the
        # point of the vertical line above the grasp nearest to its camera ray.
        origin, dirs = camera.rays(uv)
        w0 = origin - np.array([grasp[0], grasp[1], 0.0])
        dz = dirs[:, 2]
        denom = np.maximum(1.0 - dz**2, 1e-9)
        heights = (w0[2] - dz * (dirs @ w0)) / denom
        heights = np.clip(heights, grasp[2], WORKSPACE["z"][1])
        return np.stack([np.full_like(heights, grasp[0]), np.full_like(heights, grasp[1]), heights], axis=1)

    def carry(self, executor, episode, grasp, path):
        for point in path:
            executor.move(point, tolerance=0.02)
        return None

    def finish(self, executor, episode, grasp):
        executor.hold(10)
        return None

    def success(self, scene, episode):
        bottom = scene.body_pos(episode.target.body_name)[2] - SHAPES[episode.target.shape].half_height
        return bool(bottom > TABLE_TOP_Z + 0.06)


class PickPlace(Task):
    name = "PickPlace"
    goal_word = "plate"
    goal_radius = GOAL_PLATE_SIZE[0]

    def _place_goal(self, arrangement, goal_xy, goal_color, rng):
        arrangement.plate = (float(goal_xy[0]), float(goal_xy[1]), COLORS[goal_color])

    def support_top(self):
        return TABLE_TOP_Z + 2 * GOAL_PLATE_SIZE[1]

    def success(self, scene, episode):
        pos = scene.body_pos(episode.target.body_name)
        on_plate = np.linalg.norm(pos[:2] - episode.goal_xy) < GOAL_PLATE_SIZE[0] - 0.01
        resting = abs(pos[2] - self.support_top() - SHAPES[episode.target.shape].half_height) < 0.015
        return bool(on_plate and resting)


class Stack(Task):
    name = "Stack"
    shapes = ("cube", "cylinder", "bar", "disc")
    goal_word = "block"
    goal_radius = STACK_BASE_HALF * 1.42

    def _place_goal(self, arrangement, goal_xy, goal_color, rng):
        yaw = float(rng.uniform(-np.pi / 4, np.pi / 4))
        arrangement.stack_base = (float(goal_xy[0]), float(goal_xy[1]), yaw, COLORS[goal_color])

    def support_top(self):
        return TABLE_TOP_Z + 2 * STACK_BASE_HALF

    def success(self, scene, episode):
        pos = scene.body_pos(episode.target.body_name)
        base = scene.body_pos("stackbase_main")
        on_base = np.linalg.norm(pos[:2] - base[:2]) < STACK_BASE_HALF
        resting = abs(pos[2] - self.support_top() - SHAPES[episode.target.shape].half_height) < 0.015
        base_upright = abs(base[2] - TABLE_TOP_Z - STACK_BASE_HALF) < 0.01
        return bool(on_base and resting and base_upright)


class Push(Task):
    name = "Push"
    shapes = ("cube", "cylinder", "bar", "disc")
    goal_word = "circle"
    goal_radius = GOAL_MARKER_SIZE[0]

    def _sample_layout(self, rng, variation, target_shape):
        # The goal lies 10-22 cm from the object, and the gripper's start behind the object and
        # the whole push corridor must be free of other objects.
        radius = SHAPES[target_shape].footprint_radius
        target = np.array([rng.uniform(*variation.x_range), rng.uniform(*variation.y_range)])
        angle, dist = rng.uniform(-np.pi, np.pi), rng.uniform(0.10, 0.22)
        direction = np.array([np.cos(angle), np.sin(angle)])
        goal = target + dist * direction
        behind = target - direction * (PUSH_OFFSET + 0.05)
        lo = np.array([variation.x_range[0], variation.y_range[0]])
        hi = np.array([variation.x_range[1], variation.y_range[1]])
        if (goal < lo).any() or (goal > hi).any() or (behind < lo - 0.05).any() or (behind > hi + 0.05).any():
            return None
        # Discs along the corridor keep distractors out of the push's way.
        discs = [(behind + (goal - behind) * t, 0.04) for t in np.linspace(0, 1, 8)]
        discs += [(target, radius), (goal, self.goal_radius)]
        # A box pushed on a corner squirts sideways; it starts with a face towards its goal.
        yaw = float(angle + rng.uniform(-0.15, 0.15)) if SHAPES[target_shape].geom == "box" else 0.0
        return target, goal, discs, yaw

    def _place_goal(self, arrangement, goal_xy, goal_color, rng):
        arrangement.marker = (float(goal_xy[0]), float(goal_xy[1]), COLORS[goal_color])

    def oracle_path(self, scene, episode):
        start = scene.body_pos(episode.target.body_name)
        # The affordance already marks the start; the path's points lead from there to the goal.
        return np.linspace([start[0], start[1], PUSH_Z], [*episode.goal_xy, PUSH_Z], ORACLE_CARRY_POINTS + 1)[1:]

    def lift_trajectory(self, camera, uv, grasp):
        return camera.intersect_horizontal(uv, PUSH_Z)

    def contact_point(self, camera, depth_image, uv):
        # The object's centre as for a grasp, at the height the gripper pushes.
        centre = super().contact_point(camera, depth_image, uv)
        return np.array([centre[0], centre[1], PUSH_Z])

    def execute(self, executor, episode, contact, path):
        # Points closer than 3 cm to the previous one give no reliable direction: skip them,
        # but always end at the path's last point.
        points = [contact]
        for p in path:
            if np.linalg.norm(p[:2] - points[-1][:2]) > 0.03:
                points.append(p)
        if len(path) and points[-1] is not path[-1]:
            points[-1 if len(points) > 1 else len(points) :] = [path[-1]]
        if len(points) < 2 or np.linalg.norm(points[-1][:2] - contact[:2]) < 0.01:
            return "no_motion"
        first_dir = _unit(points[1] - points[0])
        start = points[0] - first_dir * (PUSH_OFFSET + 0.04)
        check_reachable(np.vstack([start + [0, 0, APPROACH_CLEARANCE], start, *points[1:]]))
        # The hand turns its fingers across the push and half-closes them: two fingertips a few
        # centimetres apart make a paddle that keeps the object from spinning off the hand.
        yaw = float(np.arctan2(first_dir[1], first_dir[0]))
        executor.set_yaw((yaw + np.pi / 2) % np.pi - np.pi / 2)
        executor.move(start + [0, 0, APPROACH_CLEARANCE], tolerance=0.015)
        executor.set_gripper(GRIPPER_CLOSED, steps=PADDLE_CLOSING_STEPS)
        executor.set_gripper(0.0, steps=1)
        executor.move(start, tolerance=0.01)
        executor.step_size *= 0.4  # push slowly so the object does not fly ahead
        for previous, waypoint in zip(points, points[1:]):
            # The hand's centre trails the object's centre along the segment.
            executor.move(waypoint - _unit(waypoint - previous) * PUSH_OFFSET, tolerance=0.015)
        executor.step_size /= 0.4
        executor.move(executor.command + [0, 0, 0.08], tolerance=0.03, max_steps=20)
        executor.hold(6)
        return None

    def success(self, scene, episode):
        pos = scene.body_pos(episode.target.body_name)
        return bool(np.linalg.norm(pos[:2] - episode.goal_xy) < GOAL_MARKER_SIZE[0])


def _unit(v: np.ndarray) -> np.ndarray:
    v = np.array([v[0], v[1], 0.0])
    n = np.linalg.norm(v)
    return v / n if n > 1e-9 else v


TASKS: dict[str, Task] = {t.name: t for t in (Lift(), PickPlace(), Push(), Stack())}
