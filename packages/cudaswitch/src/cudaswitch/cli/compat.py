"""``cudaswitch compat VERSION --driver D --arch CC``: the verdict for any pair, from the data."""

from __future__ import annotations

import argparse
import dataclasses

from ..compat.verdict import arch_targets, verdict_for
from ..errors import UsageError
from ..host import Gpu, Host, brand_from_name, detect_host
from ..versions import CudaVersion, SpecError, parse_dotted
from .common import add_json
from .render import emit

# The verdict's own text points at the variable that every other command reads; here the
# driver is an argument first.
NO_DRIVER = ("no --driver given and no NVIDIA driver found on this host; pass --driver "
             "(e.g. 535.104.05) to check against one")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("compat", help="can CUDA VERSION run on a driver/GPU (no install needed)")
    p.add_argument("version", help="toolkit version, e.g. 12.2")
    p.add_argument("--driver", help="driver version, e.g. 525.60.13 (default: this host)")
    p.add_argument("--arch",
                   help="GPU compute capability, e.g. 9.0 or 8.6,9.0 (default: this host)")
    p.add_argument("--brand", help="GPU brand or product name (e.g. Tesla, GeForce RTX 4090)")
    p.add_argument("--compat-driver", help="driver version of a cuda-compat libcuda to consider")
    add_json(p)
    p.set_defaults(func=run)


def _host_from_args(args: argparse.Namespace) -> Host:
    if args.driver is not None and not parse_dotted(args.driver):
        raise UsageError(f"--driver {args.driver!r} is not a driver version (e.g. 535.104.05)")
    try:
        base = detect_host() if (args.driver is None or args.arch is None) else None
    except ValueError as e:  # a CUDASWITCH_DRIVER_VERSION / _GPU_ARCH override that is bad
        raise UsageError(str(e)) from e
    driver = args.driver if args.driver is not None else (base.driver_version if base else None)
    if args.arch:
        gpus = []
        for i, cc in enumerate(a.strip() for a in args.arch.split(",")):
            try:
                CudaVersion.parse(cc)
            except SpecError as e:
                raise UsageError(f"--arch {cc!r} is not a compute capability (e.g. 9.0)") from e
            brand = brand_from_name(args.brand) if args.brand and " " in args.brand else (
                args.brand or "NVIDIA")
            gpus.append(Gpu(i, f"GPU {i}", brand, cc))
        gpu_t = tuple(gpus)
    else:
        gpu_t = base.gpus if base else ()
    cuda = base.driver_cuda if base and args.driver is None else None
    return Host(driver, cuda, gpu_t, "argument" if args.driver else "host")


def run(args: argparse.Namespace) -> int:
    try:
        version = CudaVersion.parse(args.version)
    except SpecError as e:
        raise UsageError(f"the VERSION argument: {e}") from e
    host = _host_from_args(args)
    v = verdict_for(version, host, args.compat_driver)
    if v.kind == "unknown" and not host.driver_version:
        v = dataclasses.replace(v, reason=NO_DRIVER)
    t = arch_targets(version)
    data = {"cuda": str(version), "driver": host.driver_version,
            "arch": [g.compute_capability for g in host.gpus], **v.as_dict(),
            "targets": sorted(t.sms) if t else None}
    emit(data, args.json, lambda d: f"{d['verdict']}: {d['reason']}")
    return 0 if v.runnable else 4
