"""Video targets: frames streamed through ffmpeg pipes, stages overlapped in threads.

decode (ffmpeg -> raw BGR) | detect | align+swap+paste | encode (raw -> ffmpeg, + the target's
audio). Each stage is one thread joined by small bounded queues, so frame order is kept, memory
stays flat, and while ONNX Runtime runs one frame's model (it releases the GIL) the other
stages work on the frames around it. No frame is written to disk; the only file is the
output's temporary twin, renamed at the end or removed on error and Ctrl-C.
"""

from __future__ import annotations

import os
import queue
import re
import shutil
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from facefuse.errors import InputError, MediaToolError, NoFaceError
from facefuse.media import atomic_output
from facefuse.types import StageTimes

FFMPEG_VARIABLE = "FACEFUSE_FFMPEG"
QUEUE_DEPTH = 4
_END = object()


def ffmpeg_binary() -> str:
    """`$FACEFUSE_FFMPEG`, else the binary imageio-ffmpeg ships, else `ffmpeg` on PATH."""
    explicit = os.environ.get(FFMPEG_VARIABLE)
    if explicit:
        return explicit
    try:
        import imageio_ffmpeg

        return str(imageio_ffmpeg.get_ffmpeg_exe())
    except Exception:
        found = shutil.which("ffmpeg")
        if found:
            return found
    raise MediaToolError("no ffmpeg found (pip install imageio-ffmpeg, or install ffmpeg)")


@dataclass(frozen=True)
class VideoInfo:
    """What the encoder must reproduce: size, exact frame rate, duration, audio or not."""

    width: int
    height: int
    fps: Fraction
    duration: float
    has_audio: bool

    @property
    def frame_estimate(self) -> int:
        return max(1, round(self.duration * float(self.fps)))


def _rate_from_text(text: str) -> Fraction:
    """A frame rate from ffmpeg's rounded text ('29.97') as the exact NTSC rational when it is
    one (30000/1001), so the output's rate equals the target's."""
    value = float(text)
    ntsc = round(value * 1.001)
    if abs(value - ntsc / 1.001) < 0.006 and abs(value - round(value)) > 0.001:
        return Fraction(ntsc * 1000, 1001)
    return Fraction(text).limit_denominator(1001)


def probe_video(path: Path) -> VideoInfo:
    """Read a video's properties from `ffmpeg -i` (no ffprobe needed); InputError when ffmpeg
    finds no video stream (not a video, or truncated before its index)."""
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    result = subprocess.run([ffmpeg_binary(), "-hide_banner", "-nostdin", "-i", str(path)],
                            capture_output=True, text=True, errors="replace", check=False)
    text = result.stderr
    video = re.search(r"Stream #\S+.*?: Video: .*", text)
    if video is None:
        last = text.strip().splitlines()[-1] if text.strip() else "no output"
        raise InputError(f"{path}: not a readable video ({last})")
    size = re.search(r", (\d{2,5})x(\d{2,5})", video.group(0))
    rate = re.search(r", ([\d.]+) (?:fps|tbr)", video.group(0))
    duration = re.search(r"Duration: (\d+):(\d+):([\d.]+)", text)
    if size is None or rate is None:
        raise InputError(f"{path}: cannot read size or frame rate of the video stream")
    seconds = 0.0
    if duration:
        hours, minutes, secs = duration.groups()
        seconds = int(hours) * 3600 + int(minutes) * 60 + float(secs)
    return VideoInfo(width=int(size.group(1)), height=int(size.group(2)),
                     fps=_rate_from_text(rate.group(1)), duration=seconds,
                     has_audio=re.search(r"Stream #\S+.*?: Audio: ", text) is not None)


