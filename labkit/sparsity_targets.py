"""Q5's two targets for a ``sparsity_dict``, checked exactly as the autograder checks them.

* **size** (5 points): the lab's full VGG pruned with the dict keeps at most 25% of its dense
  size. It is counted exactly from the shapes (a meta-device model, no weights needed): a
  pruned tensor keeps ``numel - round(sparsity * numel)`` entries, every other parameter
  (batch norm, biases) is kept, as in the lab's "non-zeros x 32 bits".
* **accuracy** (5 points): the full model cannot be fine-tuned while grading, so the tiny
  model is pruned and fine-tuned for one short epoch on the grading subsets, and must keep
  :data:`ACCURACY_BAR` of its dense accuracy. The tiny model is sensitive in other layers than
  the full one, so each sparsity is first moved to the tiny sparsity that costs the tiny layer
  the same share of its accuracy as the asked one costs the full layer (full curves: the lab's
  published scan; tiny curves: :data:`TINY_CURVES`). Calibration: BENCHMARKS.md, "Q5".

The notebook's self-check :func:`check_sparsity_dict` and the hidden tests call the same
functions; the hidden accuracy test passes a correct mask function, so a mistake in Q2 does not
cost Q5's points. Every check leaves all random states (Python, NumPy, torch, CUDA) as it found
them and never touches the notebook's model or loaders.
"""

from __future__ import annotations

import contextlib
import io
import random
from typing import Iterator, Mapping

import numpy as np
import torch

from .budget import GRADING_TEST_IMAGES, GRADING_TRAIN_IMAGES
from .data import make_loaders
from .finetune import fine_tune
from .models import VGG, load_checkpoint
from .prepare import prepare
from .profiles import resolve_profile
from .pruning import FineGrainedPruner, PruneFn, validate_sparsity_dict
from .published import LAB_DENSE_ACCURACY, LAB_SENSITIVITY
from .runtime import get_device, is_fast_grading
from .training import evaluate

__all__ = ["SIZE_TARGET", "ACCURACY_BAR", "TINY_CURVES", "full_vgg_kept_parameters",
           "tiny_sparsities", "preserved_random_state", "check_sparsity_size",
           "check_sparsity_accuracy", "check_sparsity_dict"]

SIZE_TARGET = 0.25  # at most this fraction of the full VGG's dense size
ACCURACY_BAR = 0.66  # fraction of the tiny model's dense accuracy (BENCHMARKS.md, Q5)
FINETUNE_EPOCHS = 1
_SEED = 0  # lk.setup()'s seed: the loaders are those the autograder's notebook gets

GRID = (0.0, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)  # sparsities of the curves below
# Tiny model (the shipped labkit/assets/vgg_tiny.pth), reference mask rule, grading test subset: accuracy after
# pruning one layer alone, as a fraction of dense (95.80%), at GRID; 1.0 = chance. Re-measure
# when the tiny checkpoint, its data or the grading subsets change (BENCHMARKS.md, Q5).
TINY_CURVES = {
    "backbone.conv0.weight": (1.0, 0.962, 0.829, 0.737, 0.564, 0.564, 0.144, 0.104),
    "backbone.conv1.weight": (1.0, 0.994, 0.985, 0.983, 0.919, 0.839, 0.248, 0.104),
    "backbone.conv2.weight": (1.0, 1.0, 0.985, 0.95, 0.877, 0.731, 0.532, 0.104),
    "backbone.conv3.weight": (1.0, 0.994, 0.994, 0.994, 0.99, 0.973, 0.889, 0.104),
    "backbone.conv4.weight": (1.0, 0.998, 0.994, 0.985, 0.952, 0.866, 0.618, 0.104),
    "backbone.conv5.weight": (1.0, 0.996, 0.996, 0.996, 0.985, 0.946, 0.635, 0.104),
    "backbone.conv6.weight": (1.0, 0.996, 0.994, 0.994, 0.994, 0.983, 0.887, 0.104),
    "backbone.conv7.weight": (1.0, 0.998, 0.996, 0.996, 0.99, 0.983, 0.973, 0.104),
    "classifier.weight": (1.0, 0.992, 0.992, 0.992, 0.992, 0.992, 0.82, 0.104),
}


