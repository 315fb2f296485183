"""Latency of the dense vs the channel-pruned VGG (ratio 0.3) against the MAC reduction.

The models are timed interleaved (dense, pruned, pruned-rounded-to-8, then again ...) so that a
noisy neighbour slows all of them alike; each figure is the median of the timed runs. Weights do
not change the latency of dense kernels, so the pruned models are built directly from their
widths (the keep counts of the lab's ``get_num_channels_to_keep``, loaded from tests/oracle.py).
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from ..channels import channel_keep_counts
from ..metrics import get_model_macs
from ..models import VGG
from . import load_oracle


def pruned_widths(ratio: float, round_to: int | None = None) -> list[int]:
    """Widths of the lab's channel-pruned VGG: conv0..6 keep ``keep(c, ratio)``, conv7 stays."""
    keep = load_oracle().get_num_channels_to_keep
    dense = VGG()
    return channel_keep_counts(dense, ratio, keep, round_to=round_to) + dense.widths[-1:]


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


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--ratio", type=float, default=0.3, help="channel prune ratio (default 0.3)")
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 64])
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--time-per-batch", type=float, default=20.0,
                        help="approximate seconds of timing per batch size and layout")


def run(args: argparse.Namespace) -> int:
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    variants = {
        "dense": VGG().widths,
        f"pruned {args.ratio}": pruned_widths(args.ratio),
        f"pruned {args.ratio}, x8": pruned_widths(args.ratio, round_to=8),
    }
    one = torch.randn(1, 3, 32, 32)
    macs = {name: get_model_macs(VGG(widths=w), one) for name, w in variants.items()}
    print(f"   CPU, {torch.get_num_threads()} threads, median of interleaved runs, torch.inference_mode")
    for name, w in variants.items():
        print(f"   {name:<18} widths {w}  MACs {macs[name] / 1e6:.1f} M")
    print(f"   {'batch':>5} {'layout':<14} {'model':<18} {'ms':>9} {'speed-up':>9} {'MAC cut':>8} {'speed-up/MAC cut':>17}")
    for batch in args.batches:
        for layout in (torch.contiguous_format, torch.channels_last):
            x = torch.randn(batch, 3, 32, 32).to(memory_format=layout)
            models = {name: VGG(widths=w).to(memory_format=layout) for name, w in variants.items()}
            start = time.perf_counter()
            one_round = time_interleaved(models, x, reps=1, warmup=2)
            per_round = sum(one_round.values())
            reps = max(5, int(args.time_per_batch / max(per_round, 1e-4)))
            med = time_interleaved(models, x, reps=reps, warmup=0)
            label = "NCHW" if layout is torch.contiguous_format else "channels_last"
            for name in variants:
                speedup = med["dense"] / med[name]
                cut = macs["dense"] / macs[name]
                print(f"   {batch:>5} {label:<14} {name:<18} {med[name] * 1e3:>9.2f} {speedup:>8.2f}x "
                      f"{cut:>7.2f}x {speedup / cut:>17.2f}")
            print(f"   ({reps} interleaved runs in {time.perf_counter() - start:.0f} s)")
    return 0
