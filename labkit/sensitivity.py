"""Per-layer sensitivity scans: the lab's loop and a fast, exact one.

A scan prunes one parameter at a time to each sparsity with the student's ``prune_fn``,
evaluates the model and restores the parameter. Accuracies are fractions in [0, 1].
"""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Callable, Iterable

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from .pruning import PruneFn, prunable_parameters
from .runtime import exact_fp32, model_device
from .training import evaluate

__all__ = ["ScanResult", "scan_sparsities", "sensitivity_scan", "naive_sensitivity_scan"]

Batch = tuple[torch.Tensor, torch.Tensor]


@dataclass
class ScanResult:
    """What a sensitivity scan measured.

    Attributes:
        sparsities: the scanned sparsities, e.g. [0.4, 0.5, ..., 0.9].
        accuracies: parameter name -> accuracy (fraction) at each sparsity, in model order.
    """

    sparsities: list[float]
    accuracies: dict[str, list[float]] = field(default_factory=dict)


def scan_sparsities(scan_step: float = 0.1, scan_start: float = 0.4, scan_end: float = 1.0) -> list[float]:
    """Return ``[scan_start, scan_start + scan_step, ...]`` below ``scan_end`` (like ``np.arange``).

    Values are rounded to 10 decimals (0.6, not 0.6000000000000001).

    Raises:
        ValueError: a step <= 0, or a range outside [0, 1] or empty.
    """
    if not scan_step > 0:
        raise ValueError(f"scan_step={scan_step} must be > 0")
    if not 0.0 <= scan_start < scan_end <= 1.0 + 1e-12:
        raise ValueError(f"need 0 <= scan_start={scan_start} < scan_end={scan_end} <= 1")
    n = math.ceil((scan_end - scan_start) / scan_step - 1e-9)
    return [round(scan_start + i * scan_step, 10) for i in range(n)]


def _check_replayable(dataloader: Iterable[Batch]) -> None:
    sampler = getattr(dataloader, "sampler", None)
    if isinstance(sampler, torch.utils.data.RandomSampler):
        raise ValueError(
            "sensitivity scans need a loader that yields the same batches on every pass; "
            "this DataLoader shuffles: build it with shuffle=False"
        )


def _summary(name: str, sparsities: list[float], accs: list[float]) -> str:
    s = ", ".join(f"{x:.2f}" for x in sparsities)
    a = ", ".join(f"{x:.2%}" for x in accs)
    return f"{name}: sparsity=[{s}]: accuracy=[{a}]"


@torch.no_grad()
@exact_fp32()  # the lab's arithmetic: full fp32, TF32 off on GPUs
def naive_sensitivity_scan(
    model: nn.Module,
    dataloader: Iterable[Batch],
    prune_fn: PruneFn,
    *,
    scan_step: float = 0.1,
    scan_start: float = 0.4,
    scan_end: float = 1.0,
    verbose: bool = True,
) -> ScanResult:
    """Scan the lab's way: for each parameter and sparsity, prune, evaluate the whole model, restore.

    The reference for :func:`sensitivity_scan` (same arguments, same result). Each
    parameter is restored in a ``finally``, so an interrupted scan leaves the model intact.
    """
    _check_replayable(dataloader)
    sparsities = scan_sparsities(scan_step, scan_start, scan_end)
    named = prunable_parameters(model)
    result = ScanResult(sparsities)
    bar = tqdm(total=len(named) * len(sparsities), desc="scan", leave=False, disable=not verbose)
    try:
        for name, param in named:
            original = param.detach().clone()
            accs = []
            try:
                for s in sparsities:
                    bar.set_description(f"scan {name} @ {s:.2f}")
                    prune_fn(param.detach(), s)
                    accs.append(evaluate(model, dataloader, verbose=False))
                    param.copy_(original)
                    bar.update()
            finally:
                param.copy_(original)
            result.accuracies[name] = accs
            if verbose:
                tqdm.write(_summary(name, sparsities, accs))
    finally:
        bar.close()
    return result


def _vgg_stages(model: nn.Module) -> list[Callable[[torch.Tensor], torch.Tensor]] | None:
    """Split a labkit VGG into the calls its forward makes, in order; None for other models."""
    from .models import VGG

    if not isinstance(model, VGG) or type(model).forward is not VGG.forward:
        return None
    if not isinstance(model.backbone, nn.Sequential):
        return None
    stages: list[Callable[[torch.Tensor], torch.Tensor]] = list(model.backbone.children())
    stages.append(lambda x: x.mean([2, 3]))  # (N, C, H, W) -> (N, C), exactly as VGG.forward
    stages.append(model.classifier)
    return stages


