"""Guard: test cells see pristine builtins and modules; changes made during a test are caught."""

from __future__ import annotations

import builtins
import math
import types

import torch

from labkit_course.grading.guard import Guard


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


def test_a_test_that_takes_the_first_optimizer_step_is_not_tampering():
    # the first optimizer step imports torch._dynamo, which rebinds torch.manual_seed & co.;
    # a fresh interpreter, because this one may have imported it already
    import subprocess
    import sys

    code = (
        "import sys, types, torch\n"
        "from labkit_course.grading.guard import Guard\n"
        "assert 'torch._dynamo' not in sys.modules or print('dynamo preloaded')\n"
        "guard = Guard(); shell = types.SimpleNamespace(user_ns={})\n"
        "guard.enter(shell)\n"
        "m = torch.nn.Linear(2, 2); opt = torch.optim.SGD(m.parameters(), lr=0.1)\n"
        "m(torch.ones(1, 2)).sum().backward(); opt.step()\n"
        "print('changed:', guard.exit(shell))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "changed: []" in out.stdout, out.stdout
