"""Colour jitter of training images: range, colour names kept, determinism, and TRL's real collator."""

import numpy as np
import pytest
from PIL import Image
from trl.trainer.sft_trainer import DataCollatorForVisionLanguageModeling

from manipgym.agents.augment import ColorJitterCollator, color_jitter
from manipgym.agents.tiny_vlm import TinyVLMConfig, build_tiny_vlm
from manipgym.agents.train_data import chat_prompt, completion_message
from manipgym.agents.vlm import VLMAgent


def test_strength_zero_leaves_the_image_and_the_generator_alone():
    image = np.random.default_rng(1).integers(0, 256, (8, 8, 3), dtype=np.uint8)
    rng = np.random.default_rng(0)
    assert color_jitter(image, 0.0, rng) is image
    assert rng.uniform() == np.random.default_rng(0).uniform()  # nothing was drawn


def test_brightness_stays_in_the_range_and_goes_both_ways():
    grey = np.full((4, 4, 3), 100, np.uint8)  # contrast and saturation leave a flat grey image as it is
    rng = np.random.default_rng(0)
    levels = [int(color_jitter(grey, 0.5, rng)[0, 0, 0]) for _ in range(200)]
    assert min(levels) >= 50 and max(levels) <= 150
    assert min(levels) < 70 and max(levels) > 130


def test_jitter_keeps_which_colour_an_object_is():
    red, green = np.full((4, 4, 3), (180, 40, 40), np.uint8), np.full((4, 4, 3), (40, 160, 40), np.uint8)
    image = np.concatenate([red, green])
    rng = np.random.default_rng(3)
    for _ in range(50):
        out = color_jitter(image, 0.5, rng).astype(int)
        assert (out[:4, :, 0] > out[:4, :, 1]).all() and (out[4:, :, 1] > out[4:, :, 0]).all()


def test_same_seed_same_images_and_bad_strength_is_refused():
    image = np.random.default_rng(2).integers(0, 256, (8, 8, 3), dtype=np.uint8)
    first = color_jitter(image, 0.4, np.random.default_rng(7))
    assert np.array_equal(first, color_jitter(image, 0.4, np.random.default_rng(7)))
    assert not np.array_equal(first, image)
    for bad in (-0.1, 1.0, 2.0):
        with pytest.raises(ValueError, match="--color-jitter must be in"):
            color_jitter(image, bad, np.random.default_rng(0))


def test_collator_jitters_the_pixels_trl_feeds_the_model(tmp_path):
    processor = VLMAgent(build_tiny_vlm("idefics3", tmp_path / "vlm", TinyVLMConfig(coord_step=10))).processor
    image = Image.fromarray(np.random.default_rng(4).integers(0, 256, (224, 224, 3), dtype=np.uint8))

    def examples():
        return [
            {"images": [image], "prompt": chat_prompt("lift the red cube"), "completion": completion_message("ok")}
            for _ in range(2)
        ]

    collate = DataCollatorForVisionLanguageModeling(processor, completion_only_loss=True)
    plain = collate(examples())["pixel_values"]
    jittered = ColorJitterCollator(collate, 0.5, seed=0)(examples())["pixel_values"]
    again = ColorJitterCollator(collate, 0.5, seed=0)(examples())["pixel_values"]
    assert jittered.shape == plain.shape
    assert not jittered[0].equal(plain[0]) and not jittered[0].equal(jittered[1])  # fresh factors per example
    assert jittered.equal(again)
