"""``cudaswitch require check``: would NVIDIA's container hook accept these requirements here?"""

from __future__ import annotations

import argparse
import os
from typing import Any

from ..compat.require import (
    Facts,
    GpuFacts,
    InvalidCudaVersion,
    RequireError,
    TooManyRequirements,
    check,
    requirements_from_env,
    valid_version_value,
)
from ..errors import EXIT_FAILED, EXIT_OK, UsageError
from .render import emit, error

_EPILOG = """semantics (those of nvidia-container-cli, which decides whether a container starts):
  a space separates alternatives, a comma joins factors that must all hold, several
  expressions must all hold; a factor is PROPERTY OP VALUE, PROPERTY one of cuda (the
  driver's CUDA version), driver, arch (compute capability), brand; OP one of
  = != < <= > >=. Evaluated once per GPU; without a GPU, arch and brand hold.

With none of --driver, --cuda, --arch, --brand the facts come from this host; with any of
them only the given facts count (the driver's CUDA version follows --driver unless --cuda).

exit codes: 0 holds, 1 does not hold (NVIDIA's message on stderr), 2 invalid expression."""


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "require",
        help="check NVIDIA_REQUIRE_* expressions as NVIDIA's container hook does",
        description="NVIDIA's requirement language (NVIDIA_REQUIRE_*, NVIDIA_DISABLE_REQUIRE, "
        "legacy CUDA_VERSION).",
    )
    commands = parser.add_subparsers(dest="require_command", metavar="SUBCOMMAND")
    p = commands.add_parser(
        "check",
        help="exit 0 when the expressions hold, 1 with NVIDIA's message when not",
        description="Evaluate NVIDIA_REQUIRE_* expressions against this host or given facts.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("expressions", nargs="*", metavar="EXPR",
                   help="e.g. 'cuda>=12.2 brand=tesla,driver>=470,driver<471'")
    p.add_argument("--driver", metavar="V", help="kernel driver version, e.g. 535.183.01")
    p.add_argument("--cuda", metavar="V", help="the driver's CUDA version, e.g. 12.2")
    p.add_argument("--arch", metavar="CC[,CC...]",
                   help="compute capability of each GPU, e.g. 8.0 or 8.0,9.0")
    p.add_argument("--brand", metavar="NAME", help="GPU brand as NVML names it, e.g. Tesla")
    p.add_argument("--env", action="store_true",
                   help="take the requirements from this environment (NVIDIA_REQUIRE_*, "
                   "legacy CUDA_VERSION, NVIDIA_DISABLE_REQUIRE) as well")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=run_check)


def run_check(args: argparse.Namespace) -> int:
    requirements = list(args.expressions)
    if args.env:
        try:
            requirements = [*requirements_from_env(os.environ), *requirements]
        except InvalidCudaVersion as e:
            raise UsageError(f"{e} (NVIDIA's hook refuses to start such a container; set "
                             "NVIDIA_REQUIRE_CUDA or a CUDA_VERSION like 12.2)") from e
    elif not requirements:
        raise UsageError("give at least one EXPR, or --env to read NVIDIA_REQUIRE_* variables")
    facts, source = _facts(args)
    try:
        outcome = check(requirements, facts)
    except (TooManyRequirements, RequireError) as e:
        raise UsageError(str(e)) from e
    data: dict[str, Any] = {
        **outcome.as_dict(),
        "requirements": requirements,
        "facts": {
            "source": source,
            "cuda": facts.cuda,
            "driver": facts.driver,
            "gpus": [{"arch": g.arch, "brand": g.brand} for g in facts.gpus],
        },
    }
    if outcome.ok:
        emit(data, args.json, _text_ok)
        return EXIT_OK
    error(outcome.message or "unsatisfied condition")
    emit(data, args.json, _text_failed)
    return EXIT_FAILED


def _facts(args: argparse.Namespace) -> tuple[Facts, str]:
    for flag in ("driver", "cuda"):
        value = getattr(args, flag)
        if value is not None and not valid_version_value(value):
            raise UsageError(f"--{flag} {value!r}: expected a version like 535.183.01 or 12.2")
    if args.arch is not None:
        for cc in args.arch.split(","):
            if not valid_version_value(cc):
                raise UsageError(f"--arch {args.arch!r}: expected compute capabilities like "
                                 "8.0 or 8.0,9.0")
    if any(v is not None for v in (args.driver, args.cuda, args.arch, args.brand)):
        cuda = args.cuda
        if cuda is None and args.driver is not None:
            cuda = _driver_cuda(args.driver)
        archs: list[str | None] = list(args.arch.split(",")) if args.arch else []
        if args.brand is not None and not archs:
            archs = [None]
        gpus = tuple(GpuFacts(a, args.brand) for a in archs)
        return Facts(cuda, args.driver, gpus), "flags"
    from ..host import detect_host

    try:
        host = detect_host()
    except ValueError as e:  # a CUDASWITCH_DRIVER_VERSION / _GPU_ARCH override that is bad
        raise UsageError(str(e)) from e
    cuda_v = host.driver_cuda
    cuda = cuda_v.major_minor if cuda_v is not None else (
        _driver_cuda(host.driver_version) if host.driver_version else None
    )
    gpus = tuple(GpuFacts(g.compute_capability or None, g.brand or None) for g in host.gpus)
    return Facts(cuda, host.driver_version, gpus), f"host ({host.driver_source})"


def _driver_cuda(driver: str) -> str | None:
    from ..compat.verdict import driver_cuda_for

    v = driver_cuda_for(driver)
    return v.major_minor if v is not None else None


def _describe_facts(data: dict) -> str:
    f = data["facts"]
    parts = [f"driver {f['driver'] or 'unknown'}", f"CUDA {f['cuda'] or 'unknown'}"]
    for i, g in enumerate(f["gpus"]):
        bits = [b for b in (g["arch"] and f"arch {g['arch']}", g["brand"]) if b]
        parts.append(f"GPU {i}: {' '.join(bits) or 'unknown'}")
    if not f["gpus"]:
        parts.append("no GPU (arch and brand hold)")
    return f"{', '.join(parts)} [from {f['source']}]"


def _text_ok(data: dict) -> str:
    n = len(data["requirements"])
    if n == 0:
        return f"no requirements to check (none set, or disabled); {_describe_facts(data)}"
    return f"{n} requirement{'s hold' if n != 1 else ' holds'} on {_describe_facts(data)}"


def _text_failed(data: dict) -> str:
    where = f" on GPU {data['gpu']}" if data["gpu"] is not None else ""
    lines = [f"failed: {data['requirement']!r}{where} (last failing factor: {data['factor']})",
             f"checked against {_describe_facts(data)}"]
    return "\n".join(lines)