def _owner_stage(model: nn.Module, name: str) -> int:
    """Index in ``_vgg_stages`` of the module holding parameter ``name``."""
    if name.startswith("backbone."):
        child = name.split(".")[1]
        return [n for n, _ in model.backbone.named_children()].index(child)
    if name.startswith("classifier."):
        return len(list(model.backbone.children())) + 1
    raise ValueError(f"cannot place parameter {name!r} in the VGG's stages")


@torch.no_grad()
@exact_fp32()  # the lab's arithmetic: full fp32, TF32 off on GPUs
def sensitivity_scan(
    model: nn.Module,
    dataloader: Iterable[Batch],
    prune_fn: PruneFn,
    *,
    scan_step: float = 0.1,
    scan_start: float = 0.4,
    scan_end: float = 1.0,
    verbose: bool = True,
    stack_sparsities: bool | None = None,
) -> ScanResult:
    """Scan each parameter's accuracy vs sparsity; identical to the lab's loop, about 2x faster.

    Pruning parameter i leaves every layer before it unchanged, so the inputs of layer i are
    computed once per batch (with the dense weights) and reused for all of its sparsities;
    each evaluation then runs only layers i..end. The layers run are the very modules and ops
    of ``model.forward`` on the very same batches, so every float, and hence every accuracy,
    equals :func:`naive_sensitivity_scan`'s. Models other than labkit's VGG fall back to the
    naive loop.

    With ``stack_sparsities`` (the default on CPU), layer i is run once per sparsity on a
    batch, then the outputs of all sparsities are stacked into one batch of
    ``len(sparsities) * N`` images for layers i+1..end, which is faster on CPU. oneDNN
    computes each image's outputs the same way whatever the batch size (tests check that
    the results stay identical); GPU libraries may pick other kernels for other batch sizes,
    so on GPU the default is to keep the loader's batches (set it False to do so anywhere).
    On CPU the batches are also spread over ``torch.get_num_threads()`` single-threaded
    workers (the thread count is restored afterwards): on a busy machine this beats
    multi-threaded kernels, and oneDNN's results do not depend on the thread count.

    The loader's batches are read once and kept, with one layer's inputs for every image
    (at most 64 x 32 x 32 floats = 256 KiB per image for the full VGG): use a subset of the
    test set on small machines. The model is evaluated in eval mode; its mode and every
    weight are restored in a ``finally`` (also on KeyboardInterrupt).

    Args:
        model: the network (the lab's VGG for the fast path).
        dataloader: yields (images (N, 3, H, W), labels (N,)); must not shuffle.
        prune_fn: the student's ``fine_grained_prune(tensor, sparsity) -> mask`` (in place).
        scan_step, scan_start, scan_end: sparsities ``scan_start, +scan_step, ... < scan_end``.
        verbose: one progress bar over all (parameter, sparsity) pairs, and a summary line per
            parameter.
        stack_sparsities: stack a layer's sparsities into one batch after the pruned layer;
            None = on CPU only.

    Returns:
        A :class:`ScanResult`.

    Example:
        >>> scan = sensitivity_scan(model, loaders["test"], fine_grained_prune)
        >>> scan.accuracies["backbone.conv0.weight"]   # one fraction per sparsity
    """
    stages = _vgg_stages(model)
    if stages is None:
        return naive_sensitivity_scan(model, dataloader, prune_fn, scan_step=scan_step,
                                      scan_start=scan_start, scan_end=scan_end, verbose=verbose)
    _check_replayable(dataloader)
    sparsities = scan_sparsities(scan_step, scan_start, scan_end)
    named = prunable_parameters(model)
    device = model_device(model)
    if stack_sparsities is None:
        stack_sparsities = device.type == "cpu"
    # On CPU, run batches on parallel single-threaded workers: faster than multi-threaded ops
    # on a busy machine, and oneDNN's results do not depend on the thread count.
    threads = torch.get_num_threads()
    workers = threads if device.type == "cpu" and stack_sparsities else 1
    pool = ThreadPoolExecutor(workers) if workers > 1 else None

    def pmap(fn: Callable, items: list, bar: tqdm | None = None, step: float = 0.0) -> list:
        out = []
        for item in pool.map(fn, items) if pool is not None else map(fn, items):
            out.append(item)
            if bar is not None:
                bar.update(step)
        return out

    result = ScanResult(sparsities)
    was_training = model.training
    model.eval()
    if pool is not None:
        torch.set_num_threads(1)
    bar = tqdm(total=len(named) * len(sparsities), desc="scan", leave=False, disable=not verbose,
               bar_format="{desc}: {percentage:3.0f}%|{bar}| {elapsed}<{remaining}")
    try:
        with torch.inference_mode():
            batches = [(x.to(device), y.to(device)) for x, y in dataloader]
        if not batches:
            raise ValueError("sensitivity_scan() got an empty dataloader: there is nothing to measure")
        hidden = [x for x, _ in batches]  # inputs of stage `done` for each batch
        done = 0
        for name, param in named:
            start = _owner_stage(model, name)
            # advance the dense prefix up to this layer's input
            hidden = pmap(lambda h, a=done, b=start: _advance(stages, a, b, h), hidden)
            done = start
            original = param.detach().clone()
            accs = []
            try:
                if stack_sparsities and _weight_swappable(stages[start], name):
                    bar.set_description(f"scan {name}")
                    weights = [_pruned(original, s, prune_fn) for s in sparsities]
                    correct = torch.zeros(len(weights), dtype=torch.long)
                    for c in pmap(lambda hb: _stacked_correct(stages, start, weights, hb[0], hb[1][1]),
                                  list(zip(hidden, batches)), bar, len(weights) / len(batches)):
                        correct += c.cpu()
                    num = sum(int(y.shape[0]) for _, y in batches)
                    accs = [int(c) / num for c in correct]
                else:
                    for s in sparsities:
                        bar.set_description(f"scan {name} @ {s:.2f}")
                        prune_fn(param.detach(), s)
                        accs.append(_suffix_accuracy(stages, start, hidden, batches))
                        param.copy_(original)
                        bar.update()
            finally:
                param.copy_(original)
            result.accuracies[name] = accs
            if verbose:
                tqdm.write(_summary(name, sparsities, accs))
    finally:
        bar.close()
        model.train(was_training)
        if pool is not None:
            pool.shutdown(cancel_futures=True)
            torch.set_num_threads(threads)
    return result


