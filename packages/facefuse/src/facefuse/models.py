"""The model registry: FaceFusion's public model names, where they download from, and what
each expects. Data only, no I/O; `download.py` acts on it.

Source of the facts: FaceFusion 3.x (`facefusion/choices.py` download providers,
`face_detector.py`, `face_recognizer.py`, `processors/modules/face_swapper`). The names and
the `.assets/models/<name>.onnx` + `<name>.hash` layout are kept unchanged so that an existing
FaceFusion models folder works as it is.
"""

from __future__ import annotations

from dataclasses import dataclass

from facefuse.types import ModelRole, SwapperKind, WarpTemplateName

DOWNLOAD_BASES: tuple[str, ...] = (
    "https://github.com/facefusion/facefusion-assets/releases/download/{release}/{file}",
    "https://huggingface.co/facefusion/{release}/resolve/main/{file}",
)
"""Mirrors tried in order, as FaceFusion's `github` and `huggingface` download providers."""


@dataclass(frozen=True)
class ModelSpec:
    """One downloadable model file (`<name>.onnx`) and its hash file (`<name>.hash`)."""

    name: str
    release: str
    role: ModelRole
    vendor: str
    license: str
    swapper_kind: SwapperKind | None = None
    template: WarpTemplateName | None = None
    size: int = 0
    mean: tuple[float, float, float] = (0.0, 0.0, 0.0)
    std: tuple[float, float, float] = (1.0, 1.0, 1.0)

    def urls(self, suffix: str) -> list[str]:
        """Download addresses of `<name><suffix>` (suffix `.onnx` or `.hash`), mirror order."""
        file = f"{self.name}{suffix}"
        return [base.format(release=self.release, file=file) for base in DOWNLOAD_BASES]


def _swapper(
    name: str,
    release: str,
    kind: SwapperKind,
    size: int,
    vendor: str,
    license: str,
    half: float | None,
) -> ModelSpec:
    mean_std = (0.0, 1.0) if half is None else (half, half)
    return ModelSpec(
        name=name,
        release=release,
        role="face_swapper",
        vendor=vendor,
        license=license,
        swapper_kind=kind,
        template="arcface_128",
        size=size,
        mean=(mean_std[0],) * 3,
        std=(mean_std[1],) * 3,
    )


MODELS: tuple[ModelSpec, ...] = (
    ModelSpec("yoloface_8n", "models-3.0.0", "face_detector", "derronqi", "GPL-3.0", size=640),
    ModelSpec("scrfd_2.5g", "models-3.0.0", "face_detector", "InsightFace", "Non-Commercial",
              size=640),
    ModelSpec("retinaface_10g", "models-3.0.0", "face_detector", "InsightFace",
              "Non-Commercial", size=640),
    ModelSpec("arcface_w600k_r50", "models-3.0.0", "face_recognizer", "InsightFace",
              "Non-Commercial", template="arcface_112_v2", size=112),
    _swapper("inswapper_128", "models-3.0.0", "inswapper", 128, "InsightFace",
             "Non-Commercial", None),
    _swapper("inswapper_128_fp16", "models-3.0.0", "inswapper", 128, "InsightFace",
             "Non-Commercial", None),
    _swapper("hyperswap_1a_256", "models-3.3.0", "hyperswap", 256, "FaceFusion",
             "ResearchRAIL", 0.5),
    _swapper("hyperswap_1b_256", "models-3.3.0", "hyperswap", 256, "FaceFusion",
             "ResearchRAIL", 0.5),
    _swapper("hyperswap_1c_256", "models-3.3.0", "hyperswap", 256, "FaceFusion",
             "ResearchRAIL", 0.5),
)

MODELS_BY_NAME: dict[str, ModelSpec] = {model.name: model for model in MODELS}

RECOGNIZER_FOR_SWAPPER: dict[SwapperKind, str] = {
    "inswapper": "arcface_w600k_r50",
    "hyperswap": "arcface_w600k_r50",
}
"""The identity embedding each swapper family was trained with."""


def get_model(name: str) -> ModelSpec:
    """The registry entry for `name`; KeyError lists the known names."""
    try:
        return MODELS_BY_NAME[name]
    except KeyError:
        known = ", ".join(sorted(MODELS_BY_NAME))
        raise KeyError(f"unknown model {name!r}; known models: {known}") from None
