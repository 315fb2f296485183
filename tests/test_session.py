"""setup(): profile choice, grading-mode subsets, first-run training, errors, recover_model."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import labkit as lk
from labkit.budget import GRADING_TEST_IMAGES, GRADING_TRAIN_IMAGES
from labkit.data import DataNotFoundError
import labkit_course.reference as reference
import labkit.synthetic as synthetic
from labkit.prepare import SHIPPED_TINY_CHECKPOINT


@pytest.fixture
def tiny_ready(data_env: Path) -> lk.Profile:
    """Tiny profile in a temp data folder: 1,000 / 500 generated images (setup() copies the
    checkpoint shipped with labkit next to them)."""
    profile = lk.resolve_profile("tiny")
    synthetic.write_tiny_cifar(profile.data_root, n_train=1000, n_test=500, seed=0)
    return profile


def test_profile_from_argument_env_and_grading(data_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert lk.resolve_profile("full").name == "full"
    tiny = lk.resolve_profile("tiny")
    assert tiny.name == "tiny" and tiny.width == 0.125
    assert tiny.data_root == data_env / "tiny" and tiny.checkpoint == data_env / "tiny" / "vgg_tiny.pth"
    assert lk.resolve_profile().name == "tiny"  # no CIFAR-10 / checkpoint / GPU here
    monkeypatch.setenv("LABKIT_PROFILE", "full")
    assert lk.resolve_profile().name == "full"
    assert lk.resolve_profile("tiny").name == "tiny"  # the argument beats the env var
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    assert lk.resolve_profile("full").name == "tiny"  # grading always uses tiny
    monkeypatch.delenv("NBGRADER_EXECUTION")
    with pytest.raises(ValueError, match="unknown profile 'huge'"):
        lk.resolve_profile("huge")
    monkeypatch.setenv("LABKIT_PROFILE", "medium")
    with pytest.raises(ValueError, match="LABKIT_PROFILE"):
        lk.resolve_profile()


def test_setup_in_grading_mode_uses_small_subsets(tiny_ready: lk.Profile, monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture) -> None:
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    lab = lk.setup("full")  # grading mode overrides the argument
    out = capsys.readouterr().out
    assert lab.profile.name == "tiny" and lab.grading and "grading mode" in out
    assert lab.device == lk.get_device() and lk.model_device(lab.model) == lab.device
    assert lab.dataloader["train"].num_samples == GRADING_TRAIN_IMAGES
    assert lab.dataloader["test"].num_samples == GRADING_TEST_IMAGES
    x, y = next(iter(lab.dataloader["test"]))
    assert x.shape == (500, 3, 32, 32) and y.shape == (500,)
    assert 0.0 <= lk.evaluate(lab.model, lab.dataloader["test"], verbose=False) <= 1.0


def test_the_fast_grading_path_gives_the_notebook_smaller_loaders_only_when_grading(
        tiny_ready: lk.Profile, monkeypatch: pytest.MonkeyPatch) -> None:
    from labkit.budget import FAST_TEST_IMAGES, FAST_TRAIN_IMAGES, data_subsets
    from labkit.runtime import is_fast_grading

    monkeypatch.setenv("LABKIT_FAST_GRADING", "1")
    assert not is_fast_grading() and data_subsets() == (None, None)  # a person gets the lab's amounts
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    assert is_fast_grading()
    lab = lk.setup(verbose=False)
    assert (lab.dataloader["train"].num_samples, lab.dataloader["test"].num_samples) == (
        FAST_TRAIN_IMAGES, FAST_TEST_IMAGES)
    assert FAST_TRAIN_IMAGES < GRADING_TRAIN_IMAGES and FAST_TEST_IMAGES < GRADING_TEST_IMAGES


def test_setup_outside_grading_uses_the_whole_split_and_recovers(tiny_ready: lk.Profile,
                                                                 capsys: pytest.CaptureFixture) -> None:
    lab = lk.setup(verbose=True)
    assert not lab.grading and "grading mode" not in capsys.readouterr().out
    assert lab.dataloader["train"].num_samples == 1000 and lab.dataloader["test"].num_samples == 500
    weight = lab.model.backbone.conv0.weight
    dense = weight.detach().clone()
    with torch.no_grad():
        weight.zero_()
    assert lab.recover_model() is lab.model
    assert torch.equal(lab.model.backbone.conv0.weight, dense)
    assert lab.dense_state_dict["backbone.conv0.weight"].data_ptr() != weight.data_ptr()


def test_setup_lab_loaders_when_not_fast(tiny_ready: lk.Profile) -> None:
    lab = lk.setup(fast=False, verbose=False)
    assert isinstance(lab.dataloader["test"], torch.utils.data.DataLoader)
    assert lab.dataloader["test"].batch_size == 512


def test_setup_uses_the_shipped_model_and_never_trains(tiny_ready: lk.Profile, monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("setup() must not train")

    monkeypatch.setattr(reference, "train_reference", refuse)
    assert not tiny_ready.checkpoint.exists()
    lab = lk.setup("tiny")
    assert "copied the tiny model shipped with labkit" in capsys.readouterr().out
    assert tiny_ready.checkpoint.read_bytes() == SHIPPED_TINY_CHECKPOINT.read_bytes()
    shipped = lk.load_checkpoint(SHIPPED_TINY_CHECKPOINT).state_dict()
    assert all(torch.equal(v.cpu(), shipped[k]) for k, v in lab.model.state_dict().items())


def test_first_setup_generates_the_dataset_in_seconds(data_env: Path, monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture) -> None:
    monkeypatch.setattr(reference, "train_reference", lambda *a, **k: pytest.fail("setup() trained"))
    lab = lk.setup("tiny")
    out = capsys.readouterr().out
    assert "generated the tiny dataset" in out and "DIFFER" not in out
    assert lab.dataloader["test"].num_samples == 2000


def test_setup_is_seeded(tiny_ready: lk.Profile) -> None:
    lk.setup(seed=3, verbose=False)
    a = torch.rand(3)
    lk.setup(seed=3, verbose=False)
    assert torch.equal(torch.rand(3), a)


def test_full_profile_without_files_points_at_fetch_and_train(data_env: Path) -> None:
    with pytest.raises(DataNotFoundError, match="labkit fetch"):
        lk.setup("full", verbose=False)
    profile = lk.resolve_profile("full")
    synthetic.write_tiny_cifar(profile.data_root, n_train=10, n_test=10)
    with pytest.raises(FileNotFoundError, match="labkit train --profile full"):
        lk.setup("full", verbose=False)


def test_full_profile_with_cifar_shaped_data_and_checkpoint(data_env: Path, monkeypatch) -> None:
    """With CIFAR-10-format data, the published-format checkpoint and a GPU, the full profile is
    picked by itself and setup() gives the lab's full VGG and loaders (GPU faked: CPU here)."""
    profile = lk.resolve_profile("full")
    synthetic.write_tiny_cifar(profile.data_root, n_train=50, n_test=20)
    torch.manual_seed(0)
    lk.save_checkpoint(lk.VGG(), profile.checkpoint)
    assert lk.resolve_profile().name == "tiny"  # no GPU: tiny stays the default
    with monkeypatch.context() as m:
        m.setattr(torch.cuda, "is_available", lambda: True)
        assert lk.resolve_profile().name == "full"
    lab = lk.setup("full", verbose=False)
    assert lab.profile.name == "full" and lk.get_num_parameters(lab.model) == 9_228_362
    images, labels = next(iter(lab.dataloader["test"]))
    assert images.shape[1:] == (3, 32, 32) and 0 <= float(images.min()) <= float(images.max()) <= 1
    assert 0 <= lk.evaluate(lab.model, lab.dataloader["test"], verbose=False) <= 1
