"""Fine-tuning a pruned model with the lab's recipe, keeping the best epoch.

Recipe: SGD (lr 0.01, momentum 0.9, weight decay 1e-4), cross-entropy, a cosine learning
rate stepped every iteration, evaluation on the test loader after each epoch (the lab has
no validation split), and the best epoch's weights loaded at the end.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Callable, Iterable, Sequence

import torch
from torch import nn

from .training import evaluate, train

__all__ = ["FineTuneHistory", "fine_tune", "SCHEDULES"]

Batch = tuple[torch.Tensor, torch.Tensor]
SCHEDULES = ("cosine", "lab", "constant")


@dataclass
class FineTuneHistory:
    """What :func:`fine_tune` measured.

    Attributes:
        accuracies: test accuracy (fraction) after each epoch.
        losses: mean training loss of each epoch.
        best_accuracy: the highest of ``accuracies``.
        best_epoch: its epoch, 1-based (0 when no epoch ran).
        best_state_dict: a copy of the model's weights at ``best_epoch``.
    """

    accuracies: list[float] = field(default_factory=list)
    losses: list[float] = field(default_factory=list)
    best_accuracy: float = 0.0
    best_epoch: int = 0
    best_state_dict: dict[str, torch.Tensor] = field(default_factory=dict, repr=False)


def _make_scheduler(
    optimizer: torch.optim.Optimizer, schedule: str, epochs: int, steps_per_epoch: int
) -> torch.optim.lr_scheduler.LRScheduler | None:
    if schedule == "cosine":  # one half-cosine from lr to 0 over all iterations
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs * steps_per_epoch)
    if schedule == "lab":  # the original notebook: T_max=epochs, stepped every iteration
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs)
    return None


def fine_tune(
    model: nn.Module,
    train_loader: Iterable[Batch],
    test_loader: Iterable[Batch],
    *,
    epochs: int = 5,
    lr: float = 0.01,
    momentum: float = 0.9,
    weight_decay: float = 1e-4,
    schedule: str = "cosine",
    callbacks: Sequence[Callable[[], None]] | None = None,
    verbose: bool = True,
) -> FineTuneHistory:
    """Fine-tune ``model`` for ``epochs`` and load its best epoch's weights (as the lab does).

    **Learning-rate schedule.** The original notebook builds
    ``CosineAnnealingLR(optimizer, T_max=epochs)`` but steps it once per *iteration*, so the
    rate falls from lr to 0 and back every ``2 * epochs`` = 10 iterations, all through
    training. labkit's default ``schedule="cosine"`` anneals once, from ``lr`` to 0 over
    ``epochs * len(train_loader)`` iterations (still stepped per iteration), which is what
    the lab meant. ``schedule="lab"`` reproduces the original cycling; ``"constant"`` keeps
    ``lr``.

    Call-backs run after every optimizer step: pass ``[lambda: pruner.apply(model)]`` to keep
    the pruning masks (momentum and weight decay would otherwise revive pruned weights).

    Args:
        model: the network, trained in place.
        train_loader: (images (N, 3, H, W), labels (N,)) batches; must have ``len()``.
        test_loader: batches for the per-epoch accuracy.
        epochs: number of epochs (>= 1).
        lr, momentum, weight_decay: SGD settings.
        schedule: "cosine", "lab" or "constant" (see above).
        callbacks: functions called with no arguments after each optimizer step.
        verbose: progress bars, and one line per epoch like the lab's
            ``Epoch 1 Accuracy 91.99% / Best Accuracy: 91.99%``.

    Returns:
        A :class:`FineTuneHistory`; ``model`` holds ``best_state_dict`` on return.

    Raises:
        ValueError: bad ``epochs``, ``schedule`` or an empty/len-less ``train_loader``.

    Example:
        >>> history = fine_tune(model, loaders["train"], loaders["test"],
        ...                     callbacks=[lambda: pruner.apply(model)])
    """
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"epochs={epochs!r} must be an int >= 1")
    if schedule not in SCHEDULES:
        raise ValueError(f"schedule={schedule!r} must be one of {SCHEDULES}")
    try:
        steps_per_epoch = len(train_loader)  # type: ignore[arg-type]
    except TypeError:
        raise ValueError("train_loader must have a len() (the cosine schedule needs the step count)") from None
    if steps_per_epoch == 0:
        raise ValueError("train_loader is empty: there is nothing to fine-tune on")
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum, weight_decay=weight_decay)
    scheduler = _make_scheduler(optimizer, schedule, epochs, steps_per_epoch)
    criterion = nn.CrossEntropyLoss()
    history = FineTuneHistory()
    for epoch in range(1, epochs + 1):
        loss = train(model, train_loader, criterion, optimizer, scheduler, callbacks, verbose=verbose)
        accuracy = evaluate(model, test_loader, verbose=verbose)
        history.losses.append(loss)
        history.accuracies.append(accuracy)
        if accuracy > history.best_accuracy or history.best_epoch == 0:
            history.best_accuracy, history.best_epoch = accuracy, epoch
            history.best_state_dict = copy.deepcopy(model.state_dict())
        if verbose:
            print(f"    Epoch {epoch} Accuracy {accuracy:.2%} / Best Accuracy: {history.best_accuracy:.2%}")
    model.load_state_dict(history.best_state_dict)
    return history