def read_frame(path: Path, index: int) -> np.ndarray:
    """Frame `index` (from 0) of a video as BGR, decoded by ffmpeg; InputError when the video
    is shorter."""
    info = probe_video(path)
    result = subprocess.run(
        [ffmpeg_binary(), "-v", "error", "-nostdin", "-i", str(path), "-map", "0:v:0",
         "-vf", f"select=eq(n\\,{index})", "-frames:v", "1", "-fps_mode", "passthrough",
         "-f", "rawvideo", "-pix_fmt", "bgr24", "-"],
        capture_output=True, check=False)
    size = info.width * info.height * 3
    if result.returncode != 0 or len(result.stdout) < size:
        raise InputError(f"{path}: no frame {index} (--reference-frame-number counts from 0; "
                         f"the video has about {info.frame_estimate} frames)")
    return np.frombuffer(result.stdout[:size], np.uint8).reshape(info.height, info.width,
                                                                3).copy()


def quality_to_crf(quality: int) -> int:
    """FaceFusion's 0..100 `--output-video-quality` as an x264/VP9 CRF (100 -> 0, 0 -> 51)."""
    return round(51 - max(0, min(100, quality)) * 0.51)


def encoder_args(output: Path, quality: int) -> list[str]:
    """Codec arguments for the output container its suffix names."""
    crf = str(quality_to_crf(quality))
    if output.suffix.lower() == ".webm":
        return ["-c:v", "libvpx-vp9", "-crf", crf, "-b:v", "0", "-c:a", "libopus"]
    return ["-c:v", "libx264", "-preset", "veryfast", "-crf", crf, "-pix_fmt", "yuv420p",
            "-c:a", "aac", "-movflags", "+faststart"]


@dataclass
class VideoReport:
    """What a video run did, for the summary line and the benchmark."""

    frames: int = 0
    frames_with_faces: int = 0
    seconds: float = 0.0
    started: float = 0.0
    times: StageTimes = field(default_factory=StageTimes)


FrameStage = Callable[[Any, StageTimes], Any]
"""One pipeline stage: takes the previous stage's item (the first gets a uint8 array of
frames, [n, height, width, 3]) and returns the next; the last returns (frames, faces per
frame)."""


class _Pipeline:
    """Threads joined by bounded queues; the first error stops every stage."""

    def __init__(self) -> None:
        self.stop = threading.Event()
        self.errors: list[BaseException] = []
        self.threads: list[threading.Thread] = []

    def put(self, q: queue.Queue, item: object) -> bool:
        while not self.stop.is_set():
            try:
                q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def get(self, q: queue.Queue) -> object:
        while not self.stop.is_set():
            try:
                return q.get(timeout=0.1)
            except queue.Empty:
                continue
        return _END

    def start(self, name: str, target: Callable[[], None]) -> None:
        def guarded() -> None:
            try:
                target()
            except BaseException as error:  # handed to the main thread
                self.errors.append(error)
                self.stop.set()

        thread = threading.Thread(target=guarded, name=name, daemon=True)
        self.threads.append(thread)
        thread.start()

    def stage(self, name: str, inbox: queue.Queue, outbox: queue.Queue, work: FrameStage,
              times: StageTimes) -> None:
        def loop() -> None:
            while True:
                item = self.get(inbox)
                if item is _END:
                    self.put(outbox, _END)
                    return
                self.put(outbox, work(item, times))

        self.start(name, loop)


