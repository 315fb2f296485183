"""The lab's training and evaluation loops.

Both take any iterable of ``(images (N, 3, H, W), labels (N,))`` batches: a torch DataLoader or
labkit's device-resident loader. Batches are moved to the model's device, so CPU and CUDA both
work, and the model's train/eval mode is restored afterwards.
"""

from __future__ import annotations

from typing import Callable, Iterable, Sequence

import torch
from torch import nn
from tqdm.auto import tqdm

from .runtime import exact_fp32, model_device

__all__ = ["train", "evaluate"]

Batch = tuple[torch.Tensor, torch.Tensor]


def train(
    model: nn.Module,
    dataloader: Iterable[Batch],
    criterion: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
    callbacks: Sequence[Callable[[], None]] | None = None,
    *,
    verbose: bool = True,
) -> float:
    """Train ``model`` for one epoch over ``dataloader`` and return the mean loss.

    Each step: zero the gradients, forward, loss, backward, ``optimizer.step()``, then
    ``scheduler.step()`` (once per iteration, as in the lab) and every callback with no
    arguments -- the hook the lab uses to re-apply pruning masks after each update.
    """
    device = model_device(model)
    was_training = model.training
    model.train()
    total = torch.zeros((), device=device)  # summed on the device: no GPU sync per step
    count = 0
    try:
        for inputs, targets in tqdm(dataloader, desc="train", leave=False, disable=not verbose):
            inputs = inputs.to(device, non_blocking=True)
            targets = targets.to(device, non_blocking=True)
            optimizer.zero_grad(set_to_none=True)
            loss = criterion(model(inputs), targets)
            loss.backward()
            optimizer.step()
            if scheduler is not None:
                scheduler.step()
            for callback in callbacks or ():
                callback()
            total += loss.detach().float() * targets.shape[0]
            count += targets.shape[0]
    finally:
        model.train(was_training)
    return float(total) / max(count, 1)


@torch.inference_mode()
@exact_fp32()
def evaluate(model: nn.Module, dataloader: Iterable[Batch], verbose: bool = True) -> float:
    """Return top-1 accuracy of ``model`` on ``dataloader`` as a fraction in [0, 1].

    Runs in full fp32 (TF32 off on GPUs, see :func:`exact_fp32`), so a GPU gives the lab's
    numbers; the flags are restored afterwards.

    Example:
        >>> acc = evaluate(model, loaders["test"])
        >>> print(f"accuracy={acc:.2%}")
    """
    device = model_device(model)
    was_training = model.training
    model.eval()
    num_correct = torch.zeros((), dtype=torch.long, device=device)
    num_samples = 0
    try:
        for inputs, targets in tqdm(dataloader, desc="eval", leave=False, disable=not verbose):
            inputs = inputs.to(device, non_blocking=True)
            targets = targets.to(device, non_blocking=True)
            num_correct += (model(inputs).argmax(dim=1) == targets).sum()
            num_samples += targets.shape[0]
    finally:
        model.train(was_training)
    if num_samples == 0:
        raise ValueError("evaluate() got an empty dataloader: there is nothing to measure")
    return int(num_correct) / num_samples
