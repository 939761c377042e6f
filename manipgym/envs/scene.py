"""The MuJoCo tabletop: a Franka Panda at a table, a pool of objects, goals and one camera.

The scene's model is compiled once. A new episode never rebuilds it (robosuite's
``hard_reset=True`` costs 1-3 s per reset and breaks offscreen rendering, REFERENCE.md §3);
instead, :meth:`TabletopScene.arrange` moves the objects an episode uses onto the table,
parks the rest out of view and recolours them through the model's mutable arrays.
"""

from __future__ import annotations

from dataclasses import dataclass

import mujoco
import numpy as np
import robosuite
from robosuite.environments.manipulation.manipulation_env import ManipulationEnv
from robosuite.models.arenas import TableArena
from robosuite.models.objects import BallObject, BoxObject, CylinderObject
from robosuite.models.tasks import ManipulationTask

from manipgym.envs import sim_setup
from manipgym.envs.camera import look_at_quat
from manipgym.envs.catalog import POOL_PER_SHAPE, SHAPES, Shape

TABLE_TOP_Z = 0.8
TABLE_SIZE = (0.8, 0.8, 0.05)
CAMERA_NAME = "scene"
# Default viewpoint: in front of the table, opposite the robot, looking down at the workspace.
CAMERA_POS = (0.5, 0.0, 1.36)
CAMERA_TARGET = (-0.04, 0.0, TABLE_TOP_Z)
CAMERA_FOVY = 45.0
# Arm pose at reset: gripper high and pulled back so it hides little of the table.
HOME_QPOS = (0.0, -0.55, 0.0, -2.55, 0.0, 2.05, np.pi / 4)
GOAL_PLATE_SIZE = (0.07, 0.006)  # radius, half-height
GOAL_MARKER_SIZE = (0.05, 0.0008)
STACK_BASE_HALF = 0.03
PARK_Z_STATIC = -2.0  # static bodies (plate, marker) are parked under the floor


@dataclass
class PlacedObject:
    """One movable object an episode uses: which pool instance, where, in which colour."""

    shape: str
    slot: int  # index within the shape's pool
    xy: tuple[float, float]
    yaw: float
    rgb: tuple[float, float, float]

    @property
    def body_name(self) -> str:
        return pool_body_name(self.shape, self.slot)


@dataclass
class Arrangement:
    """Everything :meth:`TabletopScene.arrange` needs to lay out one episode."""

    objects: list[PlacedObject]
    plate: tuple[float, float, tuple[float, float, float]] | None = None  # x, y, rgb
    marker: tuple[float, float, tuple[float, float, float]] | None = None
    stack_base: tuple[float, float, float, tuple[float, float, float]] | None = None  # x, y, yaw, rgb
    camera_pos: tuple[float, float, float] = CAMERA_POS
    camera_target: tuple[float, float, float] = CAMERA_TARGET
    light_diffuse: tuple[float, float, float] = (0.9, 0.9, 0.9)
    table_rgb: tuple[float, float, float] = (0.82, 0.80, 0.76)


def pool_body_name(shape: str, slot: int) -> str:
    return f"{shape}{slot}_main"


def _pool_object(shape: Shape, slot: int):
    name = f"{shape.name}{slot}"
    rgba = [0.5, 0.5, 0.5, 1.0]
    if shape.geom == "box":
        return BoxObject(name=name, size=list(shape.size), rgba=rgba, density=400)
    if shape.geom == "cylinder":
        return CylinderObject(name=name, size=list(shape.size), rgba=rgba, density=400, friction=(1.0, 0.005, 0.0001))
    # Rolling friction (condim 6 is set below) keeps a placed ball from rolling away.
    return BallObject(name=name, size=list(shape.size), rgba=rgba, density=400, friction=(1.0, 0.01, 0.002))


