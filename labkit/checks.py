"""Self-checks the Lab 1 notebook runs after each exercise: they print expected vs got.

Every check prints one plain line per quantity (``expected ..., got ...``) and returns True
when all match, so a notebook cell can show the report and a test cell can ``assert`` it.
The checks hold only what the lab shows students anyway (its 5x5 example tensor, its expected
mask, MAC counts of the 30%-pruned model); they contain no solution and no hidden test.

Shapes: C_out/C_in = output/input channels, kH/kW = kernel size, N = batch.
"""

from __future__ import annotations

import contextlib
import inspect
from typing import Callable, Iterator

import torch
from torch import nn

from .metrics import get_model_macs, get_sparsity
from .plots import plot_mask
from .runtime import exact_fp32, model_device

__all__ = [
    "LAB_TEST_TENSOR",
    "LAB_TEST_MASK",
    "check_equal",
    "check_close",
    "check_mask",
    "check_fine_grained_prune",
    "check_channel_prune_macs",
    "check_same_function",
    "with_dependency",
    "case",
    "plain_tensor",
]

# The lab's 5x5 example (rows as printed in the lab) and the mask it expects at sparsity 0.75.
LAB_TEST_TENSOR = torch.tensor(
    [
        [-0.46, -0.40, 0.39, 0.19, 0.37],
        [0.00, 0.40, 0.17, -0.15, 0.16],
        [-0.20, -0.23, 0.36, 0.25, 0.03],
        [0.24, 0.41, 0.07, 0.13, -0.15],
        [0.48, -0.09, -0.36, 0.12, 0.45],
    ]
)
LAB_TEST_MASK = torch.zeros(5, 5, dtype=torch.bool)
for _r, _c in [(0, 0), (0, 1), (1, 1), (3, 1), (4, 0), (4, 4)]:
    LAB_TEST_MASK[_r, _c] = True
del _r, _c

# MACs (torchprofile, one 1x3x32x32 image) of each profile's VGG after channel_prune(model,
# 0.3), keyed by the dense model's conv widths. The full model's is the lab's own assert;
# both are checked against the reference solution in tests/test_checks.py.
_PRUNED_MACS_AT_03: dict[tuple[int, ...], int] = {
    (64, 128, 256, 256, 512, 512, 512, 512): 305_388_064,  # full profile (the lab's number)
    (8, 16, 32, 32, 64, 64, 64, 64): 4_926_688,  # tiny profile
}
# Output channels conv0..conv6 keep at ratio 0.3 (conv7 keeps all), same keys: the lab's widths.
_KEPT_AT_03: dict[tuple[int, ...], tuple[int, ...]] = {
    (64, 128, 256, 256, 512, 512, 512, 512): (45, 90, 179, 179, 358, 358, 358),
    (8, 16, 32, 32, 64, 64, 64, 64): (6, 11, 22, 22, 45, 45, 45),
}


def _ok(flag: bool) -> str:
    return "ok" if flag else "MISMATCH"


def check_equal(what: str, expected: object, got: object) -> bool:
    """Print ``what: expected X, got Y`` and return whether they are equal (tensors must be
    plain: see :func:`plain_tensor`)."""
    for value in (expected, got):
        if isinstance(value, torch.Tensor) and not plain_tensor(what, value):
            return False
    same = bool(expected == got)
    print(f"{what}: expected {expected!r}, got {got!r} -> {_ok(same)}")
    return same


def check_close(
    what: str,
    expected: torch.Tensor | float,
    got: torch.Tensor | float,
    *,
    rtol: float,
    atol: float,
) -> bool:
    """Compare two tensors (or numbers) within ``atol + rtol * |expected|`` and print the gap.

    Shapes must agree exactly; dtypes may differ (both are compared in float64 on the CPU);
    tensors must be plain (see :func:`plain_tensor`).
    """
    for value in (expected, got):
        if isinstance(value, torch.Tensor) and not plain_tensor(what, value):
            return False
    e = torch.as_tensor(expected).detach().double().cpu()
    g = torch.as_tensor(got).detach().double().cpu()
    if e.shape != g.shape:
        print(f"{what}: expected shape {tuple(e.shape)}, got shape {tuple(g.shape)} -> MISMATCH")
        return False
    gap = (e - g).abs()
    same = bool((gap <= atol + rtol * e.abs()).all())
    worst = float(gap.max()) if gap.numel() else 0.0
    print(f"{what}: largest difference {worst:.3g} (allowed {atol:g} + {rtol:g}*|expected|) -> {_ok(same)}")
    return same


