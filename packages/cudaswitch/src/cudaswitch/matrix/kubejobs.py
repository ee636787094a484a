"""The matrix on a cluster: one Kubernetes Job per slot, each annotated for cudaswitch's webhook.

Where the slots live in a multi-CUDA image (``cudaswitch image build``), a cluster can run the
matrix across its GPU nodes: each Job runs the image with the command as its ``args`` (the
image's entrypoint stays and picks the slot), and carries ``cudaswitch.io/cuda: X.Y`` on its pod
template. The admission webhook turns that annotation into ``CUDASWITCH_CUDA`` and a node
affinity that admits only nodes whose driver and GPU can run X.Y, so each cell lands where its
CUDA can run or stays Pending, visibly, where no node can.

The pod picks its slot by CUDA version, so two slots of the same major.minor cannot both be
emitted (they would run the same slot twice); the error names them. Written with the same
escaping YAML writer as the CI matrices, and stdlib only like the rest of ``matrix``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from ..errors import UsageError
from ..versions import CudaVersion, SpecError
from .emit import comment_line, shell_word, to_yaml
from .jobs import SlotRef

CUDA_ANNOTATION = "cudaswitch.io/cuda"
SLOT_ANNOTATION = "cudaswitch.io/matrix-slot"
GPU_RESOURCE = "nvidia.com/gpu"
MAX_JOBS = 200
# distribution/reference, reduced: [host[:port]/]path[:tag][@sha256:hex]; linear, matched whole
_IMAGE_RE = re.compile(
    r"(?:[a-zA-Z0-9][a-zA-Z0-9.-]*(?::[0-9]+)?/)?[a-z0-9]+(?:[._-]+[a-z0-9]+)*"
    r"(?:/[a-z0-9]+(?:[._-]+[a-z0-9]+)*)*(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?"
    r"(?:@sha256:[0-9a-f]{64})?")
_LABEL_PART = re.compile(r"(?:[a-z0-9](?:[a-z0-9.-]{0,251}[a-z0-9])?/)?"
                         r"[A-Za-z0-9](?:[A-Za-z0-9_.-]{0,61}[A-Za-z0-9])?")
_LABEL_VALUE = re.compile(r"(?:[A-Za-z0-9](?:[A-Za-z0-9_.-]{0,61}[A-Za-z0-9])?)?")
IMAGE_HELP = ("for --emit kubernetes: the multi-CUDA image the Jobs run, built from this "
              "manifest by `cudaswitch image build` (e.g. registry.example.com/team/app:1.0)")


def job_name(slot: str, taken: set[str]) -> str:
    """A DNS-1123 name for the slot's Job (``cuda12.4`` -> ``cuda-matrix-cuda12-4``), unique."""
    slug = re.sub(r"[^a-z0-9]+", "-", slot.lower()).strip("-")[:40].strip("-") or "slot"
    name, n = f"cuda-matrix-{slug}", 2
    while name in taken:
        name, n = f"cuda-matrix-{slug}-{n}", n + 1
    taken.add(name)
    return name


def _cuda(ref: SlotRef) -> str:
    try:
        return CudaVersion.parse(ref.cuda or "").major_minor
    except SpecError as e:
        raise UsageError(f"slot {ref.name!r}: no CUDA version recorded, so a pod cannot ask for "
                         f"it; declare it in cudaswitch.toml") from e


def node_selector(runs_on: Sequence[str]) -> dict[str, str]:
    """``--runs-on key=value,...`` as the Jobs' ``nodeSelector``."""
    out: dict[str, str] = {}
    for item in runs_on:
        key, eq, value = item.partition("=")
        if not eq or not _LABEL_PART.fullmatch(key) or not _LABEL_VALUE.fullmatch(value):
            raise UsageError(f"--runs-on {item!r}: for --emit kubernetes, node labels as "
                             f"key=value (e.g. nvidia.com/gpu.present=true)")
        out[key] = value
    return out


def job(ref: SlotRef, name: str, image: str, argv: Sequence[str],
        selector: dict[str, str], deadline_s: int) -> dict:
    cuda = _cuda(ref)
    labels = {"app.kubernetes.io/name": "cuda-matrix", "app.kubernetes.io/instance": name}
    pod_spec: dict = {
        "restartPolicy": "Never",
        "containers": [{
            "name": "test",
            "image": image,
            "args": list(argv),
            "resources": {"limits": {GPU_RESOURCE: "1"}},
        }],
    }
    if selector:
        pod_spec["nodeSelector"] = dict(selector)
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "labels": labels,
                     "annotations": {SLOT_ANNOTATION: ref.name, CUDA_ANNOTATION: cuda}},
        "spec": {
            "backoffLimit": 0,
            "activeDeadlineSeconds": deadline_s,
            "template": {
                "metadata": {"labels": labels,
                             "annotations": {CUDA_ANNOTATION: cuda, SLOT_ANNOTATION: ref.name}},
                "spec": pod_spec,
            },
        },
    }


def kubernetes_jobs(refs: Sequence[SlotRef], argv: Sequence[str], image: str | None,
                    runs_on: Sequence[str] = (), deadline_s: int = 3600) -> list[dict]:
    """The Jobs, one per slot; refuses what could not run as asked (see the module text)."""
    if not image:
        raise UsageError(f"--emit kubernetes needs --install-from IMAGE: {IMAGE_HELP}")
    if not _IMAGE_RE.fullmatch(image) or len(image) > 512:
        raise UsageError(f"--install-from {image[:80]!r}: not an image reference; {IMAGE_HELP}")
    if not refs:
        raise UsageError("--emit: no slots to put in the matrix")
    if len(refs) > MAX_JOBS:
        raise UsageError(f"--emit: {len(refs)} slots; at most {MAX_JOBS} Jobs")
    by_cuda: dict[str, str] = {}
    for ref in refs:
        cuda = _cuda(ref)
        if cuda in by_cuda:
            raise UsageError(f"slots {by_cuda[cuda]!r} and {ref.name!r} are both CUDA {cuda}; a "
                             f"pod picks its slot by CUDA version, so pick one with --slots")
        by_cuda[cuda] = ref.name
    selector = node_selector(runs_on)
    taken: set[str] = set()
    return [job(r, job_name(r.name, taken), image, argv, selector, deadline_s) for r in refs]


def emit_kubernetes(refs: Sequence[SlotRef], argv: Sequence[str], image: str | None,
                    runs_on: Sequence[str] = ()) -> str:
    """The Jobs as one YAML stream for ``kubectl apply -f``, headed by how to regenerate it."""
    jobs = kubernetes_jobs(refs, argv, image, runs_on)
    assert image is not None
    names = [r.name for r in refs]
    again = ["cudaswitch", "matrix", "--emit", "kubernetes", "--slots", ",".join(names)]
    if runs_on:
        again += ["--runs-on", ",".join(runs_on)]
    again += ["--install-from", image, "--", *argv]
    head = [comment_line(f"One Kubernetes Job per cudaswitch slot ({', '.join(names)}); "
                         "each pod is placed by the cudaswitch admission webhook."),
            comment_line("kubectl apply -f THIS; regenerate with: "
                         + " ".join(shell_word(a) for a in again))]
    return "\n".join(head) + "\n" + "\n---\n".join(to_yaml(j) for j in jobs) + "\n"
