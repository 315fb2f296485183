"""``labkit bench gpu``: the full profile's checks on one GPU, in a few minutes, one summary.

What a student's GPU (Colab's T4, a lab machine's A100/H100) must give, measured in one run:

1. **Dense accuracy** of the published checkpoint on the real CIFAR-10 test set when both are
   present (``labkit fetch``), compared with the lab's 92.95%; otherwise a seeded VGG on
   generated data (the figure then only shows that evaluation runs).
2. **The visible Q7 check**: ``check_same_function`` of the channel-sorted model vs the dense
   one, with ``apply_channel_sorting`` from the course's source notebook (labkit holds no
   solutions); also the largest logit difference with TF32 allowed, to show what
   :func:`labkit.exact_fp32` protects against.
3. **The scan** (:func:`labkit.sensitivity_scan`) against the lab's naive loop on the device:
   identical accuracies, and the speed ratio.
4. **The fast loop** (:class:`labkit.device_loader.DeviceLoader`, channels_last, the training precision of
   :func:`labkit.training_precision`) against the lab's ``DataLoader`` loop, one training
   epoch each: the >= 3x goal.
5. **The reference recipe** (``labkit train --profile full``) for a fixed short budget of
   epochs: seconds per epoch and the accuracy reached, extrapolated to the recipe's epochs.

Without a GPU every step runs at a small size and the summary says plainly that no GPU was
measured (nothing to record in BENCHMARKS.md).
"""

from __future__ import annotations

import contextlib
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch
from torch import nn

from labkit_course.source_notebook import load_solutions


@dataclass
class Step:
    """One line of the summary."""

    name: str
    ok: bool | None = None  # None: measured only, no pass/fail
    figures: str = ""
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Sizes:
    """How much each step does: the lab's amounts on a GPU, a smoke run on a CPU."""

    eval_images: int  # generated test images when CIFAR-10 is absent
    scan_images: int
    scan_width: float
    loop_train_images: int
    loop_width: float
    recipe_epochs: int
    recipe_train_images: int | None  # None: the whole training set
    recipe_width: float


GPU_SIZES = Sizes(eval_images=10_000, scan_images=2_048, scan_width=1.0, loop_train_images=20_000,
                  loop_width=1.0, recipe_epochs=2, recipe_train_images=None, recipe_width=1.0)
CPU_SIZES = Sizes(eval_images=32, scan_images=8, scan_width=0.125, loop_train_images=200,
                  loop_width=0.125, recipe_epochs=1, recipe_train_images=200, recipe_width=0.125)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _he_vgg(width: float, seed: int, device: torch.device) -> nn.Module:
    """A seeded VGG with He-normal weights (varied predictions, He-scale logits as in the issue)."""
    import labkit as lk

    torch.manual_seed(seed)
    model = lk.VGG(width)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
        model.classifier.bias.zero_()
    return model.to(device).eval()


def _timed(step: Step, fn: Callable[[Step], None]) -> Step:
    t0 = time.perf_counter()
    try:
        fn(step)
    except Exception as e:  # noqa: BLE001 - one step failing must not hide the others
        step.ok = False
        step.notes.append(f"FAILED: {type(e).__name__}: {e}")
        step.notes.append(traceback.format_exc(limit=3).strip().splitlines()[-1])
    step.seconds = time.perf_counter() - t0
    return step


def _full_profile():
    """The full profile's paths (without the CPU warning: this benchmark sizes itself)."""
    from labkit.profiles import resolve_profile

    return resolve_profile("full", warn=False)


def _data_root(workdir: Path, sizes: Sizes) -> tuple[Path, bool]:
    """The real CIFAR-10 of the full profile if present, else generated data in ``workdir``."""
    from labkit.synthetic import write_tiny_cifar

    real = _full_profile().data_root
    if (real / "cifar-10-batches-py" / "test_batch").is_file():
        return real, True
    train = sizes.recipe_train_images or sizes.loop_train_images
    n_train = max(train, sizes.loop_train_images)
    write_tiny_cifar(workdir, n_train=n_train - n_train % 5, n_test=max(sizes.eval_images, sizes.scan_images),
                        seed=0)
    return workdir, False