def check_mask(mask: torch.Tensor, expected: torch.Tensor) -> bool:
    """Compare a pruning mask with the expected one and name the positions that differ.

    Args:
        mask: any shape; bool, or numbers that are exactly 0 or 1.
        expected: bool tensor of the same shape.

    A tensor subclass is never accepted (see :func:`plain_tensor`).
    """
    if not (plain_tensor("mask", mask) and plain_tensor("expected mask", expected)):
        return False
    mask = mask.detach().cpu()
    if mask.shape != expected.shape:
        print(f"mask: expected shape {tuple(expected.shape)}, got {tuple(mask.shape)} -> MISMATCH")
        return False
    if mask.dtype != torch.bool and not bool(((mask == 0) | (mask == 1)).all()):
        print("mask: expected only 0/1 (or True/False) values, got other values -> MISMATCH")
        return False
    wrong = (mask.bool() != expected).nonzero().tolist()
    kept_e, kept_g = int(expected.sum()), int(mask.bool().sum())
    print(f"mask: expected {kept_e} kept entries, got {kept_g}; "
          f"{len(wrong)} positions differ -> {_ok(not wrong)}")
    for pos in wrong[:8]:
        print(f"  at {tuple(pos)}: expected {'kept' if expected[tuple(pos)] else 'pruned'}, "
              f"got {'kept' if mask.bool()[tuple(pos)] else 'pruned'}")
    return not wrong


def check_fine_grained_prune(
    prune_fn: Callable[[torch.Tensor, float], torch.Tensor],
    target_sparsity: float = 0.75,
    *,
    target_nonzeros: int | None = None,
    plot: bool = True,
) -> bool:
    """Run ``prune_fn`` on the lab's 5x5 example and report what it did (the lab's test).

    Without ``target_nonzeros`` the mask must equal :data:`LAB_TEST_MASK` (sparsity 0.75);
    with it, the pruned tensor must keep exactly that many non-zeros. The example is cloned,
    so the constant is never modified.

    Args:
        prune_fn: your ``fine_grained_prune(tensor, sparsity) -> mask``.
        target_sparsity: the sparsity passed to ``prune_fn``.
        target_nonzeros: the number of non-zeros expected after pruning, or None.
        plot: draw the tensor before and after pruning.
    """
    dense = LAB_TEST_TENSOR.clone()
    sparse = dense.clone()
    mask = prune_fn(sparse, target_sparsity)
    print("* Test fine_grained_prune()")
    print(f"  target sparsity: {target_sparsity:.2f}")
    print(f"  sparsity before pruning: {get_sparsity(dense):.2f}")
    print(f"  sparsity after pruning: {get_sparsity(sparse):.2f}")
    print(f"  sparsity of pruning mask: {get_sparsity(torch.as_tensor(mask)):.2f}")
    if plot:
        plot_mask(dense, sparse)
    if target_nonzeros is None:
        passed = check_mask(mask, LAB_TEST_MASK)
    else:
        passed = check_equal("non-zeros after pruning", target_nonzeros, int(sparse.count_nonzero()))
    print("* Test passed." if passed else "* Test failed.")
    if not passed and target_nonzeros is not None and not _passes_lab_example(prune_fn):
        print("  fine_grained_prune does not pass Q2's check yet, so this check cannot pass yet: fix Q2 first")
    return passed


def _passes_lab_example(prune_fn: Callable[[torch.Tensor, float], torch.Tensor]) -> bool:
    """Whether ``prune_fn`` gives the lab's mask on the 5x5 example at 0.75 (nothing printed)."""
    mask = prune_fn(LAB_TEST_TENSOR.clone(), 0.75)
    if type(mask) not in (torch.Tensor, nn.Parameter):
        return False
    mask = mask.detach().cpu()
    return mask.shape == LAB_TEST_MASK.shape and bool((mask.bool() == LAB_TEST_MASK).all()) and bool(
        ((mask == 0) | (mask == 1)).all())


