"""Face swappers: a classical one that needs no model, and FaceFusion's ONNX formats.

All swappers share one shape: the target face is aligned to the swapper's template at its
size, `swap_crop` turns that crop into the source person's face and returns a mask saying
where the new pixels apply; `pipeline.py` pastes the result back.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import cv2
import numpy as np

from facefuse.align import template_points, warp_face
from facefuse.errors import ModelError
from facefuse.mask import box_mask, ellipse_mask
from facefuse.models import ModelSpec
from facefuse.types import (
    Embedding,
    Frame,
    Landmarks5,
    SourceIdentity,
    StageTimes,
    WarpTemplateName,
)


class Swapper(Protocol):
    """What `pipeline.py` needs of a swapper."""

    template: WarpTemplateName
    size: int

    def swap_crop(self, crop: Frame, source: SourceIdentity, times: StageTimes
                  ) -> tuple[np.ndarray, np.ndarray]:
        """The swapped crop (float or uint8, BGR, crop-sized) and its 0..1 blend mask."""
        ...


def _ms_since(start: float) -> float:
    return (time.perf_counter() - start) * 1000


@dataclass
class FaceRecognizer:
    """An ArcFace model (arcface_w600k_r50, w600k_mbf): a 512-d identity embedding from a
    112 px aligned face."""

    session: Any
    name: str = "arcface_w600k_r50"
    template: WarpTemplateName = "arcface_112_v2"
    size: int = 112

    def __call__(self, frame: Frame, landmarks: Landmarks5) -> Embedding:
        crop, _ = warp_face(frame, landmarks, self.template, self.size)
        blob = (crop[:, :, ::-1].astype(np.float32) / 127.5 - 1.0).transpose(2, 0, 1)[None]
        name = self.session.get_inputs()[0].name
        return self.session.run(None, {name: np.ascontiguousarray(blob)})[0].ravel().astype(
            np.float32)


def lab_statistics_transfer(source: np.ndarray, target: np.ndarray, weights: np.ndarray
                            ) -> np.ndarray:
    """`source` recoloured so its mean and spread in Lab space, measured where `weights` is
    high, match the target's (Reinhard et al., 2001). Skin tone and lighting come from the
    target scene; shape and features stay the source's."""
    src = cv2.cvtColor(source, cv2.COLOR_BGR2LAB).astype(np.float32)
    dst = cv2.cvtColor(target, cv2.COLOR_BGR2LAB).astype(np.float32)
    w = weights[..., None].astype(np.float32)
    total = max(float(w.sum()), 1e-6)
    src_mean = (src * w).sum(axis=(0, 1)) / total
    dst_mean = (dst * w).sum(axis=(0, 1)) / total
    src_std = np.sqrt(((src - src_mean) ** 2 * w).sum(axis=(0, 1)) / total) + 1e-6
    dst_std = np.sqrt(((dst - dst_mean) ** 2 * w).sum(axis=(0, 1)) / total) + 1e-6
    out = (src - src_mean) * (dst_std / src_std) + dst_mean
    return cv2.cvtColor(out.clip(0, 255).astype(np.uint8), cv2.COLOR_LAB2BGR)


