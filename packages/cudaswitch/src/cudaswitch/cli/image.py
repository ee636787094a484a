"""``image generate | build | init``: parse, call ``cudaswitch.image``, print."""

from __future__ import annotations

import argparse
import os
import shlex
import time

from ..errors import UsageError
from .render import emit, table, warn


def _mb(n: int) -> str:
    return f"{n / 1e6:,.1f} MB"


def _load(args: argparse.Namespace):
    from ..image.spec import load_image_manifest, split_ref

    im = load_image_manifest(args.manifest)
    for w in im.manifest.warnings:
        warn(w)
    if getattr(args, "tag", None):
        import dataclasses

        name, version = split_ref(args.tag)
        im = dataclasses.replace(im, image=dataclasses.replace(im.image, name=name,
                                                               version=version))
    return im


def cmd_generate(args: argparse.Namespace) -> int:
    from ..image.containerfile import render
    from ..image.context import generate

    im = _load(args)
    text = render(generate(im, args.devel, args.wheelhouse, not args.no_singles))
    if args.output and args.output != "-":
        with open(args.output, "w", encoding="utf-8") as f:
            f.write(text)
        print(f"wrote {args.output}")
    else:
        print(text, end="")
    return 0


def _engine_options(args: argparse.Namespace, engine: str):
    from ..image.engine import EngineOptions

    return EngineOptions(engine, args.root, args.runroot, args.storage_driver, args.isolation,
                         args.network)


def _show(argv: list[str]) -> str:
    return " ".join(shlex.quote(a) for a in argv)


def cmd_build(args: argparse.Namespace) -> int:
    from ..image import engine as eng
    from ..image.containerfile import render
    from ..image.context import assemble, generate
    from ..image.tags import bake_hcl, tags_for

    im = _load(args)
    singles = not args.no_singles
    context = os.path.abspath(args.context or os.path.join(
        os.path.expanduser("~/.cache/cudaswitch/image-build"),
        im.image.name.replace("/", "_")))
    cf = os.path.join(context, "Containerfile")
    if args.dry_run:
        engine = args.engine or _detect_or_none()
        recipe = generate(im, args.devel, args.wheelhouse, singles)
        tags = tags_for(im.image.name, im.image.version, recipe.targets)
        opts = _engine_options(args, engine or "podman")
        cmds = [eng.build_argv(opts, cf, context, stage, ts) for stage, ts in tags.items()]
        data = {"containerfile": render(recipe), "context": context,
                "fetch": im.image.app.fetch, "tags": tags, "commands": cmds,
                "wheelhouse": args.wheelhouse or "downloaded into the context before the build"}
        emit(data, args.json, lambda d: d["containerfile"] + "\n# context: " + d["context"]
             + (f"\n# app fetched from {d['fetch']}" if d["fetch"] else "")
             + f"\n# wheels: {d['wheelhouse']}\n"
             + "\n".join(_show(c) for c in d["commands"]))
        return 0
    engine = eng.detect(args.engine)
    opts = _engine_options(args, engine)
    started = time.monotonic()
    recipe = assemble(im, context, args.wheelhouse, args.devel, singles)
    tags = tags_for(im.image.name, im.image.version, recipe.targets)
    timings = {}
    for stage, ts in tags.items():
        argv = eng.build_argv(opts, cf, context, stage, ts)
        if not args.json:
            print(f"$ {_show(argv)}", flush=True)
        t0 = time.monotonic()
        eng.run(argv, capture=args.json or args.quiet)
        timings[stage] = round(time.monotonic() - t0, 2)
    infos = [eng.inspect(opts, ts[0]) for ts in tags.values()]
    report = eng.size_report(infos)
    if args.bake:
        with open(args.bake, "w", encoding="utf-8") as f:
            f.write(bake_hcl(tags, os.path.relpath(cf, os.path.dirname(os.path.abspath(
                args.bake)) or ".")))
    if args.tags_file:
        with open(args.tags_file, "w", encoding="utf-8") as f:
            f.write("".join(t + "\n" for ts in tags.values() for t in ts))
    data = {"engine": engine, "context": context, "tags": tags, "seconds": timings,
            "total_seconds": round(time.monotonic() - started, 2), **report}
    emit(data, args.json, _report_text)
    return 0


def _detect_or_none() -> str | None:
    from ..image.engine import detect

    try:
        return detect(None)
    except UsageError:
        return None


