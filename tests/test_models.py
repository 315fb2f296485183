"""VGG architecture and checkpoint loading (labkit/models.py)."""

import pytest
import torch

import labkit as lk
from labkit.models import CheckpointError, load_checkpoint, save_checkpoint
from labkit.profiles import FULL_VGG_PARAMETERS

LAB_NAMES = [
    "conv0", "bn0", "relu0", "conv1", "bn1", "relu1", "pool0",
    "conv2", "bn2", "relu2", "conv3", "bn3", "relu3", "pool1",
    "conv4", "bn4", "relu4", "conv5", "bn5", "relu5", "pool2",
    "conv6", "bn6", "relu6", "conv7", "bn7", "relu7", "pool3",
]


def test_full_vgg_matches_the_lab():
    model = lk.VGG()
    assert [name for name, _ in model.backbone.named_children()] == LAB_NAMES
    assert lk.get_num_parameters(model) == 9_228_362 == FULL_VGG_PARAMETERS  # the profile says so too
    assert lk.get_model_macs(model, torch.randn(1, 3, 32, 32)) == 606_164_480
    assert f"{lk.get_model_size(model) / lk.MiB:.2f}" == "35.20"
    convs = [m for m in model.backbone if isinstance(m, torch.nn.Conv2d)]
    assert all(c.bias is None and c.kernel_size == (3, 3) and c.padding == (1, 1) for c in convs)
    assert (model.classifier.in_features, model.classifier.out_features) == (512, 10)


def test_prunable_parameters_are_the_labs_nine():
    names = [n for n, p in lk.VGG(0.125).named_parameters() if p.dim() > 1]
    assert names == [f"backbone.conv{i}.weight" for i in range(8)] + ["classifier.weight"]


@pytest.mark.parametrize("width", [0.125, 0.25, 1.0])
def test_width_multiplier_keeps_names_and_shapes(width):
    model = lk.VGG(width)
    assert [n for n, _ in model.backbone.named_children()] == LAB_NAMES
    assert model.widths == [round(c * width) for c in lk.VGG.ARCH if c != "M"]
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 10)


def test_explicit_widths_build_a_pruned_architecture():
    widths = [45, 90, 179, 179, 358, 358, 358, 512]
    model = lk.VGG(widths=widths)
    assert [m.out_channels for m in model.backbone if isinstance(m, torch.nn.Conv2d)] == widths
    assert lk.get_num_parameters(model) == 5_013_666


@pytest.mark.parametrize("bad", [{"width": 0}, {"widths": [8] * 7}, {"widths": [8] * 7 + [0]}])
def test_bad_widths_are_refused(bad):
    with pytest.raises(ValueError, match="width"):
        lk.VGG(**bad)


def test_checkpoint_round_trip_in_the_labs_format(tmp_path):
    torch.manual_seed(0)
    model = lk.VGG(0.125)
    path = save_checkpoint(model, tmp_path / "ckpt.pth", accuracy=0.9)
    raw = torch.load(path, weights_only=True)  # torch's safe default must accept it
    assert set(raw) == {"state_dict", "accuracy"}
    loaded = load_checkpoint(path)
    for (k, a), (k2, b) in zip(model.state_dict().items(), loaded.state_dict().items()):
        assert k == k2 and torch.equal(a, b)
    x = torch.randn(3, 3, 32, 32)
    model.eval(), loaded.eval()
    torch.testing.assert_close(model(x), loaded(x), rtol=0, atol=0)


def test_bare_state_dict_and_given_model(tmp_path):
    model = lk.VGG(0.125)
    torch.save(model.state_dict(), tmp_path / "bare.pth")
    target = lk.VGG(0.125)
    assert load_checkpoint(tmp_path / "bare.pth", target) is target


def test_missing_checkpoint_names_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere.pth"):
        load_checkpoint(tmp_path / "nowhere.pth")


def test_corrupt_checkpoint_names_the_file(tmp_path):
    path = tmp_path / "broken.pth"
    save_checkpoint(lk.VGG(0.125), path)
    path.write_bytes(path.read_bytes()[: 2000])  # truncated download
    with pytest.raises(CheckpointError, match="broken.pth.*could not be read"):
        load_checkpoint(path)


def test_mismatched_checkpoint_names_the_tensor(tmp_path):
    path = save_checkpoint(lk.VGG(0.125), tmp_path / "tiny.pth")
    with pytest.raises(CheckpointError, match=r"tiny.pth.*backbone.conv0.weight: file \(8, 3, 3, 3\) vs model \(64, 3, 3, 3\)"):
        load_checkpoint(path, lk.VGG())


