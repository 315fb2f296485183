"""labkit: the kit for the efficient-ML lab "Lab 1: Pruning" (VGG on CIFAR-10).

Notebooks use a flat API: ``import labkit as lk`` then ``lk.setup()``, ``lk.VGG()``,
``lk.evaluate(...)``. The names below are that API, listed by hand: first what the lab notebook
calls (in the order it calls them), then the rest of the students' API, by module. labkit never
contains the students' solutions: where machinery needs a student's function (the mask
function, the importance function), it takes it as an argument.

Maintainer tools are not re-exported; import them from their modules: ``labkit.reference``
(train the dense reference model), ``labkit.synthetic`` (write the tiny dataset),
``labkit.prepare`` (make a profile ready), ``labkit.fetch`` (downloads), ``labkit.release``
(the student release and its audit), ``labkit.grading`` (the autograder), ``labkit.bench``
(benchmarks), ``labkit.commands`` (the command line). README's "The package" shows the layers.
"""

# --- the lab notebook's API, in the order the notebook first calls it ---
from .session import setup
from .runtime import seed_everything
from .training import evaluate
from .metrics import MiB, get_model_size
from .plots import plot_weight_distribution
from .checks import check_equal, check_fine_grained_prune, check_mask
from .pruning import FineGrainedPruner
from .sensitivity import sensitivity_scan
from .budget import GRADING_TEST_IMAGES, GRADING_TRAIN_IMAGES, finetune_epochs, latency_repeats, scan_settings
from .plots import plot_num_parameters, plot_sensitivity
from .models import VGG
from .published import LAB_DENSE_ACCURACY, LAB_SENSITIVITY
from .sparsity_targets import (ACCURACY_BAR, check_sparsity_accuracy, check_sparsity_dict,
                               check_sparsity_size)
from .pruning import prunable_parameters
from .metrics import get_sparsity
from .sizes import size_report
from .suggest import suggest_sparsity_dict
from .finetune import fine_tune
from .channels import get_convs_and_bns, keep_output_channels, permute_output_channels, sync_channel_attributes
from .checks import check_channel_prune_macs, check_close, check_same_function, with_dependency
from .metrics import get_model_macs, get_num_parameters, measure_latency
from .plots import comparison_table

# --- the rest of the students' API, by module ---
from .runtime import (data_dir, exact_fp32, fp32_modes, get_device, is_autograding, model_device,
                      native_bf16, training_precision, training_precision_name)
from .profiles import PROFILES, Profile, resolve_profile
from .session import Lab
from .models import CheckpointError, UnsafeCheckpointError, load_checkpoint, save_checkpoint
from .metrics import Byte, GiB, KiB, get_model_sparsity
from .training import train
from .synthetic import CIFAR10_CLASSES
from .device_loader import DeviceLoader, random_crop_flip
from .data import DataNotFoundError, ensure_cifar10, load_cifar_tensors, make_loaders
from .pruning import PruneFn, validate_sparsity_dict
from .sensitivity import (ScanPlan, ScanResult, default_memory_budget, naive_sensitivity_scan,
                          plan_scan, scan_sparsities)
from .channels import channel_keep_counts
from .finetune import SCHEDULES, FineTuneHistory
from .sizes import SizeReport
from .plots import plot_mask
from .checks import LAB_TEST_MASK, LAB_TEST_TENSOR, case, plain_tensor
from .sparsity_targets import (SIZE_TARGET, TINY_CURVES, full_vgg_kept_parameters,
                               preserved_random_state, tiny_sparsities)

__all__ = [
    # the lab notebook's API, in the order the notebook first calls it
    "setup", "seed_everything", "evaluate", "get_model_size", "MiB", "plot_weight_distribution",
    "check_fine_grained_prune", "check_mask", "check_equal", "FineGrainedPruner",
    "sensitivity_scan", "scan_settings", "plot_sensitivity", "plot_num_parameters", "VGG",
    "LAB_SENSITIVITY", "LAB_DENSE_ACCURACY", "check_sparsity_dict", "check_sparsity_size",
    "check_sparsity_accuracy", "ACCURACY_BAR", "prunable_parameters", "get_sparsity",
    "size_report", "suggest_sparsity_dict", "fine_tune", "finetune_epochs",
    "keep_output_channels", "get_convs_and_bns", "sync_channel_attributes",
    "check_channel_prune_macs", "with_dependency", "permute_output_channels", "check_same_function",
    "check_close",
    "latency_repeats", "measure_latency", "get_model_macs", "get_num_parameters",
    "comparison_table",
    # runtime: devices, seeds, numerics
    "get_device", "model_device", "is_autograding", "data_dir", "exact_fp32", "fp32_modes",
    "native_bf16", "training_precision", "training_precision_name",
    # profiles and the notebook's session
    "Profile", "resolve_profile", "PROFILES", "Lab", "GRADING_TRAIN_IMAGES", "GRADING_TEST_IMAGES",
    # models, metrics, training
    "CheckpointError", "UnsafeCheckpointError", "load_checkpoint", "save_checkpoint", "Byte", "KiB", "GiB",
    "get_model_sparsity", "train",
    # data
    "CIFAR10_CLASSES", "DeviceLoader", "random_crop_flip", "LocalCIFAR10", "DataNotFoundError",
    "ensure_cifar10", "load_cifar_tensors", "make_loaders",
    # pruning, sensitivity, channels, fine-tuning, sizes
    "PruneFn", "validate_sparsity_dict", "ScanResult", "ScanPlan", "scan_sparsities",
    "naive_sensitivity_scan", "default_memory_budget", "plan_scan", "channel_keep_counts",
    "FineTuneHistory", "SCHEDULES", "SizeReport",
    # plots and checks
    "plot_mask", "LAB_TEST_TENSOR", "LAB_TEST_MASK", "case", "plain_tensor",
    # sparsity targets of the lab's questions
    "SIZE_TARGET", "TINY_CURVES", "full_vgg_kept_parameters", "tiny_sparsities",
    "preserved_random_state",
]


def __getattr__(name: str):
    # lk.LocalCIFAR10 imports torchvision (~1.5-3 s), which the tensor-cache loaders never need:
    # build it only when asked for (PEP 562)
    if name == "LocalCIFAR10":
        from . import data

        return data.LocalCIFAR10
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
