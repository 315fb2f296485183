"""Keep hidden tests honest inside the student's kernel.

Student cells share the kernel with the tests, so a student can rebind what the tests call
(``torch.equal = lambda *a, **k: True``, ``abs = ...``, ``np = Fake()``) or hide tracebacks.
:class:`Guard` snapshots, before any student code runs, the builtins and the attributes of
the modules tests use. Around each test cell the kernel calls :meth:`Guard.enter` (restore the
pristine objects, hide user globals that shadow builtins or module aliases, reset trace hooks
and IPython's traceback display) and :meth:`Guard.exit` (put the student's names back, and
report any guarded object that changed *during* the test, which then fails).

This defeats rebinding and display tricks; it is not a security boundary against code that
rewrites the kernel itself (that is what the sandbox and reading the feedback are for).
"""

from __future__ import annotations

import importlib
import sys
from types import ModuleType
from typing import Any

__all__ = ["Guard", "GUARDED_MODULES", "ALIASES"]

GUARDED_MODULES = (
    "builtins", "math", "operator", "functools", "numpy", "numpy.testing", "torch", "torch.nn",
    "torch.nn.functional", "torch.testing", "torch.testing._comparison", "labkit",
)
# notebook alias -> module it must name inside a test cell
ALIASES = {"torch": "torch", "np": "numpy", "numpy": "numpy", "math": "math", "lk": "labkit",
           "labkit": "labkit", "nn": "torch.nn", "F": "torch.nn.functional"}
# IPython shell methods a student could replace on the instance to swallow errors
_SHELL_METHODS = ("run_cell", "run_cell_async", "run_code", "run_ast_nodes", "showtraceback",
                  "_showtraceback", "showsyntaxerror", "get_exception_only", "should_run_async",
                  "transform_cell", "ex", "ev")
_MISSING = object()


class Guard:
    """Snapshot of what tests rely on, taken before any student code runs."""

    def __init__(self) -> None:
        self.modules: dict[str, ModuleType] = {}
        for name in GUARDED_MODULES:
            try:
                self.modules[name] = importlib.import_module(name)
            except Exception:  # a module the course does not install is simply not guarded
                pass
        if "torch" in self.modules:
            # torch._dynamo, imported lazily by the first optimizer step, rebinds torch.manual_seed
            # and friends: import it now, or a test whose code takes the first step (Q5's
            # fine-tuning) would be reported as tampering
            importlib.import_module("torch._dynamo")
        self.attrs = {name: dict(vars(mod)) for name, mod in self.modules.items()}
        self.builtins = self.attrs["builtins"]
        self.hooks = (sys.excepthook, sys.displayhook, sys.breakpointhook)
        self._stash: dict[str, Any] = {}

    def _restore_modules(self) -> list[str]:
        changed = []
        for name, mod in self.modules.items():
            if sys.modules.get(name) is not mod:
                sys.modules[name] = mod
                changed.append(f"sys.modules[{name!r}]")
            current = vars(mod)
            for key, value in self.attrs[name].items():
                if key.startswith("__") or current.get(key, _MISSING) is value:
                    continue
                try:
                    setattr(mod, key, value)
                except (AttributeError, TypeError):
                    continue
                changed.append(f"{name}.{key}" if name != "builtins" else key)
        return changed

    def enter(self, shell: Any) -> None:
        """Make the kernel pristine for one test cell."""
        self._restore_modules()
        sys.excepthook, sys.displayhook, sys.breakpointhook = self.hooks
        sys.settrace(None)
        sys.setprofile(None)
        for method in _SHELL_METHODS:
            vars(shell).pop(method, None)  # instance overrides hide the class's method
        ns = shell.user_ns
        self._stash = {}
        for key in list(ns):
            if key in self.builtins and not key.startswith("_") and ns[key] is not self.builtins[key]:
                self._stash[key] = ns.pop(key)
        for alias, modname in ALIASES.items():
            mod = self.modules.get(modname)
            if mod is not None and alias in ns and ns[alias] is not mod:
                self._stash[alias] = ns[alias]
                ns[alias] = mod

    def exit(self, shell: Any) -> list[str]:
        """Undo :meth:`enter` and return what the cell rebound among the guarded objects."""
        changed = self._restore_modules()
        ns = shell.user_ns
        for key, value in self._stash.items():
            ns[key] = value
        self._stash = {}
        return changed
