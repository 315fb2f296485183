"""``labkit train``: train and save the dense reference VGG of a profile (full: unless it exists;
tiny: always, compared with the model shipped in labkit)."""

from __future__ import annotations

import argparse
import sys

from labkit.data import DataNotFoundError
from labkit.profiles import PROFILES, resolve_profile
from labkit_course.reference import ensure_reference, slow_training_warning
from labkit_course.retrain import retrain_tiny


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``labkit train``."""
    parser.add_argument("--profile", choices=PROFILES, default=None,
                        help="which profile's model (default: LABKIT_PROFILE, else auto)")
    parser.add_argument("--epochs", type=int, default=None, help="override the recipe's epochs")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--force", action="store_true",
                        help="retrain even if the checkpoint exists (full profile; tiny always retrains)")
    parser.add_argument("--yes", action="store_true",
                        help="full profile without a GPU: start the many-hour training anyway")
    parser.add_argument("--output", default=None,
                        help="tiny profile: where to save the retrained model (default: next to "
                             "the dataset; labkit/assets/vgg_tiny.pth replaces the shipped one)")


def run(args: argparse.Namespace) -> int:
    """Run ``labkit train``: train and save the reference checkpoint unless it exists."""
    profile = resolve_profile(args.profile)
    print(profile.describe())
    try:
        if profile.name == "tiny":  # compared with the model shipped in labkit
            retrain_tiny(args.output, epochs=args.epochs, seed=args.seed)
            return 0
        if (slow := slow_training_warning(profile)) and not args.yes:
            print(f"labkit train: {slow}. Pass --yes to start anyway.", file=sys.stderr)
            return 2
        ensure_reference(profile, epochs=args.epochs, seed=args.seed, force=args.force)
    except DataNotFoundError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0
