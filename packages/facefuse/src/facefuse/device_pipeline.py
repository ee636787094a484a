"""The video path with frames kept on the execution device.

Per group of frames: one upload; letterboxing, detection (the group in one run), cutting out
each face, the swap and the paste back all run as ONNX Runtime sessions on the same device,
joined by device-resident values (I/O binding); one download. The host only decodes the
detector's score maps into landmarks and computes one 2x3 matrix per face. This is what
keeps a GPU busy: the OpenCV path spends longer per 720p frame on the CPU (letterbox, warp,
paste) than the models take on the GPU. The work is split over three threads (prepare, swap,
paste), so that the swapper, which sets the pace, runs while the groups before and after it
are pasted and prepared.

It is used for neural swappers with the CenterFace detector; the classical swapper (OpenCV
seamless clone) has no device form and stays on the host path.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from facefuse.align import similarity_matrix, template_points
from facefuse.detect import centerface_model, decode_centerface, non_maximum_suppression
from facefuse.device_graphs import (
    crop_graph,
    crop_theta,
    detector_input_graph,
    paste_graph,
    paste_theta,
)
from facefuse.pipeline import Engine, choose_faces
from facefuse.providers import create_session
from facefuse.selector import order_faces
from facefuse.swap import OnnxSwapper
from facefuse.types import Face, SourceIdentity, StageTimes

DEVICE_PROVIDERS = {"CUDAExecutionProvider": "cuda", "TensorrtExecutionProvider": "cuda"}


def supports_device_path(engine: Engine) -> bool:
    return (isinstance(engine.swapper, OnnxSwapper)
            and engine.settings.face_detector_model == "centerface")


def _ort() -> Any:
    import onnxruntime

    return onnxruntime


@dataclass
class DeviceFrames:
    """The sessions of the device path for one frame size."""

    engine: Engine
    source: SourceIdentity
    width: int
    height: int
    device: str = "cpu"
    sessions: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        settings = self.engine.settings
        runtime = settings.runtime
        swapper = self.engine.swapper
        assert isinstance(swapper, OnnxSwapper)
        size = settings.face_detector_size
        mean = float(swapper.spec.mean[0])
        std = float(swapper.spec.std[0])
        graphs = {
            "detect_input": detector_input_graph(self.width, self.height, size),
            "crop": crop_graph(swapper.size, 1.0 / (255.0 * std), -mean / std),
            "paste": paste_graph(self.width, self.height, swapper.mask, std, mean),
        }
        for name, graph in graphs.items():
            self.sessions[name] = create_session(graph.SerializeToString(), runtime)
        self.sessions["detector"] = create_session(centerface_model(size, size, "batch"),
                                                   runtime)
        self.sessions["swapper"] = swapper.session
        active = self.sessions["swapper"].get_providers()[0]
        self.device = DEVICE_PROVIDERS.get(active, "cpu")
        self.device_id = runtime.device_id
        vector = swapper.source_vector(self.source.embedding)  # type: ignore[arg-type]
        self.source_value = self._upload(vector.astype(np.float32))
        self.scale = min(size / self.width, size / self.height)

    def _upload(self, array: np.ndarray) -> Any:
        return _ort().OrtValue.ortvalue_from_numpy(np.ascontiguousarray(array), self.device,
                                                   self.device_id)

    def _run(self, name: str, inputs: dict[str, Any], outputs: list[str]) -> list[Any]:
        session = self.sessions[name]
        binding = session.io_binding()
        for key, value in inputs.items():
            if isinstance(value, np.ndarray):
                binding.bind_cpu_input(key, value)
            else:
                binding.bind_ortvalue_input(key, value)
        for key in outputs:
            binding.bind_output(key, self.device, self.device_id)
        session.run_with_iobinding(binding)
        binding.synchronize_outputs()
        return binding.get_outputs()

    def detect(self, frames_value: Any, frames: np.ndarray, times: StageTimes
               ) -> list[list[Face]]:
        start = time.perf_counter()
        (blob,) = self._run("detect_input", {"frames": frames_value}, ["blob"])
        mid = time.perf_counter()
        maps = self._run("detector", {"input.1": blob}, ["537", "538", "539", "540"])
        end = time.perf_counter()
        arrays = [value.numpy() for value in maps]
        threshold = self.engine.settings.face_detector_score
        found = []
        for index, frame in enumerate(frames):
            boxes, scores, points = decode_centerface([a[index:index + 1] for a in arrays],
                                                      threshold)
            kept = non_maximum_suppression(boxes, scores)
            faces = [Face(box=boxes[i] / self.scale, score=float(scores[i]),
                          landmarks=(points[i] / self.scale).astype(np.float32)) for i in kept]
            faces = order_faces(faces, self.engine.settings.face_selector_order)
            found.append(choose_faces(self.engine, frame, faces, times))
        times.add_span("detect_infer", mid, end)
        times.add("detect_prepost", (mid - start + time.perf_counter() - end) * 1000)
        return found

    def prepare(self, frames: np.ndarray, times: StageTimes) -> Group:
        """Upload, detect and cut out every face of one group of frames."""
        start = time.perf_counter()
        frames_value = self._upload(frames)
        times.add("upload", (time.perf_counter() - start) * 1000)
        faces = self.detect(frames_value, frames, times)
        swapper = self.engine.swapper
        points = template_points(swapper.template, swapper.size)
        group = Group(frames=frames, frames_value=frames_value,
                      counts=[len(found) for found in faces])
        start = time.perf_counter()
        for owner, found in enumerate(faces):
            for face in found:
                matrix = similarity_matrix(face.landmarks, points)
                (crop,) = self._run("crop", {
                    "frames": frames_value, "owner": np.array([owner], np.int64),
                    "theta": crop_theta(matrix, self.width, self.height)[None]}, ["crops"])
                group.faces.append((owner, matrix))
                group.crops.append(crop)
        times.add("crop", (time.perf_counter() - start) * 1000)
        return group

    def swap(self, group: Group, times: StageTimes) -> Group:
        """The swapper on each face: nothing but model runs, so that this thread, the one
        that sets the pace on a GPU, spends its time in inference."""
        for crop in group.crops:
            start = time.perf_counter()
            (swapped,) = self._run("swapper", {"target": crop, "source": self.source_value},
                                   ["output"])
            times.add_span("swap_infer", start, time.perf_counter())
            group.swapped.append(swapped)
        group.crops = []
        return group

    def paste(self, group: Group, times: StageTimes) -> tuple[np.ndarray, list[int]]:
        """Blend each swapped face into its frame, then one download."""
        swapper = self.engine.swapper
        batch = len(group.frames)
        frames_value = group.frames_value
        start = time.perf_counter()
        for (owner, matrix), swapped in zip(group.faces, group.swapped, strict=True):
            owner_hot = np.zeros((batch, 1), np.float32)
            owner_hot[owner, 0] = 1.0
            (frames_value,) = self._run("paste", {
                "frames": frames_value, "swapped": swapped,
                "theta": paste_theta(matrix, swapper.size)[None],
                "owner_hot": owner_hot}, ["result"])
        times.add("paste", (time.perf_counter() - start) * 1000)
        start = time.perf_counter()
        result = frames_value.numpy() if group.faces else group.frames
        times.add("download", (time.perf_counter() - start) * 1000)
        return result, group.counts

    def __call__(self, frames: np.ndarray, times: StageTimes) -> tuple[np.ndarray, list[int]]:
        """The three steps in turn, in the caller's thread."""
        return self.paste(self.swap(self.prepare(frames, times), times), times)