def _report_text(d: dict) -> str:
    out = []
    for img in d["images"]:
        out.append(f"{img['ref']}  {_mb(img['layer_bytes'])} "
                   f"({_mb(img['shared_bytes'])} in layers shared with the other images)")
        out.append(table([[la["digest"][7:19], _mb(la["size"]), la["created_by"][:90]]
                          for la in img["layers"]], ["  layer", "size", "step"]))
    out.append(f"sum of the images: {_mb(d['sum_of_images'])}; stored once: "
               f"{_mb(d['stored_once'])}; built in {d['total_seconds']} s")
    tags = [t for ts in d["tags"].values() for t in ts]
    out.append("tags: " + ", ".join(tags))
    return "\n".join(out)


def cmd_init(args: argparse.Namespace) -> int:
    from ..image.recipes import RECIPES, write_recipe

    if args.recipe not in RECIPES:
        raise UsageError(f"--recipe {args.recipe!r}: known recipes: {', '.join(RECIPES)}")
    path = write_recipe(args.recipe, args.output, force=args.force)
    emit({"manifest": path, "recipe": args.recipe}, args.json,
         lambda d: f"wrote {d['manifest']} (recipe {d['recipe']}); next: "
         f"cudaswitch image build --manifest {d['manifest']}")
    return 0


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--manifest", default="cudaswitch.toml",
                   help="the manifest with [[slot]] tables and an [image] table "
                        "(default: ./cudaswitch.toml)")
    p.add_argument("--devel", action="store_true",
                   help="keep compiler components (nvcc, ptxas, ...) and allow a -devel base")
    p.add_argument("--wheelhouse", metavar="DIR",
                   help="wheels for the slots (DIR/<slot>/ or DIR itself); default: download "
                        "them into the build context before the build")
    p.add_argument("--no-singles", action="store_true",
                   help="build only the all-slots image, not NAME:VERSION-<slot> ones")


def register(sub) -> None:
    p = sub.add_parser("image", help="multi-CUDA container images from the manifest",
                       description="Build once, choose the CUDA version when the container "
                       "starts: docker run -e CUDA_VERSION=11.8 IMAGE ...")
    isub = p.add_subparsers(dest="image_command", metavar="SUBCOMMAND",
                            parser_class=type(p))

    g = isub.add_parser("generate", help="write the layered Containerfile")
    _common(g)
    g.add_argument("-o", "--output", metavar="FILE", help="write here (default: stdout)")
    g.add_argument("--tag", metavar="NAME:VERSION", help="override [image] name and version")
    g.set_defaults(func=cmd_generate)

    b = isub.add_parser("build", help="build and tag the images, then report their sizes")
    _common(b)
    b.add_argument("--tag", metavar="NAME:VERSION", help="override [image] name and version")
    b.add_argument("--engine", choices=("podman", "buildah", "docker"),
                   help="default: the first of podman, buildah, docker found")
    b.add_argument("--dry-run", action="store_true",
                   help="print the Containerfile and the exact commands; build nothing")
    b.add_argument("--context", metavar="DIR", help="where to assemble the build context "
                   "(default: ~/.cache/cudaswitch/image-build/NAME)")
    b.add_argument("--bake", metavar="FILE", help="also write a docker-bake.hcl")
    b.add_argument("--tags-file", metavar="FILE", help="also write the tags, one a line")
    b.add_argument("--root", metavar="DIR", help="podman/buildah storage root")
    b.add_argument("--runroot", metavar="DIR", help="podman/buildah run root")
    b.add_argument("--storage-driver", metavar="NAME", help="podman/buildah storage driver")
    b.add_argument("--isolation", choices=("oci", "chroot", "rootless"),
                   help="podman/buildah RUN isolation")
    b.add_argument("--network", choices=("none", "host"), default="none",
                   help="network for RUN steps (default none: the build is offline)")
    b.add_argument("--quiet", action="store_true", help="hide the engine's own output")
    b.add_argument("--json", action="store_true")
    b.set_defaults(func=cmd_build)

    i = isub.add_parser("init", help="write a manifest from a recipe (facefusion, facefuse)")
    i.add_argument("--recipe", required=True, metavar="NAME")
    i.add_argument("-o", "--output", default="cudaswitch.toml", metavar="FILE")
    i.add_argument("--force", action="store_true", help="overwrite an existing file")
    i.add_argument("--json", action="store_true")
    i.set_defaults(func=cmd_init)
    p.set_defaults(func=lambda a: (p.print_help(), 2)[1])
