"""``CudaRuntime`` objects as placement requests: every field checked, errors name the field."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cached_property

from .crd import API_VERSION, KIND
from .placement import (
    PlacementError,
    RuntimeRequest,
    image_repository,
    make_request,
    placement_version,
)


@dataclass(frozen=True)
class Catalog:
    """What the webhook knows: runtimes by name, and the repositories of multi-CUDA images
    (those the runtimes name, plus any the deployment lists)."""

    runtimes: Mapping[str, RuntimeRequest]
    extra_images: tuple[str, ...] = ()
    errors: tuple[str, ...] = ()

    @cached_property
    def extra_repositories(self) -> frozenset[str]:
        return frozenset(image_repository(i) for i in self.extra_images)

    @cached_property
    def image_repositories(self) -> frozenset[str]:
        """Every multi-CUDA image repository a bare ``cudaswitch.io/cuda`` pod may run (read
        once per catalog: the webhook asks on every admission)."""
        return frozenset(image_repository(r.image) for r in self.runtimes.values()
                         if r.image) | self.extra_repositories


def request_from_object(obj: object) -> RuntimeRequest:
    if not isinstance(obj, Mapping):
        raise PlacementError(f"a {KIND} is an object")
    if obj.get("apiVersion") != API_VERSION or obj.get("kind") != KIND:
        raise PlacementError(f"apiVersion/kind: expected {API_VERSION} {KIND}, got "
                             f"{obj.get('apiVersion')!r} {obj.get('kind')!r}")
    meta = obj.get("metadata")
    name = meta.get("name") if isinstance(meta, Mapping) else None
    if not isinstance(name, str) or not name:
        raise PlacementError("metadata.name: a CudaRuntime has a name")
    spec = obj.get("spec")
    if not isinstance(spec, Mapping):
        raise PlacementError(f"{name}: spec: an object with cuda and image")
    unknown = sorted(set(spec) - {"cuda", "image", "slot", "env", "minDriver", "gpuArch"})
    if unknown:
        raise PlacementError(f"{name}: spec: unknown field {unknown[0]!r} (fields: cuda, image, "
                             "slot, env, minDriver, gpuArch)")
    if not isinstance(spec.get("cuda"), str):
        raise PlacementError(f"{name}: spec.cuda: a CUDA version spec is required (e.g. 12.4)")
    if not isinstance(spec.get("image"), str):
        raise PlacementError(f"{name}: spec.image: a multi-CUDA image reference is required")
    env = spec.get("env") or []
    if not isinstance(env, list) or not all(isinstance(e, Mapping) for e in env):
        raise PlacementError(f"{name}: spec.env: a list of {{name, value}}")
    pairs = [(e.get("name"), e.get("value", "")) for e in env]
    names = [p[0] for p in pairs]
    if len(set(map(str, names))) != len(names):
        raise PlacementError(f"{name}: spec.env: a variable is listed twice")
    try:
        placement_version(spec["cuda"])
        return make_request(name, spec["cuda"], spec["image"], spec.get("slot"), pairs,
                            spec.get("minDriver"), spec.get("gpuArch"))
    except PlacementError as e:
        raise PlacementError(f"{name}: spec.{_field_of(str(e))}{e}") from e


def _field_of(message: str) -> str:
    head = message.split(":", 1)[0]
    return "" if head in ("image", "slot", "env", "minDriver", "gpuArch") else "cuda: "


def catalog_from_objects(objects: Iterable[object], extra_images: Iterable[str] = ()) -> Catalog:
    """Runtimes that parse; the others are kept as errors, so one bad object hides no other."""
    runtimes, errors = {}, []
    for obj in objects:
        try:
            r = request_from_object(obj)
        except PlacementError as e:
            errors.append(str(e))
            continue
        runtimes[r.name] = r
    return Catalog(runtimes, tuple(extra_images), tuple(errors))


def objects_from_text(text: str, source: str = "input") -> list[dict]:
    """Objects of a YAML or JSON file: documents, and the items of any ``List`` among them."""
    import yaml

    try:
        docs = [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError as e:
        raise PlacementError(f"{source}: not YAML or JSON ({e.__class__.__name__})") from e
    out: list[dict] = []
    for d in docs:
        if isinstance(d, dict) and isinstance(d.get("items"), list):
            out += [i for i in d["items"] if isinstance(i, dict)]
        elif isinstance(d, dict):
            out.append(d)
        else:
            raise PlacementError(f"{source}: a document is not an object")
    return out
