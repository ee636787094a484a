"""`facefuse benchmark`: the real video path on a clip, with per-stage times.

The clip is made from a real photo (pan and zoom, so the face moves and changes size) unless
a target is given. Stages overlap in threads, so per-stage times add up to more than the wall
time per frame; the report gives both, and the share of stage time spent outside model
inference, which says whether Python or the model sets the pace.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from facefuse.errors import InputError, MediaToolError
from facefuse.media import is_video_path, read_image
from facefuse.pipeline import (
    Settings,
    build_engine,
    detect_faces,
    prepare_source,
    set_reference,
    swap_faces,
    video_stages,
)
from facefuse.types import Frame, StageTimes, covered_seconds
from facefuse.video import ffmpeg_binary, process_video, read_frame

RESOLUTIONS = {"360p": (640, 360), "720p": (1280, 720), "1080p": (1920, 1080)}
INFERENCE_STAGES = ("detect_infer", "swap_infer")


def default_photo() -> Path:
    """The astronaut portrait scikit-image ships: the benchmark's default source and target.
    Swapping never needs scikit-image, so an install may well lack it."""
    spec = importlib.util.find_spec("skimage")
    if spec is None or not spec.submodule_search_locations:
        raise InputError("no default photo: it is scikit-image's astronaut photo, and "
                         "scikit-image is not installed (pip install scikit-image); or pass "
                         "--source-paths and --target-path")
    return Path(next(iter(spec.submodule_search_locations))) / "data" / "astronaut.png"


def quality_source() -> Path:
    """A different person from the default target: Grace Hopper, in matplotlib's sample
    data."""
    spec = importlib.util.find_spec("matplotlib")
    if spec is None or not spec.submodule_search_locations:
        raise InputError("--quality needs --source-paths (or matplotlib for its sample photo)")
    return (Path(next(iter(spec.submodule_search_locations))) / "mpl-data" / "sample_data"
            / "grace_hopper.jpg")


def pan_zoom_frames(photo: Frame, width: int, height: int, count: int) -> list[Frame]:
    """`count` frames of a slow zoom-in and sideways pan over `photo`, at `width` x `height`."""
    frames = []
    photo_h, photo_w = photo.shape[:2]
    for index in range(count):
        t = index / max(count - 1, 1)
        zoom = 1.0 + 0.35 * t
        crop_h = photo_h / zoom
        crop_w = min(photo_w / zoom, crop_h * width / height)
        crop_h = crop_w * height / width
        x = (photo_w - crop_w) * (0.3 + 0.4 * t)
        y = (photo_h - crop_h) * 0.3
        matrix = np.array([[width / crop_w, 0, -x * width / crop_w],
                           [0, height / crop_h, -y * height / crop_h]])
        frames.append(cv2.warpAffine(photo, matrix, (width, height), flags=cv2.INTER_LINEAR,
                                     borderMode=cv2.BORDER_REFLECT))
    return frames


def make_clip(photo: Path, output: Path, width: int, height: int, frames: int,
              fps: int = 25, audio: bool = True) -> Path:
    """Encode a pan/zoom clip of `photo` (H.264, with a 440 Hz AAC track when `audio`)."""
    images = pan_zoom_frames(read_image(photo), width, height, frames)
    command = [ffmpeg_binary(), "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "bgr24",
               "-s", f"{width}x{height}", "-r", str(fps), "-i", "-"]
    if audio:
        command += ["-f", "lavfi", "-i", f"sine=frequency=440:duration={frames / fps}",
                    "-c:a", "aac", "-shortest"]
    command += ["-c:v", "libx264", "-preset", "veryfast", "-crf", "20", "-pix_fmt", "yuv420p",
                str(output)]
    process = subprocess.run(command, input=b"".join(image.tobytes() for image in images),
                             capture_output=True, check=False)
    if process.returncode != 0:
        raise MediaToolError(f"making a clip failed: {process.stderr.decode()[-300:]}")
    return output


@dataclass
class BenchmarkResult:
    settings: dict[str, Any]
    resolution: str
    frames: int
    frames_with_faces: int
    load_s: float
    wall_s: float
    stage_ms_per_frame: dict[str, float]
    quality: dict[str, Any] | None = None
    inference_s: float = 0.0
    window: tuple[float, float] = (0.0, 0.0)

    @property
    def frames_per_second(self) -> float:
        return self.frames / self.wall_s if self.wall_s else 0.0

    @property
    def outside_inference_share(self) -> float:
        """Of the stage time summed over all threads: what the CPU stages cost against the
        models, whether or not they overlap."""
        total = sum(self.stage_ms_per_frame.values())
        inference = sum(self.stage_ms_per_frame.get(stage, 0.0) for stage in INFERENCE_STAGES)
        return 1.0 - inference / total if total else 0.0

    @property
    def frame_time_outside_inference(self) -> float:
        """Of the wall time: the share during which no model was running (the union of the
        models' run spans, which overlap across threads). This is what says whether the
        models or the work around them set the pace."""
        return 1.0 - self.inference_s / self.wall_s if self.wall_s else 0.0


def run_benchmark(settings: Settings, sources: list[Path] | None, target: Path | None,
                  resolution: str = "720p", frames: int = 60, progress: bool = True,
                  quality: bool = False) -> BenchmarkResult:
    """Time the full video path (decode, detect, swap, paste, encode) on one clip; with
    `quality`, also measure identity transfer on a few of its frames."""
    started = time.perf_counter()
    if target is None or not (sources or quality):
        default_photo()  # a missing default photo is said before the models load
    engine = build_engine(settings)
    if quality and not sources:
        sources = [quality_source()]
    source = prepare_source(engine, sources or [default_photo()])
    if settings.face_selector_mode == "reference":
        set_reference(engine, read_image(default_photo()) if target is None
                      else read_frame(target, settings.reference_frame_number)
                      if is_video_path(target) else read_image(target))
    # one frame first, so that one-time session set-up (CUDA, TensorRT) is not counted
    warm = read_image(default_photo()) if target is None else None
    if warm is not None:
        detect_faces(engine, warm, times := StageTimes())
        swap_faces(engine, source, warm, detect_faces(engine, warm, times), times)
    load_s = time.perf_counter() - started
    given_target = target
    with tempfile.TemporaryDirectory(prefix="facefuse-bench-") as folder:
        if target is None:
            width, height = RESOLUTIONS[resolution]
            target = make_clip(default_photo(), Path(folder) / "clip.mp4", width, height,
                               frames)

        stages, batch_size = video_stages(engine, source)
        warm_stages(stages, read_frame(target, 0), batch_size)
        window_start = time.time()
        report = process_video(target, Path(folder) / "out.mp4", stages, batch_size=batch_size,
                               quality=settings.output_video_quality, keep_unmatched=True,
                               progress=progress)
    quality_report = None
    if quality:
        quality_report = _quality(engine, source, sources or [default_photo()], given_target,
                                  resolution)
    window = (window_start, time.time())
    per_frame = {stage: total / max(report.frames, 1)
                 for stage, total in report.times.totals_ms.items()}
    busy = covered_seconds(report.times.spans, report.started,
                           report.started + report.seconds)
    return BenchmarkResult(
        settings={"providers": list(settings.runtime.providers),
                  "detector": settings.face_detector_model,
                  "swapper": settings.face_swapper_model,
                  "threads": settings.runtime.thread_count},
        resolution=resolution, frames=report.frames,
        frames_with_faces=report.frames_with_faces, load_s=load_s, wall_s=report.seconds,
        stage_ms_per_frame=per_frame, quality=quality_report, inference_s=busy,
        window=window)


def warm_stages(stages: list[tuple[str, Any]], frame: Frame, batch_size: int) -> None:
    """Run one group made of `frame` through the stages, in this thread and untimed, so
    that sessions made on first use (the device path's) and first-run work (cuDNN's
    algorithm search for a new batch size) are not counted as frame time."""
    item: Any = np.stack([frame] * max(1, batch_size))
    for _name, work in stages:
        item = work(item, StageTimes())


def _quality(engine, source, source_paths, target, resolution):  # noqa: ANN001, ANN202
    from facefuse.quality import measure_quality, source_embedding, summary

    reference = source_embedding(engine, source_paths)
    if target is None:
        width, height = RESOLUTIONS[resolution]
        frames = pan_zoom_frames(read_image(default_photo()), width, height, 6)
    elif is_video_path(target):
        frames = [read_frame(target, 0)]
    else:
        frames = [read_image(target)]
    assert engine.identity is not None
    return summary(measure_quality(engine, source, reference, frames), engine.identity.name)


STAGE_ORDER = ("decode", "upload", "detect_prepost", "detect_infer", "align", "crop",
               "swap_classical", "swap_pre", "swap_infer", "swap_post", "paste", "download",
               "encode")


def format_report(result: BenchmarkResult, as_json: bool = False) -> str:
    """A table (or JSON) of ms per frame by stage, frames/s and the non-inference share."""
    if as_json:
        return json.dumps({**result.__dict__, "frames_per_second": result.frames_per_second,
                           "outside_inference_share": result.outside_inference_share,
                           "frame_time_outside_inference":
                               result.frame_time_outside_inference}, indent=2)
    lines = [f"facefuse benchmark: {result.frames} frames at {result.resolution}, "
             f"{result.frames_with_faces} with faces, providers "
             f"{' '.join(result.settings['providers'])}, detector "
             f"{result.settings['detector']}, swapper {result.settings['swapper']}",
             f"{'stage':<16}{'ms/frame':>10}"]
    stages = [s for s in STAGE_ORDER if s in result.stage_ms_per_frame]
    stages += [s for s in result.stage_ms_per_frame if s not in STAGE_ORDER]
    for stage in stages:
        lines.append(f"{stage:<16}{result.stage_ms_per_frame[stage]:>10.2f}")
    lines.append(f"{'sum of stages':<16}{sum(result.stage_ms_per_frame.values()):>10.2f}")
    lines.append(f"{'wall per frame':<16}{1000 / max(result.frames_per_second, 1e-9):>10.2f}")
    lines.append(f"frames/s: {result.frames_per_second:.2f}   "
                 f"outside model inference: {100 * result.outside_inference_share:.1f} % "
                 f"of stage time, {100 * result.frame_time_outside_inference:.1f} % of frame "
                 f"time   set-up: {result.load_s:.2f} s")
    if result.quality and not result.quality["faces"]:
        lines.append("identity: no face found in the frames measured")
    elif result.quality:
        q = result.quality
        lines.append(f"identity ({q['recognizer']} cosine similarity, {q['faces']} faces): "
                     f"result to source {q['to_source']['mean']:.3f} "
                     f"({q['to_source']['min']:.3f}..{q['to_source']['max']:.3f}), "
                     f"result to target {q['to_target']['mean']:.3f} "
                     f"({q['to_target']['min']:.3f}..{q['to_target']['max']:.3f}), "
                     f"source to target before {q['source_to_target_before']['mean']:.3f}")
    return "\n".join(lines)
