"""The lab's published numbers for the full VGG: its sensitivity curves and dense accuracy.

From the executed Fall 2023 copy of the original notebook (the later copies agree within
0.02 points): accuracy after pruning one layer alone to each sparsity, pretrained checkpoint,
CIFAR-10 test set. The notebook plots them next to the student's own scan (the 25% size
target of Q5 is about this model), :func:`~labkit_course.suggest.suggest_sparsity_dict` can read
them, and the Q5 accuracy check uses them. This module is their one home.
"""

from __future__ import annotations

from .sensitivity import ScanResult

__all__ = ["LAB_DENSE_ACCURACY", "LAB_SENSITIVITY"]

LAB_DENSE_ACCURACY = 0.9295  # the pretrained checkpoint on the CIFAR-10 test set

_PERCENT = {  # sparsity 0.4, 0.5, 0.6, 0.7, 0.8, 0.9
    "backbone.conv0.weight": (92.42, 91.19, 87.55, 83.39, 69.43, 31.82),
    "backbone.conv1.weight": (92.93, 92.88, 92.71, 92.40, 91.32, 84.78),
    "backbone.conv2.weight": (92.94, 92.64, 92.46, 91.77, 89.85, 78.56),
    "backbone.conv3.weight": (92.86, 92.72, 92.23, 91.09, 85.35, 51.29),
    "backbone.conv4.weight": (92.88, 92.68, 92.22, 89.47, 76.84, 38.78),
    "backbone.conv5.weight": (92.91, 92.71, 92.63, 91.88, 89.90, 82.21),
    "backbone.conv6.weight": (92.96, 92.86, 92.65, 92.10, 90.58, 83.64),
    "backbone.conv7.weight": (92.93, 92.90, 92.89, 92.82, 92.63, 91.34),
    "classifier.weight": (92.91, 92.83, 92.82, 92.97, 92.67, 92.52),
}

LAB_SENSITIVITY = ScanResult(
    sparsities=[0.4, 0.5, 0.6, 0.7, 0.8, 0.9],
    accuracies={name: [round(a / 100, 6) for a in accs] for name, accs in _PERCENT.items()},
)
