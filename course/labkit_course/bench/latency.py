"""Latency of the dense vs the channel-pruned VGG (ratio 0.3) against the MAC reduction.

The models are timed interleaved (dense, pruned, pruned-rounded-to-8, then again ...) so that a
noisy neighbour slows all of them alike; each figure is the median of the timed runs. Weights do
not change the latency of dense kernels, so the pruned models are built directly from their
widths: those of the model pruned by the reference ``channel_prune`` of the course's source notebook.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path
from types import SimpleNamespace

import torch

from labkit.channels import get_convs_and_bns
from labkit.metrics import get_model_macs
from labkit.models import VGG
from labkit_course.source_notebook import load_solutions


def pruned_widths(solutions: SimpleNamespace, ratio: float, round_to: int | None = None) -> list[int]:
    """Conv widths of the lab's VGG pruned by the reference ``channel_prune`` at ``ratio``.

    With ``round_to``, each pruned conv keeps the nearest multiple of it (at least one) of the
    reference ``get_num_channels_to_keep`` count; conv7 is never pruned.
    """
    dense = VGG()
    ratios: float | list[float] = ratio
    if round_to is not None:
        keep = [solutions.get_num_channels_to_keep(c, ratio) for c in dense.widths[:-1]]
        keep = [min(c, max(round_to, round_to * round(k / round_to))) for c, k in zip(dense.widths, keep)]
        ratios = [1 - k / c for c, k in zip(dense.widths, keep)]
    convs, _ = get_convs_and_bns(solutions.channel_prune(dense, ratios))
    return [conv.out_channels for conv in convs]


@torch.inference_mode()
def time_interleaved(models: dict[str, torch.nn.Module], x: torch.Tensor, *, reps: int,
                     warmup: int) -> dict[str, float]:
    """Median seconds per forward of each model, timed in turn ``reps`` times."""
    for m in models.values():
        m.eval()
        for _ in range(warmup):
            m(x)
    times: dict[str, list[float]] = {name: [] for name in models}
    for _ in range(reps):
        for name, m in models.items():
            start = time.perf_counter()
            m(x)
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}


def run(*, ratio: float = 0.3, batches: list[int] = (1, 64), threads: int | None = None,
        time_per_batch: float = 20.0, course: Path | None = None) -> int:
    """Print the latency of the dense and pruned VGGs per batch size and memory layout.

    Args:
        ratio: channel prune ratio.
        batches: batch sizes to time.
        threads: torch CPU threads (None: torch's setting).
        time_per_batch: approximate seconds of timing per batch size and layout.
        course: nbgrader course folder whose source notebook gives ``channel_prune``.
    """
    if threads is not None:
        torch.set_num_threads(threads)
    torch.manual_seed(0)
    solutions = load_solutions(course)
    variants = {
        "dense": VGG().widths,
        f"pruned {ratio}": pruned_widths(solutions, ratio),
        f"pruned {ratio}, x8": pruned_widths(solutions, ratio, round_to=8),
    }
    one = torch.randn(1, 3, 32, 32)
    macs = {name: get_model_macs(VGG(widths=w), one) for name, w in variants.items()}
    print(f"   CPU, {torch.get_num_threads()} threads, median of interleaved runs, torch.inference_mode")
    for name, w in variants.items():
        print(f"   {name:<18} widths {w}  MACs {macs[name] / 1e6:.1f} M")
    print(f"   {'batch':>5} {'layout':<14} {'model':<18} {'ms':>9} {'speed-up':>9} {'MAC cut':>8} {'speed-up/MAC cut':>17}")
    for batch in batches:
        for layout in (torch.contiguous_format, torch.channels_last):
            x = torch.randn(batch, 3, 32, 32).to(memory_format=layout)
            models = {name: VGG(widths=w).to(memory_format=layout) for name, w in variants.items()}
            start = time.perf_counter()
            one_round = time_interleaved(models, x, reps=1, warmup=2)
            per_round = sum(one_round.values())
            reps = max(5, int(time_per_batch / max(per_round, 1e-4)))
            med = time_interleaved(models, x, reps=reps, warmup=0)
            label = "NCHW" if layout is torch.contiguous_format else "channels_last"
            for name in variants:
                speedup = med["dense"] / med[name]
                cut = macs["dense"] / macs[name]
                print(f"   {batch:>5} {label:<14} {name:<18} {med[name] * 1e3:>9.2f} {speedup:>8.2f}x "
                      f"{cut:>7.2f}x {speedup / cut:>17.2f}")
            print(f"   ({reps} interleaved runs in {time.perf_counter() - start:.0f} s)")
    return 0
