"""Channel surgery on the lab's VGG: keep or reorder output channels of (conv i, bn i).

The notebook's ``channel_prune``/``apply_channel_sorting`` call these primitives around the
student's next-conv line; :func:`sync_channel_attributes` then sets the module attributes
(``out_channels``, ``in_channels``, ``num_features``, ``in_features``) from the tensors,
which the lab's ``.set_()`` surgery left stale. :func:`channel_keep_counts`,
:func:`shrink_channels` and :func:`sort_channels` do whole models for labkit's own use
(benchmarks); the keep-count and importance rules are passed in.

Shapes: C_out/C_in = output/input channels; conv weight (C_out, C_in, kH, kW).
"""

from __future__ import annotations

import copy
from typing import Callable, Sequence

import torch
from torch import nn

__all__ = [
    "get_convs_and_bns", "keep_output_channels", "permute_output_channels",
    "sync_channel_attributes", "channel_keep_counts", "shrink_channels", "sort_channels",
]


def get_convs_and_bns(model: nn.Module) -> tuple[list[nn.Conv2d], list[nn.BatchNorm2d]]:
    """Return the backbone's convs and BNs in order (conv i feeds bn i).

    Raises:
        ValueError: the counts differ, or the model has no ``backbone``.
    """
    backbone = getattr(model, "backbone", None)
    if not isinstance(backbone, nn.Module):
        raise ValueError(f"{type(model).__name__} has no `backbone`: channel surgery needs the lab's VGG")
    convs = [m for m in backbone.modules() if isinstance(m, nn.Conv2d)]
    bns = [m for m in backbone.modules() if isinstance(m, nn.BatchNorm2d)]
    if len(convs) != len(bns) or not convs:
        raise ValueError(f"expected one BatchNorm2d per Conv2d, found {len(convs)} convs and {len(bns)} BNs")
    return convs, bns


def _bn_tensors(bn: nn.BatchNorm2d) -> list[torch.Tensor]:
    return [t for t in (bn.weight, bn.bias, bn.running_mean, bn.running_var) if t is not None]


@torch.no_grad()
def keep_output_channels(conv: nn.Conv2d, bn: nn.BatchNorm2d, n_keep: int) -> None:
    """Keep the first ``n_keep`` output channels of ``conv`` and the matching ones of ``bn``, in place.

    Slices conv weight (and bias) and BN weight, bias, running_mean, running_var with
    ``.set_()`` (so optimizers and ``parameters()`` keep the same Parameter objects) and
    updates ``conv.out_channels`` and ``bn.num_features``. The next conv's input channels are
    not touched: that is the caller's line.

    Raises:
        ValueError: ``n_keep`` is not in [1, C_out] (keeping 0 channels would break the model).
    """
    c_out = conv.weight.shape[0]
    if isinstance(n_keep, bool) or not isinstance(n_keep, int) or not 1 <= n_keep <= c_out:
        raise ValueError(
            f"n_keep={n_keep!r} must be an int in [1, {c_out}]; a prune ratio that keeps 0 channels "
            "would disconnect the network: lower the ratio"
        )
    for t in [conv.weight, conv.bias, *_bn_tensors(bn)]:
        if t is not None:
            t.set_(t.detach()[:n_keep].clone())
            t.grad = None  # a stale gradient would have the old shape
    conv.out_channels = n_keep
    bn.num_features = n_keep


def _check_order(order: torch.Tensor, n: int) -> torch.Tensor:
    order = torch.as_tensor(order, dtype=torch.long)
    if order.shape != (n,) or not torch.equal(order.sort().values, torch.arange(n, device=order.device)):
        raise ValueError(f"order must be a permutation of range({n}), got shape {tuple(order.shape)}")
    return order


@torch.no_grad()
def permute_output_channels(conv: nn.Conv2d, bn: nn.BatchNorm2d, order: torch.Tensor) -> None:
    """Reorder the output channels of ``conv`` and ``bn`` in place: new channel j = old ``order[j]``.

    Args:
        order: (C_out,) a permutation, e.g. ``argsort(importance, descending=True)``.

    Raises:
        ValueError: ``order`` is not a permutation of range(C_out).
    """
    order = _check_order(order, conv.weight.shape[0]).to(conv.weight.device)
    for t in [conv.weight, conv.bias, *_bn_tensors(bn)]:
        if t is not None:
            t.copy_(torch.index_select(t.detach(), 0, order))


