"""``labkit fetch``: download CIFAR-10 and the published checkpoint (full profile)."""

from __future__ import annotations

import argparse
import sys

from labkit.fetch import (CHECKPOINT_URL, CIFAR10_URL, FetchError, fetch_checkpoint,
                          fetch_cifar10)
from labkit.profiles import resolve_profile


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``labkit fetch``."""
    parser.add_argument("--what", choices=["all", "data", "checkpoint"], default="all")
    parser.add_argument("--checkpoint-sha256", default=None,
                        help="pin another checkpoint's sha256 (default: the published file's)")
    parser.add_argument("--cifar-url", default=CIFAR10_URL, help=argparse.SUPPRESS)
    parser.add_argument("--checkpoint-url", default=CHECKPOINT_URL, help=argparse.SUPPRESS)


def run(args: argparse.Namespace) -> int:
    """Run ``labkit fetch``: fetch (or verify) what the full profile needs."""
    profile = resolve_profile("full", warn=False)  # files only: no "slow on a CPU" warning
    try:
        if args.what in ("all", "data"):
            got = fetch_cifar10(profile.data_root, url=args.cifar_url)
            print(f"CIFAR-10: {got.path} ({'downloaded' if got.downloaded else 'already there'})")
        if args.what in ("all", "checkpoint"):
            got = fetch_checkpoint(profile.published_checkpoint, url=args.checkpoint_url,
                                   sha256=args.checkpoint_sha256)
            print(f"checkpoint: {got.path} ({'downloaded' if got.downloaded else 'already there'}, "
                  "sha256 verified: the published file)")
    except FetchError as e:
        print(f"labkit fetch: {e}", file=sys.stderr)
        return 1
    print("full profile ready: the notebook picks it when a GPU is present (or set LABKIT_PROFILE=full)")
    return 0
