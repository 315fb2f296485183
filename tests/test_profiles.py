"""Profiles: the full profile on a CPU warns; its checkpoints are told apart by name."""

from __future__ import annotations

import warnings

import pytest
import torch

import labkit as lk
from labkit.sensitivity import default_memory_budget
from labkit.models import save_checkpoint


def test_the_full_profile_on_a_cpu_warns_and_says_so(data_env, monkeypatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.warns(RuntimeWarning, match="full profile on a CPU.*LABKIT_PROFILE=tiny"):
        profile = lk.resolve_profile("full")
    assert "no GPU" in profile.reason
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert lk.resolve_profile("full", warn=False).name == "full"  # e.g. labkit fetch
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert "no GPU" not in lk.resolve_profile("full").reason
        assert lk.resolve_profile("tiny").name == "tiny"


def test_the_published_checkpoint_wins_over_a_self_trained_one(data_env, monkeypatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    profile = lk.resolve_profile("full")
    assert profile.checkpoint == profile.published_checkpoint != profile.trained_checkpoint
    assert "missing" in profile.describe()
    save_checkpoint(lk.VGG(0.125), profile.trained_checkpoint)
    assert lk.resolve_profile("full").checkpoint_kind == "self-trained"
    save_checkpoint(lk.VGG(0.125), profile.published_checkpoint)
    again = lk.resolve_profile("full")
    assert again.checkpoint == profile.published_checkpoint and again.checkpoint_kind == "published"
    assert "(the published one)" in again.describe()


def test_the_default_scan_budget_is_half_the_free_memory(monkeypatch) -> None:
    assert 0 < default_memory_budget("cpu")
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device=None: (6 << 30, 16 << 30))
    assert default_memory_budget("cuda") == 3 << 30
