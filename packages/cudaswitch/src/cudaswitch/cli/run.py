"""``cudaswitch exec``, ``cudaswitch env`` and ``cudaswitch use``: the launch fronts."""

from __future__ import annotations

import argparse
import os
import shlex
import sys

from .. import shellenv
from ..errors import UsageError
from ..flow import run_flow
from ..launch import (
    DEFAULT_LINK,
    default_provider,
    exec_plan,
    switch_link,
    verify,
    verify_provider,
)
from .common import SPEC_ARGUMENT, add_json, add_search, command_argv, split_paths
from .render import detail, emit, info, warn


def _add_select(p: argparse.ArgumentParser) -> None:
    p.add_argument("--cuda", metavar="SPEC", help="12, 12.4, 12.4.127, '>=12.1,<13', auto, latest")
    p.add_argument("--slot", metavar="NAME", help="a slot of the manifest (toolkit + venv)")
    p.add_argument("--force", action="store_true", help="run even if this host cannot run it")
    add_search(p)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("exec", help="run CMD under one toolkit (replaces this process)")
    _add_select(p)
    p.add_argument("--verify", action="store_true",
                   help="load the chosen libcudart first and check it (and the GPU) works; "
                        "for a slot whose venv has onnxruntime-gpu, also --provider cuda")
    p.add_argument("--provider", choices=("cuda", "tensorrt", "cpu", "torch", "jax", "cupy"),
                   help="open a tiny onnxruntime session on this provider first; a fallback "
                        "to the CPU is an error naming the missing library; torch, jax, cupy: "
                        "run a convolution and a matrix product of that framework on the GPU, "
                        "and fail when the process maps CUDA libraries of two majors or builds")
    p.add_argument("--dry-run", action="store_true", help="print the plan, run nothing")
    add_json(p)
    p.add_argument("argv", nargs=argparse.REMAINDER, metavar="-- CMD ARGS",
                   help="the command and its arguments, run as given (no shell)")
    p.set_defaults(func=run_exec)

    e = sub.add_parser(
        "env", help="print shell code that switches this shell to SPEC (--off: back)",
        description="Print shell code that switches the calling shell to one toolkit; eval "
        "it. The first switch saves what it changes, so `env --off` (or the "
        "cudaswitch_deactivate function it defines) restores the shell exactly.",
        epilog="examples:\n  eval \"$(cudaswitch env 12.4)\"        # bash, zsh, sh\n"
               "  cudaswitch env 12.4 | source          # fish\n"
               "  eval \"$(cudaswitch env --off)\"       # back to before the first switch",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    e.add_argument("spec", nargs="?",
                   help="version spec: 12, 12.4, '>=12.1,<13', auto, latest (default: what "
                        "CUDASWITCH_CUDA, CUDA_VERSION or the manifest asks)")
    e.add_argument("--off", action="store_true",
                   help="restore the environment from before the first switch")
    e.add_argument("--shell", choices=shellenv.SHELLS,
                   help="syntax to print (default: the calling shell, else $SHELL)")
    e.add_argument("--slot", metavar="NAME", help="a slot of the manifest (toolkit + venv)")
    e.add_argument("--force", action="store_true", help="switch even if this host cannot run it")
    add_search(e)
    e.set_defaults(func=run_env)

    u = sub.add_parser("use", help="point /usr/local/cuda (or --link) at SPEC, atomically")
    u.add_argument("spec", help="version spec")
    u.add_argument("--link", default=DEFAULT_LINK,
                   help=f"symlink to switch (default {DEFAULT_LINK})")
    u.add_argument("--force", action="store_true",
                   help="switch even if this host cannot run it")
    add_search(u)
    add_json(u)
    u.set_defaults(func=run_use)


def describe_report(r: dict) -> str:
    where = ", ".join(m for m in r.get("maps", []) if "/libcudart.so" in m)
    rt = r.get("runtime_version")
    text = f"runtime {rt // 1000}.{rt % 1000 // 10}" if rt else "runtime loaded"
    text += f" from {where}"
    if "device_count" in r:
        text += f"; {r['device_count']} device(s), 1 MiB allocation ok"
    if r.get("note"):
        text += f" ({r['note']})"
    return text


def run_exec(args: argparse.Namespace) -> int:
    argv = command_argv(args)
    if not argv and not args.dry_run:
        raise UsageError("no command given: cudaswitch exec [--cuda SPEC] -- CMD ARGS...")
    outcome = run_flow(argv, os.environ, args.cuda, args.slot, split_paths(args.search_path),
                       args.force)
    plan = outcome.plan
    for note in plan.notes:
        warn(note)
    report = verify(plan, outcome.host) if args.verify else None
    provider = args.provider or (default_provider(plan) if args.verify else None)
    ort_report = verify_provider(plan, provider, outcome.toolkits) if provider else None
    if args.dry_run:
        changed, unset = plan.changes(os.environ)
        data = {
            "argv": list(plan.argv),
            "toolkit": plan.target.toolkit.as_dict(),
            "slot": plan.target.label or None,
            "selection": outcome.as_dict(),
            "set": changed,
            "unset": list(unset),
            "removed": [{"var": v, "entry": e} for v, e in plan.removed],
            "verify": report,
            "onnxruntime": ort_report,
        }

        def text(d: dict) -> str:
            lines = [outcome.banner()]
            lines += [f"  set {k}={v}" for k, v in sorted(d["set"].items())]
            lines += [f"  unset {k}" for k in d["unset"]]
            lines += [f"  removed from {r['var']}: {r['entry']}" for r in d["removed"]]
            if d["verify"]:
                lines.append(f"  verify: {describe_report(d['verify'])}")
            lines.append("  exec: " + (shlex.join(d["argv"]) or "(no command)"))
            return "\n".join(lines)

        emit(data, args.json, text)
        return 0
    if report is not None:
        print(f"cudaswitch: verified: {describe_report(report)}", file=sys.stderr)
    if ort_report is not None and ort_report.get("framework"):
        print(f"cudaswitch: verified: {ort_report['framework']} {ort_report.get('version')} ran "
              f"on {ort_report.get('device', 'the GPU')} with one build of each CUDA library",
              file=sys.stderr)
    elif ort_report is not None:
        print(f"cudaswitch: verified: onnxruntime {ort_report.get('version')} runs on "
              f"{ort_report['active'][0]}", file=sys.stderr)
    exec_plan(plan)


def _env_shell(args: argparse.Namespace) -> str:
    """Asked after the selection is decided, so a bad SPEC is named as such wherever the shell
    cannot be told (a CI job with no ``$SHELL``)."""
    return args.shell or shellenv.detect_shell(os.environ, shellenv.parent_process_name())


def run_env(args: argparse.Namespace) -> int:
    if args.off:
        if args.spec or args.slot:
            raise UsageError("env --off takes no SPEC or --slot: it returns to the environment "
                             "from before the first switch")
        code = shellenv.render_off(os.environ, _env_shell(args))
        if code:
            print(code)
            info("restored the environment from before the first switch")
        else:
            info("nothing to restore: this shell was not switched by `cudaswitch env`")
        return 0
    outcome = run_flow([], os.environ, args.spec, args.slot, split_paths(args.search_path),
                       args.force, spec_origin=SPEC_ARGUMENT)
    print(shellenv.render(outcome.plan, os.environ, _env_shell(args)))
    info(outcome.banner()[len("cudaswitch: "):])
    for line in outcome.as_dict().get("why", []):
        detail(line)
    return 0


def run_use(args: argparse.Namespace) -> int:
    outcome = run_flow([], os.environ, args.spec, None, split_paths(args.search_path),
                       args.force, spec_origin=SPEC_ARGUMENT)
    tk = outcome.target.toolkit
    if tk.layout not in ("toolkit", "managed"):
        raise UsageError(f"{tk.root} is a {tk.layout} layout; /usr/local/cuda can only point at "
                         "a toolkit folder (bin/, lib64/, include/)")
    previous = switch_link(os.path.realpath(tk.root), args.link)
    data = {"link": args.link, "target": os.path.realpath(tk.root), "previous": previous,
            "version": str(tk.version)}
    emit(data, args.json,
         lambda d: f"{d['link']} -> {d['target']} (CUDA {d['version']}; was {d['previous']})")
    return 0
