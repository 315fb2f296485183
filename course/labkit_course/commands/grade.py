"""``labkit grade``: from submitted notebooks to grades, feedback and a manual-grading sheet.

    labkit grade SUBMISSION.ipynb|FOLDER|EXPORT.zip ... [--out DIR] [--workers N] [--force]
    labkit grade --import-manual SHEET.csv ... [--out DIR]
    labkit grade --graders N [--anonymous] --out DIR          (the free-text sheets again, split)
    labkit grade SUBMISSIONS --shard K/N --out OUT_K      (one machine's share)
    labkit grade --merge OUT_1 ... OUT_N --out DIR        (one gradebook from the shards)
    labkit grade --roster GRADEBOOK.csv --export canvas|moodle [--out DIR]   (the LMS's import file)
    labkit grade ... --due TIME [--late-penalty 10%/day] [--submission-times LMS.csv]  (late work)

Writes ``DIR/grades.csv`` (student, status, total, max_total, one column per question),
``DIR/feedback/<student>.html``, ``DIR/manual.html`` + ``DIR/manual.csv``, the class report
``DIR/report.html`` + ``DIR/stats.csv``, and keeps
``DIR/results/`` (one record per student; re-runs skip graded students) and ``DIR/course/``
(the master nbgrader course and gradebook; readable by the grader's user only).
Output files are readable by the grading user only (0600, folders 0700) and written whole
(atomically); one grader at a time may use an out folder (``DIR/.lock``).
Exit status: 0 when every submission got a status (crashed and invalid ones included);
1 when the grader itself failed on some submission, or a full or failing disk stopped it
(running the same command again resumes); 2 for unusable arguments or course, or an out
folder another grader is using.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from labkit_course.commands.course import (
    add_assignment_argument,
    add_limit_arguments,
    limits_from_args,
    resolve_assignment,
)

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``labkit grade``."""
    parser.add_argument("inputs", nargs="*", type=Path, metavar="SUBMISSION",
                        help="notebooks, folders of notebooks, or LMS zip exports")
    parser.add_argument("--out", type=Path, default=Path("out/grades"), help="output folder (default %(default)s)")
    parser.add_argument("--course", type=Path, default=None,
                        help="nbgrader course folder with source/<assignment>/ (default: the "
                             "repository's notebooks/ in a checkout, else ./notebooks)")
    add_assignment_argument(parser)
    parser.add_argument("--workers", type=int, default=1, help="submissions graded at once (default 1)")
    parser.add_argument("--force", action="store_true",
                        help="regrade students already graded (free-text scores imported with "
                             "--import-manual are kept where the answer is unchanged)")
    parser.add_argument("--drop-manual", action="store_true",
                        help="with --force: forget the imported free-text scores of the students "
                             "regraded (a TA scores them again)")
    add_limit_arguments(parser)
    parser.add_argument("--id-pattern", default=None,
                        help="regex with a (?P<student>...) group to take ids from file names")
    parser.add_argument("--roster", type=Path, default=None,
                        help="CSV with a 'student' (or 'id') column, or the gradebook exported from "
                             "Canvas or Moodle (students matched to its rows, see "
                             "OUT/roster_matching.csv): students without a submission get status "
                             "'missing'")
    parser.add_argument("--export", choices=("canvas", "moodle"), default=None,
                        help="write OUT/canvas.csv or OUT/moodle.csv for that LMS's grade import "
                             "(needs --roster: the gradebook exported from it); also on its own, "
                             "after --import-manual")
    parser.add_argument("--assignment-column", default=None, metavar="NAME",
                        help="with --export: the roster's column for this lab (default: its only "
                             "assignment column)")
    parser.add_argument("--due", default=None, metavar="TIME",
                        help="due time, ISO 8601 with an offset or a zone name ('2026-03-07T12:00 "
                             "America/New_York'): grades.csv gets submitted_at, submitted_from, "
                             "late_by_hours, late_penalty; a roster's due or extension_hours column "
                             "gives a student their own; kept in OUT/late.json ('off' removes it)")
    parser.add_argument("--late-penalty", default=None, metavar="P%/day",
                        help="with --due: take P%% of the total per started day (or P%%/hour) late "
                             "(default none; 'off' removes it); the LMS export holds the lowered total")
    parser.add_argument("--submission-times", type=Path, default=None, metavar="CSV",
                        help="with --due: submission times exported from the LMS (a submitted_at, "
                             "'Submitted at' or 'Last modified (submission)' column, students as in "
                             "a roster); default: Gradescope's submission_metadata.json, else the "
                             "file's modification time")
    parser.add_argument("--graders", type=int, default=None, metavar="N",
                        help="also write manual-1.csv ... manual-N.csv (and .html): the students "
                             "split among N graders, each in exactly one; kept for later runs")
    parser.add_argument("--anonymous", action=argparse.BooleanOptionalAction, default=None,
                        help="the free-text sheets show a stable pseudonym instead of the student "
                             "id (--no-anonymous: ids again); kept for later runs")
    parser.add_argument("--import-manual", type=Path, nargs="+", default=None, metavar="SHEET_CSV",
                        help="merge graded sheets of free-text answers (student, grade_id or "
                             "question, rubric items or score, comment)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument("--allow-network", action="store_true",
                        help="let student code use the network (default: its own network "
                             "namespace with only loopback)")
    parser.add_argument("--shard", default=None, metavar="K/N",
                        help="grade only shard K of N: a stable 1/N of the students (by a hash of "
                             "the id, the same on every machine); merge the shards with --merge")
    parser.add_argument("--merge", nargs="+", type=Path, default=None, metavar="OUT_K",
                        help="merge the shards' out folders into --out (one gradebook, grades.csv, "
                             "feedback and manual sheet); merging again changes nothing")


