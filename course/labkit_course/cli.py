"""labkit: the Lab 1 (Pruning) kit's command line, one verb per job.

Every verb is a module of :mod:`labkit_course.commands` (``labkit_course.commands.<verb>``) that defines
``add_arguments(parser)`` and ``run(args) -> int`` and holds all its argparse code; they are
imported only when their verb runs, so ``labkit --help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys

# verb -> one-line help; the verb's code is the module labkit_course.commands.<verb>
VERBS: dict[str, str] = {
    "demo": "the main job end to end on the tiny profile (what `make demo` runs)",
    "train": "train the dense reference VGG of a profile and save its checkpoint",
    "fetch": "download CIFAR-10 and the published checkpoint (full profile)",
    "release": "regenerate the student release from the source notebook, and audit it",
    "grade": "autograde submitted notebooks into grades, feedback and a manual sheet",
    "similarity": "similarity evidence across graded submissions and known solutions (no score)",
    "gradescope": "build a Gradescope autograder zip that grades with labkit's grader",
    "bench": "benchmarks that print side-by-side ratios (scan, loops, latency, grading)",
}


def _command(verb: str):
    return importlib.import_module(f"labkit_course.commands.{verb}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="labkit", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="verb", metavar="VERB")
    argv = sys.argv[1:] if argv is None else argv
    for verb, help_ in VERBS.items():
        p = sub.add_parser(verb, help=help_, description=help_)
        if argv[:1] == [verb]:  # import only the verb that runs
            _command(verb).add_arguments(p)
    args = parser.parse_args(argv)
    if args.verb is None:
        parser.print_help()
        return 2
    try:
        return int(_command(args.verb).run(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
