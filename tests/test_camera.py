import numpy as np

from manipgym.envs.camera import CameraGeometry, look_at_quat


def _camera(pos=(0.6, 0.1, 1.4), target=(0.0, 0.0, 0.8), size=(224, 160)) -> CameraGeometry:
    import mujoco

    mat = np.zeros(9)
    mujoco.mju_quat2Mat(mat, look_at_quat(pos, target))
    pose = np.eye(4)
    pose[:3, :3] = mat.reshape(3, 3) @ np.diag([1.0, -1.0, -1.0])
    pose[:3, 3] = pos
    focal = 0.5 * size[1] / np.tan(np.deg2rad(45) / 2)
    k = np.array([[focal, 0, size[0] / 2], [0, focal, size[1] / 2], [0, 0, 1.0]])
    return CameraGeometry(k, pose, *size)


def test_look_at_target_projects_to_image_centre():
    cam = _camera()
    np.testing.assert_allclose(cam.project([0.0, 0.0, 0.8])[0], [112, 80], atol=1e-9)


def test_unproject_inverts_project():
    cam = _camera()
    rng = np.random.default_rng(0)
    points = rng.uniform([-0.3, -0.3, 0.8], [0.3, 0.3, 1.0], size=(50, 3))
    uv = cam.project(points)
    depth = (points - cam.cam_to_world[:3, 3]) @ cam.cam_to_world[:3, 2]  # z in camera frame
    np.testing.assert_allclose(cam.unproject(uv, depth), points, atol=1e-9)


def test_plane_intersection_lies_on_the_ray_and_plane():
    cam = _camera()
    uv = np.array([[10.0, 150.0], [200.0, 100.0]])
    hits = cam.intersect_horizontal(uv, 0.85)
    np.testing.assert_allclose(hits[:, 2], 0.85)
    np.testing.assert_allclose(cam.project(hits), uv, atol=1e-9)
    # A ray that points above the horizon never meets a plane below the camera.
    assert np.isnan(cam.intersect_horizontal([[112.0, -500.0]], 0.85)).all()
