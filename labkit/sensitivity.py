"""Per-layer sensitivity scans: the lab's loop and a fast, exact one.

A scan prunes one parameter at a time to each sparsity with the student's ``prune_fn``,
evaluates the model and restores the parameter. Accuracies are fractions in [0, 1].
"""

from __future__ import annotations

import math
import os
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

__all__ = ["ScanResult", "ScanPlan", "scan_sparsities", "sensitivity_scan", "naive_sensitivity_scan",
           "default_memory_budget", "plan_scan"]

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


@dataclass(frozen=True)
class ScanPlan:
    """How :func:`sensitivity_scan` keeps to its memory budget.

    Attributes:
        budget: bytes the scan may use for cached activations and stacked batches.
        chunks: consecutive groups of the loader's batches scanned one after the other (each
            caches one layer's inputs for its images only); 1 = the whole set at once.
        workers: parallel single-threaded CPU workers (1 on GPU).
        sub_batch: images per stacked evaluation (a batch of the loader is split into pieces
            of at most this many images; 0 = not split).
        per_image: estimated bytes per image of the cache / of a stacked evaluation.
    """

    budget: int
    chunks: list[list[int]]
    workers: int
    sub_batch: int
    per_image: tuple[int, int]


def default_memory_budget(device: torch.device | str) -> int:
    """Half of the memory free now: on a GPU (``torch.cuda.mem_get_info``), on a CPU the
    system's available memory (``MemAvailable``; 8 GiB when unknown)."""
    device = torch.device(device)
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return int(free) // 2
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024 // 2
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") // 2
    except (ValueError, OSError, AttributeError):
        return 4 << 30


@torch.inference_mode()
def _bytes_per_image(stages: list[Callable], x: torch.Tensor) -> list[int]:
    """Bytes of each stage's input for one image (index len(stages): the logits)."""
    h = x[:1]
    sizes = [h.element_size() * h.numel()]
    for stage in stages:
        h = stage(h)
        sizes.append(h.element_size() * h.numel())
    return sizes


