"""Reference solutions of the students' functions, for the test suite and the benchmarks.

labkit never contains these (it takes them as arguments); tests import this module and
benchmarks load it by file path from the repository checkout. The whole-model helpers
``shrink_channels`` and ``sort_channels`` live here, not in labkit, because they perform the
next-conv lines students write in ``channel_prune`` and ``apply_channel_sorting``. Each function mirrors the
lab's semantics exactly (rounding, strict ``>`` threshold, in-place pruning).

Shapes: C_out/C_in = output/input channels, kH/kW = kernel size.
"""

from __future__ import annotations

import copy
from typing import Callable, Sequence

import torch
from torch import nn

import labkit as lk

__all__ = [
    "fine_grained_prune",
    "get_num_channels_to_keep",
    "get_input_channel_importance",
    "channel_prune",
    "apply_channel_sorting",
    "shrink_channels",
    "sort_channels",
]


def fine_grained_prune(tensor: torch.Tensor, sparsity: float) -> torch.Tensor:
    """Magnitude-prune ``tensor`` in place to ``sparsity`` and return the mask (the lab's Q2).

    Keeps the lab's edge cases: sparsity 0 returns a ones mask, 1 zeroes the tensor and
    returns a zeros mask (float masks, as in the lab); otherwise ``round()`` the number of
    zeros, threshold at the ``kthvalue`` of ``|tensor|`` and keep ``importance > threshold``.
    Unlike the lab's pre-written clamp, an out-of-range sparsity is an error.
    """
    if not 0.0 <= sparsity <= 1.0:
        raise ValueError(f"sparsity={sparsity} must be in [0, 1]")
    if sparsity == 1.0:
        tensor.zero_()
        return torch.zeros_like(tensor)
    if sparsity == 0.0:
        return torch.ones_like(tensor)
    num_elements = tensor.numel()
    num_zeros = round(num_elements * sparsity)
    importance = tensor.abs()
    if num_zeros == 0:  # kthvalue(k=0) would raise; nothing to prune
        return torch.ones_like(tensor, dtype=torch.bool)
    threshold = importance.view(-1).kthvalue(num_zeros).values
    mask = torch.gt(importance, threshold)
    tensor.mul_(mask)
    return mask


def get_num_channels_to_keep(channels: int, prune_ratio: float) -> int:
    """Return how many of ``channels`` to keep at ``prune_ratio`` (the lab's Q6)."""
    return int(round(channels * (1 - prune_ratio)))


def get_input_channel_importance(weight: torch.Tensor) -> torch.Tensor:
    """Return the L2 norm of each input channel's slice of ``weight`` (C_out, C_in, kH, kW) -> (C_in,)."""
    importances = []
    for i_c in range(weight.shape[1]):
        channel_weight = weight.detach()[:, i_c]
        importances.append(torch.norm(channel_weight).view(1))
    return torch.cat(importances)


@torch.no_grad()
def channel_prune(model: nn.Module, prune_ratio: float | list[float]) -> nn.Module:
    """Keep the first channels of conv0..6 (the lab's Q6 cell, written with labkit's helpers)."""
    all_convs, all_bns = lk.get_convs_and_bns(model)
    n_conv = len(all_convs)
    if isinstance(prune_ratio, list):
        assert len(prune_ratio) == n_conv - 1
    else:
        prune_ratio = [prune_ratio] * (n_conv - 1)
    model = copy.deepcopy(model)
    all_convs, all_bns = lk.get_convs_and_bns(model)
    for i_ratio, p_ratio in enumerate(prune_ratio):
        prev_conv, prev_bn = all_convs[i_ratio], all_bns[i_ratio]
        next_conv = all_convs[i_ratio + 1]
        original_channels = prev_conv.out_channels
        n_keep = get_num_channels_to_keep(original_channels, p_ratio)
        lk.keep_output_channels(prev_conv, prev_bn, n_keep)
        # the student's line:
        next_conv.weight.set_(next_conv.weight.detach()[:, :n_keep])
    lk.sync_channel_attributes(model)
    return model


@torch.no_grad()
def apply_channel_sorting(model: nn.Module) -> nn.Module:
    """Sort conv0..6 output channels by the next conv's input-channel importance (the lab's Q7)."""
    model = copy.deepcopy(model)
    all_convs, all_bns = lk.get_convs_and_bns(model)
    for i_conv in range(len(all_convs) - 1):
        prev_conv, prev_bn = all_convs[i_conv], all_bns[i_conv]
        next_conv = all_convs[i_conv + 1]
        importance = get_input_channel_importance(next_conv.weight)
        sort_idx = torch.argsort(importance, descending=True)
        lk.permute_output_channels(prev_conv, prev_bn, sort_idx)
        # the student's line:
        next_conv.weight.copy_(torch.index_select(next_conv.weight.detach(), 1, sort_idx))
    return model


@torch.no_grad()
def _select(model: nn.Module, keep: list[torch.Tensor]) -> nn.Module:
    """Deep copy of ``model`` whose conv i keeps output channels ``keep[i]`` (in that order)."""
    model = copy.deepcopy(model)
    convs, bns = lk.get_convs_and_bns(model)
    for i, idx in enumerate(keep):
        idx = idx.to(convs[i].weight.device)
        bn = bns[i]
        for t in (convs[i].weight, convs[i].bias, bn.weight, bn.bias, bn.running_mean, bn.running_var):
            if t is not None:
                t.set_(torch.index_select(t.detach(), 0, idx))
                t.grad = None
        w = convs[i + 1].weight  # its input channels follow conv i's outputs
        w.set_(torch.index_select(w.detach(), 1, idx))
        w.grad = None
    return lk.sync_channel_attributes(model)


def shrink_channels(
    model: nn.Module, keep_counts: Sequence[int], *, order: Sequence[torch.Tensor] | None = None
) -> nn.Module:
    """Return a smaller copy of ``model``: conv i keeps ``keep_counts[i]`` output channels.

    Without ``order`` the first channels are kept (the lab's ``channel_prune``); with it,
    conv i keeps channels ``order[i][:keep_counts[i]]`` (e.g. sorted by importance). The
    next conv's input channels follow; attributes are synced. ``model`` is not modified.

    Raises:
        ValueError: a wrong number of counts or a count outside [1, C_out].
    """
    convs, _ = lk.get_convs_and_bns(model)
    if len(keep_counts) != len(convs) - 1:
        raise ValueError(f"keep_counts has {len(keep_counts)} values; need {len(convs) - 1} (conv0..conv{len(convs) - 2})")
    keep = []
    for i, k in enumerate(keep_counts):
        c = convs[i].weight.shape[0]
        if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= c:
            raise ValueError(f"keep_counts[{i}]={k!r} must be an int in [1, {c}]")
        perm = torch.arange(c) if order is None else torch.as_tensor(order[i], dtype=torch.long)
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
    convs, _ = lk.get_convs_and_bns(model)
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
