"""Several webhook processes behind one port (``cudaswitch k8s webhook --workers N``).

One Python process answers on one core; a webhook pod given two cores can answer twice the
reviews with two. The parent binds the port (so ``--port 0`` resolves once), forks the
workers and serves nothing itself: the first worker takes the parent's socket, each other one
binds its own to the same port with ``SO_REUSEPORT``, and the kernel spreads connections over
them. The parent prints the one ``listening on`` line once every worker is serving, passes
SIGTERM and SIGINT on to them, and when a worker dies on its own stops the others and exits 1,
so the pod restarts whole rather than serving with fewer workers than it was given.
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import signal
import socket
import sys
from collections.abc import Callable

log = logging.getLogger("cudaswitch.webhook")
MAX_WORKERS = 64
_PASSED_ON = (signal.SIGTERM, signal.SIGINT)

# (listening socket, call once serving) -> exit status; runs in the worker until it stops
ServeOn = Callable[[socket.socket, Callable[[str], None]], int]


def listening_socket(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
        sock.listen(1024)
    except OSError:
        sock.close()
        raise
    sock.setblocking(False)
    return sock


def run_workers(n: int, host: str, port: int, serve_on: ServeOn,
                say: Callable[[str], None]) -> int:
    first = listening_socket(host, port)
    bound = first.getsockname()[1]
    ready_r, ready_w = os.pipe()
    pids: list[int] = []
    stopping = [False]

    def forward(signum: int, _frame: object) -> None:
        stopping[0] = True
        _stop(pids, signum)

    old = {s: signal.signal(s, forward) for s in _PASSED_ON}
    try:
        # held back while forking, so that no worker runs the parent's handler before its own
        signal.pthread_sigmask(signal.SIG_BLOCK, _PASSED_ON)
        try:
            for i in range(n):
                pid = os.fork()
                if pid == 0:
                    _worker(i, first, host, bound, ready_r, ready_w, serve_on)
                pids.append(pid)
        except OSError:
            _stop(pids)
            raise
        finally:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, _PASSED_ON)
            first.close()
            os.close(ready_w)
        return _supervise(pids, ready_r, f"https://{host}:{bound}", say, stopping)
    finally:
        for s, h in old.items():
            signal.signal(s, h)


def _worker(i: int, first: socket.socket, host: str, port: int, ready_r: int, ready_w: int,
            serve_on: ServeOn) -> None:
    """In the forked process: serve until stopped, then leave without running the parent's
    code (``os._exit``)."""
    code = 1
    try:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, _PASSED_ON)
        os.close(ready_r)
        sock = first if i == 0 else listening_socket(host, port)
        if i:
            first.close()
        code = serve_on(sock, lambda _url: os.write(ready_w, b"1"))
    except KeyboardInterrupt:
        code = 0
    except BaseException:
        log.exception("webhook worker %d failed", i)
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)


def _stop(pids: list[int], sig: int = signal.SIGTERM) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


def _supervise(pids: list[int], ready_r: int, url: str, say: Callable[[str], None],
               stopping: list[bool]) -> int:
    live, code, seen = set(pids), 0, 0

    def reaped(pid: int, status: int) -> None:
        nonlocal code
        live.discard(pid)
        if not stopping[0]:
            log.error("webhook worker %d exited (%s); stopping the others", pid,
                      _describe(status))
            stopping[0], code = True, 1
            _stop(list(live))

    try:
        while seen < len(pids) and live and not stopping[0]:
            if select.select([ready_r], [], [], 0.2)[0]:
                seen += len(os.read(ready_r, 64))
            pid, status = os.waitpid(-1, os.WNOHANG)
            if pid:
                reaped(pid, status)
    finally:
        os.close(ready_r)
    if seen == len(pids) and not stopping[0]:
        log.info("%d workers serving, processes %s", len(pids), " ".join(map(str, pids)))
        say(f"listening on {url}")
    while live:
        try:
            pid, status = os.wait()
        except ChildProcessError:
            break
        reaped(pid, status)
    return code


def _describe(status: int) -> str:
    if os.WIFSIGNALED(status):
        return f"signal {os.WTERMSIG(status)}"
    return f"exit {os.WEXITSTATUS(status)}"
