"""``cudaswitch doctor``: findings with fixes."""

from __future__ import annotations

import argparse
import os

from ..doctor import diagnose
from ..select import verdicts
from .common import add_json, add_search, host_and_toolkits
from .render import emit


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("doctor", help="what on this machine mixes CUDA toolkits, with fixes")
    add_search(p)
    add_json(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    host, toolkits = host_and_toolkits(args)
    findings = diagnose(os.environ, toolkits, verdicts(toolkits, host), host)
    data = {"findings": [f.as_dict() for f in findings],
            "errors": sum(f.level == "error" for f in findings),
            "warnings": sum(f.level == "warning" for f in findings)}

    def text(d: dict) -> str:
        if not d["findings"]:
            return "no findings: one toolkit per process is safe here"
        lines = []
        for f in d["findings"]:
            lines.append(f"[{f['level']}] {f['id']}: {f['message']}")
            if f["fix"]:
                lines.append(f"    fix: {f['fix']}")
        lines.append(f"{d['errors']} error(s), {d['warnings']} warning(s)")
        return "\n".join(lines)

    emit(data, args.json, text)
    return 1 if data["errors"] else 0
