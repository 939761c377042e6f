"""The metrics against independent reference implementations (test-only dependencies)."""

import numpy as np
import similaritymeasures
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy.spatial.distance import directed_hausdorff

from manipgym.rewards.metrics import (
    box_iou,
    discrete_frechet,
    distance_to_mask,
    endpoint_error,
    hausdorff,
    length_agreement,
    path_length,
    point_in_mask,
    resample_by_arc_length,
    rmse_resampled,
)

coordinate = st.floats(0, 1000, allow_nan=False, allow_infinity=False)
curves = st.integers(2, 30).flatmap(lambda n: arrays(np.float64, (n, 2), elements=coordinate))


@settings(max_examples=2000, deadline=None)
@given(curves, curves)
def test_discrete_frechet_equals_similaritymeasures(a, b):
    assert abs(discrete_frechet(a, b) - similaritymeasures.frechet_dist(a, b)) <= 1e-9


@settings(max_examples=2000, deadline=None)
@given(curves, curves)
def test_hausdorff_equals_scipy_both_directions(a, b):
    reference = max(directed_hausdorff(a, b)[0], directed_hausdorff(b, a)[0])
    assert abs(hausdorff(a, b) - reference) <= 1e-9


def test_metrics_on_hand_computed_curves():
    a = np.array([[0, 0], [100, 0], [200, 0]])
    b = np.array([[0, 30], [200, 30]])
    assert discrete_frechet(a, b) == np.hypot(100, 30)  # a's middle point must wait for b
    assert hausdorff(a, b) == np.hypot(100, 30)
    assert rmse_resampled(a, b) == np.float64(30.0)  # same path shape, 30 units apart
    assert endpoint_error(a, b) == 30.0
    assert path_length(a) == 200.0 and length_agreement(a, b) == 1.0
    assert length_agreement(a, [[0, 0], [50, 0]]) == 0.25 and length_agreement([[1, 1]] * 3, [[2, 2]] * 3) == 1.0
    np.testing.assert_allclose(resample_by_arc_length(a, 5)[:, 0], [0, 50, 100, 150, 200])
    assert (resample_by_arc_length([[5, 5], [5, 5]], 4) == 5).all()


box = st.tuples(st.integers(0, 40), st.integers(0, 40), st.integers(0, 40), st.integers(0, 40)).map(
    lambda t: (min(t[0], t[2]), min(t[1], t[3]), max(t[0], t[2]), max(t[1], t[3]))
)


@settings(max_examples=1000, deadline=None)
@given(box, box)
def test_box_iou_equals_a_pixel_count(a, b):
    grid_a = np.zeros((40, 40), bool)
    grid_b = np.zeros((40, 40), bool)
    grid_a[a[1] : a[3], a[0] : a[2]] = True
    grid_b[b[1] : b[3], b[0] : b[2]] = True
    union = (grid_a | grid_b).sum()
    expected = (grid_a & grid_b).sum() / union if union else 0.0
    assert abs(box_iou(a, b) - expected) <= 1e-12


def test_point_in_mask_and_distance_use_image_coordinates():
    mask = np.zeros((10, 20), bool)
    mask[2, 5] = True  # spans x in [250, 300), y in [200, 300) of 0-1000
    assert point_in_mask([260, 250], mask) and not point_in_mask([240, 250], mask)
    assert distance_to_mask([260, 250], mask) == 0.0
    assert distance_to_mask([275, 650], mask) == 400.0  # to the pixel centre (275, 250)
    assert distance_to_mask([1, 1], np.zeros((4, 4), bool)) == float("inf")
