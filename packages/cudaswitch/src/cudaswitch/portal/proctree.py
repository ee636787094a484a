"""Ending a job's whole process tree, including what left its process group.

A job runs as the leader of its own session, so one ``killpg`` reaches everything it started
that stayed in the group. A child that called ``setsid`` (or was re-parented after its parent
died) escapes the group but still carries the job's marker variable, inherited from the
environment, so ``/proc/*/environ`` finds it. Only processes whose environment holds the exact
marker are signalled.
"""

from __future__ import annotations

import contextlib
import os
import signal

MARKER_ENV = "CUDASWITCH_PORTAL_JOB"


def marked(marker: str) -> list[int]:
    """PIDs of the processes carrying ``MARKER_ENV=marker``."""
    needle = f"{MARKER_ENV}={marker}".encode()
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as f:
                env = f.read(1 << 20)
        except OSError:
            continue
        if needle in env.split(b"\0"):
            found.append(int(entry))
    return found


def signal_tree(pgid: int | None, marker: str, sig: int) -> int:
    """Send ``sig`` to the job's group and to every marked process; how many were reached."""
    count = 0
    if pgid:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, sig)
            count += 1
    for pid in marked(marker):
        if pid == os.getpid():
            continue
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)
            count += 1
    return count


def kill_tree(pgid: int | None, marker: str) -> None:
    signal_tree(pgid, marker, signal.SIGKILL)


def start_time(pid: int) -> str | None:
    """The process's start time in clock ticks since boot: with the PID, a name no later
    process can take."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None
