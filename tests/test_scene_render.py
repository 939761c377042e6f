"""Training scenes rendered in worker processes are the scenes one process renders, in order."""

import numpy as np
import pytest

from manipgym.agents.scene_render import LABELS, ORACLE, render_scene, render_scenes
from manipgym.envs.manifests import manifest_seed


@pytest.mark.parametrize("kind", [ORACLE, LABELS])
def test_worker_processes_render_the_same_scenes_in_order(kind):
    indices = [3, 0, 2, 1]
    alone = list(render_scenes(kind, "PickPlace", indices, workers=1, progress=False))
    pooled = list(render_scenes(kind, "PickPlace", indices, workers=2, progress=False, min_per_worker=1))
    assert len(pooled) == len(indices)
    for one, other in zip(alone, pooled):
        assert np.array_equal(one[0], other[0])  # the image
        if kind == LABELS:
            assert np.array_equal(one[1], other[1]) and one[2] == other[2]  # per-pixel labels, their names
        else:
            assert one[1:] == other[1:]  # instruction, oracle answer, seed
    if kind == ORACLE:
        assert [scene[3] for scene in pooled] == [manifest_seed("PickPlace", "train", i) for i in indices]
    assert not all(np.array_equal(alone[0][0], scene[0]) for scene in alone[1:])  # the scenes differ


def test_an_unknown_scene_kind_is_refused():
    with pytest.raises(ValueError, match="unknown scene kind"):
        render_scene(("depth", "Lift", 0))