def test_foreign_checkpoint_is_refused(tmp_path):
    torch.save({"state_dict": {"fc.weight": torch.zeros(2, 2)}}, tmp_path / "other.pth")
    with pytest.raises(CheckpointError, match="not a lab VGG"):
        load_checkpoint(tmp_path / "other.pth")
    torch.save({"state_dict": [1, 2]}, tmp_path / "list.pth")
    with pytest.raises(CheckpointError, match="no state dict"):
        load_checkpoint(tmp_path / "list.pth")


def _same_weights(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    return all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))


def test_extra_non_tensor_entries_next_to_the_state_dict_load(tmp_path):
    """Training scripts save more than weights (epoch, best accuracy as a numpy scalar, a
    config dict); the lab's load_state_dict(checkpoint['state_dict']) ignores them, so must we."""
    np = pytest.importorskip("numpy")
    torch.manual_seed(0)
    model = lk.VGG(0.125)
    path = tmp_path / "with-extras.pth"
    torch.save({"state_dict": model.state_dict(), "epoch": 40, "best_acc": np.float64(92.95),
                "config": {"lr": 0.1, "arch": "vgg"}}, path)
    assert _same_weights(load_checkpoint(path), model)


def test_objects_the_safe_loader_refuses_are_named_not_called_corrupt(tmp_path):
    import argparse

    model = lk.VGG(0.125)
    path = tmp_path / "with-namespace.pth"
    torch.save({"state_dict": model.state_dict(), "args": argparse.Namespace(lr=0.1)}, path)
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(path)
    message = str(err.value)
    assert "argparse.Namespace" in message and "not corrupt" in message and "trusted=True" in message
    assert _same_weights(load_checkpoint(path, trusted=True), model)


def test_a_state_dict_without_num_batches_tracked_loads_as_torch_loads_it(tmp_path):
    torch.manual_seed(0)
    model = lk.VGG(0.125)
    old = {k: v for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")}
    torch.save({"state_dict": old}, tmp_path / "old-torch.pth")
    reference = lk.VGG(0.125)
    reference.load_state_dict(old)  # torch accepts it (a plain dict carries no BN version)
    loaded = load_checkpoint(tmp_path / "old-torch.pth")
    assert _same_weights(loaded, reference)
    assert all(int(m.num_batches_tracked) == 0 for m in loaded.modules() if isinstance(m, torch.nn.BatchNorm2d))


def test_a_non_tensor_inside_the_state_dict_is_named(tmp_path):
    state = dict(lk.VGG(0.125).state_dict())
    state["epoch"] = 3
    state["backbone.bn0.running_mean"] = [0.0] * 8
    torch.save({"state_dict": state}, tmp_path / "odd.pth")
    with pytest.raises(CheckpointError, match=r"unexpected epoch \(a int, not a tensor\).*backbone.bn0.running_mean: a list, not a tensor"):
        load_checkpoint(tmp_path / "odd.pth")


def test_the_pinned_published_file_loads_even_with_python_objects(tmp_path, monkeypatch):
    """The published file is verified by sha256, so what the safe loader refuses in it is trusted."""
    import argparse
    import hashlib

    from labkit.models import UnsafeCheckpointError

    model = lk.VGG(0.125)
    path = tmp_path / "vgg.cifar.pretrained.pth"
    torch.save({"state_dict": model.state_dict(), "args": argparse.Namespace(lr=0.1)}, path)
    with pytest.raises(UnsafeCheckpointError) as err:
        load_checkpoint(path)
    assert err.value.refused == "argparse.Namespace"
    monkeypatch.setenv("LABKIT_CHECKPOINT_SHA256", hashlib.sha256(path.read_bytes()).hexdigest())
    assert _same_weights(load_checkpoint(path), model)


def test_an_error_page_saved_as_a_checkpoint_is_called_unreadable_not_unsafe(tmp_path):
    from labkit.models import UnsafeCheckpointError

    path = tmp_path / "vgg.cifar.pretrained.pth"
    path.write_bytes(b"<html>503 Service Unavailable</html>")
    with pytest.raises(CheckpointError, match="could not be read.*not a torch checkpoint") as err:
        load_checkpoint(path)
    assert not isinstance(err.value, UnsafeCheckpointError)
