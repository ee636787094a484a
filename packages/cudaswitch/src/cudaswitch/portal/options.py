"""The facefuse choices the new-job form offers, with a plain-language line for each.

Names and values carry over from FaceFusion's command line (which facefuse follows); the
portal does not import facefuse, because the job runs under the slot's own Python, which may
hold a different facefuse than the portal's.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from ..errors import UsageError


@dataclass(frozen=True)
class Choice:
    value: str
    label: str
    explain: str


@dataclass(frozen=True)
class Option:
    flag: str
    field: str
    label: str
    explain: str
    choices: tuple[Choice, ...]
    default: str


PROVIDERS: Mapping[str, Choice] = {
    "cpu": Choice("cpu", "CPU", "Runs on the processor. Always works; slowest."),
    "cuda": Choice("cuda", "CUDA (GPU)", "Runs on the graphics card through the slot's CUDA "
                   "libraries. Needs a GPU and a slot with cuDNN and onnxruntime-gpu."),
    "tensorrt": Choice("tensorrt", "TensorRT (GPU)", "NVIDIA's optimiser: fastest on a GPU "
                       "after a slow first start. Needs a slot with TensorRT."),
}

OPTIONS: tuple[Option, ...] = (
    Option("--face-selector-mode", "face_selector_mode", "Which faces to replace",
           "In a photo with several people: only the largest face, or every face.",
           (Choice("many", "Every face", "Each face found in the target is replaced."),
            Choice("one", "The largest face", "Only the biggest face is replaced.")), "many"),
    Option("--face-detector-model", "face_detector_model", "Face finder",
           "The model that finds faces. CenterFace works offline; the others are FaceFusion's "
           "models and must already be in the models folder.",
           (Choice("centerface", "CenterFace", "Ships with the application; no download."),
            Choice("yolo_face", "YOLO face", "FaceFusion's yoloface_8n model."),
            Choice("scrfd", "SCRFD", "FaceFusion's scrfd_2.5g model."),
            Choice("retinaface", "RetinaFace", "FaceFusion's retinaface_10g model.")),
           "centerface"),
    Option("--face-swapper-model", "face_swapper_model", "Face swapper",
           "How the new face is drawn. Classical needs no model file.",
           (Choice("classical", "Classical", "Blends the source face in; needs no model."),
            Choice("inswapper_128", "inswapper 128", "FaceFusion's inswapper_128 model."),
            Choice("hyperswap_1a_256", "HyperSwap 1a 256", "FaceFusion's hyperswap model.")),
           "classical"),
    Option("--keep-unmatched", "keep_unmatched", "If no face is found",
           "What happens when the target has no face in it.",
           (Choice("no", "Stop with an error", "The job fails and says no face was found."),
            Choice("yes", "Copy the target through", "The result is the target unchanged.")),
           "no"),
)


def parse_options(form: Mapping[str, str]) -> dict[str, str]:
    """The chosen option values; an unknown value is an error naming the allowed ones."""
    out = {}
    for opt in OPTIONS:
        value = (form.get(opt.field) or opt.default).strip()
        allowed = [c.value for c in opt.choices]
        if value not in allowed:
            raise UsageError(f"{opt.label} ({opt.field}): {value!r} is not one of "
                             f"{', '.join(allowed)}")
        out[opt.field] = value
    return out


def facefuse_argv(options: Mapping[str, str], provider: str, device_id: int,
                  source: str, target: str, output: str) -> list[str]:
    """The facefuse command line for one job (file names are the portal's own, never a
    client's)."""
    argv = ["python3", "-m", "facefuse", "headless-run", "-s", source, "-t", target,
            "-o", output, "--execution-providers", provider,
            "--execution-device-id", str(device_id), "--skip-download"]
    for opt in OPTIONS:
        value = options.get(opt.field, opt.default)
        if opt.field == "keep_unmatched":
            if value == "yes":
                argv.append(opt.flag)
        else:
            argv += [opt.flag, value]
    return argv
