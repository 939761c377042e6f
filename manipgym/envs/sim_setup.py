"""Process-wide simulator set-up, done once before mujoco or robosuite is imported.

- picks the headless GL backend (``MUJOCO_GL``), which MuJoCo reads at import;
- gives robosuite the settings of a private macro file (OpenCV image convention, quiet
  console logging) unless the user has a real ``robosuite/macros_private.py``.

``manipgym.envs`` imports this module first, so every module below it may import mujoco.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import sys
import types

from manipgym.envs.gl_backend import NoGLBackendError, select_gl_backend

GL_ERROR: NoGLBackendError | None = None
try:
    GL_BACKEND = select_gl_backend()
except NoGLBackendError as err:  # reported when a scene is built, and by `manipgym doctor`
    GL_BACKEND, GL_ERROR = "none", err


def _install_robosuite_macros() -> None:
    spec = importlib.util.find_spec("robosuite")
    if spec is None or "robosuite" in sys.modules:
        return
    package_dir = os.path.dirname(spec.origin)
    if os.path.exists(os.path.join(package_dir, "macros_private.py")):
        return
    macros = types.ModuleType("robosuite.macros_private")
    macros.IMAGE_CONVENTION = "opencv"
    macros.CONCATENATE_IMAGES = False
    macros.CONSOLE_LOGGING_LEVEL = "ERROR"
    macros.FILE_LOGGING_LEVEL = None
    sys.modules["robosuite.macros_private"] = macros


_install_robosuite_macros()
logging.getLogger("robosuite_logs").setLevel(logging.ERROR)