class TabletopScene(ManipulationEnv):
    """robosuite environment holding the whole object pool; driven by manipgym's Gymnasium envs.

    Args:
        image_size: (width, height) of rendered observations.
        control_freq: controller frequency in Hz.
    """

    def __init__(
        self,
        image_size: tuple[int, int] = (224, 224),
        control_freq: int = 20,
        hard_reset: bool = False,
        camera_obs: bool = False,
    ):
        if sim_setup.GL_ERROR is not None:
            raise sim_setup.GL_ERROR
        self.image_size = image_size
        controller = robosuite.load_composite_controller_config(controller="BASIC", robot="Panda")
        arm = controller["body_parts"]["right"]
        # Absolute end-effector targets in the world frame; input range = output range, so the
        # controller's scaling is the identity.
        arm.update(
            input_type="absolute",
            input_ref_frame="world",
            input_min=-10.0,
            input_max=10.0,
            output_min=-10.0,
            output_max=10.0,
            kp=300,
        )
        super().__init__(
            robots="Panda",
            controller_configs=controller,
            initialization_noise=None,
            # hard_reset and camera_obs exist for the naive baseline of the speed benchmark:
            # manipgym renders only when it needs an image.
            use_camera_obs=camera_obs,
            has_renderer=False,
            has_offscreen_renderer=True,
            render_camera=None,
            control_freq=control_freq,
            horizon=10**9,  # manipgym bounds episodes itself
            ignore_done=True,
            hard_reset=hard_reset,
            camera_names=[CAMERA_NAME] if camera_obs else [],
            camera_widths=image_size[0],
            camera_heights=image_size[1],
            camera_depths=camera_obs,
            seed=0,
        )

    # --- robosuite hooks -------------------------------------------------------------------

    def _load_model(self):
        super()._load_model()
        robot = self.robots[0]
        robot.robot_model.set_base_xpos(robot.robot_model.base_xpos_offset["table"](TABLE_SIZE[0]))
        robot.init_qpos = np.array(HOME_QPOS)
        arena = TableArena(table_full_size=TABLE_SIZE, table_offset=(0, 0, TABLE_TOP_Z))
        arena.set_origin([0, 0, 0])
        arena.set_camera(
            CAMERA_NAME,
            pos=CAMERA_POS,
            quat=look_at_quat(CAMERA_POS, CAMERA_TARGET),
            camera_attribs={"fovy": str(CAMERA_FOVY)},
        )
        self.pool = {(s.name, i): _pool_object(s, i) for s in SHAPES.values() for i in range(POOL_PER_SHAPE)}
        self.plate = CylinderObject(
            name="plate", size=list(GOAL_PLATE_SIZE), rgba=[0.5, 0.5, 0.5, 1], joints=None, friction=(1, 0.005, 0.0001)
        )
        self.marker = CylinderObject(
            name="marker", size=list(GOAL_MARKER_SIZE), rgba=[0.5, 0.5, 0.5, 1], joints=None, obj_type="visual"
        )
        self.stack_base = BoxObject(name="stackbase", size=[STACK_BASE_HALF] * 3, rgba=[0.5, 0.5, 0.5, 1], density=400)
        self.model = ManipulationTask(
            mujoco_arena=arena,
            mujoco_robots=[robot.robot_model],
            mujoco_objects=[*self.pool.values(), self.plate, self.marker, self.stack_base],
        )

    def _setup_references(self):
        super()._setup_references()
        m = self.sim.model
        self.table_geom_ids = {m.geom_name2id("table_visual"), m.geom_name2id("table_collision")}
        self.camera_id = m.camera_name2id(CAMERA_NAME)
        self.light_id = 0

    def _check_success(self):  # robosuite asks; manipgym's tasks decide success
        return False

    def reward(self, action=None):
        return 0.0

    # --- layout ----------------------------------------------------------------------------

    def _free_joint(self, obj) -> str:
        return obj.joints[0]

    def _geoms_of(self, obj) -> list[int]:
        m = self.sim.model
        return [m.geom_name2id(g) for g in obj.contact_geoms + obj.visual_geoms]

    def _park_positions(self):
        # Behind the robot, on the floor: hidden by the table from the scene camera.
        for k in range(len(self.pool) + 1):
            yield np.array([-1.1 - 0.12 * (k // 3), -0.15 + 0.15 * (k % 3), 0.05])

    def arrange(self, arrangement: Arrangement) -> None:
        """Reset the arm and lay out one episode's objects, goals, camera and light."""
        self.reset()  # soft reset: joint state, controller, robosuite bookkeeping
        m, d = self.sim.model, self.sim.data
        used = {(o.shape, o.slot): o for o in arrangement.objects}
        parks = self._park_positions()
        for key, obj in self.pool.items():
            placed = used.get(key)
            if placed is None:
                pos, quat = next(parks), np.array([1.0, 0, 0, 0])
                rgb = (0.5, 0.5, 0.5)
            else:
                shape = SHAPES[placed.shape]
                pos = np.array([*placed.xy, TABLE_TOP_Z + shape.half_height + 0.001])
                quat = np.array([np.cos(placed.yaw / 2), 0, 0, np.sin(placed.yaw / 2)])
                rgb = placed.rgb
            self.sim.data.set_joint_qpos(self._free_joint(obj), np.concatenate([pos, quat]))
            self._color(obj, rgb)
        if arrangement.stack_base is None:
            pos, quat, rgb = next(parks), np.array([1.0, 0, 0, 0]), (0.5, 0.5, 0.5)
        else:
            x, y, yaw, rgb = arrangement.stack_base
            pos = np.array([x, y, TABLE_TOP_Z + STACK_BASE_HALF + 0.001])
            quat = np.array([np.cos(yaw / 2), 0, 0, np.sin(yaw / 2)])
        self.sim.data.set_joint_qpos(self._free_joint(self.stack_base), np.concatenate([pos, quat]))
        self._color(self.stack_base, rgb)
        self._place_static(self.plate, arrangement.plate, GOAL_PLATE_SIZE[1])
        self._place_static(self.marker, arrangement.marker, GOAL_MARKER_SIZE[1])
        m.cam_pos[self.camera_id] = arrangement.camera_pos
        m.cam_quat[self.camera_id] = look_at_quat(arrangement.camera_pos, arrangement.camera_target)
        m.light_diffuse[self.light_id] = arrangement.light_diffuse
        for g in self.table_geom_ids:
            m.geom_rgba[g, :3] = arrangement.table_rgb
        # Table material texture would override the colour; table_visual keeps its material.
        d.qvel[:] = 0.0
        mujoco.mj_forward(m._model, d._data)
        self._settle()

    def _place_static(self, obj, where, half_height: float) -> None:
        body = self.sim.model.body_name2id(obj.root_body)
        if where is None:
            self.sim.model.body_pos[body] = (0.0, 0.0, PARK_Z_STATIC)
            return
        x, y, rgb = where
        self.sim.model.body_pos[body] = (x, y, TABLE_TOP_Z + half_height)
        self._color(obj, rgb)

    def _color(self, obj, rgb) -> None:
        for g in self._geoms_of(obj):
            self.sim.model.geom_rgba[g, :3] = rgb

    def _settle(self, steps: int = 40) -> None:
        """Let objects come to rest (a few ms of physics) with the arm holding its pose."""
        hold = self.hold_action()
        for _ in range(steps // int(self.control_timestep / self.model_timestep) + 1):
            self.step(hold)

    # --- control ---------------------------------------------------------------------------

    def eef_pos(self) -> np.ndarray:
        return np.array(self.sim.data.site_xpos[self.robots[0].eef_site_id["right"]])

    def eef_axis_angle(self) -> np.ndarray:
        mat = np.array(self.sim.data.site_xmat[self.robots[0].eef_site_id["right"]]).reshape(3, 3)
        quat = np.zeros(4)
        mujoco.mju_mat2Quat(quat, mat.ravel())
        return quat_to_axis_angle(quat)

    def hold_action(self, gripper: float = -1.0) -> np.ndarray:
        return np.concatenate([self.eef_pos(), self.eef_axis_angle(), [gripper]])

    def body_pos(self, body_name: str) -> np.ndarray:
        return np.array(self.sim.data.body_xpos[self.sim.model.body_name2id(body_name)])

    def body_quat(self, body_name: str) -> np.ndarray:
        return np.array(self.sim.data.body_xquat[self.sim.model.body_name2id(body_name)])

    # --- rendering ---------------------------------------------------------------------------
    # Several scenes may live in one process, each with its own GL context, and freeing one
    # context releases whichever is current. So every render first makes this scene's context
    # current, and closing frees this scene's own context (REFERENCE.md §3: stale frames, NaN
    # depth).

    def _render(self, **kwargs):
        self.sim._render_context_offscreen.gl_ctx.make_current()
        w, h = self.image_size
        return self.sim.render(width=w, height=h, camera_name=CAMERA_NAME, **kwargs)

    def render_rgbd(self) -> tuple[np.ndarray, np.ndarray]:
        """RGB (H×W×3 uint8) and metric depth (H×W float32), both top-left origin."""
        rgb, depth = self._render(depth=True)
        return np.ascontiguousarray(rgb[::-1]), self._metric_depth(depth[::-1])

    def render_rgb(self) -> np.ndarray:
        return np.ascontiguousarray(self._render()[::-1])

    def render_body_ids(self) -> np.ndarray:
        """H×W int32 map of the MuJoCo body id seen at each pixel (-1 for background)."""
        seg = self._render(segmentation=True)[::-1]
        geom_ids = np.where(seg[..., 0] == int(mujoco.mjtObj.mjOBJ_GEOM), seg[..., 1], -1)
        bodies = np.full(geom_ids.shape, -1, dtype=np.int32)
        hit = geom_ids >= 0
        bodies[hit] = self.sim.model.geom_bodyid[geom_ids[hit]]
        return bodies

    def close(self) -> None:
        context = getattr(getattr(self, "sim", None), "_render_context_offscreen", None)
        if context is not None:
            context.gl_ctx.make_current()  # so that freeing it frees this scene's buffers
        super().close()

    def __del__(self):  # a scene dropped without close() must not free another's buffers
        try:
            self.close()
        except Exception:
            pass

    def _metric_depth(self, depth: np.ndarray) -> np.ndarray:
        extent = self.sim.model.stat.extent
        near = self.sim.model.vis.map.znear * extent
        far = self.sim.model.vis.map.zfar * extent
        return (near / (1.0 - depth * (1.0 - near / far))).astype(np.float32)


def quat_to_axis_angle(quat: np.ndarray) -> np.ndarray:
    """MuJoCo (w, x, y, z) quaternion to an axis-angle vector."""
    w, xyz = quat[0], quat[1:]
    if w < 0:
        w, xyz = -w, -xyz
    s = np.linalg.norm(xyz)
    if s < 1e-9:
        return np.zeros(3)
    angle = 2.0 * np.arctan2(s, w)
    return xyz / s * angle
