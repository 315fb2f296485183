"""Channel surgery: the lab's numbers for ratio 0.3, sorting equivalence, synced attributes."""

import pytest
import torch
from torch import nn

import labkit as lk
from labkit.channels import channel_keep_counts
import oracle

WIDTHS_03 = [45, 90, 179, 179, 358, 358, 358, 512]


@pytest.fixture(scope="module")
def full_vgg():
    torch.manual_seed(0)
    return lk.VGG().eval()


def tiny_vgg():
    torch.manual_seed(0)
    model = lk.VGG(0.25).eval()
    with torch.no_grad():  # non-trivial BN so that channel order matters everywhere
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.2, 0.2)
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 1.5)
    return model


def conv_widths(model):
    return [c.out_channels for c in lk.get_convs_and_bns(model)[0]]


def assert_attributes_match_tensors(model):
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            assert (m.out_channels, m.in_channels) == tuple(m.weight.shape[:2])
        if isinstance(m, nn.BatchNorm2d):
            assert m.num_features == m.weight.shape[0] == m.running_var.shape[0]
        if isinstance(m, nn.Linear):
            assert (m.out_features, m.in_features) == tuple(m.weight.shape)


@pytest.mark.parametrize("how", ["lab", "whole-model oracle"])
def test_pruning_full_vgg_at_0_3_gives_the_labs_numbers(full_vgg, how):
    if how == "lab":
        pruned = oracle.channel_prune(full_vgg, 0.3)
    else:
        counts = channel_keep_counts(full_vgg, 0.3, oracle.get_num_channels_to_keep)
        pruned = oracle.shrink_channels(full_vgg, counts)
    assert conv_widths(pruned) == WIDTHS_03 == pruned.widths
    assert lk.get_model_macs(pruned, torch.randn(1, 3, 32, 32)) == 305_388_064
    assert lk.get_num_parameters(pruned) == 5_013_666
    assert_attributes_match_tensors(pruned)
    assert conv_widths(full_vgg) == [64, 128, 256, 256, 512, 512, 512, 512]  # original untouched


def test_sorting_leaves_outputs_unchanged(full_vgg):
    x = torch.randn(4, 3, 32, 32)
    with torch.no_grad():
        expected = full_vgg(x)
        for sorted_model in (oracle.apply_channel_sorting(full_vgg),
                             oracle.sort_channels(full_vgg, oracle.get_input_channel_importance)):
            assert not sorted_model.training
            torch.testing.assert_close(sorted_model(x), expected, rtol=1e-4, atol=1e-5)
            w = sorted_model.backbone.conv1.weight  # conv0's channels are now in importance order
            importance = oracle.get_input_channel_importance(w)
            assert torch.all(importance[:-1] >= importance[1:])


def test_sorting_changes_which_channels_survive_pruning():
    model = tiny_vgg()
    x = torch.randn(8, 3, 32, 32)
    sorted_then_pruned = oracle.channel_prune(oracle.apply_channel_sorting(model), 0.5)
    order = [torch.argsort(oracle.get_input_channel_importance(c.weight), descending=True)
             for c in lk.get_convs_and_bns(model)[0][1:]]
    counts = channel_keep_counts(model, 0.5, oracle.get_num_channels_to_keep)
    with torch.no_grad():
        torch.testing.assert_close(oracle.shrink_channels(model, counts, order=order)(x), sorted_then_pruned(x))
        assert not torch.allclose(oracle.channel_prune(model, 0.5)(x), sorted_then_pruned(x))


def test_a_ratio_that_keeps_zero_channels_is_an_error():
    model = tiny_vgg()  # conv0 has 16 channels: ratio 0.97 keeps round(0.48) = 0
    with pytest.raises(ValueError, match="conv0.*0 of 16"):
        channel_keep_counts(model, 0.97, oracle.get_num_channels_to_keep)
    conv, bn = model.backbone.conv0, model.backbone.bn0
    with pytest.raises(ValueError, match="n_keep=0"):
        lk.keep_output_channels(conv, bn, 0)
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        channel_keep_counts(model, 1.0, oracle.get_num_channels_to_keep)
    with pytest.raises(ValueError, match="7"):
        channel_keep_counts(model, [0.3, 0.3], oracle.get_num_channels_to_keep)


def test_round_to_8_gives_multiples_of_8(full_vgg):
    counts = channel_keep_counts(full_vgg, 0.3, oracle.get_num_channels_to_keep, round_to=8)
    assert counts == [48, 88, 176, 176, 360, 360, 360]


def test_bad_permutation_is_an_error():
    model = tiny_vgg()
    with pytest.raises(ValueError, match="permutation"):
        lk.permute_output_channels(model.backbone.conv0, model.backbone.bn0, torch.zeros(16, dtype=torch.long))


def test_pruned_model_trains_and_round_trips_through_a_checkpoint(tmp_path):
    pruned = oracle.channel_prune(tiny_vgg(), 0.3)
    optimizer = torch.optim.SGD(pruned.parameters(), lr=0.1, momentum=0.9)
    assert {id(p) for p in pruned.parameters()} == {id(p) for g in optimizer.param_groups for p in g["params"]}
    x, y = torch.randn(4, 3, 32, 32), torch.randint(0, 10, (4,))
    before = pruned.backbone.conv1.weight.detach().clone()
    lk.train(pruned, [(x, y)], nn.CrossEntropyLoss(), optimizer, verbose=False)
    assert not torch.equal(before, pruned.backbone.conv1.weight)
    path = lk.save_checkpoint(pruned, tmp_path / "pruned.pth")
    loaded = lk.load_checkpoint(path).eval()
    assert loaded.widths == pruned.widths
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), pruned.eval()(x))


def test_labkit_performs_no_next_conv_line():
    """The next conv's input-channel slicing/reordering is the student's line:
    no public labkit name does it for a whole model, and the per-layer primitives leave the
    next conv alone."""
    assert not hasattr(lk, "shrink_channels") and not hasattr(lk, "sort_channels")
    model = tiny_vgg()
    conv1_before = model.backbone.conv1.weight.detach().clone()
    lk.keep_output_channels(model.backbone.conv0, model.backbone.bn0, 8)
    lk.permute_output_channels(model.backbone.conv0, model.backbone.bn0, torch.arange(8).flip(0))
    assert torch.equal(model.backbone.conv1.weight, conv1_before)  # dim 1 still 16 wide, in order
