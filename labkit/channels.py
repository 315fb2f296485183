"""Channel surgery on the lab's VGG: keep or reorder output channels of (conv i, bn i).

The notebook's ``channel_prune``/``apply_channel_sorting`` call these primitives around the
student's next-conv line; :func:`sync_channel_attributes` then sets the module attributes
(``out_channels``, ``in_channels``, ``num_features``, ``in_features``) from the tensors,
which the lab's ``.set_()`` surgery left stale. :func:`channel_keep_counts` takes the
keep-count rule as an argument. Nothing here touches a next conv's input channels: that is
the student's line, so whole-model pruning or sorting lives in the test suite's oracle.

Shapes: C_out/C_in = output/input channels; conv weight (C_out, C_in, kH, kW).
"""

from __future__ import annotations

from typing import Callable, Sequence

import torch
from torch import nn

__all__ = [
    "get_convs_and_bns", "keep_output_channels", "permute_output_channels",
    "sync_channel_attributes", "channel_keep_counts",
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
