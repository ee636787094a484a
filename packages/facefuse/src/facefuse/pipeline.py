"""The per-frame pipeline: detect -> align -> swap -> mask -> paste back.

`build_engine` creates every session once per run from plain `Settings`; `swap_frame` is a
pure function of (engine, source identity, frame), so the video path can run its stages in
separate threads and the tests can call it on one photo.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from facefuse.align import paste_back, warp_face
from facefuse.choices import face_detector_model_files
from facefuse.detect import FaceDetector, centerface_model, select_faces
from facefuse.download import ensure_model, is_valid_model
from facefuse.errors import NoFaceError, UsageError
from facefuse.media import read_image
from facefuse.models import RECOGNIZER_FOR_SWAPPER, REFERENCE_RECOGNIZERS, get_model
from facefuse.providers import RuntimeConfig, create_session
from facefuse.selector import match_reference, order_faces
from facefuse.swap import ClassicalSwapper, FaceRecognizer, OnnxSwapper, Swapper, static_initializer
from facefuse.types import Embedding, Face, Frame, SourceIdentity, StageTimes


@dataclass(frozen=True)
class Settings:
    """Everything a run needs besides its paths; built by the CLI, usable from Python."""

    runtime: RuntimeConfig = field(default_factory=RuntimeConfig)
    face_detector_model: str = "centerface"
    face_detector_size: int = 640
    face_detector_score: float = 0.5
    face_swapper_model: str = "classical"
    face_mask_blur: float = 0.3
    face_selector_mode: str = "reference"
    face_selector_order: str = "large-small"
    reference_face_position: int = 0
    reference_face_distance: float = 0.3
    reference_frame_number: int = 0
    needs_recognizer: bool = False
    models_dir: Path = Path(".assets/models")
    download: bool = True
    keep_unmatched: bool = False
    output_video_quality: int = 80
    output_image_quality: int = 80
    frame_pipeline: str = "auto"
    frame_batch_size: int = 4


@dataclass
class Engine:
    """The sessions of one run, and the reference faces once they are known."""

    detector: FaceDetector
    swapper: Swapper
    recognizer: FaceRecognizer | None
    settings: Settings
    identity: FaceRecognizer | None = None
    references: list[Embedding] = field(default_factory=list)
    reference_ready: bool = False


def identity_recognizer_name(models_dir: Path) -> str:
    """FaceFusion's arcface_w600k_r50 when a verified copy is in `models_dir`, else
    w600k_mbf."""
    for name in REFERENCE_RECOGNIZERS[:-1]:
        if is_valid_model(models_dir / f"{name}.onnx", models_dir / f"{name}.hash"):
            return name
    return REFERENCE_RECOGNIZERS[-1]


def _identity(settings: Settings, swap_recognizer: FaceRecognizer | None,
              swap_recognizer_name: str | None) -> FaceRecognizer | None:
    if settings.face_selector_mode != "reference" and not settings.needs_recognizer:
        return None
    name = identity_recognizer_name(settings.models_dir)
    if swap_recognizer is not None and name == swap_recognizer_name:
        return swap_recognizer
    path = ensure_model(get_model(name), settings.models_dir, download=settings.download)
    return FaceRecognizer(create_session(str(path), settings.runtime), name=name)


def build_engine(settings: Settings) -> Engine:
    """Create detector, recognizer (neural swappers only) and swapper sessions."""
    runtime = settings.runtime
    size = settings.face_detector_size
    if settings.face_detector_model == "centerface":
        detector_model: str | bytes = centerface_model(size, size)
    else:
        spec = get_model(face_detector_model_files[settings.face_detector_model])
        detector_model = str(ensure_model(spec, settings.models_dir, download=settings.download))
    detector = FaceDetector(create_session(detector_model, runtime),
                            settings.face_detector_model,  # type: ignore[arg-type]
                            size, size, settings.face_detector_score)
    if settings.face_swapper_model == "classical":
        return Engine(detector, ClassicalSwapper(mask_blur=settings.face_mask_blur), None,
                      settings, identity=_identity(settings, None, None))
    spec = get_model(settings.face_swapper_model)
    assert spec.swapper_kind is not None
    swapper_path = ensure_model(spec, settings.models_dir, download=settings.download)
    recognizer_spec = get_model(RECOGNIZER_FOR_SWAPPER[spec.swapper_kind])
    recognizer_path = ensure_model(recognizer_spec, settings.models_dir,
                                   download=settings.download)
    emap = static_initializer(swapper_path) if spec.swapper_kind == "inswapper" else None
    swapper = OnnxSwapper(spec, create_session(str(swapper_path), runtime), emap,
                          settings.face_mask_blur)
    recognizer = FaceRecognizer(create_session(str(recognizer_path), runtime),
                                name=recognizer_spec.name)
    return Engine(detector, swapper, recognizer, settings,
                  identity=_identity(settings, recognizer, recognizer_spec.name))


def set_reference(engine: Engine, frame: Frame) -> None:
    """Take the reference face from `frame` (the target image, or the target video's frame
    `--reference-frame-number`): the face at `--reference-face-position` in
    `--face-selector-order`, as FaceFusion does."""
    settings = engine.settings
    if settings.face_selector_mode != "reference" or engine.identity is None:
        return
    faces = order_faces(engine.detector(frame), settings.face_selector_order)
    position = settings.reference_face_position
    engine.reference_ready = True
    if not faces:
        engine.references = []  # nothing to match: the run finds no face, as FaceFusion's
        return
    if position >= len(faces):
        raise NoFaceError(f"--reference-face-position {position}: the reference frame has "
                          f"{len(faces)} face(s) (positions count from 0 in "
                          f"--face-selector-order {settings.face_selector_order})")
    engine.references = [engine.identity(frame, faces[position].landmarks)]


def prepare_source(engine: Engine, source_paths: list[Path]) -> SourceIdentity:
    """The source person from one or more photos: the largest face of each; the crop of the
    largest overall, and (for neural swappers) the mean of their embeddings, as FaceFusion
    averages its source faces."""
    best: tuple[float, Frame, Face] | None = None
    embeddings = []
    for path in source_paths:
        frame = read_image(path)
        faces = select_faces(engine.detector(frame), "one")
        if not faces:
            continue
        face = faces[0]
        if best is None or face.area > best[0]:
            best = (face.area, frame, face)
        if engine.recognizer is not None:
            embeddings.append(engine.recognizer(frame, face.landmarks))
    if best is None:
        names = ", ".join(str(path) for path in source_paths)
        raise NoFaceError(f"no face found in source {names}")
    _, frame, face = best
    crop, _ = warp_face(frame, face.landmarks, engine.swapper.template, engine.swapper.size)
    embedding = np.mean(embeddings, axis=0).astype(np.float32) if embeddings else None
    return SourceIdentity(crop=crop, landmarks=face.landmarks, frame=frame, embedding=embedding)


def detect_faces(engine: Engine, frame: Frame, times: StageTimes) -> list[Face]:
    """The target faces to swap in `frame`, per --face-selector-mode, timing each part."""
    detector = engine.detector
    start = time.perf_counter()
    blob, box = detector.prepare(frame)
    mid = time.perf_counter()
    outputs = detector.run(blob)
    end = time.perf_counter()
    faces = order_faces(detector.decode(outputs, box), engine.settings.face_selector_order)
    times.add_span("detect_infer", mid, end)
    times.add("detect_prepost", (mid - start + time.perf_counter() - end) * 1000)
    return choose_faces(engine, frame, faces, times)


def choose_faces(engine: Engine, frame: Frame, faces: list[Face], times: StageTimes
                 ) -> list[Face]:
    """The ordered detections that --face-selector-mode keeps."""
    mode = engine.settings.face_selector_mode
    if mode == "one":
        return faces[:1]
    if mode == "many" or not faces:
        return faces
    if engine.identity is None or not engine.reference_ready:
        raise NoFaceError("reference mode without a reference frame (call set_reference first)")
    if not engine.references:
        return []
    start = time.perf_counter()
    embeddings = [engine.identity(frame, face.landmarks) for face in faces]
    times.add("recognize_infer", (time.perf_counter() - start) * 1000)
    return match_reference(faces, embeddings, engine.references,
                           engine.settings.reference_face_distance)


def swap_faces(engine: Engine, source: SourceIdentity, frame: Frame, faces: list[Face],
               times: StageTimes) -> Frame:
    """`frame` with every face in `faces` replaced by the source person."""
    swapper = engine.swapper
    for face in faces:
        start = time.perf_counter()
        crop, matrix = warp_face(frame, face.landmarks, swapper.template, swapper.size)
        times.add("align", (time.perf_counter() - start) * 1000)
        swapped, mask = swapper.swap_crop(crop, source, times)
        start = time.perf_counter()
        frame = paste_back(frame, swapped, mask, matrix)
        times.add("paste", (time.perf_counter() - start) * 1000)
    return frame


def swap_frame(engine: Engine, source: SourceIdentity, frame: Frame,
               times: StageTimes | None = None) -> tuple[Frame, int]:
    """One frame through the whole pipeline; returns the frame and how many faces changed.
    In reference mode with no reference yet, the frame is its own reference frame, as an
    image target is in FaceFusion."""
    times = times if times is not None else StageTimes()
    if engine.settings.face_selector_mode == "reference" and not engine.reference_ready:
        set_reference(engine, frame)
    faces = detect_faces(engine, frame, times)
    return swap_faces(engine, source, frame, faces, times), len(faces)


def host_stages(engine: Engine, source: SourceIdentity) -> list[tuple[str, Any]]:
    """The per-frame path as video stages: detect in one thread, swap and paste in the next
    (OpenCV on the host, models wherever their sessions run)."""
    def detect(frames: np.ndarray, times: StageTimes) -> tuple[np.ndarray, list[list[Face]]]:
        return frames, [detect_faces(engine, frame, times) for frame in frames]

    def swap(item: tuple[np.ndarray, list[list[Face]]], times: StageTimes
             ) -> tuple[np.ndarray, list[int]]:
        frames, faces = item
        swapped = np.stack([swap_faces(engine, source, frame, found, times)
                            for frame, found in zip(frames, faces, strict=True)])
        return swapped, [len(found) for found in faces]

    return [("detect", detect), ("swap", swap)]


def video_stages(engine: Engine, source: SourceIdentity) -> tuple[list[tuple[str, Any]], int]:
    """The stages for a video and how many frames travel together: the device path when
    asked for, or by default when a GPU provider runs a neural swapper; else the host path,
    one frame at a time."""
    from facefuse.device_pipeline import supports_device_path

    mode = engine.settings.frame_pipeline
    on_gpu = any(p in ("cuda", "tensorrt") for p in engine.settings.runtime.providers)
    if mode == "device" or (mode == "auto" and on_gpu and supports_device_path(engine)):
        if not supports_device_path(engine):
            raise UsageError("--frame-pipeline device needs a neural --face-swapper-model and "
                             "the centerface detector")
        from facefuse.device_pipeline import device_stages

        return device_stages(engine, source), engine.settings.frame_batch_size
    return host_stages(engine, source), 1
