"""labkit: the student package of the efficient-ML lab "Lab 1: Pruning" (VGG on CIFAR-10).

Notebooks use a flat API: ``import labkit as lk`` then ``lk.setup()``, ``lk.VGG()``,
``lk.evaluate(...)``. The names below are that API, by topic: what the lab notebook calls and
the helpers its text tells students about (``help(lk.name)`` explains each). labkit never
contains the students' solutions: where machinery needs a student's function (the mask
function, the importance function), it takes it as an argument.

Everything else is imported from its module (``labkit.data``, ``labkit.sensitivity``, ...).
The course tools (grader, release, Gradescope, benchmarks, the ``labkit`` command) are the
separate package ``labkit_course``; this package never imports it.
"""

from .session import setup
from .runtime import data_dir, exact_fp32, get_device, is_autograding, model_device, seed_everything
from .profiles import Profile, resolve_profile
from .data import make_loaders
from .synthetic import CIFAR10_CLASSES
from .models import VGG, load_checkpoint, save_checkpoint
from .training import evaluate, train
from .finetune import fine_tune
from .budget import finetune_epochs, latency_repeats, scan_settings
from .metrics import (Byte, GiB, KiB, MiB, get_model_macs, get_model_size, get_model_sparsity,
                      get_num_parameters, get_sparsity, measure_latency)
from .pruning import FineGrainedPruner, prunable_parameters
from .sensitivity import ScanResult, sensitivity_scan
from .sizes import size_report
from .channels import get_convs_and_bns, keep_output_channels, permute_output_channels, sync_channel_attributes
from .published import LAB_DENSE_ACCURACY, LAB_SENSITIVITY
from .checks import (case, check_channel_prune_macs, check_close, check_equal, check_fine_grained_prune,
                     check_mask, check_same_function, plain_tensor, with_dependency)
from .sparsity_targets import ACCURACY_BAR, check_sparsity_accuracy, check_sparsity_dict, check_sparsity_size
from .submission import check_submission
from .plots import (comparison_table, plot_mask, plot_num_parameters, plot_sensitivity,
                    plot_weight_distribution)

__all__ = [
    # set-up: profile, device, seeds
    "setup", "resolve_profile", "Profile", "get_device", "model_device", "seed_everything",
    "is_autograding", "data_dir", "exact_fp32",
    # data and model
    "make_loaders", "LocalCIFAR10", "CIFAR10_CLASSES", "VGG", "load_checkpoint", "save_checkpoint",
    # training and evaluation
    "evaluate", "train", "fine_tune", "finetune_epochs",
    # metrics
    "get_model_size", "get_model_macs", "get_num_parameters", "get_sparsity", "get_model_sparsity",
    "measure_latency", "latency_repeats", "Byte", "KiB", "MiB", "GiB",
    # fine-grained pruning and the sensitivity scan
    "FineGrainedPruner", "prunable_parameters", "sensitivity_scan", "scan_settings", "ScanResult",
    "size_report", "LAB_SENSITIVITY", "LAB_DENSE_ACCURACY",
    # channel pruning
    "get_convs_and_bns", "keep_output_channels", "permute_output_channels", "sync_channel_attributes",
    # self-checks
    "check_equal", "check_close", "check_mask", "check_fine_grained_prune", "check_channel_prune_macs",
    "check_same_function", "check_sparsity_dict", "check_sparsity_size", "check_sparsity_accuracy",
    "ACCURACY_BAR", "with_dependency", "case", "plain_tensor",
    # plots
    "plot_weight_distribution", "plot_num_parameters", "plot_sensitivity", "plot_mask",
    "comparison_table",
    # before you upload
    "check_submission",
]


def __getattr__(name: str):
    # lk.LocalCIFAR10 imports torchvision (~1.5-3 s), which the tensor-cache loaders never need:
    # build it only when asked for (PEP 562)
    if name == "LocalCIFAR10":
        from . import data

        return data.LocalCIFAR10
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
