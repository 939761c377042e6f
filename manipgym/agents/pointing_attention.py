"""Pointing attention: an auxiliary SFT loss that tells the language model where to look.

Why: to answer "point to the red cube" the language model must attend from the position that
writes the x coordinate to the image tokens of the red cube, and copy their position. Trained on
answers alone, it meets a chicken-and-egg plateau: attending to the right token does not pay
until the copy is learned, and the copy is not learned while attention is spread over ~300
tokens. The trained tiny VLMs sit on that plateau (answer x no better than the prior; see the
README's recipe study). The simulator knows which image patches show the named object, so this
loss supervises the attention directly: in every layer but the first (which must first gather
the instruction's words), head 0 of the positions that predict the affordance's two location
tokens is trained to put its mass on the target object's image tokens (``-log`` of that mass).

Only examples with a target mask take part: the pointing examples, and with ``--task-attention``
the task answers of the same scenes (the mask of the object the task acts on); the rest train as
usual. With ``--goal-attention`` the positions predicting the trajectory's last point are trained
the same way onto the goal object (the plate, block or circle the task ends at): the point sits
above the goal for PickPlace and Stack, so the goal is where to look, not the answer itself.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from trl import SFTTrainer

from manipgym.agents.train_data import MASK_COLUMNS, MASK_SIZE, MIN_COVER


def target_patches(masks: torch.Tensor, grid: int) -> torch.Tensor:
    """B × MASK_SIZE² coverage -> B × grid² weights (1 on patches the target covers, at least its
    best one; rows of an empty mask stay 0)."""
    cells = masks.view(-1, 1, MASK_SIZE, MASK_SIZE)
    cover = F.adaptive_avg_pool2d(cells, grid).flatten(1)
    best = F.one_hot(cover.argmax(1), grid * grid).to(cover.dtype)
    shown = ((cover >= MIN_COVER) | (best > 0)).to(cover.dtype)
    return shown * (masks.sum(1, keepdim=True) > 0)


AFFORDANCE, GOAL = slice(0, 2), slice(-2, None)  # which location tokens of an answer: its first or last point


def attention_loss(
    attentions: list[torch.Tensor],
    input_ids: torch.Tensor,
    labels: torch.Tensor,
    masks: torch.Tensor,
    image_token_id: int,
    location_ids: torch.Tensor,
    point: slice = AFFORDANCE,
) -> torch.Tensor | None:
    """Mean ``-log`` attention mass (head 0, layers 1..L-1) that the positions predicting two
    location tokens of each answer (``point``: the first two, or the last two with ``GOAL``) put
    on the masked object's image tokens; None when no example of the batch has a mask."""
    examples = []  # (example, its image positions, the positions predicting its two location tokens)
    for b in torch.nonzero(masks.sum(1) > 0).flatten().tolist():
        images = torch.nonzero(input_ids[b] == image_token_id).flatten()
        coordinates = torch.nonzero(torch.isin(labels[b], location_ids)).flatten()[point]
        if len(images) and len(coordinates) == 2:
            examples.append((b, images, coordinates - 1))  # the logits at position p predict the token at p + 1
    if not examples:
        return None
    # The rows every example needs, taken from each layer in one indexing operation: its backward
    # writes them into one zero tensor of the layer's size, where indexing example by example wrote
    # one such tensor per example and layer (a sixth of an SFT step's time on 2 CPU cores). Same values.
    batch_index = torch.tensor([b for b, _, _ in examples for _ in range(2)], device=input_ids.device)
    query_index = torch.cat([queries for _, _, queries in examples])
    rows = [layer[batch_index, 0, query_index] for layer in attentions[1:]]
    losses = []
    for i, (b, images, _) in enumerate(examples):
        grid = int(round(len(images) ** 0.5))
        weights = target_patches(masks[b : b + 1], grid)[0]
        for layer_rows in rows:
            # float32 even when the forward pass ran in bf16 (the trainer computes this loss outside autocast)
            mass = layer_rows[2 * i : 2 * i + 2][:, images].float() @ weights.float()
            losses.append(-torch.log(mass + 1e-6))
    return torch.cat(losses).mean()


class PointingAttentionTrainer(SFTTrainer):
    """``SFTTrainer`` plus :func:`attention_loss` (weighted by ``attention_weight``) on examples
    whose ``target_mask`` column is not empty, and on the last point of those whose ``goal_mask``
    is not (each logged as its own metric). The model must run eager attention (so that the
    attention weights exist); the weights are caught by forward hooks on the language model's
    (``get_decoder()``) attention layers."""

    def __init__(self, *args, attention_weight: float, location_ids: list[int], **kwargs):
        super().__init__(*args, **kwargs)
        self.attention_weight = attention_weight
        self.location_ids = torch.tensor(location_ids)
        self._caught: list[torch.Tensor] = []
        for name, module in self.model.get_decoder().named_modules():
            if name.endswith("self_attn"):
                module.register_forward_hook(self._catch)
        self.data_collator = _WithMasks(self.data_collator)

    def _catch(self, module, args, output) -> None:
        if self.model.training:
            self._caught.append(output[1])

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        masks = {"pointing": (inputs.pop("target_mask"), AFFORDANCE), "goal": (inputs.pop("goal_mask"), GOAL)}
        self._caught.clear()
        loss = super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
        if not self.model.training or not self._caught:
            return loss
        image_token_id = self.model.config.image_token_id
        location_ids = self.location_ids.to(inputs["labels"].device)
        total = loss[0] if return_outputs else loss
        for name, (mask, point) in masks.items():
            args = (self._caught, inputs["input_ids"], inputs["labels"], mask, image_token_id, location_ids, point)
            extra = attention_loss(*args)
            if extra is not None:
                self._metrics["train"][f"{name}_attention_loss"].append(extra.item())
                total = total + self.attention_weight * extra
        self._caught.clear()
        return (total, loss[1]) if return_outputs else total


class _WithMasks:
    """TRL's vision collator plus a B × MASK_SIZE² tensor for each of :data:`MASK_COLUMNS`
    (``target_mask``, ``goal_mask``; zeros where an example has none)."""

    def __init__(self, collate):
        self.collate = collate

    def __call__(self, examples: list[dict]) -> dict:
        masks = {c: [example.pop(c, None) or [0.0] * MASK_SIZE**2 for example in examples] for c in MASK_COLUMNS}
        batch = self.collate(examples)
        batch.update({c: torch.tensor(m, dtype=torch.float32) for c, m in masks.items()})
        return batch