def process_video(target: Path, output: Path, stages: list[tuple[str, FrameStage]],
                  quality: int = 80, keep_unmatched: bool = True, progress: bool = True,
                  batch_size: int = 1) -> VideoReport:
    """Swap every frame of `target` into `output`, keeping its frame count, rate and audio.

    Frames travel in groups of up to `batch_size` through `stages`, each in its own thread.
    Raises NoFaceError when no frame had a face, unless `keep_unmatched`.
    """
    info = probe_video(target)
    report = VideoReport()
    ffmpeg = ffmpeg_binary()
    with atomic_output(output) as temporary:
        decoder = subprocess.Popen(
            [ffmpeg, "-v", "error", "-nostdin", "-i", str(target), "-map", "0:v:0",
             "-f", "rawvideo", "-pix_fmt", "bgr24", "-fps_mode", "passthrough", "-"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
        encoder = subprocess.Popen(
            [ffmpeg, "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "bgr24",
             "-s", f"{info.width}x{info.height}", "-r", str(info.fps), "-i", "-",
             "-i", str(target), "-map", "0:v:0", "-map", "1:a:0?",
             *encoder_args(output, quality), "-r", str(info.fps), str(temporary)],
            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            _run_stages(decoder, encoder, info, stages, report, progress, max(1, batch_size))
        except BaseException:
            for process in (decoder, encoder):
                process.kill()
            for process in (decoder, encoder):
                process.wait()
            raise
        decode_status = decoder.wait()
        encode_status = encoder.wait()
        if decode_status != 0 or report.frames == 0:
            message = _last_line(decoder.stderr)
            raise InputError(f"{target}: decoding failed ({message or 'no frames'})")
        if encode_status != 0:
            raise MediaToolError(f"ffmpeg encoder failed: {_last_line(encoder.stderr)}")
        if report.frames_with_faces == 0 and not keep_unmatched:
            raise NoFaceError(f"no face found in any frame of {target} "
                              f"(pass --keep-unmatched to copy it through)")
    return report


def _last_line(stream: Any) -> str:
    text = stream.read().decode(errors="replace").strip() if stream else ""
    return text.splitlines()[-1] if text else ""


def _run_stages(decoder: subprocess.Popen, encoder: subprocess.Popen, info: VideoInfo,
                stages: list[tuple[str, FrameStage]], report: VideoReport, progress: bool,
                batch_size: int) -> None:
    from tqdm import tqdm

    pipeline = _Pipeline()
    queues: list[queue.Queue] = [queue.Queue(QUEUE_DEPTH) for _ in range(len(stages) + 1)]
    decode_times = StageTimes()
    stage_times = [StageTimes() for _ in stages]
    frame_bytes = info.width * info.height * 3
    assert decoder.stdout is not None and encoder.stdin is not None

    def read_frames() -> None:
        while True:
            start = time.perf_counter()
            data = decoder.stdout.read(frame_bytes * batch_size)
            count = len(data) // frame_bytes
            if count == 0:
                pipeline.put(queues[0], _END)
                return
            frames = np.frombuffer(data[: count * frame_bytes], np.uint8).reshape(
                count, info.height, info.width, 3).copy()
            decode_times.add("decode", (time.perf_counter() - start) * 1000 / count)
            if not pipeline.put(queues[0], frames):
                return
            if count < batch_size:
                pipeline.put(queues[0], _END)
                return

    pipeline.start("decode", read_frames)
    for index, (name, work) in enumerate(stages):
        pipeline.stage(name, queues[index], queues[index + 1], work, stage_times[index])
    started = report.started = time.perf_counter()
    # disable=None: tqdm draws only on a terminal; a pipe or a log gets no carriage returns
    bar = tqdm(total=info.frame_estimate, unit="frame", desc="swapping",
               disable=None if progress else True, leave=False)
    finished = False
    try:
        while True:
            item = pipeline.get(queues[-1])
            if item is _END:
                break
            frames, faces = item  # type: ignore[misc]
            start = time.perf_counter()
            try:
                encoder.stdin.write(np.ascontiguousarray(frames).tobytes())
            except BrokenPipeError as error:
                raise MediaToolError(f"ffmpeg encoder stopped: {_last_line(encoder.stderr)}"
                                     ) from error
            report.times.add("encode", (time.perf_counter() - start) * 1000 / len(faces))
            report.frames += len(faces)
            report.frames_with_faces += sum(count > 0 for count in faces)
            bar.update(len(faces))
        encoder.stdin.close()
        finished = True
    finally:
        bar.close()
        pipeline.stop.set()
        if not finished:
            # Interrupted or failed: end the decoder so a read blocked on its pipe returns, then
            # wait for each stage to finish the frame in hand. A stage left inside ONNX Runtime
            # while the interpreter shuts down can hang the exit in the runtime's destructors.
            decoder.kill()
        for thread in pipeline.threads:
            thread.join(timeout=None if not finished else 5)
    report.seconds = time.perf_counter() - started
    for times in (decode_times, *stage_times):
        report.times.merge(times)
    if pipeline.errors:
        raise pipeline.errors[0]