def _roster(path: Path | None) -> list[str]:
    """The labkit ids of a plain roster CSV ``path``; [] for none or an LMS export (whose rows
    are matched to the graded students afterwards, see :func:`_finish_roster`)."""
    from labkit_course.grading.roster import read_roster

    return read_roster(path).plain_ids() if path is not None else []


def _check_roster(args: argparse.Namespace) -> None:
    """Refuse, before any grading, an ``--export`` without a roster of that LMS or with an
    unclear assignment column, and a ``--due`` or ``--late-penalty`` that cannot be read."""
    from labkit_course.grading.course import GradingError
    from labkit_course.grading.roster import read_roster

    if args.due not in (None, "off"):
        from labkit_course.grading.late import parse_due

        parse_due(args.due)
    if args.late_penalty not in (None, "off"):
        from labkit_course.grading.late import parse_penalty

        parse_penalty(args.late_penalty)
    if args.export is None:
        if args.assignment_column is not None:
            raise GradingError("--assignment-column goes with --export canvas|moodle")
        return
    if args.roster is None:
        raise GradingError(f"--export {args.export} needs --roster: the gradebook exported from "
                           f"{args.export.capitalize()} (its students and the assignment's column)")
    roster = read_roster(args.roster)
    if roster.kind != args.export:
        raise GradingError(f"--export {args.export} needs the gradebook exported from "
                           f"{args.export.capitalize()} as --roster; {args.roster} reads as a "
                           f"{roster.kind} roster")
    roster.assignment_column(args.assignment_column)


def _finish_roster(args: argparse.Namespace) -> None:
    """With an LMS roster, ``--export`` or a late-work option: match the graded students to
    the roster, add its missing rows to grades.csv, keep the late policy, write
    roster_matching.csv and the LMS file; print what it did. A shard's out folder holds part
    of the class: this waits for ``--merge``."""
    from labkit_course.grading.course import GradingError, prepare_master
    from labkit_course.grading.late import POLICY_FILE
    from labkit_course.grading.outlock import out_lock
    from labkit_course.grading.outputs import disk_errors
    from labkit_course.grading.roster import read_roster
    from labkit_course.grading.rostered import (
        LateOptions,
        finish_with_roster,
        report_lines,
    )

    if args.shard is not None and args.merge is None:
        lms = args.roster is not None and read_roster(args.roster).kind != "plain"
        if lms or args.export or args.due is not None:
            print("note: an LMS roster, --export and --due apply to the whole class: pass them "
                  "with --merge")
        return
    out = args.out.resolve()
    late = LateOptions(args.due, args.late_penalty, args.submission_times)
    roster = read_roster(args.roster) if args.roster is not None else None
    rostered = roster is not None and (roster.kind != "plain" or (out / POLICY_FILE).is_file())
    if not (late.given() or rostered or args.export):
        return
    if not (out / "results").is_dir():
        raise GradingError(f"no grades in {out}: grade the submissions first (or pass the same --out)")
    with out_lock(out), disk_errors(out):
        master = prepare_master(args.course.resolve(), args.assignment, out, force=False)
        result = finish_with_roster(master, out, roster, export=args.export,
                                    column=args.assignment_column, late=late)
    print("\n".join(report_lines(roster, result)))


def _import_manual(args: argparse.Namespace) -> int:
    from labkit_course.grading.course import prepare_master
    from labkit_course.grading.manual import (
        apply_grade,
        load_sheet_options,
        pseudonyms,
        read_manual_scores,
    )
    from labkit_course.grading.outlock import out_lock
    from labkit_course.grading.outputs import disk_errors
    from labkit_course.grading.publish import finish_outputs, publish_record
    from labkit_course.grading.results import read_records

    out = args.out.resolve()
    if not (out / "results").is_dir():
        raise SystemExit(f"labkit grade: no grades in {out}: grade the submissions first "
                         "(or pass the same --out)")
    with out_lock(out), disk_errors(out):
        master = prepare_master(args.course.resolve(), args.assignment, out, force=False)
        records = read_records(out / "results")
        aliases = {p: s for s, p in pseudonyms(list(records), load_sheet_options(out)).items()}
        scores = read_manual_scores(args.import_manual, master, set(records), aliases)
        for (student, gid), grade in scores.items():
            apply_grade(records[student], gid, grade)
        for student in sorted({s for s, _ in scores}):
            publish_record(master, records[student], out)
        finish_outputs(master, out, _roster(args.roster))
    print(f"imported {len(scores)} scores for {len({s for s, _ in scores})} students into "
          f"{out / 'grades.csv'} and the gradebook")
    return 0


