"""The per-frame pipeline: detect -> align -> swap -> mask -> paste back.

`build_engine` creates every session once per run from plain `Settings`; `swap_frame` is a
pure function of (engine, source identity, frame), so the video path can run its stages in
separate threads and the tests can call it on one photo.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from facefuse.align import paste_back, warp_face
from facefuse.choices import face_detector_model_files
from facefuse.detect import FaceDetector, centerface_model, select_faces
from facefuse.download import ensure_model
from facefuse.errors import NoFaceError
from facefuse.media import read_image
from facefuse.models import RECOGNIZER_FOR_SWAPPER, get_model
from facefuse.providers import RuntimeConfig, create_session
from facefuse.swap import ClassicalSwapper, FaceRecognizer, OnnxSwapper, Swapper, static_initializer
from facefuse.types import Face, Frame, SourceIdentity, StageTimes


@dataclass(frozen=True)
class Settings:
    """Everything a run needs besides its paths; built by the CLI, usable from Python."""

    runtime: RuntimeConfig = field(default_factory=RuntimeConfig)
    face_detector_model: str = "centerface"
    face_detector_size: int = 640
    face_detector_score: float = 0.5
    face_swapper_model: str = "classical"
    face_mask_blur: float = 0.3
    face_selector_mode: str = "many"
    models_dir: Path = Path(".assets/models")
    download: bool = True
    keep_unmatched: bool = False
    output_video_quality: int = 80


@dataclass
class Engine:
    """The sessions of one run."""

    detector: FaceDetector
    swapper: Swapper
    recognizer: FaceRecognizer | None
    settings: Settings


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
                      settings)
    spec = get_model(settings.face_swapper_model)
    assert spec.swapper_kind is not None
    swapper_path = ensure_model(spec, settings.models_dir, download=settings.download)
    recognizer_spec = get_model(RECOGNIZER_FOR_SWAPPER[spec.swapper_kind])
    recognizer_path = ensure_model(recognizer_spec, settings.models_dir,
                                   download=settings.download)
    emap = static_initializer(swapper_path) if spec.swapper_kind == "inswapper" else None
    swapper = OnnxSwapper(spec, create_session(str(swapper_path), runtime), emap,
                          settings.face_mask_blur)
    recognizer = FaceRecognizer(create_session(str(recognizer_path), runtime))
    return Engine(detector, swapper, recognizer, settings)


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
    faces = select_faces(detector.decode(outputs, box), engine.settings.face_selector_mode)
    times.add("detect_infer", (end - mid) * 1000)
    times.add("detect_prepost", (mid - start + time.perf_counter() - end) * 1000)
    return faces


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
    """One frame through the whole pipeline; returns the frame and how many faces changed."""
    times = times if times is not None else StageTimes()
    faces = detect_faces(engine, frame, times)
    return swap_faces(engine, source, frame, faces, times), len(faces)
