import numpy as np
import pytest

from manipgym.rewards import Answer, ParseFailure, format_answer, parse_answer

GOOD = (
    "<think>the red cube</think>"
    '<answer>{"affordance": [100, 200, 300, 400], "trajectory": [[200, 300], [250, 250], [300, 200]]}</answer>'
)


def test_parses_box_answer_with_think():
    parsed = parse_answer(GOOD)
    assert isinstance(parsed, Answer)
    assert parsed.is_box
    np.testing.assert_array_equal(parsed.affordance, [100, 200, 300, 400])
    np.testing.assert_array_equal(parsed.affordance_point, [200, 300])
    assert parsed.trajectory.shape == (3, 2)
    assert parsed.think == "the red cube"


def test_point_affordance_whitespace_floats_and_trailing_text():
    text = '<answer>\n { "affordance" : [ 10.5 , 20 ] ,\n "trajectory": [[1,2],[3,4],[5,6]] }\n</answer> trailing'
    parsed = parse_answer(text)
    assert isinstance(parsed, Answer) and not parsed.is_box
    np.testing.assert_array_equal(parsed.affordance_point, [10.5, 20])


@pytest.mark.parametrize(
    "text, reason",
    [
        ("no tags at all", "no_answer_tag"),
        ("<answer>{not json}</answer>", "bad_json"),
        ("<answer>[1, 2]</answer>", "not_object"),
        ('<answer>{"affordance": [1, 2]}</answer>', "missing_key"),
        ('<answer>{"affordance": [1, 2, 3], "trajectory": [[1,2],[3,4],[5,6]]}</answer>', "bad_affordance"),
        ('<answer>{"affordance": [5, 5, 1, 1], "trajectory": [[1,2],[3,4],[5,6]]}</answer>', "bad_affordance"),
        ('<answer>{"affordance": [1, 2], "trajectory": [[1,2],[3,4]]}</answer>', "wrong_point_count"),
        ('<answer>{"affordance": [1, 2], "trajectory": [[1,2]' + ",[3,4]" * 10 + "]}</answer>", "wrong_point_count"),
        ('<answer>{"affordance": [1, 2], "trajectory": [[1,2],[3],[5,6]]}</answer>', "bad_trajectory"),
        ('<answer>{"affordance": [1, true], "trajectory": [[1,2],[3,4],[5,6]]}</answer>', "bad_affordance"),
        ('<answer>{"affordance": [NaN, 2], "trajectory": [[1,2],[3,4],[5,6]]}</answer>', "non_finite"),
        ('<answer>{"affordance": [1, 2], "trajectory": [[1,2],[3,4],[5,1e9]]}</answer>', "out_of_range"),
        ('<answer>{"affordance": [-1, 2], "trajectory": [[1,2],[3,4],[5,6]]}</answer>', "out_of_range"),
        ('<answer>{"affordance": [1' + "0" * 400 + ', 2], "trajectory": [[1,2],[3,4],[5,6]]}</answer>', "out_of_range"),
        (
            '<answer>{"affordance": [1, 2], "trajectory": [[1,2],[3,4],[5,-9' + "9" * 400 + "]]}</answer>",
            "out_of_range",
        ),
        ("<answer>" + "[" * 5000 + "</answer>", "bad_json"),
        ("x" * 10_000, "too_long"),
        (None, "not_text"),
    ],
)
def test_malformed_answers_fail_with_a_reason(text, reason):
    parsed = parse_answer(text)
    assert isinstance(parsed, ParseFailure)
    assert not parsed
    assert parsed.reason == reason


def test_pixel_coordinates_are_normalised():
    text = '<answer>{"affordance": [112, 56], "trajectory": [[112, 56], [0, 0], [224, 112]]}</answer>'
    parsed = parse_answer(text, coords="pixel", image_size=(224, 112))
    np.testing.assert_allclose(parsed.affordance, [500, 500])
    np.testing.assert_allclose(parsed.trajectory[2], [1000, 1000])


def test_format_then_parse_round_trip_rounds_and_clips():
    text = format_answer([10.4, 20.6, 1200, 30], [[5, 5], [6.6, 7], [-3, 8]], think="plan")
    parsed = parse_answer(text)
    np.testing.assert_array_equal(parsed.affordance, [10, 21, 999, 30])
    np.testing.assert_array_equal(parsed.trajectory, [[5, 5], [7, 7], [0, 8]])
    assert parsed.think == "plan"
