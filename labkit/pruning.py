"""Fine-grained pruning machinery: sparsity-dict validation and the masks-keeping pruner.

labkit holds no mask function: the student's ``fine_grained_prune(tensor, sparsity) -> mask``
(it prunes ``tensor`` in place and returns the mask) is passed in as ``prune_fn``.
Masks are ``dict[str, Tensor(bool)]`` keyed by parameter name, e.g. ``backbone.conv1.weight``.
"""

from __future__ import annotations

import numbers
from typing import Callable, Mapping

import torch
from torch import nn

__all__ = ["PruneFn", "prunable_parameters", "validate_sparsity_dict", "FineGrainedPruner"]

PruneFn = Callable[[torch.Tensor, float], torch.Tensor]


def prunable_parameters(model: nn.Module) -> list[tuple[str, nn.Parameter]]:
    """Return ``(name, parameter)`` for every parameter with ``dim() > 1``, in model order.

    These are the lab's pruning targets: conv weights and the classifier weight (BN
    parameters and biases are never pruned).
    """
    return [(name, p) for name, p in model.named_parameters() if p.dim() > 1]


def validate_sparsity_dict(model: nn.Module, sparsity_dict: Mapping[str, float]) -> dict[str, float]:
    """Check that ``sparsity_dict`` has exactly the prunable parameters as keys, values in [0, 1].

    Returns:
        A plain ``dict`` of floats in model order.

    Raises:
        KeyError: a prunable parameter is missing, or a key is not a prunable parameter (the
            message names the key and lists the valid ones).
        ValueError: a value is not a number in [0, 1] (the message names key and value).
        NotImplementedError: a value is still ``...`` (the notebook's template, not filled in).
    """
    names = [name for name, _ in prunable_parameters(model)]
    unknown = [k for k in sparsity_dict if k not in names]
    if unknown:
        raise KeyError(
            f"sparsity_dict has unknown key(s) {unknown}; the keys must be exactly the parameters "
            f"with dim > 1: {names}"
        )
    missing = [k for k in names if k not in sparsity_dict]
    if missing:
        raise KeyError(
            f"sparsity_dict is missing key(s) {missing}: give a sparsity (0 to keep it dense) for "
            f"every parameter with dim > 1"
        )
    out = {}
    for name in names:
        value = sparsity_dict[name]
        if value is Ellipsis:  # the notebook's template, not filled in yet
            raise NotImplementedError(f"sparsity_dict[{name!r}] is still ...: replace it by a sparsity in [0, 1]")
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0.0 <= float(value) <= 1.0:
            raise ValueError(f"sparsity_dict[{name!r}]={value!r} must be a number in [0, 1]")
        out[name] = float(value)
    return out


def _check_mask(mask: object, param: torch.Tensor, name: str, prune_fn: PruneFn) -> torch.Tensor:
    fn_name = getattr(prune_fn, "__name__", repr(prune_fn))
    if not isinstance(mask, torch.Tensor):
        raise TypeError(
            f"{fn_name}(tensor, sparsity) returned {type(mask).__name__} for {name!r}; it must "
            "return the mask as a tensor shaped like the tensor (did you forget `return mask`?)"
        )
    if mask.shape != param.shape:
        raise ValueError(
            f"{fn_name}(tensor, sparsity) returned a mask of shape {tuple(mask.shape)} for {name!r} "
            f"of shape {tuple(param.shape)}; the mask must have the tensor's shape"
        )
    return mask.to(device=param.device, dtype=torch.bool)


class FineGrainedPruner:
    """Prune a model with ``prune_fn`` per ``sparsity_dict`` and keep the masks for fine-tuning.

    On construction every parameter with ``dim() > 1`` is pruned **in place** with
    ``prune_fn(param, sparsity_dict[name])``; the returned masks are stored as booleans in
    ``masks``. Call :meth:`apply` after every optimizer step (e.g. as a ``train`` callback),
    because momentum and weight decay move pruned weights away from zero.

    Args:
        model: the network to prune (modified in place).
        sparsity_dict: parameter name -> sparsity in [0, 1], exactly the prunable parameters.
        prune_fn: the student's ``fine_grained_prune(tensor, sparsity) -> mask``.

    Raises:
        KeyError / ValueError: see :func:`validate_sparsity_dict`.
        TypeError / ValueError: ``prune_fn`` returned no tensor or a wrongly shaped mask.

    Example:
        >>> pruner = FineGrainedPruner(model, sparsity_dict, fine_grained_prune)
        >>> train(model, loader, criterion, optimizer, callbacks=[lambda: pruner.apply(model)])
    """

    def __init__(self, model: nn.Module, sparsity_dict: Mapping[str, float], prune_fn: PruneFn) -> None:
        self.sparsity_dict = validate_sparsity_dict(model, sparsity_dict)
        self.prune_fn = prune_fn
        self.masks: dict[str, torch.Tensor] = self.prune(model, self.sparsity_dict, prune_fn)

    @staticmethod
    @torch.no_grad()
    def prune(model: nn.Module, sparsity_dict: Mapping[str, float], prune_fn: PruneFn) -> dict[str, torch.Tensor]:
        """Prune every prunable parameter in place; return the boolean masks by name."""
        sparsity_dict = validate_sparsity_dict(model, sparsity_dict)
        masks = {}
        for name, param in prunable_parameters(model):
            mask = prune_fn(param.data, sparsity_dict[name])
            masks[name] = _check_mask(mask, param, name, prune_fn)
        return masks

    @torch.no_grad()
    def apply(self, model: nn.Module) -> None:
        """Zero every masked-out weight of ``model`` again (call after each optimizer step).

        Raises:
            KeyError: ``model`` lacks a parameter named in ``masks`` (a different model?).
        """
        params = dict(model.named_parameters())
        for name, mask in self.masks.items():
            if name not in params:
                raise KeyError(f"model has no parameter {name!r}: apply() needs the model that was pruned")
            params[name].mul_(mask)

    def __repr__(self) -> str:
        parts = ", ".join(f"{k}: {v:.2f}" for k, v in self.sparsity_dict.items())
        return f"FineGrainedPruner({{{parts}}})"
