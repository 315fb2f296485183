"""``labkit bench scan``: the lab's naive sensitivity loop vs :func:`labkit.sensitivity_scan`.

Both run in one process on the same full-width VGG (seeded He-normal init, so that its
predictions vary; BN in eval with its default statistics) and the same random 32x32 images,
labelled with the dense model's own predictions (accuracy = agreement with the dense model,
so pruning moves it), with the mask function ``fine_grained_prune`` of the course's source
notebook.
Prints both times (wall and process CPU), the ratio and whether every accuracy is identical.
``--rounds`` alternates the two scans (naive, fast, fast, naive, ...) and sums their times,
which is fairer on a machine whose load changes; ``--threads`` sets torch's CPU threads.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import torch

from labkit_course.source_notebook import load_solutions

def run(*, images: int = 128, batch_size: int = 64, width: float = 1.0, threads: int | None = None,
        rounds: int = 1, seed: int = 0, course: Path | None = None) -> int:
    """Time both scans (see the module docstring); 0 when accuracies agree and weights are restored.

    Args:
        images: number of random 32x32 images; batch_size: the loader's batch size.
        width: VGG width multiplier (1.0 = the lab's VGG).
        threads: torch CPU threads (None: torch's setting).
        rounds: alternate the two scans this many rounds and sum their times.
        seed: seed of the model and the images.
        course: nbgrader course folder whose source notebook gives ``fine_grained_prune``.
    """
    import labkit as lk

    if images < 1 or batch_size < 1:
        raise SystemExit("--images and --batch-size must be >= 1")
    solutions = load_solutions(course)
    if threads is not None:
        if threads < 1:
            raise SystemExit("--threads must be >= 1")
        torch.set_num_threads(threads)
    lk.seed_everything(seed)
    model = lk.VGG(width).eval()
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear)):
                torch.nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
        model.classifier.bias.zero_()
        x = torch.randn(images, 3, 32, 32)
        labels = model(x).argmax(1)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, labels),
                                         batch_size=batch_size, shuffle=False)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"   VGG width {width}, {images} images, batch {batch_size}, "
          f"9 parameters x 6 sparsities, {torch.get_num_threads()} threads, load {load:.2f} at start")

    scans = {"naive loop": lk.sensitivity.naive_sensitivity_scan, "sensitivity_scan": lk.sensitivity_scan}
    times, cpu_times = dict.fromkeys(scans, 0.0), dict.fromkeys(scans, 0.0)
    results: dict[str, list] = {name: [] for name in scans}
    for r in range(max(1, rounds)):
        for name in (list(scans) if r % 2 == 0 else list(scans)[::-1]):
            start, cpu = time.perf_counter(), time.process_time()
            results[name].append(scans[name](model, loader, solutions.fine_grained_prune, verbose=False))
            wall, cpu = time.perf_counter() - start, time.process_time() - cpu
            times[name] += wall
            cpu_times[name] += cpu
            print(f"   round {r + 1} {name:<17} {wall:8.2f} s wall, {cpu:8.2f} s CPU, "
                  f"load {os.getloadavg()[0]:.2f}")
    naive = results["naive loop"][0]
    identical = all(res.sparsities == naive.sparsities and res.accuracies == naive.accuracies
                    for runs in results.values() for res in runs)
    restored = all(torch.equal(v, model.state_dict()[k]) for k, v in before.items())
    ratio = times["naive loop"] / times["sensitivity_scan"]  # wall-clock ratio
    distinct = len({a for accs in naive.accuracies.values() for a in accs})
    cpu_ratio = cpu_times["naive loop"] / cpu_times["sensitivity_scan"]
    print(f"   speed-up {ratio:.2f}x wall ({cpu_ratio:.2f}x CPU time); accuracies identical: {identical} ({distinct} distinct values); "
          f"weights restored: {restored}")
    return 0 if identical and restored else 1
