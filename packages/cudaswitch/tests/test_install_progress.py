"""Install progress: tqdm bars with speed, ETA and the whole name on a terminal (a real pty);
plain lines with no carriage return or escape code in a pipe; nothing when quiet."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import struct
import termios
import time

from cudaswitch.install.progress import Reporter

LONG = "get nvidia_cudnn_cu12-9.1.0.70-py3-none-manylinux2014_x86_64.whl"


def drive(rep: Reporter, total: int = 40 * 2**20) -> None:
    rep.line("cuda12: resolving CUDA 12.4.1")
    for i in range(1, 11):
        rep.bar(LONG, total * i // 10, total)
        time.sleep(0.02)
    rep.line("cuda12: installed")
    rep.finish()


def test_a_pipe_gets_plain_lines():
    r, w = os.pipe()
    with os.fdopen(w, "w") as stream:
        drive(Reporter(stream))
    text = os.fdopen(r).read()
    assert "\r" not in text and "\x1b" not in text
    lines = text.splitlines()
    assert lines[0] == "cudaswitch: cuda12: resolving CUDA 12.4.1"
    assert f"cudaswitch: {LONG} (40.0 MiB)" in lines
    done = next(line for line in lines if line.startswith(f"cudaswitch: {LONG}: 40.0 MiB in"))
    assert re.fullmatch(r".* in \d+\.\ds \(\d+\.\d [KMG]iB/s\)", done), done  # units' style
    assert lines[-1] == "cudaswitch: cuda12: installed"


def test_a_terminal_gets_a_bar_with_speed_eta_and_the_whole_name():
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 160, 0, 0))
    stream = os.fdopen(slave, "w")
    rep = Reporter(stream)
    assert rep.mode == "bar"
    drive(rep)
    stream.close()
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    text = b"".join(chunks).decode()
    assert LONG in text  # not cut to fit a fixed column
    assert "MiB/s" in text  # speed, in the same unit style as every size
    assert "<" in text and "00:" in text  # tqdm's elapsed<remaining
    assert "40.0M" in text or "40.0MiB" in text


def test_quiet_prints_nothing():
    r, w = os.pipe()
    with os.fdopen(w, "w") as stream:
        drive(Reporter(stream, mode="quiet"))
    assert os.fdopen(r).read() == ""
