"""Reference training: tiny epochs on generated data, determinism, checkpoint reuse, CLI."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import labkit as lk
import labkit_course.reference as reference
import labkit.synthetic as synthetic
from labkit_course.cli import main as cli_main
import oracle


@pytest.fixture
def tiny_env(data_env: Path) -> lk.Profile:
    """The tiny profile in a temp data folder, with a small generated dataset (150 / 50)."""
    profile = lk.resolve_profile("tiny")
    synthetic.write_tiny_cifar(profile.data_root, n_train=150, n_test=50, seed=0)
    return profile


def test_train_reference_runs_and_is_deterministic(tiny_env: lk.Profile) -> None:
    model, accuracy = reference.train_reference(tiny_env, epochs=1, seed=0, verbose=False)
    assert isinstance(model, lk.VGG) and model.widths == [8, 16, 32, 32, 64, 64, 64, 64]
    assert 0.0 <= accuracy <= 1.0 and not model.training
    again, accuracy_again = reference.train_reference(tiny_env, epochs=1, seed=0, verbose=False)
    assert accuracy_again == accuracy
    for (name, a), b in zip(model.state_dict().items(), again.state_dict().values()):
        assert torch.equal(a, b), name
    other, _ = reference.train_reference(tiny_env, epochs=1, seed=1, verbose=False)
    assert not torch.equal(other.state_dict()["backbone.conv0.weight"], model.state_dict()["backbone.conv0.weight"])


@pytest.mark.slow
def test_full_recipe_runs_on_cifar_shaped_data(data_env: Path) -> None:
    profile = lk.resolve_profile("full")
    synthetic.write_tiny_cifar(profile.data_root, n_train=20, n_test=10)  # same files as real CIFAR-10
    model, accuracy = reference.train_reference(profile, epochs=1, verbose=False, train_subset=16, test_subset=8)
    assert model.widths == [64, 128, 256, 256, 512, 512, 512, 512]
    assert accuracy in {i / 8 for i in range(9)}
    assert reference.RECIPES["full"].batch_size == 512


def test_ensure_reference_saves_then_reuses(tiny_env: lk.Profile, capsys: pytest.CaptureFixture) -> None:
    path = reference.ensure_reference(tiny_env, epochs=1, verbose=True)
    assert path == tiny_env.checkpoint and path.is_file()
    saved = torch.load(path, weights_only=True)
    assert saved["seed"] == 0 and saved["epochs"] == 1 and saved["profile"] == "tiny"
    assert 0.0 <= saved["accuracy"] <= 1.0
    model = lk.load_checkpoint(path)
    assert lk.evaluate(model, lk.make_loaders(tiny_env, fast=True)["test"], verbose=False) == saved["accuracy"]
    assert "test accuracy=" in capsys.readouterr().out
    stamp = path.stat().st_mtime_ns
    reference.ensure_reference(tiny_env, epochs=1, verbose=True)
    assert path.stat().st_mtime_ns == stamp and "reusing" in capsys.readouterr().out
    reference.ensure_reference(tiny_env, epochs=1, force=True, verbose=False)
    assert path.stat().st_mtime_ns != stamp


def test_train_verb(tiny_env: lk.Profile, capsys: pytest.CaptureFixture) -> None:
    """The tiny profile always retrains, next to the dataset, and compares with the shipped model."""
    from labkit_course.retrain import retrained_path

    assert cli_main(["train", "--profile", "tiny", "--epochs", "1"]) == 0
    out = capsys.readouterr().out
    assert "profile 'tiny'" in out and "saved" in out and "differs from the shipped one" in out
    assert retrained_path(tiny_env).is_file() and not tiny_env.checkpoint.exists()
    output = tiny_env.data_root / "mine.pth"
    assert cli_main(["train", "--profile", "tiny", "--epochs", "1", "--output", str(output)]) == 0
    assert f"saved {output}" in capsys.readouterr().out and output.is_file()


def test_bad_epochs(tiny_env: lk.Profile) -> None:
    with pytest.raises(ValueError, match="epochs=0"):
        reference.train_reference(tiny_env, epochs=0, verbose=False)


@pytest.mark.slow
def test_tiny_reference_is_learnable_not_trivial_and_prunable(tiny_checkpoint: lk.Profile) -> None:
    """The real tiny checkpoint: 80-97 % dense; pruning one conv to 0.9 costs >= 10 points."""
    saved = torch.load(tiny_checkpoint.checkpoint, weights_only=True)
    model = lk.load_checkpoint(tiny_checkpoint.checkpoint)
    test = lk.make_loaders(tiny_checkpoint, fast=True)["test"]
    dense = lk.evaluate(model, test, verbose=False)
    assert dense == pytest.approx(saved["accuracy"], abs=0.005)
    assert 0.80 <= dense <= 0.97
    drops = {}
    for name in ("backbone.conv0.weight", "backbone.conv3.weight"):
        weight = dict(model.named_parameters())[name]
        original = weight.detach().clone()
        with torch.no_grad():
            oracle.fine_grained_prune(weight, 0.9)
        drops[name] = dense - lk.evaluate(model, test, verbose=False)
        with torch.no_grad():
            weight.copy_(original)
    assert max(drops.values()) >= 0.10, drops


@pytest.mark.slow
def test_a_self_trained_full_model_gets_its_own_name(data_env: Path, monkeypatch, capsys) -> None:
    """`labkit train --profile full` must not write the published checkpoint's file name: fetch
    verifies that one by sha256, and the profile reports which of the two it uses."""
    from labkit_course import reference

    profile = lk.resolve_profile("full")
    synthetic.write_tiny_cifar(profile.data_root, n_train=20, n_test=10)
    monkeypatch.setitem(reference.RECIPES, "full", reference.Recipe(epochs=1, batch_size=8, lr=0.05))
    path = reference.ensure_reference(profile, verbose=True)
    assert path.name == "vgg.cifar.selftrained.pth" and path.is_file()
    assert not (path.parent / "vgg.cifar.pretrained.pth").exists()
    assert "self-trained" in capsys.readouterr().out
    again = lk.resolve_profile("full")
    assert again.checkpoint == path and again.checkpoint_kind == "self-trained"
    assert "not the published one" in again.describe()


def test_training_the_full_profile_on_a_cpu_asks_for_yes(data_env: Path, monkeypatch, capsys) -> None:
    from labkit_course import reference

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    started: list[object] = []
    monkeypatch.setattr(reference, "train_reference", lambda *a, **k: started.append(a) or (None, 0.0))
    assert cli_main(["train", "--profile", "full"]) == 2
    err = capsys.readouterr().err
    assert "many hours" in err and "--yes" in err and started == []
    assert reference.slow_training_warning("full", device="cuda") is None
    assert reference.slow_training_warning("tiny", device="cpu") is None