def check_channel_prune_macs(
    pruned_model: nn.Module,
    dense_model: nn.Module,
    keep_fn: Callable[[int, float], int] | None = None,
) -> bool:
    """Check the MACs of ``channel_prune(dense_model, 0.3)`` against the lab's number.

    The expected count depends on the model (full or tiny profile); both are known. With
    ``keep_fn`` (your ``get_num_channels_to_keep``), it is checked first on the model's widths
    at ratio 0.3: if it is wrong, the MAC check cannot pass yet and says so.

    Raises:
        ValueError: ``dense_model`` is neither profile's VGG (no expected count).
    """
    widths = tuple(int(w) for w in getattr(dense_model, "widths", ()))
    if widths not in _PRUNED_MACS_AT_03:
        raise ValueError(f"no expected MACs for a VGG with conv widths {widths}: "
                         "pass the dense model of the full or the tiny profile")
    if keep_fn is not None:
        kept = tuple(keep_fn(w, 0.3) for w in widths[:-1])
        if kept != _KEPT_AT_03[widths]:
            print(f"get_num_channels_to_keep(channels, 0.3) for conv0..conv6: expected {_KEPT_AT_03[widths]}, "
                  f"got {kept} -> MISMATCH")
            print("get_num_channels_to_keep is wrong, so this check cannot pass yet: fix it first")
            return False
    x = torch.randn(1, 3, 32, 32, device=model_device(pruned_model))
    return check_equal("MACs of the 30%-pruned model", _PRUNED_MACS_AT_03[widths],
                       get_model_macs(pruned_model, x))


@torch.no_grad()
def check_same_function(
    what: str, model_a: nn.Module, model_b: nn.Module, inputs: torch.Tensor, *, atol: float = 1e-4
) -> bool:
    """Check two models compute the same logits on ``inputs`` (N, 3, H, W), up to ``atol``.

    Both models are evaluated in eval mode, in full fp32 (TF32 off on GPUs: with TF32 a
    correct channel sorting differs by ~5e-4); their modes and the flags are restored.
    """
    modes = (model_a.training, model_b.training)
    model_a.eval()
    model_b.eval()
    try:
        with exact_fp32():
            a = model_a(inputs.to(model_device(model_a)))
            b = model_b(inputs.to(model_device(model_b)))
    finally:
        model_a.train(modes[0])
        model_b.train(modes[1])
    return check_close(what, a, b, rtol=1e-4, atol=atol)


@contextlib.contextmanager
def with_dependency(func: Callable, name: str, replacement: Callable) -> Iterator[None]:
    """Inside the block, the global ``name`` that ``func`` calls is ``replacement``; afterwards
    it is what it was (or absent again).

    A hidden test uses it to grade one function with a correct version of another one it
    calls (e.g. ``channel_prune`` with a reference ``get_num_channels_to_keep``), so one mistake
    costs the points of one concept only. ``func``'s globals are the notebook's namespace.
    """
    names, missing = inspect.unwrap(func).__globals__, object()
    saved = names.get(name, missing)
    names[name] = replacement
    try:
        yield
    finally:
        if saved is missing:
            names.pop(name, None)
        else:
            names[name] = saved


CASE_NOTE = "labkit case: "  # the note case() adds; the grader reads it (labkit_course.grading.hidden)


@contextlib.contextmanager
def case(description: str) -> Iterator[None]:
    """Name the test case the block checks: an error raised inside it carries the note
    ``labkit case: <description>``, so a failure report can say which case it was. In a test
    cell: ``with lk.case(f"pruning {sparsity} of {numel} weights"): ...``."""
    try:
        yield
    except BaseException as exc:
        if hasattr(exc, "add_note"):
            exc.add_note(CASE_NOTE + description)
        raise


def plain_tensor(what: str, value: object) -> bool:
    """Whether ``value`` is a plain ``torch.Tensor`` (or an ``nn.Parameter``); print why not.

    A tensor subclass can override ``__torch_function__`` and make ``torch.equal`` or
    ``torch.testing.assert_close`` see other data than it holds, so checks compare only
    plain tensors.
    """
    if type(value) in (torch.Tensor, nn.Parameter):
        return True
    kind = type(value)
    if isinstance(value, torch.Tensor):
        print(f"{what}: expected a plain torch.Tensor, got the tensor subclass "
              f"{kind.__module__}.{kind.__qualname__} -> MISMATCH (return a plain tensor)")
    else:
        print(f"{what}: expected a torch.Tensor, got {kind.__qualname__} -> MISMATCH")
    return False