@torch.inference_mode()
def _suffix_accuracy(stages: list[Callable], start: int, hidden: list[torch.Tensor],
                     batches: list[Batch]) -> float:
    """Run stages[start:] on each cached input and return the accuracy (same ops as evaluate)."""
    num_correct = torch.zeros((), dtype=torch.long, device=batches[0][1].device)
    num_samples = 0
    for h, (_, targets) in zip(hidden, batches):
        for stage in stages[start:]:
            h = stage(h)
        num_correct += (h.argmax(dim=1) == targets).sum()
        num_samples += targets.shape[0]
    return int(num_correct) / num_samples


def _pruned(original: torch.Tensor, sparsity: float, prune_fn: PruneFn) -> torch.Tensor:
    """Return a copy of ``original`` pruned in place by ``prune_fn`` (as the lab prunes the weight)."""
    weight = original.clone()
    prune_fn(weight, sparsity)
    return weight


def _forward_with(stage: nn.Module, weight: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``stage(x)`` with ``weight`` instead of ``stage.weight``, by the kernel ``stage.forward`` uses."""
    if type(stage).forward is nn.Conv2d.forward:
        return stage._conv_forward(x, weight, stage.bias)
    return F.linear(x, weight, stage.bias)  # nn.Linear.forward


def _weight_swappable(stage: object, name: str) -> bool:
    return name.endswith(".weight") and (
        type(stage).forward is nn.Conv2d.forward or type(stage).forward is nn.Linear.forward)


@torch.inference_mode()
def _stacked_correct(stages: list[Callable], start: int, weights: list[torch.Tensor],
                     h: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Correct counts (S,) on one batch: stage ``start`` once per weight, the rest on one stack."""
    outs = [_forward_with(stages[start], w, h) for w in weights]
    z = torch.cat(outs)  # (S * N, ...): sparsity-major
    for stage in stages[start + 1:]:
        z = stage(z)
    preds = z.argmax(dim=1).view(len(weights), -1)  # (S, N)
    return (preds == targets).sum(dim=1)


@torch.inference_mode()
def _advance(stages: list[Callable], begin: int, end: int, h: torch.Tensor) -> torch.Tensor:
    for stage in stages[begin:end]:
        h = stage(h)
    return h