def sync_channel_attributes(model: nn.Module) -> nn.Module:
    """Set conv/BN/Linear size attributes (and ``model.widths``) from their tensors; return ``model``."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            m.out_channels = m.weight.shape[0]
            m.in_channels = m.weight.shape[1] * m.groups
        elif isinstance(m, nn.BatchNorm2d):
            m.num_features = (m.running_mean if m.running_mean is not None else m.weight).shape[0]
        elif isinstance(m, nn.Linear):
            m.out_features, m.in_features = m.weight.shape
    if hasattr(model, "widths") and hasattr(model, "backbone"):
        model.widths = [c.out_channels for c in get_convs_and_bns(model)[0]]
    return model


def channel_keep_counts(
    model: nn.Module,
    prune_ratio: float | Sequence[float],
    keep_fn: Callable[[int, float], int],
    *,
    round_to: int | None = None,
) -> list[int]:
    """Return how many output channels to keep for conv 0..n-2 (the last conv is never pruned).

    Args:
        model: the lab's VGG.
        prune_ratio: one ratio in [0, 1) for all, or one per pruned conv (n_conv - 1 of them).
        keep_fn: the student's ``get_num_channels_to_keep(channels, prune_ratio) -> int``.
        round_to: round each count to the nearest multiple of this (at least one multiple),
            e.g. 8 for faster kernels.

    Raises:
        ValueError: a wrong number of ratios, a ratio outside [0, 1), or a count outside
            [1, channels] (e.g. a ratio that would keep 0 channels).
    """
    convs, _ = get_convs_and_bns(model)
    n = len(convs) - 1
    ratios = [prune_ratio] * n if isinstance(prune_ratio, (int, float)) else list(prune_ratio)
    if len(ratios) != n:
        raise ValueError(f"prune_ratio has {len(ratios)} values; give one float or {n} (conv0..conv{n - 1})")
    counts = []
    for i, (conv, r) in enumerate(zip(convs, ratios)):
        if not 0.0 <= r < 1.0:
            raise ValueError(f"prune_ratio for conv{i} is {r}; it must be in [0, 1)")
        c = conv.weight.shape[0]
        k = keep_fn(c, r)
        if round_to is not None:
            k = min(c, max(round_to, round_to * round(k / round_to)))
        if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= c:
            raise ValueError(
                f"conv{i}: keeping {k!r} of {c} channels at ratio {r} is not possible; the count must "
                f"be an int in [1, {c}] (a ratio that keeps 0 channels is an error)"
            )
        counts.append(k)
    return counts


@torch.no_grad()
def _select(model: nn.Module, keep: list[torch.Tensor]) -> nn.Module:
    """Deep copy of ``model`` whose conv i keeps output channels ``keep[i]`` (in that order)."""
    model = copy.deepcopy(model)
    convs, bns = get_convs_and_bns(model)
    for i, idx in enumerate(keep):
        idx = idx.to(convs[i].weight.device)
        for t in [convs[i].weight, convs[i].bias, *_bn_tensors(bns[i])]:
            if t is not None:
                t.set_(torch.index_select(t.detach(), 0, idx))
                t.grad = None
        w = convs[i + 1].weight  # its input channels follow conv i's outputs
        w.set_(torch.index_select(w.detach(), 1, idx))
        w.grad = None
    return sync_channel_attributes(model)


def shrink_channels(
    model: nn.Module, keep_counts: Sequence[int], *, order: Sequence[torch.Tensor] | None = None
) -> nn.Module:
    """Return a smaller copy of ``model``: conv i keeps ``keep_counts[i]`` output channels.

    Without ``order`` the first channels are kept (the lab's ``channel_prune``); with it,
    conv i keeps channels ``order[i][:keep_counts[i]]`` (e.g. sorted by importance). The
    next conv's input channels follow; attributes are synced. ``model`` is not modified.

    Raises:
        ValueError: a wrong number of counts, a count outside [1, C_out], or a bad order.
    """
    convs, _ = get_convs_and_bns(model)
    if len(keep_counts) != len(convs) - 1:
        raise ValueError(f"keep_counts has {len(keep_counts)} values; need {len(convs) - 1} (conv0..conv{len(convs) - 2})")
    keep = []
    for i, k in enumerate(keep_counts):
        c = convs[i].weight.shape[0]
        if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= c:
            raise ValueError(f"keep_counts[{i}]={k!r} must be an int in [1, {c}]")
        perm = torch.arange(c) if order is None else _check_order(order[i], c)
        keep.append(perm[:k])
    return _select(model, keep)


@torch.no_grad()
def sort_channels(model: nn.Module, importance_fn: Callable[[torch.Tensor], torch.Tensor]) -> nn.Module:
    """Return a copy of ``model`` whose conv i channels are sorted by importance, most important first.

    Importance of conv i's output channels = ``importance_fn(conv i+1 weight)`` (one value per
    input channel of the next conv), as in the lab's ``apply_channel_sorting``. The outputs
    are unchanged (up to float rounding).

    Args:
        importance_fn: the student's ``get_input_channel_importance(weight) -> (C_in,)``.
    """
    convs, _ = get_convs_and_bns(model)
    keep = []
    for i in range(len(convs) - 1):
        importance = importance_fn(convs[i + 1].weight)
        if importance.shape != (convs[i].weight.shape[0],):
            raise ValueError(
                f"importance_fn returned shape {tuple(importance.shape)} for conv{i + 1}; need one "
                f"value per input channel ({convs[i].weight.shape[0]},)"
            )
        keep.append(torch.argsort(importance, descending=True))
    return _select(model, keep)
