"""The architecture, as a maintainer reads it: two packages (the student package never imports
the course tools), declared layers (import-linter), commands only in the command-line layer, no
reading of the test suite, an explicit public API."""

from __future__ import annotations

import ast
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import labkit
import labkit_course
from labkit_course.source_notebook import default_course_dir

PACKAGE = Path(labkit.__file__).resolve().parent
COURSE = Path(labkit_course.__file__).resolve().parent
MODULES = sorted(p for root in (PACKAGE, COURSE) for p in root.rglob("*.py") if "__pycache__" not in p.parts)


def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(), filename=str(path))


def test_the_declared_layers_hold():
    lint = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    if lint is None:
        pytest.skip("import-linter is not installed (make test installs the dev extra)")
    got = subprocess.run([lint], cwd=PACKAGE.parent, capture_output=True, text=True, timeout=300)
    assert got.returncode == 0, got.stdout[-3000:] + got.stderr[-2000:]
    assert "Contracts: 4 kept, 0 broken." in got.stdout
    assert "the student package never imports the course tools KEPT" in got.stdout


def test_argparse_lives_only_in_the_command_line_layer():
    for path in MODULES:
        rel = path.relative_to(COURSE if COURSE in path.parents else PACKAGE)
        if COURSE in path.parents and (rel.parts[0] == "commands" or rel.name == "cli.py"):
            continue
        imported = {alias.name for node in ast.walk(_tree(path))
                    if isinstance(node, (ast.Import, ast.ImportFrom))
                    for alias in (node.names if isinstance(node, ast.Import) else [ast.alias(node.module or "")])}
        assert "argparse" not in imported, f"{rel}: argparse code belongs in labkit_course/commands/"


def test_labkit_never_reads_the_test_suite():
    for path in MODULES:
        for node in ast.walk(_tree(path)):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
                assert not any(n.split(".")[0] in ("tests", "oracle") for n in names), \
                    f"{path} imports the test suite"
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                assert not re.search(r"(^|/)tests/\w+\.py", node.value) or "oracle" in node.value \
                    and path.name == "bundle.py", f"{path} names a test file: {node.value!r}"


def test_the_public_api_is_a_list_and_has_what_the_notebook_calls():
    init = _tree(PACKAGE / "__init__.py")
    assert not any(isinstance(n, (ast.For, ast.While)) for n in ast.walk(init)), "no loop builds the API"
    assert len(labkit.__all__) == len(set(labkit.__all__))
    assert all(hasattr(labkit, name) for name in labkit.__all__)
    for form in ("source", "release"):
        notebook = json.loads((default_course_dir() / form / "lab1" / "lab1.ipynb").read_text())
        calls = set(re.findall(r"\blk\.([A-Za-z_]\w*)",
                               "\n".join("".join(c["source"]) for c in notebook["cells"])))
        assert calls <= set(labkit.__all__), f"the {form} notebook uses unexported {calls - set(labkit.__all__)}"
    for name in labkit.__all__:  # help(lk.x) says what each is
        value = getattr(labkit, name)
        if callable(value) and not isinstance(value, type(labkit)):
            assert (value.__doc__ or "").strip(), f"lk.{name} has no docstring for help()"
    for tool in ("train_reference", "ensure_reference", "write_tiny_cifar", "run_release", "grade_batch",
                 "prepare", "load_solutions"):
        assert tool not in labkit.__all__, f"{tool} is a maintainer tool: import it from its module"
