"""Closed choices and the plain records that flow through the pipeline.

Every user-facing list in `choices.py` is derived from the `Literal` types here, so a new
model or provider is added in exactly one place and argparse, the registry and the tests
agree on its spelling.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import numpy.typing as npt

ExecutionProvider = Literal["cuda", "tensorrt", "cpu"]
FaceDetectorModel = Literal["centerface", "yolo_face", "scrfd", "retinaface"]
FaceSwapperModel = Literal[
    "classical",
    "inswapper_128",
    "inswapper_128_fp16",
    "hyperswap_1a_256",
    "hyperswap_1b_256",
    "hyperswap_1c_256",
]
FaceSelectorMode = Literal["many", "one", "reference"]
FaceSelectorOrder = Literal["left-right", "right-left", "top-bottom", "bottom-top", "small-large",
                            "large-small", "best-worst", "worst-best"]
LogLevel = Literal["error", "warn", "info", "debug"]
Processor = Literal["age_modifier", "background_remover", "deep_swapper", "expression_restorer",
                    "face_debugger", "face_editor", "face_enhancer", "face_swapper",
                    "frame_colorizer", "frame_enhancer", "lip_syncer"]
"""FaceFusion's processor names; facefuse implements `face_swapper` only."""
WarpTemplateName = Literal["arcface_112_v2", "arcface_128", "arcface_128_wide", "ffhq_512"]
SwapperKind = Literal["inswapper", "hyperswap"]
ModelRole = Literal["face_detector", "face_recognizer", "face_swapper"]

Frame = npt.NDArray[np.uint8]
"""An image as OpenCV holds it: height x width x 3, BGR, uint8."""

Matrix = npt.NDArray[np.float64]
"""A 2x3 affine matrix."""

Landmarks5 = npt.NDArray[np.float32]
"""Five points (x, y): left eye, right eye, nose tip, left mouth corner, right mouth corner,
'left' and 'right' as seen in the image."""

Embedding = npt.NDArray[np.float32]


@dataclass(frozen=True)
class Face:
    """One detected face: its box (x1, y1, x2, y2), detector score and five landmarks."""

    box: npt.NDArray[np.float32]
    score: float
    landmarks: Landmarks5

    @property
    def area(self) -> float:
        return float(max(0.0, self.box[2] - self.box[0]) * max(0.0, self.box[3] - self.box[1]))


@dataclass(frozen=True)
class SourceIdentity:
    """What the swapper needs of the source person, computed once per run.

    `crop` is the source face aligned to the swap template (the classical swapper pastes it);
    `embedding` is the raw recognizer output (None when no recognizer ran).
    """

    crop: Frame
    landmarks: Landmarks5
    frame: Frame
    embedding: Embedding | None = None


@dataclass
class StageTimes:
    """Accumulated milliseconds per pipeline stage, so `benchmark` can report where time goes."""

    totals_ms: dict[str, float] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    spans: list[tuple[float, float]] = field(default_factory=list)

    def add(self, stage: str, ms: float) -> None:
        self.totals_ms[stage] = self.totals_ms.get(stage, 0.0) + ms
        self.counts[stage] = self.counts.get(stage, 0) + 1

    def add_span(self, stage: str, start: float, end: float) -> None:
        """A model run from `start` to `end` (perf_counter seconds). Runs in overlapping
        threads add up to more than the wall time; their spans say how much of the wall time
        some model was running."""
        self.add(stage, (end - start) * 1000)
        self.spans.append((start, end))

    def merge(self, other: StageTimes) -> None:
        for stage, ms in other.totals_ms.items():
            self.totals_ms[stage] = self.totals_ms.get(stage, 0.0) + ms
            self.counts[stage] = self.counts.get(stage, 0) + other.counts.get(stage, 0)
        self.spans.extend(other.spans)


def covered_seconds(spans: list[tuple[float, float]], start: float, end: float) -> float:
    """Seconds of [start, end] covered by at least one span (spans may overlap)."""
    total, reach = 0.0, start
    for left, right in sorted(spans):
        left, right = max(left, reach), min(right, end)
        if right > left:
            total += right - left
            reach = right
    return total