def plan_scan(stages: list[Callable], starts: list[int], batch_sizes: list[int], n_sparsities: int,
              x: torch.Tensor, *, stack: bool, threads: int, budget: int) -> ScanPlan:
    """Split the scan so that its cache and its stacked batches fit ``budget`` bytes.

    The cache (one layer's inputs for every image of a chunk, twice while advancing to the next
    layer) gets half of the budget, the CPU workers' stacked evaluations (``n_sparsities`` x
    images, about 3 activations each live at the widest layer) the other half.
    """
    sizes = _bytes_per_image(stages, x)
    cache_per_image = 2 * max(sizes[s] for s in starts)
    stack_per_image = 3 * n_sparsities * max(sizes) if stack else 0
    half = max(budget // 2, 1)
    per_chunk = max(1, half // cache_per_image)
    chunks: list[list[int]] = [[]]
    count = 0
    for k, n in enumerate(batch_sizes):
        if chunks[-1] and count + n > per_chunk:
            chunks.append([])
            count = 0
        chunks[-1].append(k)
        count += n
    workers, sub_batch = 1, 0
    if stack:
        largest = max(batch_sizes)
        fits = max(1, half // stack_per_image)  # images in flight over all workers
        if fits < largest:  # split batches into pieces, one piece per worker at a time
            workers = max(1, min(threads, fits))
            sub_batch = fits // workers
        else:
            workers = max(1, min(threads, fits // largest))
    return ScanPlan(budget, chunks, workers, sub_batch, (cache_per_image, stack_per_image))


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
    memory_budget: int | None = None,
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
    On CPU the batches are also spread over up to ``torch.get_num_threads()`` single-threaded
    workers (the thread count is restored afterwards): on a busy machine this beats
    multi-threaded kernels, and oneDNN's results do not depend on the thread count.

    Memory: the scan keeps one layer's inputs for the images it scans (up to 256 KiB per image
    for the full VGG: 2.5 GiB for the 10,000 test images), and on CPU each worker evaluates
    ``len(sparsities)`` x N images at once (about 4.6 GiB for N=512 on the full VGG). Both are
    kept within ``memory_budget`` (default: half of the free GPU memory, or of the available
    RAM on CPU): the loader's batches are scanned in consecutive chunks (whole batches, so
    every batch is the same as the lab's), and on CPU fewer workers run, on smaller pieces of
    a batch when needed. Results do not change (the correct counts are summed). The model is
    evaluated in eval mode; its mode and every weight are restored in a ``finally`` (also on
    KeyboardInterrupt).

    Args:
        model: the network (the lab's VGG for the fast path).
        dataloader: yields (images (N, 3, H, W), labels (N,)); must not shuffle.
        prune_fn: the student's ``fine_grained_prune(tensor, sparsity) -> mask`` (in place).
        scan_step, scan_start, scan_end: sparsities ``scan_start, +scan_step, ... < scan_end``.
        verbose: one progress bar over all (parameter, sparsity) pairs, and a summary line per
            parameter.
        stack_sparsities: stack a layer's sparsities into one batch after the pruned layer;
            None = on CPU only.
        memory_budget: bytes for the cache and the stacked batches; None = see above.

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
    threads = torch.get_num_threads()
    was_training = model.training
    model.eval()
    pool: ThreadPoolExecutor | None = None
    try:
        with torch.inference_mode():
            batches = [(x.to(device), y.to(device)) for x, y in dataloader]
        if not batches:
            raise ValueError("sensitivity_scan() got an empty dataloader: there is nothing to measure")
        starts = [_owner_stage(model, name) for name, _ in named]
        budget = memory_budget if memory_budget is not None else default_memory_budget(device)
        plan = plan_scan(stages, starts, [int(y.shape[0]) for _, y in batches], len(sparsities),
                         batches[0][0], stack=stack_sparsities,
                         threads=threads if device.type == "cpu" else 1, budget=budget)
        # On CPU, run batches on parallel single-threaded workers: faster than multi-threaded
        # ops on a busy machine, and oneDNN's results do not depend on the thread count.
        if plan.workers > 1:
            pool = ThreadPoolExecutor(plan.workers)
            torch.set_num_threads(1)
        return _scan(stages, named, starts, batches, sparsities, prune_fn, plan, pool,
                     stack_sparsities, verbose)
    finally:
        model.train(was_training)
        if pool is not None:
            pool.shutdown(cancel_futures=True)
            torch.set_num_threads(threads)


def _scan(stages: list[Callable], named: list[tuple[str, nn.Parameter]],
          starts: list[int], batches: list[Batch], sparsities: list[float], prune_fn: PruneFn,
          plan: ScanPlan, pool: ThreadPoolExecutor | None, stack_sparsities: bool,
          verbose: bool) -> ScanResult:
    """The scan proper (see :func:`sensitivity_scan`); every weight is restored in a finally."""

    def pmap(fn: Callable, items: list, bar: tqdm | None = None, step: float = 0.0) -> list:
        out = []
        for item in pool.map(fn, items) if pool is not None else map(fn, items):
            out.append(item)
            if bar is not None:
                bar.update(step)
        return out

    num = sum(int(y.shape[0]) for _, y in batches)
    correct = {name: torch.zeros(len(sparsities), dtype=torch.long) for name, _ in named}
    result = ScanResult(sparsities)
    chunks = len(plan.chunks)
    bar = tqdm(total=len(named) * len(sparsities), desc="scan", leave=False, disable=not verbose,
               bar_format="{desc}: {percentage:3.0f}%|{bar}| {elapsed}<{remaining}")
    try:
        for c, chunk in enumerate(plan.chunks):
            part = [batches[k] for k in chunk]
            hidden = [x for x, _ in part]  # inputs of stage `done` for each batch of the chunk
            done = 0
            where = f" (images chunk {c + 1}/{chunks})" if chunks > 1 else ""
            for (name, param), start in zip(named, starts):
                # advance the dense prefix up to this layer's input
                hidden = pmap(lambda h, a=done, b=start: _advance(stages, a, b, h), hidden)
                done = start
                original = param.detach().clone()
                try:
                    if stack_sparsities and _weight_swappable(stages[start], name):
                        bar.set_description(f"scan {name}{where}")
                        weights = [_pruned(original, s, prune_fn) for s in sparsities]
                        pieces = _pieces(hidden, part, plan.sub_batch)
                        for counts in pmap(lambda hb: _stacked_correct(stages, start, weights, hb[0], hb[1]),
                                           pieces, bar, len(weights) / len(pieces) / chunks):
                            correct[name] += counts.cpu()
                    else:
                        for i, s in enumerate(sparsities):
                            bar.set_description(f"scan {name} @ {s:.2f}{where}")
                            prune_fn(param.detach(), s)
                            correct[name][i] += _suffix_correct(stages, start, hidden, part)
                            param.copy_(original)
                            bar.update(1 / chunks)
                finally:
                    param.copy_(original)
                if c == chunks - 1:
                    result.accuracies[name] = [int(k) / num for k in correct[name]]
                    if verbose:
                        tqdm.write(_summary(name, sparsities, result.accuracies[name]))
            del hidden
    finally:
        bar.close()
    return result


def _pieces(hidden: list[torch.Tensor], batches: list[Batch], size: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """(cached input, targets) per batch, each batch split into pieces of ``size`` images (0: whole)."""
    out = []
    for h, (_, y) in zip(hidden, batches):
        if size <= 0 or size >= y.shape[0]:
            out.append((h, y))
        else:
            out.extend(zip(h.split(size), y.split(size)))
    return out


@torch.inference_mode()
def _suffix_correct(stages: list[Callable], start: int, hidden: list[torch.Tensor],
                    batches: list[Batch]) -> int:
    """Run stages[start:] on each cached input; the number of correct predictions (as evaluate)."""
    num_correct = torch.zeros((), dtype=torch.long, device=batches[0][1].device)
    for h, (_, targets) in zip(hidden, batches):
        for stage in stages[start:]:
            h = stage(h)
        num_correct += (h.argmax(dim=1) == targets).sum()
    return int(num_correct)


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
