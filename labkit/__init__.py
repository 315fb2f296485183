"""labkit: the kit for the efficient-ML lab "Lab 1: Pruning" (VGG on CIFAR-10).

Notebooks use a flat API: ``import labkit as lk`` then ``lk.VGG()``, ``lk.evaluate(...)``.
Each concept lives in its own module; every name listed in a module's ``__all__`` is
re-exported here. labkit never contains the students' solutions: where machinery needs a
student's function (the mask function, the importance function), it takes it as an argument.
"""

from importlib import import_module as _import_module

# One entry per concept module; each module's __all__ is re-exported.
_MODULES = [
    "runtime",
    "profiles",
    "models",
    "metrics",
    "training",
    "synthetic",
    "device_loader",
    "data",
    "reference",
    "session",
    "pruning",
    "sensitivity",
    "channels",
    "finetune",
    "sizes",
    "plots",
    "suggest",
    "checks",
    "published",
    "budget",
    "sparsity_targets",
]

__all__: list[str] = []
for _name in _MODULES:
    _module = _import_module(f".{_name}", __name__)
    for _attr in _module.__all__:
        globals()[_attr] = getattr(_module, _attr)
    __all__ += _module.__all__
del _name, _module, _attr
