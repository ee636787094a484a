"""Multi-CUDA container images from a manifest: Containerfile, context, build, tags, sizes."""

from .containerfile import Recipe, render, require_cuda
from .context import assemble, generate
from .engine import EngineOptions, build_argv, detect, inspect, size_report
from .spec import ImageManifest, ImageSpec, load_image_manifest, parse_image_manifest
from .tags import bake_hcl, tags_for

__all__ = ["EngineOptions", "ImageManifest", "ImageSpec", "Recipe", "assemble", "bake_hcl",
           "build_argv", "detect", "generate", "inspect", "load_image_manifest",
           "parse_image_manifest", "render", "require_cuda", "size_report", "tags_for"]
