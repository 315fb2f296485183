"""The reference solutions of a course, read from its source notebook (the one home of them).

labkit holds no solutions. Maintainer tools that need a working student function (the
benchmarks, the demo's sample submissions) take it from the course's source notebook
(``<course>/source/<assignment>/<assignment>.ipynb``): the function definitions of its nbgrader
solution cells are executed, with the notebook's own imports, in a fresh namespace.
"""

from __future__ import annotations

import ast
from pathlib import Path
from types import SimpleNamespace

__all__ = ["default_course_dir", "default_assignment", "source_notebook_path", "load_solutions"]


def default_course_dir() -> Path:
    """The course folder used when none is given: the repository's ``notebooks/`` when labkit
    runs from a checkout (editable install), else ``notebooks/`` in the current folder."""
    import labkit

    repo = Path(labkit.__file__).resolve().parents[1]  # the student package sits at the root
    if (repo / "pyproject.toml").is_file():
        return repo / "notebooks"
    return Path.cwd() / "notebooks"


def default_assignment(course: Path | None = None) -> str:
    """The course's assignment when none is named: the one folder under ``<course>/source/``
    that holds its ``<name>/<name>.ipynb``.

    Raises:
        FileNotFoundError: the course has no such assignment, or several (name one with
            ``--assignment``; the message lists them).
    """
    course = Path(course) if course is not None else default_course_dir()
    found = sorted(p.name for p in (course / "source").glob("*") if (p / f"{p.name}.ipynb").is_file())
    if len(found) == 1:
        return found[0]
    if not found:
        raise FileNotFoundError(f"no assignment in {course / 'source'} (it needs "
                                "source/<name>/<name>.ipynb): pass --course with the nbgrader "
                                "course folder")
    raise FileNotFoundError(f"{course / 'source'} holds {len(found)} assignments "
                            f"({', '.join(found)}): name one with --assignment")


def source_notebook_path(course: Path | None = None, assignment: str | None = None) -> Path:
    """``<course>/source/<assignment>/<assignment>.ipynb`` (``assignment`` None: the course's
    only one, :func:`default_assignment`).

    Raises:
        FileNotFoundError: no such notebook; pass ``--course`` with the course folder.
    """
    course = Path(course) if course is not None else default_course_dir()
    assignment = assignment or default_assignment(course)
    path = course / "source" / assignment / f"{assignment}.ipynb"
    if not path.is_file():
        raise FileNotFoundError(
            f"no source notebook at {path}: pass the nbgrader course folder that holds "
            f"source/{assignment}/{assignment}.ipynb (e.g. --course path/to/notebooks)")
    return path


def _is_solution(cell) -> bool:
    return cell.cell_type == "code" and bool(cell.metadata.get("nbgrader", {}).get("solution"))


def load_solutions(course: Path | None = None, assignment: str | None = None) -> SimpleNamespace:
    """Define the source notebook's solution functions and return them as attributes.

    The top-level imports of every code cell run first (``import torch``, ``import labkit as
    lk`` ...), then the function definitions of the solution cells, in notebook order, in one
    namespace (so ``channel_prune`` finds ``get_num_channels_to_keep``). Other statements (the
    setup, training, plots) do not run.

    Returns:
        A namespace with one attribute per solution function, e.g. ``fine_grained_prune``,
        ``get_num_channels_to_keep``, ``channel_prune``, ``get_input_channel_importance``,
        ``apply_channel_sorting``.
    """
    import nbformat

    path = source_notebook_path(course, assignment)
    nb = nbformat.read(path, as_version=4)
    imports, defs = [], []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        try:
            tree = ast.parse(cell.source, filename=f"{path}:cell{i}")
        except SyntaxError:
            continue  # IPython magics; a solution cell must parse (checked below)
        imports += [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
        if _is_solution(cell):
            defs += [n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))]
    if not defs:
        raise ValueError(f"{path} has no function defined in a solution cell")
    namespace: dict = {"__name__": f"labkit_solutions_{path.stem}"}
    exec(compile(ast.Module(body=imports + defs, type_ignores=[]), str(path), "exec"), namespace)
    return SimpleNamespace(**{n.name: namespace[n.name] for n in defs})
