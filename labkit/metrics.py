"""Model metrics: MACs, parameter counts, sizes in bits, sparsity and latency.

Sizes are in **bits**, as in the lab: divide by the constants below to print them
(``get_model_size(model) / MiB``). Sparsity is a fraction in [0, 1].
"""

from __future__ import annotations

import statistics
import time

import torch
from torch import nn

from .runtime import exact_fp32, model_device

__all__ = [
    "Byte", "KiB", "MiB", "GiB",
    "get_model_macs", "get_num_parameters", "get_model_size",
    "get_sparsity", "get_model_sparsity", "measure_latency",
]

Byte = 8  # bits
KiB = 1024 * Byte
MiB = 1024 * KiB
GiB = 1024 * MiB


def get_model_macs(model: nn.Module, inputs: torch.Tensor) -> int:
    """Count multiply-accumulates of one forward pass with torchprofile (the lab's counter).

    torchprofile counts conv and linear MACs plus one per BatchNorm output element and the
    mean; the full VGG on a (1, 3, 32, 32) input gives 606,164,480. Tracing runs in eval mode
    without gradients (BatchNorm statistics are untouched) and the mode is restored.

    Args:
        model: the network.
        inputs: an example batch (N, 3, H, W); it is moved to the model's device.
    """
    from torchprofile import profile_macs

    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            return int(profile_macs(model, inputs.to(model_device(model))))
    finally:
        model.train(was_training)


def get_num_parameters(model: nn.Module, count_nonzero_only: bool = False) -> int:
    """Count the elements of every parameter (BN affine and biases included), or the non-zeros."""
    return int(
        sum(int(p.count_nonzero()) if count_nonzero_only else p.numel() for p in model.parameters())
    )


def get_model_size(model: nn.Module, data_width: int = 32, count_nonzero_only: bool = False) -> int:
    """Return the model's size in bits: (non-zero) parameter count x ``data_width`` bits."""
    return get_num_parameters(model, count_nonzero_only) * data_width


def get_sparsity(tensor: torch.Tensor) -> float:
    """Return the fraction of zeros in ``tensor`` (1 - nonzeros / numel); 0.0 for an empty tensor."""
    n = tensor.numel()
    return 0.0 if n == 0 else 1.0 - int(tensor.count_nonzero()) / n


def get_model_sparsity(model: nn.Module) -> float:
    """Return the fraction of zeros over all of ``model``'s parameters."""
    total = get_num_parameters(model)
    return 0.0 if total == 0 else 1.0 - get_num_parameters(model, count_nonzero_only=True) / total


@torch.no_grad()
@exact_fp32()  # time the lab's arithmetic: full fp32, TF32 off on GPUs
def measure_latency(
    model: nn.Module,
    dummy_input: torch.Tensor,
    n_warmup: int = 20,
    n_test: int = 100,
    *,
    num_threads: int | None = None,
    verbose: bool = True,
) -> float:
    """Time ``model(dummy_input)`` and return the **median** latency in seconds.

    Runs ``n_warmup`` untimed forwards, then ``n_test`` timed ones on the model's device (CUDA
    work is synchronised before each clock read). The model is in eval mode while timed and
    its mode is restored. With ``verbose``, one line states the median, the device and the CPU
    thread count used, since CPU latency depends on it.

    Args:
        model: the network.
        dummy_input: (N, 3, H, W), moved to the model's device.
        n_warmup: untimed forwards first.
        n_test: timed forwards (>= 1).
        num_threads: CPU threads to time with; the current setting when None (restored after).
        verbose: print the one-line summary.
    """
    if n_test < 1 or n_warmup < 0:
        raise ValueError(f"n_test={n_test} must be >= 1 and n_warmup={n_warmup} >= 0")
    device = model_device(model)
    x = dummy_input.to(device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    old_threads = torch.get_num_threads()
    if num_threads is not None:
        torch.set_num_threads(num_threads)
    was_training = model.training
    model.eval()
    try:
        for _ in range(n_warmup):
            model(x)
        sync()
        times = []
        for _ in range(n_test):
            start = time.perf_counter()
            model(x)
            sync()
            times.append(time.perf_counter() - start)
        threads = torch.get_num_threads()
    finally:
        model.train(was_training)
        torch.set_num_threads(old_threads)
    median = statistics.median(times)
    if verbose:
        where = f"{device.type}" + (f", {threads} CPU threads" if device.type == "cpu" else "")
        print(f"latency {median * 1e3:.2f} ms (median of {n_test}, batch {x.shape[0]}, {where})")
    return median
