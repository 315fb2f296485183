"""Size accounting: dense, non-zeros, bitmask and CSR, checked by hand."""

import torch
from torch import nn

import labkit as lk


def test_hand_computed_sizes():
    layer = nn.Linear(4, 3)  # weight 3x4 (pruned), bias 3 (dense)
    with torch.no_grad():
        layer.weight.copy_(torch.tensor([[1.0, 0, 0, 2], [0, 0, 0, 0], [3, 0, 4, 0]]))
        layer.bias.copy_(torch.tensor([1.0, 0.0, 2.0]))
    report = lk.size_report(layer)
    assert report.dense_bits == 15 * 32
    assert report.nonzero_bits == 6 * 32  # 4 weights + 2 biases, as the lab counts
    assert report.bitmask_bits == 4 * 32 + 12 + 3 * 32
    assert report.csr_bits == 4 * (32 + 32) + (3 + 1) * 32 + 3 * 32
    assert report.nonzero_bits == lk.get_model_size(layer, count_nonzero_only=True)


def test_dense_model_formats_and_table():
    torch.manual_seed(0)
    model = lk.VGG(0.125)
    report = lk.size_report(model)
    assert report.dense_bits == lk.get_model_size(model)
    assert report.csr_bits > report.bitmask_bits > report.dense_bits  # indices cost on a dense model
    text = str(report)
    assert "bitmask" in text and "CSR" in text and "100.00%" in text
