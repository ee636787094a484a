"""``cudaswitch matrix``: one command under every slot, in parallel, reported like CI."""

from __future__ import annotations

import argparse
import json
import os
import sys

from ..errors import UsageError
from ..fsguard import atomic_write, check_replaceable
from ..matrix import (
    FLAVOURS,
    INSTALL_FROM_HELP,
    JUNIT_MARKS,
    Options,
    emit,
    failure_blocks,
    format_summary,
    junit_xml,
    make_view,
    matrix_slots,
    pick_slots,
    plan_jobs,
    run_matrix,
)
from .common import add_json, add_search, command_argv, split_paths
from .render import table


def _positive(kind: type, what: str):
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError as e:
            raise argparse.ArgumentTypeError(f"{what}: not a number: {text!r}") from e
        if value <= 0:
            raise argparse.ArgumentTypeError(f"{what}: must be more than 0 (got {text})")
        return value
    return parse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "matrix", help="run CMD under every slot, N at a time; summary, JUnit, CI matrices",
        description="Run CMD once per slot, each in exactly the environment `cudaswitch exec "
        "--slot` gives it. Slots: the manifest's, else installed ones, else one per CUDA major "
        "found (cuda11.8, cuda12.4, ...). Exit 0 when every slot that ran passed; 1 when one "
        "failed (or none could run); 128+N when stopped by signal N.")
    p.add_argument("--slots", default="all", metavar="all|A,B",
                   help="which slots: all (default), or names / CUDA majors (cuda12)")
    p.add_argument("--parallel", "-j", type=_positive(int, "--parallel"), default=0,
                   metavar="N", help="slots at a time (default: all at once)")
    p.add_argument("--timeout", type=_positive(float, "--timeout"), metavar="S",
                   help="seconds per slot; then SIGTERM, and SIGKILL after --grace")
    p.add_argument("--grace", type=_positive(float, "--grace"), default=5.0, metavar="S",
                   help="seconds from SIGTERM to SIGKILL (default 5)")
    p.add_argument("--strict", action="store_true",
                   help="a slot this host cannot run fails the matrix instead of being skipped")
    p.add_argument("--junit", metavar="FILE", help="write JUnit XML, one testsuite per slot")
    p.add_argument("--log-dir", metavar="DIR",
                   help="where each slot's output goes (default: a new temporary folder)")
    p.add_argument("--isolated-dir", metavar="DIR",
                   help="run each slot in its own copy of the working tree, DIR/SLOT")
    p.add_argument("--emit", choices=FLAVOURS,
                   help="print the matrix for CI instead of running it: a GitHub Actions workflow, "
                        "a GitLab CI pipeline, or Kubernetes Jobs (one per slot)")
    p.add_argument("--runs-on", metavar="LABELS",
                   help="--emit: where the jobs run, comma-separated: runner labels (GitHub "
                        "runs-on, GitLab tags) or node labels KEY=VALUE (Kubernetes "
                        "nodeSelector)")
    p.add_argument("--install-from", metavar="SOURCE", help="--emit: " + INSTALL_FROM_HELP)
    p.add_argument("--no-live", action="store_true",
                   help="plain progress lines even on a terminal")
    add_json(p)
    add_search(p)
    p.add_argument("argv", nargs=argparse.REMAINDER, metavar="-- CMD ARGS",
                   help="the command each slot runs, as given (default for --emit: "
                        "python -m pytest)")
    p.set_defaults(func=run_matrix_cmd)


def run_matrix_cmd(args: argparse.Namespace) -> int:
    argv = command_argv(args)
    paths = split_paths(args.search_path)
    env = os.environ
    if args.emit:
        refs = pick_slots(matrix_slots(env, paths), args.slots)
        labels = [x.strip() for x in (args.runs_on or "").split(",") if x.strip()]
        sys.stdout.write(emit(args.emit, refs, argv, labels, install_from=args.install_from))
        return 0
    if not argv:
        raise UsageError("no command given: cudaswitch matrix [--slots ...] -- CMD ARGS...")
    if args.junit:  # before any slot runs: a report may replace only an earlier report
        check_replaceable(args.junit, JUNIT_MARKS, "a cudaswitch JUnit report")
    jobs = plan_jobs(argv, env, args.slots, paths)
    if args.isolated_dir and os.path.realpath(args.isolated_dir) == os.path.realpath(os.getcwd()):
        raise UsageError("--isolated-dir must not be the working tree itself")
    options = Options(parallel=args.parallel, timeout=args.timeout, grace=args.grace,
                      strict=args.strict, log_dir=args.log_dir,
                      isolated_dir=os.path.abspath(args.isolated_dir) if args.isolated_dir
                      else None)
    view = make_view(sys.stderr, live=False if args.no_live else None)
    run = run_matrix(jobs, options, view)
    failures = failure_blocks(run)
    if failures:
        print(failures, file=sys.stderr)
    if args.junit:
        atomic_write(args.junit, junit_xml(run))
    if args.json:
        json.dump(run.as_dict(), sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        print(format_summary(run, table))
    sys.stdout.flush()
    return run.exit_code
