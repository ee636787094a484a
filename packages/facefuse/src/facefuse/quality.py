"""`facefuse benchmark --quality`: how much of the source person a swap carries, measured by
an ArcFace recognizer rather than by eye.

For each swapped face: cosine similarity of the result's embedding to the source person's
(mean over the source photos) and to the original target face's. A swap that works moves the
first up and the second down; the cosine between source and target before the swap is the
floor both start from.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from facefuse.detect import select_faces
from facefuse.errors import ModelError, NoFaceError
from facefuse.media import read_image
from facefuse.pipeline import Engine, swap_faces
from facefuse.selector import cosine_similarity
from facefuse.types import Embedding, Frame, SourceIdentity, StageTimes


@dataclass(frozen=True)
class FaceQuality:
    frame: int
    to_source: float
    to_target: float
    source_to_target_before: float


def source_embedding(engine: Engine, source_paths: list[Path]) -> Embedding:
    if engine.identity is None:
        raise ModelError("--quality needs a face recognizer (w600k_mbf or arcface_w600k_r50)")
    embeddings = []
    for path in source_paths:
        frame = read_image(path)
        faces = select_faces(engine.detector(frame), "one")
        if faces:
            embeddings.append(engine.identity(frame, faces[0].landmarks))
    if not embeddings:
        raise NoFaceError(f"no face found in source {', '.join(map(str, source_paths))}")
    return np.mean(embeddings, axis=0).astype(np.float32)


def measure_quality(engine: Engine, source: SourceIdentity, reference: Embedding,
                    frames: list[Frame]) -> list[FaceQuality]:
    """One record per face the detector finds in `frames`, each swapped on its own."""
    assert engine.identity is not None
    records = []
    for index, frame in enumerate(frames):
        for face in engine.detector(frame):
            before = engine.identity(frame, face.landmarks)
            swapped = swap_faces(engine, source, frame, [face], StageTimes())
            after = engine.identity(swapped, face.landmarks)
            records.append(FaceQuality(index, cosine_similarity(after, reference),
                                       cosine_similarity(after, before),
                                       cosine_similarity(before, reference)))
    return records


def summary(records: list[FaceQuality], recognizer: str) -> dict[str, object]:
    """Means and ranges for the report; the records themselves for --json."""
    def stats(values: list[float]) -> dict[str, float]:
        return {"mean": float(np.mean(values)), "min": float(np.min(values)),
                "max": float(np.max(values))} if values else {}

    return {"recognizer": recognizer, "faces": len(records),
            "to_source": stats([r.to_source for r in records]),
            "to_target": stats([r.to_target for r in records]),
            "source_to_target_before": stats([r.source_to_target_before for r in records]),
            "per_face": [asdict(r) for r in records]}
