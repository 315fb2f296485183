"""Guard: test cells see pristine builtins and modules; changes made during a test are caught."""

from __future__ import annotations

import builtins
import math
import types

import torch

from labkit.grading.guard import Guard


def _shell(ns):
    return types.SimpleNamespace(user_ns=ns)


def test_enter_restores_patched_modules_and_hides_shadows():
    guard = Guard()
    real_equal, real_isclose = torch.equal, math.isclose
    fake = object()
    ns = {"abs": lambda x: 0, "torch": fake, "mine": 1}
    torch.equal = lambda *a, **k: True
    try:
        shell = _shell(ns)
        guard.enter(shell)
        assert torch.equal is real_equal and "abs" not in ns and ns["torch"] is torch
        assert guard.exit(shell) == []
        assert ns["torch"] is fake and ns["abs"](5) == 0 and ns["mine"] == 1
    finally:
        torch.equal, math.isclose = real_equal, real_isclose


def test_exit_reports_changes_made_during_the_test_and_undoes_them():
    guard = Guard()
    real_abs = builtins.abs
    shell = _shell({})
    guard.enter(shell)
    builtins.abs = lambda x: 0
    torch.testing.assert_close = lambda *a, **k: None
    changed = guard.exit(shell)
    assert "abs" in changed and "torch.testing.assert_close" in changed
    assert builtins.abs is real_abs and torch.testing.assert_close(1.0, 1.0) is None
