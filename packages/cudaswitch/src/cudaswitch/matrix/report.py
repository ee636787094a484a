"""The matrix's reports: the summary table, failing slots' output, JUnit XML.

JUnit gets one ``<testsuite>`` per slot (one ``<testcase>`` in it, the command), because CI
tools (Jenkins, GitLab, GitHub's test reporters) draw one row per suite: the matrix shows up
as a matrix. The XML is the Jenkins/Ant dialect (``junit-10.xsd``) every one of them reads.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import socket
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Sequence

from ..units import human_duration
from .result import MatrixRun, SlotResult

TAIL_LINES = 60
# Characters XML 1.0 cannot carry (terminal colour codes are the usual ones in test output).
_XML_BAD = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def read_tail(path: str | None, lines: int = TAIL_LINES,
              max_bytes: int = 256 * 1024) -> tuple[str, int]:
    """The last ``lines`` lines of a log, and how many lines came before them."""
    if not path:
        return "", 0
    try:
        with open(path, "rb") as f:
            size = f.seek(0, os.SEEK_END)
            f.seek(max(0, size - max_bytes))
            data = f.read()
            clipped = size > max_bytes
    except OSError:
        return "", 0
    text = data.decode("utf-8", errors="replace")
    all_lines = text.splitlines()
    if clipped and all_lines:
        all_lines = all_lines[1:]  # the first one was cut in the middle
    keep = all_lines[-lines:] if lines else all_lines
    return "\n".join(keep), len(all_lines) - len(keep)


def summary_rows(run: MatrixRun) -> list[list[str]]:
    rows = []
    for r in run.results:
        ran = r.started is not None and r.status not in ("skip", "not-run")
        rows.append([
            r.job.name,
            r.job.shown or r.job.cuda or "?",
            r.job.verdict,
            "-" if r.exit_code is None else str(r.exit_code),
            human_duration(r.duration) if ran else "-",
            r.outcome if r.status in ("pass", "fail", "skip") else f"{r.outcome} ({r.status})",
        ])
    return rows


def format_summary(run: MatrixRun,
                   table_fn: Callable[[Sequence[Sequence[str]], Sequence[str]], str]) -> str:
    """The table CI logs end with, the counts, and a line per slot that did not pass.

    ``table_fn`` is the CLI's one table renderer, passed in so that this layer stays below it.
    """
    header = ["SLOT", "CUDA", "VERDICT", "EXIT", "TIME", "RESULT"]
    lines = [table_fn(summary_rows(run), header), ""]
    c = run.counts()
    line = (f"{c['pass']} passed, {c['fail']} failed, {c['skip']} skipped in "
            f"{human_duration(run.wall)}")
    lines.append(f"matrix: {line} (parallel {run.parallel}; logs in {run.log_dir})")
    for r in run.results:
        if r.status != "pass" and r.reason:
            lines.append(f"  {r.job.name}: {r.reason}")
    if run.interrupted:
        lines.append(f"matrix: stopped by {_signame(run.interrupted)}; the table shows what "
                     f"finished")
    if not any(r.started is not None for r in run.results) and not run.interrupted:
        lines.append("matrix: no slot could run on this host; that fails the matrix")
    return "\n".join(lines)


def _signame(sig: int) -> str:
    return signal.Signals(sig).name


def failure_blocks(run: MatrixRun, lines: int = TAIL_LINES) -> str:
    """The end of each failing slot's output, with where the whole log is."""
    out = []
    for r in run.results:
        if r.outcome != "fail" or not r.log:
            continue
        tail, before = read_tail(r.log, lines)
        head = f"----- {r.job.name} (exit {r.exit_code}, {r.status}) -----"
        out.append(head)
        if before:
            out.append(f"[... {before} earlier line(s) in {r.log}]")
        out.append(tail if tail else "(no output)")
        out.append(f"----- end of {r.job.name}: full log {r.log} -----")
    return "\n".join(out)


def _clean(text: str) -> str:
    return _XML_BAD.sub("", text)


def _fmt_time(seconds: float) -> str:
    return f"{max(seconds, 0.0):.3f}"


def _testcase(suite: ET.Element, r: SlotResult, command: str, output_lines: int) -> None:
    case = ET.SubElement(suite, "testcase", name=_clean(command) or "(no command)",
                         classname=f"cudaswitch.matrix.{r.job.name}",
                         time=_fmt_time(r.duration))
    tail, _before = read_tail(r.log, output_lines) if r.log else ("", 0)
    message = _clean(r.reason or "")
    if r.status == "skip":
        ET.SubElement(case, "skipped", message=message)
    elif r.status == "error":
        el = ET.SubElement(case, "error", type="error", message=message)
        el.text = _clean(tail)
    elif r.status != "pass":
        el = ET.SubElement(case, "failure", type=r.status,
                           message=message or f"exit code {r.exit_code}")
        el.text = _clean(tail)
    if r.log:
        out = ET.SubElement(case, "system-out")
        out.text = _clean(tail)


# What an earlier report of ours holds in its first bytes, so that --junit replaces only that.
JUNIT_MARKS = (b'<testsuites name="cudaswitch matrix"',)


def junit_xml(run: MatrixRun, output_lines: int = 200) -> bytes:
    """``<testsuites>`` with one ``<testsuite>`` per slot, valid for ``junit-10.xsd``."""
    command = shlex.join(run.argv)
    c = run.counts()
    errors = sum(1 for r in run.results if r.status == "error")
    root = ET.Element("testsuites", name="cudaswitch matrix", tests=str(len(run.results)),
                      failures=str(c["fail"] - errors), errors=str(errors),
                      time=_fmt_time(run.wall))
    host = socket.gethostname()
    for r in run.results:
        failed = r.outcome == "fail" and r.status != "error"
        stamp = r.started_at or run.started_at
        suite = ET.SubElement(
            root, "testsuite", name=r.job.name, tests="1",
            failures="1" if failed else "0", errors="1" if r.status == "error" else "0",
            skipped="1" if r.status == "skip" else "0", time=_fmt_time(r.duration),
            timestamp=time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(stamp)),
            hostname=host)
        props = ET.SubElement(suite, "properties")
        for name, value in (("slot", r.job.name), ("source", r.job.ref.source),
                            ("cuda", r.job.cuda or ""), ("verdict", r.job.verdict),
                            ("verdict_reason", r.job.reason),
                            ("toolkit_root", r.job.toolkit_root or ""),
                            ("exec", shlex.join(["cudaswitch", "exec", *r.job.ref.exec_args,
                                                 "--", *r.job.argv])),
                            ("log", r.log or "")):
            ET.SubElement(props, "property", name=name, value=_clean(value))
        _testcase(suite, r, command, output_lines)
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True) + b"\n"
