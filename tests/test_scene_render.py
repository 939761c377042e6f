"""Training scenes rendered in worker processes are the scenes one process renders, in order."""

from concurrent.futures.process import BrokenProcessPool

import numpy as np
import pytest

from manipgym.agents.scene_render import LABELS, ORACLE, render_processes, render_scene, render_scenes
from manipgym.envs.manifests import manifest_seed


@pytest.mark.parametrize("kind", [ORACLE, LABELS])
def test_worker_processes_render_the_same_scenes_in_order(kind):
    scenes = [("PickPlace", 3), ("Lift", 0), ("PickPlace", 0), ("Lift", 2)]  # two tasks, one pool
    alone = list(render_scenes(kind, scenes, workers=1, progress=False))
    pooled = list(render_scenes(kind, scenes, workers=2, progress=False, min_per_worker=1))
    assert len(pooled) == len(scenes)
    for one, other in zip(alone, pooled):
        assert np.array_equal(one[0], other[0])  # the image
        if kind == LABELS:
            assert np.array_equal(one[1], other[1]) and one[2] == other[2]  # per-pixel labels, their names
        else:
            assert one[1:] == other[1:]  # instruction, oracle answer, seed
    if kind == ORACLE:
        assert [scene[3] for scene in pooled] == [manifest_seed(task, "train", i) for task, i in scenes]
    assert not all(np.array_equal(alone[0][0], scene[0]) for scene in alone[1:])  # the scenes differ


def test_a_failing_scene_fails_the_render_in_a_worker_as_in_this_process():
    with pytest.raises(ValueError, match="unknown scene kind"):
        next(render_scenes("depth", [("Lift", 0)]))  # refused before any worker starts
    with pytest.raises(ValueError, match="unknown scene kind"):
        render_scene(("depth", "Lift", 0))
    for workers in (1, 2):  # gymnasium refuses the unknown env id, in the worker too
        with pytest.raises(Exception, match="Nope") as raised:
            list(render_scenes(ORACLE, [("Nope", 0), ("Nope", 1)], workers, progress=False, min_per_worker=1))
        assert not isinstance(raised.value, BrokenProcessPool)  # the worker's own error reaches the caller


def test_few_scenes_render_in_this_process():
    assert render_processes(31, 2) == 1  # under 16 scenes a worker: no pool
    assert render_processes(32, 2) == 2
    assert render_processes(6000, 16) == 16
    assert render_processes(5, 0) == 1
