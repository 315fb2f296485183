"""Suggest a per-layer ``sparsity_dict`` from a sensitivity scan and a size target.

The notebook shows it *after* the student's own choice (Q5), never instead of it.
"""

from __future__ import annotations

from torch import nn

from labkit.pruning import prunable_parameters
from labkit.sensitivity import ScanResult

__all__ = ["suggest_sparsity_dict"]


def suggest_sparsity_dict(
    scan: ScanResult,
    model: nn.Module,
    *,
    size_target: float = 0.25,
    max_drop: float = 0.03,
    dense_accuracy: float | None = None,
) -> dict[str, float]:
    """Suggest per-layer sparsities (from the scanned ones) that meet a size target.

    Size is counted as the lab counts it: every non-zero parameter (BN and biases included)
    x 32 bits, as a fraction of the dense size; a pruned parameter keeps
    ``numel - round(numel * s)`` weights. Greedy: starting dense, repeatedly raise the layer
    whose next scanned sparsity removes the most weights per point of predicted accuracy
    drop, never letting a layer's predicted drop exceed ``max_drop``, until the size target
    is met. The predicted drop of a layer is ``reference - accuracy`` from the scan, with
    ``dense_accuracy`` as reference (or, when None, the layer's accuracy at its lowest
    scanned sparsity). Layers drop independently only approximately: fine-tune afterwards.

    Args:
        scan: a :class:`ScanResult` for ``model``.
        model: the (dense) network, for parameter counts; it may live on the meta device
            (``with torch.device("meta"): lk.VGG()`` is the lab's full VGG without memory).
        size_target: wanted size as a fraction of the dense size, in (0, 1].
        max_drop: the largest predicted accuracy drop (fraction) allowed per layer. The
            default 0.03 fits the lab: with its published scan (dense 92.95%) it gives
            {conv0 0, conv1 .5, conv2-4 .6, conv5 .7, conv6 .8, conv7 .9, classifier 0},
            under 25% of the dense size; 0.01 cannot reach 25% there.
        dense_accuracy: the dense model's accuracy (fraction), if known.

    Returns:
        parameter name -> sparsity, for every parameter with dim > 1, in model order.

    Raises:
        ValueError: bad arguments, a scan that does not match the model, or a target that
            cannot be met within ``max_drop`` (the message gives the best size reached).
    """
    if not 0.0 < size_target <= 1.0:
        raise ValueError(f"size_target={size_target} must be in (0, 1] (a fraction of the dense size)")
    if not max_drop >= 0.0:
        raise ValueError(f"max_drop={max_drop} must be >= 0 (an accuracy fraction)")
    named = prunable_parameters(model)
    missing = [n for n, _ in named if n not in scan.accuracies]
    if missing:
        raise ValueError(f"the scan has no accuracies for {missing}: scan this model first")
    total = sum(p.numel() for p in model.parameters())
    numel = {n: p.numel() for n, p in named}
    # BN parameters and biases are never pruned; a model on the meta device (shapes only,
    # e.g. the full VGG's) counts them all, as a trained model has no exact zeros there
    fixed = sum(p.numel() if p.is_meta else int(p.count_nonzero()) for p in model.parameters() if p.dim() <= 1)
    choice = {n: 0.0 for n, _ in named}

    def kept(name: str, s: float) -> int:
        return numel[name] - round(numel[name] * s)

    def size() -> float:
        return (fixed + sum(kept(n, choice[n]) for n in choice)) / total

    def drop(name: str, i: int) -> float:
        accs = scan.accuracies[name]
        ref = dense_accuracy if dense_accuracy is not None else accs[0]
        return max(0.0, ref - accs[i])

    level = {n: -1 for n in choice}  # index into scan.sparsities; -1 = dense
    while size() > size_target:
        best, best_score = None, -1.0
        for n in choice:
            i = level[n] + 1
            if i >= len(scan.sparsities) or drop(n, i) > max_drop:
                continue
            removed = kept(n, choice[n]) - kept(n, scan.sparsities[i])
            score = removed / (drop(n, i) + 1e-6)
            if removed > 0 and score > best_score:
                best, best_score = n, score
        if best is None:
            raise ValueError(
                f"cannot reach size_target={size_target:.2%} with a predicted drop <= {max_drop:.2%} "
                f"per layer (best: {size():.2%} of dense); raise max_drop or size_target, or scan "
                f"higher sparsities"
            )
        level[best] += 1
        choice[best] = scan.sparsities[level[best]]
    return choice
