"""How much work the notebook's expensive cells do: the lab's amounts, or short runs when graded.

When the autograder executes a notebook (see :func:`~labkit.runtime.is_autograding`) the whole
notebook must finish in about a minute on a CPU, so the sensitivity scan, the fine-tuning and
the latency timing run a short version. These functions hold that choice, so the notebook's
cells stay about pruning: they ask for the lab's amounts and get them whenever a person runs
the notebook.

On the grader's fast path (:func:`~labkit.runtime.is_fast_grading`, the default of
``labkit grade``) the notebook's own loaders are smaller still (:func:`data_subsets`): what
they feed (the sensitivity scan, the printed accuracies, the two fine-tunes) is never graded;
every graded check builds its own data (e.g. Q5's accuracy test:
:data:`GRADING_TRAIN_IMAGES`/:data:`GRADING_TEST_IMAGES` on either path), so no score depends
on these amounts.
"""

from __future__ import annotations

from .runtime import is_autograding, is_fast_grading

__all__ = ["scan_settings", "finetune_epochs", "latency_repeats", "data_subsets",
           "GRADING_TRAIN_IMAGES", "GRADING_TEST_IMAGES", "FAST_TRAIN_IMAGES", "FAST_TEST_IMAGES"]

# Grading mode (NBGRADER_EXECUTION set): the whole notebook must run in ~20 s of CPU compute.
GRADING_TRAIN_IMAGES = 1000
GRADING_TEST_IMAGES = 500
# The grader's fast path: the notebook's loaders (ungraded work only): one training batch.
FAST_TRAIN_IMAGES = 512
FAST_TEST_IMAGES = 200


def data_subsets() -> tuple[int | None, int | None]:
    """``(train, test)`` images of the notebook's loaders: ``(None, None)`` (the whole dataset)
    when a person runs the notebook; :data:`GRADING_TRAIN_IMAGES`, :data:`GRADING_TEST_IMAGES`
    when autograding; :data:`FAST_TRAIN_IMAGES`, :data:`FAST_TEST_IMAGES` on the grader's fast
    path."""
    if is_fast_grading():
        return FAST_TRAIN_IMAGES, FAST_TEST_IMAGES
    if is_autograding():
        return GRADING_TRAIN_IMAGES, GRADING_TEST_IMAGES
    return None, None


def scan_settings() -> dict[str, float]:
    """Keyword arguments for :func:`~labkit.sensitivity.sensitivity_scan`.

    Returns:
        The lab's scan, sparsities 0.4, 0.5, ..., 0.9: ``{"scan_start": 0.4, "scan_step": 0.1,
        "scan_end": 1.0}``; when autograding, three sparsities 0.5, 0.7, 0.9.
    """
    if is_autograding():
        return {"scan_start": 0.5, "scan_step": 0.2, "scan_end": 1.0}
    return {"scan_start": 0.4, "scan_step": 0.1, "scan_end": 1.0}


def finetune_epochs(epochs: int = 5) -> int:
    """``epochs`` (the lab fine-tunes for 5); 1 when autograding."""
    if epochs < 1:
        raise ValueError(f"epochs={epochs} must be >= 1")
    return 1 if is_autograding() else epochs


def latency_repeats(n_warmup: int = 20, n_test: int = 100) -> tuple[int, int]:
    """``(n_warmup, n_test)`` for :func:`~labkit.metrics.measure_latency` (the lab's 20 and 100);
    ``(2, 5)`` when autograding (a rough timing: latency is not graded)."""
    if n_warmup < 0 or n_test < 1:
        raise ValueError(f"need n_warmup >= 0 and n_test >= 1, got {n_warmup}, {n_test}")
    return (min(2, n_warmup), min(5, n_test)) if is_autograding() else (n_warmup, n_test)