@dataclass
class Group:
    """One group of frames between the device steps: the frames (host and device), where each
    face sits (its frame and alignment matrix), and its crop, then its swapped crop, on the
    device."""

    frames: np.ndarray
    frames_value: Any
    counts: list[int]
    faces: list[tuple[int, np.ndarray]] = field(default_factory=list)
    crops: list[Any] = field(default_factory=list)
    swapped: list[Any] = field(default_factory=list)


def device_stages(engine: Engine, source: SourceIdentity) -> list[tuple[str, Any]]:
    """Three stages, each its own thread, so that the swapper runs while the next group is
    uploaded, detected and cut out and the last one is pasted and downloaded: prepare
    (upload, detect, crop), swap (the swapper alone), paste (paste back, download). Each
    model run finishes before its output moves on, so values cross threads complete. The
    sessions are made for the frame size of the first group."""
    built: dict[tuple[int, int], DeviceFrames] = {}
    lock = threading.Lock()

    def frames_for(frames: np.ndarray) -> DeviceFrames:
        key = (frames.shape[2], frames.shape[1])
        with lock:
            if key not in built:
                built[key] = DeviceFrames(engine, source, *key)
            return built[key]

    def prepare(frames: np.ndarray, times: StageTimes) -> tuple[DeviceFrames, Group]:
        device = frames_for(frames)
        return device, device.prepare(frames, times)

    def swap(item: tuple[DeviceFrames, Group], times: StageTimes
             ) -> tuple[DeviceFrames, Group]:
        device, group = item
        return device, device.swap(group, times)

    def paste(item: tuple[DeviceFrames, Group], times: StageTimes
              ) -> tuple[np.ndarray, list[int]]:
        device, group = item
        return device.paste(group, times)

    return [("prepare", prepare), ("swap", swap), ("paste", paste)]
