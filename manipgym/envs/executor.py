"""Motion primitives on robosuite's OSC controller: move, grasp, release, hold.

Every primitive commands absolute end-effector positions in the world frame with a fixed
top-down gripper orientation, ramped at a bounded speed so that no target jumps far ahead of
the arm. A step budget bounds the whole episode: no answer can make an episode hang.
"""

from __future__ import annotations

import mujoco
import numpy as np

from manipgym.envs.scene import TabletopScene, quat_to_axis_angle

GRIPPER_OPEN = -1.0
GRIPPER_CLOSED = 1.0


class StepBudgetExceeded(RuntimeError):
    """The episode used up its control steps."""


class Executor:
    """Drives one episode's arm motions and records the executed waypoints.

    Args:
        scene: the robosuite scene, already arranged for the episode.
        max_steps: control steps allowed for the whole episode.
        max_speed: metres per second the commanded position may move.
    """

    def __init__(self, scene: TabletopScene, max_steps: int = 400, max_speed: float = 0.5):
        self.scene = scene
        self.max_steps = max_steps
        self.step_size = max_speed / scene.control_freq
        self.home_orientation = scene.eef_axis_angle()  # top-down, fingers closing along world y
        self.orientation = self.home_orientation.copy()
        self.command = scene.eef_pos()
        self.gripper = GRIPPER_OPEN
        self.steps = 0
        self.waypoints: list[list[float]] = []
        self.frame_callback = None  # called after every control step (e.g. to record video)

    def _step(self) -> None:
        if self.steps >= self.max_steps:
            raise StepBudgetExceeded(f"used all {self.max_steps} control steps")
        action = np.concatenate([self.command, self.orientation, [self.gripper]])
        self.scene.step(action)
        self.steps += 1
        if self.frame_callback is not None:
            self.frame_callback()

    def move(self, target, tolerance: float = 0.01, max_steps: int = 60) -> bool:
        """Move the gripper to ``target`` (world xyz). Returns whether it got within tolerance."""
        target = np.asarray(target, float)
        self.waypoints.append([round(float(v), 4) for v in target])
        for _ in range(max_steps):
            delta = target - self.command
            dist = np.linalg.norm(delta)
            self.command = target.copy() if dist <= self.step_size else self.command + delta / dist * self.step_size
            self._step()
            if dist <= self.step_size and np.linalg.norm(self.scene.eef_pos() - target) < tolerance:
                return True
        return False

    def set_yaw(self, yaw: float) -> None:
        """Turn the hand by ``yaw`` radians about the world z axis from its home orientation."""
        home = np.zeros(4)
        angle = np.linalg.norm(self.home_orientation)
        axis = self.home_orientation / angle if angle > 1e-9 else np.array([0.0, 0.0, 1.0])
        mujoco.mju_axisAngle2Quat(home, axis, angle)
        turned = np.zeros(4)
        mujoco.mju_mulQuat(turned, np.array([np.cos(yaw / 2), 0.0, 0.0, np.sin(yaw / 2)]), home)
        self.orientation = quat_to_axis_angle(turned)

    def set_gripper(self, value: float, steps: int = 12) -> None:
        """Open (-1), close (+1) or hold (0) the fingers for ``steps`` control steps."""
        self.gripper = value
        for _ in range(steps):
            self._step()

    def hold(self, steps: int) -> None:
        for _ in range(steps):
            self._step()