def _rewrite_sheets(args: argparse.Namespace) -> int:
    """Write the free-text sheets of an out folder again (after ``--graders``/``--anonymous``)."""
    from labkit_course.grading.course import prepare_master
    from labkit_course.grading.outlock import out_lock
    from labkit_course.grading.publish import finish_outputs

    out = args.out.resolve()
    if not (out / "results").is_dir():
        print(f"labkit grade: no grades in {out}: grade the submissions first (or pass the same "
              "--out)", file=sys.stderr)
        return 2
    with out_lock(out):
        master = prepare_master(args.course.resolve(), args.assignment, out, force=False)
        finish_outputs(master, out, _roster(args.roster))
    print(f"wrote the free-text sheets in {out} (manual.csv" + (", manual-K.csv" if
          (args.graders or 1) > 1 else "") + ")")
    return 0


def _merge(args: argparse.Namespace) -> int:
    from labkit_course.grading.merge import merge_shards

    if args.inputs:
        print("labkit grade --merge takes shard out folders, not submissions", file=sys.stderr)
        return 2
    merged = merge_shards(args.merge, args.out, args.course, args.assignment)
    print(f"merged {merged.shards} shards, {merged.students} students into {merged.out / 'grades.csv'}, "
          f"{merged.out / 'feedback'}/ and {merged.out / 'manual.html'}")
    return 0


def run(args: argparse.Namespace) -> int:
    """Run ``labkit grade`` (see the module docstring for the exit status)."""
    from labkit_course.grading.batch import Options, grade_batch
    from labkit_course.grading.course import GradingError
    from labkit_course.grading.outputs import OutputError
    from labkit_course.source_notebook import default_course_dir

    args.course = args.course or default_course_dir()
    resolve_assignment(args, "grade")

    try:
        _check_roster(args)
        if args.graders is not None or args.anonymous is not None:
            from labkit_course.grading.manual import save_sheet_options

            save_sheet_options(args.out.resolve(), args.graders, args.anonymous)
            if not args.inputs and args.import_manual is None and args.merge is None:
                return _rewrite_sheets(args)
        if args.import_manual is not None:
            code = _import_manual(args)
            _finish_roster(args)
            return code
        if args.merge is not None:
            code = _merge(args)
            _finish_roster(args)
            return code
        if not args.inputs and (args.roster is not None or args.due is not None
                                or args.late_penalty is not None or args.submission_times is not None):
            _finish_roster(args)
            return 0
        if not args.inputs:
            print("labkit grade: give submissions (notebooks, folders or zips), or --import-manual",
                  file=sys.stderr)
            return 2
        if args.drop_manual and not args.force:
            print("labkit grade: --drop-manual goes with --force (it forgets the imported "
                  "free-text scores of the students regraded)", file=sys.stderr)
            return 2
        try:
            grading_limits = limits_from_args(args)
        except ValueError as exc:
            print(f"labkit grade: {exc}", file=sys.stderr)
            return 2
        opts = Options(course=args.course, assignment=args.assignment, out=args.out,
                       workers=args.workers, force=args.force, drop_manual=args.drop_manual,
                       limits=grading_limits, id_pattern=args.id_pattern,
                       roster=_roster(args.roster), verbose=not args.quiet,
                       network=args.allow_network)
        if args.shard is not None:
            from labkit_course.grading.shards import parse_shard

            opts.shard = parse_shard(args.shard)
        summary = grade_batch(args.inputs, opts)
    except OutputError as exc:
        print(f"labkit grade: {exc}", file=sys.stderr)
        return 1
    except GradingError as exc:
        print(f"labkit grade: {exc}", file=sys.stderr)
        return 2
    out = args.out
    print(f"graded {len(summary.graded)}, skipped {len(summary.skipped)} already graded "
          f"(--force regrades) in {summary.seconds:.0f} s; isolation: {summary.isolation[0]}"
          + (f"; {len(summary.refused)} inputs refused (listed above)" if summary.refused else ""))
    print(f"  {out / 'grades.csv'}\n  {out / 'feedback'}/<student>.html\n  {out / 'manual.html'} "
          f"(score in {out / 'manual.csv'}, then --import-manual)\n  {out / 'report.html'} (class report)")
    try:
        _finish_roster(args)
    except GradingError as exc:
        print(f"labkit grade: {exc}", file=sys.stderr)
        return 1 if isinstance(exc, OutputError) else 2
    if summary.internal_errors:
        print(f"labkit grade: the grader failed on {summary.internal_errors}; see "
              f"{out / 'course' / 'logs'}", file=sys.stderr)
        return 1
    return 0
