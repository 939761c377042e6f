"""Simulator worker processes: each owns its envs and runs reset/step on request.

The agent (or the trainer) stays in the main process (a model is loaded once and batches across
workers); workers only simulate. The benchmark runner resets, asks the agent, then steps; GRPO
already holds its answers and sends whole episodes (:func:`execute_answers`). Processes are
started with ``spawn`` so that no GL context, torch thread pool or open file is inherited.
"""

from __future__ import annotations

import multiprocessing as mp
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class EpisodeSpec:
    task: str
    split: str
    index: int
    seed: int

    @property
    def key(self) -> tuple[str, str, int, int]:
        return (self.task, self.split, self.index, self.seed)


def _worker_main(conn) -> None:
    import gymnasium as gym

    import manipgym  # noqa: F401
    from manipgym.envs.splits import variation_for

    envs: dict[str, Any] = {}
    env = None

    def reset(spec: EpisodeSpec, record_video: bool = False):
        if spec.task not in envs:  # one env per task; the split only changes the variation
            envs[spec.task] = gym.make(f"manipgym/{spec.task}-v0").unwrapped
        options = {"variation": variation_for(spec.split), "record_video": record_video}
        return envs[spec.task], *envs[spec.task].reset(seed=spec.seed, options=options)

    while True:
        try:
            message = conn.recv()
        except EOFError:
            break
        command = message[0]
        try:
            if command == "close":
                break
            if command == "reset":
                env, obs, info = reset(message[1], record_video=message[2])
                conn.send(("obs", obs, info))
            elif command == "step":
                _, _, _, _, info = env.step(message[1])
                conn.send(("result", info))
            elif command == "episode":  # reset to the spec's scene and execute a given answer
                env, _, _ = reset(message[1])
                _, _, _, _, info = env.step(message[2])
                conn.send(("result", info))
            elif command == "crash":  # used by tests: die without a word, as a segfault would
                import os

                os._exit(1)
        except Exception as err:  # the episode errs, the worker lives on
            conn.send(("error", f"{type(err).__name__}: {err}"))
    for env in envs.values():
        env.close()


class Worker:
    """One simulator process and the pipe to it. ``send`` then ``receive``, so that several
    workers can work at once."""

    def __init__(self):
        self._start()

    def _start(self) -> None:
        context = mp.get_context("spawn")
        self.conn, child = context.Pipe()
        self.process = context.Process(target=_worker_main, args=(child,), daemon=True)
        self.process.start()
        child.close()
        self._dead = False

    def send(self, *message) -> None:
        try:
            self.conn.send(message)
        except (BrokenPipeError, ConnectionResetError, OSError):
            self._dead = True

    def receive(self) -> tuple:
        """The reply to the last request; a worker that died replies ('died', why) and restarts."""
        if not self._dead:
            try:
                return self.conn.recv()
            except (EOFError, ConnectionResetError, OSError):
                pass
        self.restart()
        return ("died", "the simulator worker died (e.g. unstable physics or out of memory)")

    def restart(self) -> None:
        self.close(timeout=1.0)
        self._start()

    def close(self, timeout: float = 5.0) -> None:
        try:
            self.conn.send(("close",))
        except (BrokenPipeError, OSError):
            pass
        self.process.join(timeout)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()
        self.conn.close()


def execute_answers(workers: list[Worker], jobs: list[tuple[EpisodeSpec, str]]) -> list[dict | str]:
    """Execute each (scene, answer) job on the workers; the env's ``info`` per job, or a string
    saying why the episode erred. Results come back in the order of ``jobs``."""
    results: list[dict | str] = [""] * len(jobs)
    for start in range(0, len(jobs), len(workers)):
        batch = list(enumerate(jobs[start : start + len(workers)], start))
        for worker, (_, (spec, answer)) in zip(workers, batch):
            worker.send("episode", spec, answer)
        for worker, (index, _) in zip(workers, batch):
            reply = worker.receive()
            results[index] = reply[1] if reply[0] == "result" else f"{reply[0]}: {reply[1]}"
    return results
