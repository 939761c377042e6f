"""Rollout videos: the execution seen from the scene camera, with the prediction drawn on it."""

from __future__ import annotations

from pathlib import Path

import cv2
import imageio.v2 as imageio
import numpy as np

from manipgym.rewards.answer import Answer, parse_answer

VIDEO_FPS = 10
VIDEO_SCALE = 2  # frames are upscaled so that the drawing and the label stay legible
LABEL_FRAMES = 10  # the success/failure card is held for one second at the end


def draw_answer(frame: np.ndarray, answer: Answer | None) -> np.ndarray:
    """The predicted affordance (box or point, green) and trajectory (orange) on a frame."""
    out = np.ascontiguousarray(frame).copy()
    if answer is None:
        return out
    h, w = out.shape[:2]

    def px(point) -> tuple[int, int]:
        return int(round(point[0] / 1000 * w)), int(round(point[1] / 1000 * h))

    a = answer.affordance
    if answer.is_box:
        cv2.rectangle(out, px(a[:2]), px(a[2:]), (0, 220, 0), 1 + w // 300)
    else:
        cv2.circle(out, px(a), 3 + w // 150, (0, 220, 0), -1)
    points = [px(p) for p in answer.trajectory]
    cv2.polylines(out, [np.array(points, np.int32)], False, (255, 140, 0), 1 + w // 300)
    for p in points:
        cv2.circle(out, p, 2 + w // 300, (255, 140, 0), -1)
    return out


def _label(frame: np.ndarray, success: bool, reason: str | None) -> np.ndarray:
    out = frame.copy()
    text = "SUCCESS" if success else f"FAILURE: {reason}"
    colour = (0, 170, 0) if success else (200, 30, 30)
    cv2.rectangle(out, (0, 0), (out.shape[1], 28), colour, -1)
    cv2.putText(out, text, (6, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (255, 255, 255), 1, cv2.LINE_AA)
    return out


def write_episode_video(path: str | Path, frames: list[np.ndarray], answer_text: str, info: dict) -> Path:
    """Write an h264 mp4 of ``frames`` with the parsed answer drawn on every frame and a
    success/failure card at the end. Returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    parsed = parse_answer(answer_text)
    answer = parsed if isinstance(parsed, Answer) else None
    scaled = [cv2.resize(f, None, fx=VIDEO_SCALE, fy=VIDEO_SCALE, interpolation=cv2.INTER_NEAREST) for f in frames]
    drawn = [draw_answer(f, answer) for f in scaled]
    card = _label(drawn[-1], bool(info["success"]), info.get("failure_reason"))
    with imageio.get_writer(path, fps=VIDEO_FPS, codec="libx264", macro_block_size=16, quality=7) as writer:
        for frame in drawn + [card] * LABEL_FRAMES:
            writer.append_data(frame)
    return path
