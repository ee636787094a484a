"""Run one command under every slot, N at a time, and report the way CI tools do.

The fronts (``cudaswitch matrix``, tests, benchmarks) use only what is re-exported here.
"""

from .emit import FLAVOURS, INSTALL_FROM_HELP, emit
from .jobs import SlotJob, SlotRef, matrix_slots, pick_slots, plan_job, plan_jobs
from .report import JUNIT_MARKS, failure_blocks, format_summary, junit_xml, read_tail
from .result import MatrixRun, SlotResult
from .runner import Options, run_matrix
from .view import LiveView, PlainView, make_view

__all__ = [
    "FLAVOURS",
    "INSTALL_FROM_HELP",
    "JUNIT_MARKS",
    "LiveView",
    "MatrixRun",
    "Options",
    "PlainView",
    "SlotJob",
    "SlotRef",
    "SlotResult",
    "emit",
    "failure_blocks",
    "format_summary",
    "junit_xml",
    "make_view",
    "matrix_slots",
    "pick_slots",
    "plan_job",
    "plan_jobs",
    "read_tail",
    "run_matrix",
]
