"""Metrics on hand-computed tensors (labkit/metrics.py)."""

import pytest
import torch
from torch import nn

import labkit as lk


def test_units_are_bits():
    assert (lk.Byte, lk.KiB, lk.MiB, lk.GiB) == (8, 8 * 1024, 8 * 1024**2, 8 * 1024**3)


def test_sparsity_of_hand_made_tensors():
    assert lk.get_sparsity(torch.tensor([0.0, 1.0, 0.0, 2.0])) == 0.5
    assert lk.get_sparsity(torch.zeros(3, 3)) == 1.0
    assert lk.get_sparsity(torch.ones(5)) == 0.0
    assert lk.get_sparsity(torch.empty(0)) == 0.0


def test_parameter_counts_and_sizes_of_a_hand_made_model():
    model = nn.Linear(4, 2)  # 8 weights + 2 biases
    with torch.no_grad():
        model.weight.copy_(torch.tensor([[1.0, 0, 0, 2], [0, 0, 3, 0]]))
        model.bias.zero_()
    assert lk.get_num_parameters(model) == 10
    assert lk.get_num_parameters(model, count_nonzero_only=True) == 3
    assert lk.get_model_size(model) == 320
    assert lk.get_model_size(model, data_width=8, count_nonzero_only=True) == 24
    assert lk.get_model_sparsity(model) == pytest.approx(0.7)


def test_macs_of_a_single_conv_and_mode_is_kept():
    conv = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1, bias=False))
    conv.train()
    assert lk.get_model_macs(conv, torch.randn(1, 3, 8, 8)) == 4 * 8 * 8 * 3 * 9
    assert conv.training


def test_macs_do_not_touch_batchnorm_statistics():
    model = lk.VGG(0.125).train()
    before = model.backbone.bn0.running_mean.clone()
    lk.get_model_macs(model, torch.randn(2, 3, 32, 32) + 5)
    assert torch.equal(model.backbone.bn0.running_mean, before) and model.training


def test_measure_latency_returns_median_seconds_and_restores_state(capsys):
    model = lk.VGG(0.125).train()
    threads = torch.get_num_threads()
    seconds = lk.measure_latency(model, torch.randn(1, 3, 32, 32), n_warmup=1, n_test=3, num_threads=1)
    assert 0 < seconds < 5
    assert model.training and torch.get_num_threads() == threads
    assert "1 CPU threads" in capsys.readouterr().out


def test_measure_latency_refuses_zero_reps():
    with pytest.raises(ValueError, match="n_test"):
        lk.measure_latency(nn.Linear(2, 2), torch.randn(1, 2), n_test=0)