def _dense(step: Step, device: torch.device, root: Path, real: bool, sizes: Sizes) -> nn.Module:
    import labkit as lk
    from labkit.fetch import FetchError, verify_published

    ckpt = _full_profile().published_checkpoint
    model = None
    if ckpt is not None and ckpt.is_file():
        try:
            verify_published(ckpt)
            step.notes.append(f"checkpoint {ckpt}: the published file (sha256 verified)")
        except FetchError as e:
            step.notes.append(f"checkpoint {ckpt}: NOT verified ({str(e).splitlines()[0][:160]})")
        model = lk.load_checkpoint(ckpt).to(device).eval()
    if model is None:
        model = _he_vgg(1.0, 0, device)
        step.notes.append("no published checkpoint (`labkit fetch`): a seeded He-init VGG instead")
    test = lk.make_loaders(root, batch_size=512, fast=True, device=device,
                           test_subset=None if real else sizes.eval_images)["test"]
    accuracy = lk.evaluate(model, test, verbose=False)
    what = "real CIFAR-10 test set" if real else f"{test.num_samples} generated images"
    step.figures = f"dense accuracy {accuracy:.2%} on the {what}"
    if real and ckpt is not None and ckpt.is_file():
        step.ok = abs(accuracy - lk.LAB_DENSE_ACCURACY) < 0.0005
        step.figures += f" (lab: {lk.LAB_DENSE_ACCURACY:.2%})"
    return model


def _max_diff(a: nn.Module, b: nn.Module, x: torch.Tensor, *, tf32: bool) -> float:
    """Largest |logit difference| of two models, with TF32 allowed or in exact fp32."""
    import labkit as lk

    with torch.no_grad():
        if not tf32:
            with lk.exact_fp32():
                return float((a(x) - b(x)).abs().max())
        saved = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
        try:
            torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
            return float((a(x) - b(x)).abs().max())
        finally:
            torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


def _q7(step: Step, model: nn.Module, solutions, device: torch.device) -> None:
    import labkit as lk

    x = torch.randn(4, 3, 32, 32, generator=torch.Generator().manual_seed(8)).to(device)
    results, diffs = [], []
    for name, net in (("dense model", model), ("He-init VGG", _he_vgg(1.0, 1, device))):
        sorted_net = solutions.apply_channel_sorting(net)
        results.append(lk.check_same_function(f"Q7 sorted vs dense logits ({name})", net, sorted_net, x))
        diffs.append(f"{name}: max |diff| {_max_diff(net, sorted_net, x, tf32=False):.1e} fp32, "
                     f"{_max_diff(net, sorted_net, x, tf32=True):.1e} with TF32")
    step.ok = all(results)
    step.figures = "; ".join(diffs) + " (check_same_function allows 1e-4)"


def _scan(step: Step, solutions, device: torch.device, root: Path, sizes: Sizes) -> None:
    import labkit as lk

    model = _he_vgg(sizes.scan_width, 0, device)
    loader = lk.make_loaders(root, batch_size=512, fast=True, device=device,
                             test_subset=sizes.scan_images)["test"]
    times, results = {}, {}
    for name, scan in (("naive", lk.sensitivity.naive_sensitivity_scan), ("scan", lk.sensitivity_scan)):
        _sync(device)
        t0 = time.perf_counter()
        results[name] = scan(model, loader, solutions.fine_grained_prune, verbose=False)
        _sync(device)
        times[name] = time.perf_counter() - t0
    step.ok = results["scan"].accuracies == results["naive"].accuracies
    step.figures = (f"{sizes.scan_images} images, VGG width {sizes.scan_width}: naive {times['naive']:.1f} s, "
                    f"sensitivity_scan {times['scan']:.1f} s, {times['naive'] / times['scan']:.2f}x, "
                    f"accuracies {'identical' if step.ok else 'DIFFER'}")


def _epoch_seconds(loader, width: float, device: torch.device, *, fast: bool) -> float:
    """Seconds of one training epoch over ``loader``: the lab's loop (:func:`labkit.train`,
    plain fp32) or the reference recipe's step (:func:`labkit_course.reference.fast_epoch`:
    channels_last, labkit's training precision)."""
    import labkit as lk
    from labkit_course.reference import fast_epoch

    torch.manual_seed(0)
    model = lk.VGG(width).to(device)
    if fast:
        model = model.to(memory_format=torch.channels_last)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=1e-4)
    criterion = nn.CrossEntropyLoss()
    model.train()
    with lk.runtime.training_precision(device) if fast else contextlib.nullcontext() as autocast:
        _sync(device)
        t0 = time.perf_counter()
        if fast:
            fast_epoch(model, loader, criterion, optimizer, autocast)
        else:
            lk.train(model, loader, criterion, optimizer, verbose=False)
        _sync(device)
    return time.perf_counter() - t0


