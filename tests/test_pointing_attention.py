"""The pointing-attention loss: target footprints pooled to the token grid, and -log attention mass."""

import numpy as np
import pytest
import torch

from manipgym.agents.pointing_attention import AFFORDANCE, GOAL, attention_loss, target_patches
from manipgym.agents.train_data import MASK_SIZE, coverage_mask

IMAGE, LOCATION = 99, 50  # token ids standing for an image token and a location token


def test_coverage_mask_keeps_the_footprint_row_major():
    mask = np.zeros((224, 224), bool)
    mask[:, :112] = True  # the left half
    cells = np.array(coverage_mask(mask)).reshape(MASK_SIZE, MASK_SIZE)
    assert (cells[:, : MASK_SIZE // 2] == 1).all() and (cells[:, MASK_SIZE // 2 :] == 0).all()


def test_target_patches_pool_to_the_grid_and_keep_at_least_the_best_patch():
    big = np.zeros((MASK_SIZE, MASK_SIZE))
    big[: MASK_SIZE // 2, : MASK_SIZE // 2] = 1  # top-left quadrant
    tiny = np.zeros((MASK_SIZE, MASK_SIZE))
    tiny[-1, -1] = 1  # one cell, under any cover threshold, in the bottom-right patch
    masks = torch.tensor(np.stack([big, tiny, np.zeros_like(big)]).reshape(3, -1), dtype=torch.float32)
    patches = target_patches(masks, grid=2)
    assert patches.tolist() == [[1, 0, 0, 0], [0, 0, 0, 1], [0, 0, 0, 0]]


def _batch(where: str):
    """One 10-token sequence: image tokens at 1..4 (a 2 × 2 grid), location tokens at 7 and 8; the
    target covers the top-left patch (position 1). Two layers of attention weights, head 0 of
    layer 1 either on the target or spread evenly."""
    input_ids = torch.tensor([[0, IMAGE, IMAGE, IMAGE, IMAGE, 0, 0, LOCATION, LOCATION, 0]])
    labels = torch.full_like(input_ids, -100)
    labels[0, 7:9] = LOCATION
    mask = np.zeros((MASK_SIZE, MASK_SIZE))
    mask[:10, :10] = 1
    masks = torch.tensor(mask.reshape(1, -1), dtype=torch.float32)
    layer = torch.full((1, 2, 10, 10), 0.1)
    if where == "target":
        layer[0, 0, 6:8] = 0
        layer[0, 0, 6:8, 1] = 1
    return [torch.full((1, 2, 10, 10), 0.1), layer], input_ids, labels, masks


def test_attention_loss_is_zero_on_the_target_and_positive_when_spread():
    on_target = attention_loss(*_batch("target"), IMAGE, torch.tensor([LOCATION]))
    spread = attention_loss(*_batch("spread"), IMAGE, torch.tensor([LOCATION]))
    assert on_target.item() == pytest.approx(0, abs=1e-4)
    assert spread.item() == pytest.approx(-np.log(0.1), rel=1e-4)  # one target patch of ten tokens


def test_attention_loss_skips_examples_without_a_target():
    attentions, input_ids, labels, masks = _batch("spread")
    assert attention_loss(attentions, input_ids, labels, masks * 0, IMAGE, torch.tensor([LOCATION])) is None


def test_goal_attention_reads_the_last_point():
    """Location tokens at 5, 6 (the affordance) and 8, 9 (the trajectory's end): head 0 of layer 1
    looks at the target patch from positions 7 and 8, which predict the end, and nowhere in
    particular from 4 and 5, which predict the affordance."""
    attentions, input_ids, labels, masks = _batch("spread")
    input_ids[0, 5:10] = torch.tensor([LOCATION, LOCATION, 0, LOCATION, LOCATION])
    labels[0] = -100
    labels[0, [5, 6, 8, 9]] = LOCATION
    attentions[1][0, 0, 7:9] = 0
    attentions[1][0, 0, 7:9, 1] = 1
    location = torch.tensor([LOCATION])
    assert attention_loss(attentions, input_ids, labels, masks, IMAGE, location, GOAL).item() == pytest.approx(
        0, abs=1e-4
    )
    assert attention_loss(attentions, input_ids, labels, masks, IMAGE, location, AFFORDANCE).item() > 1


def _loss_example_by_example(attentions, input_ids, labels, masks, location_ids, point):
    """The loss as first written: each example's rows indexed out of each layer on their own."""
    losses = []
    for b in torch.nonzero(masks.sum(1) > 0).flatten().tolist():
        images = torch.nonzero(input_ids[b] == IMAGE).flatten()
        queries = torch.nonzero(torch.isin(labels[b], location_ids)).flatten()[point] - 1
        weights = target_patches(masks[b : b + 1], int(round(len(images) ** 0.5)))[0]
        for layer in attentions[1:]:
            losses.append(-torch.log(layer[b, 0][queries][:, images] @ weights + 1e-6))
    return torch.cat(losses).mean()


@pytest.mark.parametrize("point", [AFFORDANCE, GOAL])
def test_attention_loss_and_gradient_equal_the_example_by_example_ones(point):
    """The loss takes every example's rows from a layer in one indexing step (fast on a CPU); its
    value and its gradient must be the very same numbers as indexing example by example gives."""
    input_ids = torch.zeros(3, 12, dtype=torch.long)
    input_ids[:, 1:5] = IMAGE
    labels = torch.full_like(input_ids, -100)
    labels[:, [6, 7, 9, 10]] = LOCATION
    masks = torch.rand(3, MASK_SIZE**2, generator=torch.Generator().manual_seed(0))
    masks[1] = 0  # an example without a target takes no part
    location = torch.tensor([LOCATION])
    results = []
    for batched in (True, False):
        attentions = [torch.rand(3, 2, 12, 12, generator=torch.Generator().manual_seed(k)) for k in range(3)]
        attentions = [layer.softmax(-1).requires_grad_(True) for layer in attentions]
        if batched:
            loss = attention_loss(attentions, input_ids, labels, masks, IMAGE, location, point)
        else:
            loss = _loss_example_by_example(attentions, input_ids, labels, masks, location, point)
        loss.backward()
        results.append((loss.detach(), [layer.grad for layer in attentions[1:]]))
    (fast, fast_grads), (slow, slow_grads) = results
    assert torch.equal(fast, slow)
    assert all(torch.equal(a, b) for a, b in zip(fast_grads, slow_grads))
    assert all(grad.abs().sum() > 0 for grad in fast_grads)
