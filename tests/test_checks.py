"""Tests for labkit.checks: the notebook's self-checks print expected vs got and return a verdict."""

import matplotlib

matplotlib.use("Agg")

import pytest
import torch

import labkit as lk
from labkit import checks

import oracle


def _prune_ge(tensor: torch.Tensor, sparsity: float) -> torch.Tensor:
    """A careless fine_grained_prune: keeps weights equal to the threshold (>= instead of >)."""
    k = round(sparsity * tensor.numel())
    importance = tensor.abs()
    mask = importance >= importance.flatten().kthvalue(k).values
    tensor.mul_(mask)
    return mask


def _prune_int(tensor: torch.Tensor, sparsity: float) -> torch.Tensor:
    """A careless fine_grained_prune: int() instead of round() for the number of zeros."""
    k = int(sparsity * tensor.numel())
    importance = tensor.abs()
    mask = importance > importance.flatten().kthvalue(k).values
    tensor.mul_(mask)
    return mask


def test_check_equal_prints_expected_and_got(capsys):
    assert lk.check_equal("channels", 45, 45)
    assert not lk.check_equal("channels", 45, 44)
    out = capsys.readouterr().out
    assert "expected 45, got 44 -> MISMATCH" in out


def test_check_close_tolerance_and_shapes(capsys):
    a = torch.tensor([1.0, 2.0])
    assert lk.check_close("x", a, a + 1e-7, rtol=0, atol=1e-6)
    assert not lk.check_close("x", a, a + 1e-3, rtol=0, atol=1e-6)
    assert not lk.check_close("x", a, torch.ones(3), rtol=1, atol=1)
    assert "expected shape (2,), got shape (3,)" in capsys.readouterr().out


def test_check_mask_names_the_differing_positions(capsys):
    expected = torch.tensor([[True, False], [False, True]])
    assert lk.check_mask(expected.float(), expected)  # 0/1 floats are accepted
    assert not lk.check_mask(torch.tensor([[True, True], [False, True]]), expected)
    assert "at (0, 1): expected pruned, got kept" in capsys.readouterr().out
    assert not lk.check_mask(torch.full((2, 2), 0.5), expected)  # not a mask
    assert not lk.check_mask(torch.ones(4, dtype=torch.bool), expected)  # wrong shape


def test_lab_example_mask_is_the_lab_s():
    # the lab's expected mask keeps the 6 largest magnitudes of its example
    assert int(lk.LAB_TEST_MASK.sum()) == 6
    top6 = lk.LAB_TEST_TENSOR.abs().flatten().topk(6).indices
    assert set(top6.tolist()) == set(lk.LAB_TEST_MASK.flatten().nonzero().flatten().tolist())


def test_check_fine_grained_prune_passes_the_reference_and_fails_careless_versions(capsys):
    before = lk.LAB_TEST_TENSOR.clone()
    assert lk.check_fine_grained_prune(oracle.fine_grained_prune, 0.75, plot=False)
    assert lk.check_fine_grained_prune(oracle.fine_grained_prune, 0.6, target_nonzeros=10, plot=False)
    assert not lk.check_fine_grained_prune(_prune_ge, 0.75, plot=False)
    assert not lk.check_fine_grained_prune(_prune_int, 0.75, plot=False)
    assert not lk.check_fine_grained_prune(oracle.fine_grained_prune, 0.5, target_nonzeros=10, plot=False)
    torch.testing.assert_close(lk.LAB_TEST_TENSOR, before, rtol=0, atol=0)  # constant untouched
    out = capsys.readouterr().out
    assert "* Test passed." in out and "* Test failed." in out
    assert "sparsity after pruning: 0.76" in out  # the lab's printed value


def test_check_fine_grained_prune_plots_before_and_after():
    import matplotlib.pyplot as plt

    plt.close("all")
    lk.check_fine_grained_prune(oracle.fine_grained_prune, 0.75, plot=True)
    assert len(plt.gcf().axes) == 2
    plt.close("all")


@pytest.mark.parametrize("width", [1.0, 0.125])
def test_expected_macs_match_the_reference_channel_prune(width):
    model = lk.VGG(width)
    pruned = oracle.channel_prune(model, 0.3)
    assert checks.check_channel_prune_macs(pruned, model)
    assert not checks.check_channel_prune_macs(model, model)  # the dense model is not pruned


def test_check_channel_prune_macs_rejects_an_unknown_model():
    with pytest.raises(ValueError, match="no expected MACs"):
        checks.check_channel_prune_macs(lk.VGG(0.25), lk.VGG(0.25))


def test_check_same_function_restores_modes_and_detects_differences():
    torch.manual_seed(0)
    a = lk.VGG(0.125)
    a.train()
    x = torch.randn(2, 3, 32, 32)
    assert lk.check_same_function("same", a, oracle.apply_channel_sorting(a), x)
    assert a.training
    b = lk.VGG(0.125)
    assert not lk.check_same_function("different", a, b, x)