def _loops(step: Step, device: torch.device, root: Path, sizes: Sizes) -> None:
    import labkit as lk

    n = sizes.loop_train_images
    common = dict(batch_size=512, device=device, train_subset=n)
    lab = lk.make_loaders(root, fast=False, **common)["train"]
    fast = lk.make_loaders(root, fast=True, **common)["train"]
    _epoch_seconds(fast, sizes.loop_width, device, fast=True)  # warm-up (cuDNN autotune, allocator)
    t_lab = _epoch_seconds(lab, sizes.loop_width, device, fast=False)
    t_fast = _epoch_seconds(fast, sizes.loop_width, device, fast=True)
    ratio = t_lab / t_fast
    step.ok = ratio >= 3.0 if device.type == "cuda" else None
    step.figures = (f"one epoch of {n} images, VGG width {sizes.loop_width}: lab loop {n / t_lab:.0f} img/s, "
                    f"fast loop {n / t_fast:.0f} img/s ({lk.runtime.training_precision_name(device)}), "
                    f"{ratio:.2f}x (goal >= 3x)")


def _recipe(step: Step, device: torch.device, root: Path, real: bool, sizes: Sizes) -> None:
    import labkit as lk
    from labkit.profiles import Profile
    from labkit_course.reference import RECIPES, train_reference

    profile = Profile("full", sizes.recipe_width, root, root / "bench-gpu.pth", "labkit bench gpu")
    epochs = sizes.recipe_epochs
    _sync(device)
    t0 = time.perf_counter()
    _, accuracy = train_reference(profile, epochs=epochs, verbose=False, device=device,
                                     train_subset=sizes.recipe_train_images,
                                     test_subset=None if real else sizes.eval_images)
    _sync(device)
    per_epoch = (time.perf_counter() - t0) / epochs
    full = RECIPES["full"].epochs
    data = "real CIFAR-10" if real else "generated data"
    step.figures = (f"{epochs} of {full} epochs on {data} ({lk.runtime.training_precision_name(device)}): "
                    f"{per_epoch:.1f} s/epoch (~{per_epoch * full / 60:.1f} min for {full}), "
                    f"test accuracy {accuracy:.2%} after {epochs}")


def run(*, course: Path | None = None, cpu_too: bool = False) -> int:
    """Run the five steps and print one summary; 1 when a check failed, else 0.

    Args:
        course: nbgrader course folder whose source notebook gives ``fine_grained_prune`` and
            ``apply_channel_sorting`` (default: the repository's ``notebooks/``).
        cpu_too: without a GPU, run the GPU sizes anyway (slow) instead of the smoke sizes.
    """
    import labkit as lk

    device = lk.get_device()
    on_gpu = device.type == "cuda"
    sizes = GPU_SIZES if on_gpu or cpu_too else CPU_SIZES
    solutions = load_solutions(course)
    if on_gpu:
        cc = ".".join(map(str, torch.cuda.get_device_capability(device)))
        print(f"   GPU {torch.cuda.get_device_name(device)} (compute capability {cc}); training "
              f"precision: {lk.runtime.training_precision_name(device)}; fp32 modes outside labkit: "
              f"{lk.runtime.fp32_modes()}")
    else:
        print("   NO GPU: every step runs at a small size on the CPU to check that the benchmark "
              "works; these are not the GPU figures")
    steps: list[Step] = []
    with tempfile.TemporaryDirectory() as tmp:
        root, real = _data_root(Path(tmp), sizes)
        print(f"   data: {'real CIFAR-10 in ' + str(root) if real else 'generated (CIFAR-10 not present)'}")
        holder: dict[str, nn.Module] = {}
        steps.append(_timed(Step("1 dense accuracy"),
                            lambda s: holder.__setitem__("model", _dense(s, device, root, real, sizes))))
        model = holder.get("model") or _he_vgg(1.0, 0, device)
        steps.append(_timed(Step("2 Q7 check_same_function"), lambda s: _q7(s, model, solutions, device)))
        steps.append(_timed(Step("3 scan vs naive loop"), lambda s: _scan(s, solutions, device, root, sizes)))
        steps.append(_timed(Step("4 fast loop vs lab loop"), lambda s: _loops(s, device, root, sizes)))
        steps.append(_timed(Step("5 reference recipe"), lambda s: _recipe(s, device, root, real, sizes)))
    print("\n   == summary: labkit bench gpu ==")
    print(f"   device: {torch.cuda.get_device_name(device) if on_gpu else 'NO GPU (CPU smoke run)'}")
    for step in steps:
        verdict = {True: "PASS", False: "FAIL", None: "info"}[step.ok]
        print(f"   [{verdict}] {step.name} ({step.seconds:.1f} s): {step.figures}")
        for note in step.notes:
            print(f"          {note}")
    failed = [s.name for s in steps if s.ok is False]
    if not on_gpu:
        print("   NO GPU: nothing here is a GPU figure; run `labkit bench gpu` on a GPU machine "
              "(Colab, a lab machine) and record its summary in BENCHMARKS.md")
    print(f"   {'all checks passed' if not failed else 'FAILED: ' + ', '.join(failed)}")
    return 1 if failed else 0