@dataclass
class ClassicalSwapper:
    """Swap without a network: the source face, already aligned to the same template as the
    target crop, is recoloured to the target's skin statistics and Poisson-blended
    (seamless clone) over the inner face, so that the seam takes the target's lighting."""

    template: WarpTemplateName = "arcface_128_wide"
    size: int = 256
    mask_blur: float = 0.3

    def __post_init__(self) -> None:
        points = template_points(self.template, self.size)
        self._inner = ellipse_mask(self.size, points, self.mask_blur)
        self._clone_mask = (self._inner > 0.5).astype(np.uint8) * 255
        ys, xs = np.nonzero(self._clone_mask)
        self._center = (int((xs.min() + xs.max() + 1) // 2), int((ys.min() + ys.max() + 1) // 2))

    def swap_crop(self, crop: Frame, source: SourceIdentity, times: StageTimes
                  ) -> tuple[np.ndarray, np.ndarray]:
        start = time.perf_counter()
        recoloured = lab_statistics_transfer(source.crop, crop, self._inner)
        cloned = cv2.seamlessClone(recoloured, crop, self._clone_mask.copy(), self._center,
                                   cv2.NORMAL_CLONE)
        times.add("swap_classical", _ms_since(start))
        return cloned, self._inner


def static_initializer(model_path: Path) -> np.ndarray:
    """The last initializer of an ONNX file: for inswapper, the 512x512 `emap` matrix that
    maps an arcface embedding into the swapper's latent space."""
    import onnx

    model = onnx.load(str(model_path), load_external_data=False)
    if not model.graph.initializer:
        raise ModelError(f"{model_path.name} has no initializers; not an inswapper model")
    return onnx.numpy_helper.to_array(model.graph.initializer[-1]).astype(np.float32)


_ONNX_TYPES = {"tensor(float)": np.float32, "tensor(float16)": np.float16}


@dataclass
class OnnxSwapper:
    """FaceFusion's `inswapper` and `hyperswap` model formats.

    Both take inputs named `target` (1x3xSxS, RGB) and `source` (1x512); inswapper wants the
    raw arcface embedding projected by its `emap` and divided by the embedding's norm, with
    pixels in 0..1; hyperswap wants the L2-normalised embedding, pixels in -1..1.
    """

    spec: ModelSpec
    session: Any
    emap: np.ndarray | None = None
    mask_blur: float = 0.3

    def __post_init__(self) -> None:
        if self.spec.template is None or self.spec.swapper_kind is None:
            raise ModelError(f"{self.spec.name} is not a face swapper")
        self.template = self.spec.template
        self.size = self.spec.size
        inputs = {value.name: value for value in self.session.get_inputs()}
        if set(inputs) != {"source", "target"}:
            raise ModelError(f"{self.spec.name}: expected inputs 'source' and 'target', "
                             f"found {sorted(inputs)}")
        self._types = {name: _ONNX_TYPES.get(value.type, np.float32)
                       for name, value in inputs.items()}
        self.mask = box_mask(self.size, self.mask_blur)
        self._mean = np.array(self.spec.mean, dtype=np.float32)
        self._std = np.array(self.spec.std, dtype=np.float32)

    def source_vector(self, embedding: Embedding) -> np.ndarray:
        """The `source` input for an identity embedding, as this model family expects it."""
        vector = embedding.reshape(1, -1).astype(np.float32)
        norm = float(np.linalg.norm(vector)) or 1.0
        if self.spec.swapper_kind == "inswapper":
            if self.emap is None:
                raise ModelError(f"{self.spec.name}: emap matrix not loaded")
            return (vector @ self.emap) / norm
        return vector / norm

    def swap_crop(self, crop: Frame, source: SourceIdentity, times: StageTimes
                  ) -> tuple[np.ndarray, np.ndarray]:
        if source.embedding is None:
            raise ModelError(f"{self.spec.name} needs a source embedding (arcface_w600k_r50)")
        start = time.perf_counter()
        pixels = (crop[:, :, ::-1].astype(np.float32) / 255.0 - self._mean) / self._std
        feed = {
            "target": np.ascontiguousarray(pixels.transpose(2, 0, 1)[None]).astype(
                self._types["target"]),
            "source": self.source_vector(source.embedding).astype(self._types["source"]),
        }
        times.add("swap_pre", _ms_since(start))
        start = time.perf_counter()
        output = self.session.run(None, feed)[0][0]
        times.add_span("swap_infer", start, time.perf_counter())
        start = time.perf_counter()
        output = output.astype(np.float32).transpose(1, 2, 0)
        if self.spec.swapper_kind == "hyperswap":
            output = output * self._std + self._mean
        swapped = (output.clip(0, 1)[:, :, ::-1] * 255.0).astype(np.float32)
        times.add("swap_post", _ms_since(start))
        return swapped, self.mask
