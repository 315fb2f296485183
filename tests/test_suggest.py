"""suggest_sparsity_dict: meets the size target, respects max_drop, fits the lab's own scan."""

import pytest
import torch
from torch import nn

import labkit as lk
from labkit_course.suggest import suggest_sparsity_dict
from oracle import fine_grained_prune

LAB_SCAN = """92.42 91.19 87.55 83.39 69.43 31.82
92.93 92.88 92.71 92.40 91.32 84.78
92.94 92.64 92.46 91.77 89.85 78.56
92.86 92.72 92.23 91.09 85.35 51.29
92.88 92.68 92.22 89.47 76.84 38.78
92.91 92.71 92.63 91.88 89.90 82.21
92.96 92.86 92.65 92.10 90.58 83.64
92.93 92.90 92.89 92.82 92.63 91.34
92.91 92.83 92.82 92.97 92.67 92.52"""  # the lab's published scan (percent), conv0..7, fc


def fake_scan(model, drops_per_layer):
    """A ScanResult where layer i loses drops_per_layer[i] * (index + 1) accuracy per step."""
    sparsities = [0.4, 0.5, 0.6, 0.7, 0.8, 0.9]
    names = [n for n, _ in lk.prunable_parameters(model)]
    accs = {n: [0.9 - d * (i + 1) for i in range(len(sparsities))] for n, d in zip(names, drops_per_layer)}
    return lk.ScanResult(sparsities, accs)


def test_suggested_sparsities_meet_the_size_target_when_pruned():
    torch.manual_seed(0)
    model = lk.VGG()
    drops = [0.05, 0.001, 0.002, 0.002, 0.002, 0.001, 0.001, 0.0005, 0.003]  # conv0 is sensitive
    scan = fake_scan(model, drops)
    suggestion = suggest_sparsity_dict(scan, model, size_target=0.25, max_drop=0.01, dense_accuracy=0.9)
    assert list(suggestion) == [n for n, _ in lk.prunable_parameters(model)]
    assert suggestion["backbone.conv0.weight"] == 0.0  # too sensitive for any step
    assert all(s in [0.0] + scan.sparsities for s in suggestion.values())
    dense = lk.get_num_parameters(model)
    with torch.no_grad():
        for m in model.modules():  # as a trained model: no exact zeros before pruning
            if isinstance(m, nn.BatchNorm2d):
                m.bias.fill_(0.1)
    lk.FineGrainedPruner(model, suggestion, fine_grained_prune)
    assert lk.get_num_parameters(model, count_nonzero_only=True) / dense <= 0.25


def test_unreachable_size_target_is_an_error():
    torch.manual_seed(0)
    model = lk.VGG(0.125)
    scan = fake_scan(model, [0.05] * 9)
    with pytest.raises(ValueError, match="max_drop"):
        suggest_sparsity_dict(scan, model, size_target=0.25, max_drop=0.01)
    with pytest.raises(ValueError, match="size_target"):
        suggest_sparsity_dict(scan, model, size_target=0.0)


def test_lab_scan_gives_a_sensible_dict_under_25_percent():
    torch.manual_seed(0)
    model = lk.VGG()
    names = [n for n, _ in lk.prunable_parameters(model)]
    accs = {n: [float(v) / 100 for v in line.split()] for n, line in zip(names, LAB_SCAN.splitlines())}
    scan = lk.ScanResult([0.4, 0.5, 0.6, 0.7, 0.8, 0.9], accs)
    suggestion = suggest_sparsity_dict(scan, model, dense_accuracy=0.9295)
    assert list(suggestion.values()) == [0.0, 0.5, 0.6, 0.6, 0.6, 0.7, 0.8, 0.9, 0.0]
    with pytest.raises(ValueError, match="26.09%"):  # best reachable within 2 points per layer
        suggest_sparsity_dict(scan, model, max_drop=0.02, dense_accuracy=0.9295)