def _full_curves() -> dict[str, tuple[float, ...]]:
    """The published scan as a fraction of dense at GRID (3 decimals, made non-increasing)."""
    out = {}
    for name, accs in LAB_SENSITIVITY.accuracies.items():
        ys = [1.0] + [round(a / LAB_DENSE_ACCURACY, 3) for a in accs] + [round(0.1 / LAB_DENSE_ACCURACY, 3)]
        for i in range(1, len(ys)):
            ys[i] = min(ys[i], ys[i - 1])
        out[name] = tuple(ys)
    return out


FULL_CURVES = _full_curves()


def _curve(ys: tuple[float, ...], x: float) -> float:
    """The piecewise-linear curve through (GRID, ys) at sparsity x."""
    i = min(max(j for j, g in enumerate(GRID) if g <= x), len(GRID) - 2)
    return ys[i] + (x - GRID[i]) / (GRID[i + 1] - GRID[i]) * (ys[i + 1] - ys[i])


def _inverse(ys: tuple[float, ...], y: float) -> float:
    """The smallest sparsity where the non-increasing curve (GRID, ys) falls to y."""
    for i in range(len(GRID) - 1):
        if ys[i + 1] <= y:
            t = 0.0 if ys[i] == ys[i + 1] else min(1.0, max(0.0, (ys[i] - y) / (ys[i] - ys[i + 1])))
            return GRID[i] + t * (GRID[i + 1] - GRID[i])
    return 1.0


def _full_vgg() -> torch.nn.Module:
    with torch.device("meta"):  # shapes only, no memory
        return VGG()


def _problem(sparsity_dict: object) -> str | None:
    """Why ``sparsity_dict`` cannot be checked (missing keys, a ``...`` left), or None."""
    if not isinstance(sparsity_dict, Mapping):
        return f"sparsity_dict must be a dict, got {type(sparsity_dict).__name__}"
    left = [k for k, v in sparsity_dict.items() if v is Ellipsis]
    if left:
        return f"replace each ... by a sparsity in [0, 1] (still ... for {', '.join(left)})"
    try:
        validate_sparsity_dict(_full_vgg(), sparsity_dict)
    except (KeyError, ValueError) as e:
        return str(e.args[0] if e.args else e)
    return None


def full_vgg_kept_parameters(sparsity_dict: Mapping[str, float]) -> tuple[int, int]:
    """``(kept, dense)``: parameters of the lab's full VGG after pruning with the dict, and before.

    Raises:
        KeyError, ValueError: the dict does not have the 9 keys with values in [0, 1].
    """
    full = _full_vgg()
    sparsity = validate_sparsity_dict(full, sparsity_dict)
    dense = sum(p.numel() for p in full.parameters())
    kept = sum(p.numel() - round(sparsity[n] * p.numel()) if n in sparsity else p.numel()
               for n, p in full.named_parameters())
    return kept, dense


def tiny_sparsities(sparsity_dict: Mapping[str, float]) -> dict[str, float]:
    """Move each sparsity to the tiny model's equally damaging one (0 stays 0); see the module doc."""
    full = validate_sparsity_dict(_full_vgg(), sparsity_dict)
    return {name: 0.0 if s == 0 else round(_inverse(TINY_CURVES[name], _curve(FULL_CURVES[name], s)), 3)
            for name, s in full.items()}


@contextlib.contextmanager
def preserved_random_state(device: torch.device | None = None) -> Iterator[None]:
    """Run a block and put Python's, NumPy's and torch's random states back afterwards.

    torch's CPU generator always; the current CUDA device's too when ``device`` is a CUDA device.
    """
    py_state, np_state = random.getstate(), np.random.get_state()
    devices = []
    if device is not None and device.type == "cuda":
        devices = [device.index if device.index is not None else torch.cuda.current_device()]
    try:
        with torch.random.fork_rng(devices=devices):
            yield
    finally:
        random.setstate(py_state)
        np.random.set_state(np_state)


def _say(what: str, detail: str, ok: bool) -> None:
    print(f"{what}: {detail} -> {'ok' if ok else 'MISMATCH'}")


def check_sparsity_size(sparsity_dict: Mapping[str, float]) -> bool:
    """Print the full VGG's size after pruning with ``sparsity_dict`` against the 25% target.

    Returns:
        True when at most :data:`SIZE_TARGET` of the dense size is kept; False (with the
        reason printed) otherwise, also for a dict with missing keys or ``...`` left in it.
    """
    problem = _problem(sparsity_dict)
    if problem:
        _say("size", problem, False)
        return False
    kept, dense = full_vgg_kept_parameters(sparsity_dict)
    ok = kept <= SIZE_TARGET * dense
    _say("size", f"the full VGG pruned with sparsity_dict keeps {kept:,} of {dense:,} parameters = "
         f"{kept / dense:.2%} of its dense size; expected at most {SIZE_TARGET:.2%}", ok)
    return ok


