"""Choose MuJoCo's headless OpenGL backend before mujoco is imported.

MuJoCo reads ``MUJOCO_GL`` once, at import time, so the choice must happen first. EGL is
preferred (it also runs on Mesa's software rasteriser); OSMesa is the fallback. The probe
uses ``ctypes`` only, so it costs milliseconds and never imports mujoco.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os

_EGL_DEFAULT_DISPLAY = 0
_EGL_PLATFORM_DEVICE_EXT = 0x313F


class NoGLBackendError(RuntimeError):
    """No headless OpenGL backend could be initialised."""


def _egl_works() -> bool:
    """True if libEGL loads and initialises a display (device platform or default)."""
    name = ctypes.util.find_library("EGL") or "libEGL.so.1"
    try:
        egl = ctypes.CDLL(name)
    except OSError:
        return False
    egl.eglGetProcAddress.restype = ctypes.c_void_p
    egl.eglGetProcAddress.argtypes = [ctypes.c_char_p]
    egl.eglInitialize.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p]
    egl.eglTerminate.argtypes = [ctypes.c_void_p]
    display = None
    # MuJoCo asks for a display on an EGL device, as this does.
    query_devices = egl.eglGetProcAddress(b"eglQueryDevicesEXT")
    platform_display = egl.eglGetProcAddress(b"eglGetPlatformDisplayEXT")
    if query_devices and platform_display:
        query = ctypes.CFUNCTYPE(ctypes.c_uint, ctypes.c_int, ctypes.c_void_p, ctypes.POINTER(ctypes.c_int))(
            query_devices
        )
        get_display = ctypes.CFUNCTYPE(ctypes.c_void_p, ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p)(
            platform_display
        )
        devices = (ctypes.c_void_p * 8)()
        count = ctypes.c_int(0)
        if query(8, devices, ctypes.byref(count)) and count.value > 0:
            display = get_display(_EGL_PLATFORM_DEVICE_EXT, devices[0], None)
    if not display:
        egl.eglGetDisplay.restype = ctypes.c_void_p
        egl.eglGetDisplay.argtypes = [ctypes.c_void_p]
        display = egl.eglGetDisplay(_EGL_DEFAULT_DISPLAY)
    if not display:
        return False
    major, minor = ctypes.c_int(0), ctypes.c_int(0)
    ok = bool(egl.eglInitialize(display, ctypes.byref(major), ctypes.byref(minor)))
    if ok:
        egl.eglTerminate(display)
    return ok


def _osmesa_works() -> bool:
    name = ctypes.util.find_library("OSMesa")
    if name is None:
        return False
    try:
        ctypes.CDLL(name)
    except OSError:
        return False
    return True


def select_gl_backend() -> str:
    """Set ``MUJOCO_GL`` (and ``PYOPENGL_PLATFORM``) if the user has not, and return the backend.

    Raises:
        NoGLBackendError: neither EGL nor OSMesa can be initialised.
    """
    chosen = os.environ.get("MUJOCO_GL", "").strip().lower()
    if not chosen:
        if _egl_works():
            chosen = "egl"
        elif _osmesa_works():
            chosen = "osmesa"
        else:
            raise NoGLBackendError(
                "no headless OpenGL backend works: install Mesa's EGL (apt-get install libegl1 libegl-mesa0) "
                "or OSMesa (apt-get install libosmesa6), or set MUJOCO_GL"
            )
        os.environ["MUJOCO_GL"] = chosen
    if chosen in ("egl", "osmesa"):
        os.environ.setdefault("PYOPENGL_PLATFORM", chosen)
    return chosen
