"""Pinhole camera geometry in OpenCV conventions.

Continuous image coordinates ``(u, v)`` have their origin at the top-left corner of the
top-left pixel, ``u`` to the right and ``v`` down, so the centre of pixel (row i, col j) is
``(j + 0.5, i + 0.5)``. Camera axes are OpenCV's: x right, y down, z forward.
MuJoCo cameras look along their -z with y up; :func:`camera_geometry` converts.
"""

from __future__ import annotations

from dataclasses import dataclass

import mujoco
import numpy as np

# MuJoCo camera axes (x right, y up, looking along -z) -> OpenCV axes (x right, y down, z forward).
_MJ_TO_CV = np.diag([1.0, -1.0, -1.0])


def look_at_quat(pos, target) -> np.ndarray:
    """MuJoCo (w, x, y, z) quaternion of a camera at ``pos`` looking at ``target``, horizon level."""
    forward = np.asarray(target, float) - np.asarray(pos, float)
    forward /= np.linalg.norm(forward)
    right = np.cross(forward, [0.0, 0.0, 1.0])
    right /= np.linalg.norm(right)
    up = np.cross(right, forward)
    rot = np.stack([right, up, -forward], axis=1)  # columns: camera x, y, z in world
    quat = np.zeros(4)
    mujoco.mju_mat2Quat(quat, rot.ravel())
    return quat


@dataclass(frozen=True)
class CameraGeometry:
    """Intrinsics ``K`` (3×3) and camera-to-world pose (4×4, OpenCV axes) of one image."""

    intrinsics: np.ndarray
    cam_to_world: np.ndarray
    width: int
    height: int

    def project(self, points_world: np.ndarray) -> np.ndarray:
        """World points (N×3) to continuous image coordinates (N×2)."""
        pts = np.atleast_2d(np.asarray(points_world, float))
        rot, trans = self.cam_to_world[:3, :3], self.cam_to_world[:3, 3]
        cam = (pts - trans) @ rot  # rot.T @ (p - t) for each row
        uvw = cam @ self.intrinsics.T
        return uvw[:, :2] / uvw[:, 2:3]

    def rays(self, uv: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Camera centre (3,) and unit world directions (N×3) through image points (N×2)."""
        uv = np.atleast_2d(np.asarray(uv, float))
        k = self.intrinsics
        cam = np.stack([(uv[:, 0] - k[0, 2]) / k[0, 0], (uv[:, 1] - k[1, 2]) / k[1, 1], np.ones(len(uv))], axis=1)
        world = cam @ self.cam_to_world[:3, :3].T
        return self.cam_to_world[:3, 3].copy(), world / np.linalg.norm(world, axis=1, keepdims=True)

    def unproject(self, uv: np.ndarray, depth: np.ndarray) -> np.ndarray:
        """Image points (N×2) with z-depths (N,) in metres to world points (N×3)."""
        uv = np.atleast_2d(np.asarray(uv, float))
        depth = np.atleast_1d(np.asarray(depth, float))
        k = self.intrinsics
        cam = np.stack([(uv[:, 0] - k[0, 2]) / k[0, 0] * depth, (uv[:, 1] - k[1, 2]) / k[1, 1] * depth, depth], axis=1)
        return cam @ self.cam_to_world[:3, :3].T + self.cam_to_world[:3, 3]

    def intersect_horizontal(self, uv: np.ndarray, z: float) -> np.ndarray:
        """World points (N×3) where the rays through ``uv`` meet the plane at height ``z``.

        Rays parallel to or pointing away from the plane give NaN rows.
        """
        origin, dirs = self.rays(uv)
        with np.errstate(divide="ignore", invalid="ignore"):
            t = (z - origin[2]) / dirs[:, 2]
        t = np.where(t > 0, t, np.nan)
        return origin + t[:, None] * dirs

    def depth_at(self, depth_image: np.ndarray, uv: np.ndarray) -> np.ndarray:
        """Depth of the pixel containing each image point (nearest pixel, clipped to the image)."""
        uv = np.atleast_2d(np.asarray(uv, float))
        cols = np.clip(np.floor(uv[:, 0]).astype(int), 0, self.width - 1)
        rows = np.clip(np.floor(uv[:, 1]).astype(int), 0, self.height - 1)
        return depth_image[rows, cols].astype(float)


def camera_geometry(model, data, camera_id: int, width: int, height: int) -> CameraGeometry:
    """Read a MuJoCo camera's current intrinsics and pose (after ``mj_forward``)."""
    fovy = np.deg2rad(model.cam_fovy[camera_id])
    focal = 0.5 * height / np.tan(fovy / 2.0)
    intrinsics = np.array([[focal, 0.0, width / 2.0], [0.0, focal, height / 2.0], [0.0, 0.0, 1.0]])
    pose = np.eye(4)
    pose[:3, :3] = np.asarray(data.cam_xmat[camera_id]).reshape(3, 3) @ _MJ_TO_CV
    pose[:3, 3] = data.cam_xpos[camera_id]
    return CameraGeometry(intrinsics, pose, width, height)