def check_sparsity_accuracy(sparsity_dict: Mapping[str, float], prune_fn: PruneFn,
                            *, device: torch.device | str | None = None) -> bool:
    """Prune the tiny model like ``sparsity_dict``, fine-tune it briefly, compare with dense.

    What runs (see the module doc): the tiny checkpoint on the grading subsets (1,000 train,
    500 test images, seed 0), each sparsity moved by :func:`tiny_sparsities`, pruned with
    ``prune_fn`` (masks kept), fine-tuned for one epoch with torch seeded 0, best accuracy
    compared with :data:`ACCURACY_BAR` x dense. Random states are preserved; the notebook's
    model and loaders are not used.

    Args:
        sparsity_dict: the 9 sparsities of Q5.
        prune_fn: ``fine_grained_prune(tensor, sparsity) -> mask`` (prunes in place).
        device: where to run (default: the best available).

    Returns:
        True when the accuracy target is met; False (reason printed) otherwise.
    """
    problem = _problem(sparsity_dict)
    if problem:
        _say("accuracy", problem, False)
        return False
    device = torch.device(device) if device is not None else get_device()
    tiny = resolve_profile("tiny")
    prepare(tiny)  # the shipped tiny model (and its dataset when missing)
    with preserved_random_state(device):
        model = load_checkpoint(tiny.checkpoint).to(device).eval()
        loaders = make_loaders(tiny, batch_size=512, seed=_SEED, fast=True, device=device,
                               train_subset=GRADING_TRAIN_IMAGES, test_subset=GRADING_TEST_IMAGES)
        dense = evaluate(model, loaders["test"], verbose=False)
        pruner = FineGrainedPruner(model, tiny_sparsities(sparsity_dict), prune_fn)
        torch.manual_seed(0)
        history = fine_tune(model, loaders["train"], loaders["test"], epochs=FINETUNE_EPOCHS,
                            callbacks=[lambda: pruner.apply(model)], verbose=False)
    accuracy = history.best_accuracy
    ok = accuracy >= ACCURACY_BAR * dense
    _say("accuracy", f"pruned like sparsity_dict and fine-tuned briefly, the tiny model keeps {accuracy:.2%} "
         f"(dense {dense:.2%}); expected at least {ACCURACY_BAR:.0%} of dense = {ACCURACY_BAR * dense:.2%}", ok)
    if not ok:
        print("  too much accuracy lost: give the sensitive layers (see the sensitivity curves) a lower sparsity")
    return ok


def _prune_fn_ready(prune_fn: PruneFn) -> bool:
    """Whether ``prune_fn`` passes Q2's check on the lab's 5x5 example (quietly)."""
    from .checks import check_fine_grained_prune

    try:
        with contextlib.redirect_stdout(io.StringIO()):
            return check_fine_grained_prune(prune_fn, 0.75, plot=False)
    except NotImplementedError:
        return False


def check_sparsity_dict(sparsity_dict: Mapping[str, float], prune_fn: PruneFn) -> bool:
    """Run both Q5 checks the autograder runs and print each against its target.

    The accuracy check prunes with ``prune_fn`` (your ``fine_grained_prune``); if it does not
    pass Q2's check yet, the accuracy check is skipped and says so (the autograder grades Q5
    with a correct mask function, so only your dict counts there).

    On the grader's fast path (:func:`~labkit.runtime.is_fast_grading`) the accuracy check is
    not run here: the hidden test ``q5_test_accuracy`` runs it (with a correct mask function)
    right after, and one run of it is what grades.

    Returns:
        True only when both targets are met (fast grading path: when the size target is met).
    """
    size_ok = check_sparsity_size(sparsity_dict)
    if is_fast_grading():
        print("accuracy: not run twice while autograding: the autograder's accuracy test runs it next")
        return size_ok
    if not _prune_fn_ready(prune_fn):
        _say("accuracy", "fine_grained_prune does not pass Q2's check yet, so this check cannot pass yet "
             "(fix Q2 first; the autograder grades Q5 with a correct fine_grained_prune)", False)
        return False
    accuracy_ok = check_sparsity_accuracy(sparsity_dict, prune_fn)
    return size_ok and accuracy_ok
