"""``image generate | build | init``: parse, call ``cudaswitch.image``, print."""

from __future__ import annotations

import argparse
import os
import shlex
import time

from ..errors import UsageError
from ..units import human_duration, human_size
from .render import emit, table, warn


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
    text = render(generate(im, args.devel, args.wheelhouse, args.singles))
    if args.output and args.output != "-":
        _write(args.output, text)
        print(f"wrote {args.output}")
    else:
        print(text, end="")
    return 0


def _write(path: str, text: str) -> None:
    """A file the user named: written whole or not at all; a folder there is exit 2."""
    from ..fsguard import atomic_write

    if os.path.isdir(path):
        raise UsageError(f"{path}: is a folder; name the file to write")
    atomic_write(path, text)


def _engine_options(args: argparse.Namespace, engine: str):
    from ..image.engine import EngineOptions

    return EngineOptions(engine, args.root, args.runroot, args.storage_driver, args.isolation,
                         args.network or "none")


def _show(argv: list[str]) -> str:
    return " ".join(shlex.quote(a) for a in argv)


def _context(args: argparse.Namespace, im) -> str:
    return os.path.abspath(args.context or os.path.join(
        os.path.expanduser("~/.cache/cudaswitch/image-build"),
        im.image.name.replace("/", "_")))


def _request(args: argparse.Namespace, im, engine: str):
    from ..image.build import BuildRequest

    return BuildRequest(_context(args, im), _engine_options(args, engine), args.pull,
                        args.wheelhouse, args.devel, args.singles, args.refresh,
                        args.network, args.index_url)


def _say(quiet: bool):
    import sys

    def line(text: str) -> None:
        if not quiet:
            print(text, file=sys.stderr, flush=True)
    return line


def cmd_build(args: argparse.Namespace) -> int:
    from ..image import build as b
    from ..image import engine as eng
    from ..image.containerfile import render
    from ..image.context import claim_context, created_epoch, generate
    from ..image.tags import bake_hcl, tags_for
    from ..install.progress import Reporter

    im = _load(args)
    quiet = args.json or args.quiet
    line = _say(quiet)
    if args.dry_run:
        engine = args.engine or _detect_or_none() or "podman"
        req = _request(args, im, engine)
        system_net, net = b.network_plan(im, req)
        started = time.monotonic()
        res = b.resolve(im, req, os.environ, line, dry_run=True)
        import dataclasses

        recipe = dataclasses.replace(generate(im, args.devel, args.wheelhouse, args.singles),
                                     base_ref=res.base_ref)
        tags = tags_for(im.image.name, im.image.version, recipe.targets)
        cf = os.path.join(req.context, "Containerfile")
        created = created_epoch(im, os.environ)
        cmds = ([eng.build_argv(req.opts, cf, req.context, "system", [], created, system_net)]
                if system_net else [])
        cmds += [eng.build_argv(req.opts, cf, req.context, stage, ts, created, net)
                 for stage, ts in tags.items()]
        data = {"containerfile": render(recipe), "context": req.context,
                "fetch": im.image.app.fetch, "tags": tags, "commands": cmds,
                "resolved": res.as_dict(), "seconds": round(time.monotonic() - started, 2),
                "wheelhouse": args.wheelhouse or "resolved above; fetched into the context "
                              "before the build"}
        emit(data, args.json, _dry_text)
        return 0
    claim_context(_context(args, im))  # refuse a folder that is not ours before anything else
    engine = eng.detect(args.engine)
    req = _request(args, im, engine)
    reporter = Reporter(mode="quiet" if quiet else None)
    data = b.build(im, req, os.environ, line, reporter.bar,
                   None if quiet else (lambda text: print(text, flush=True)))
    reporter.finish()
    tags = data["tags"]
    cf = os.path.join(data["context"], "Containerfile")
    if args.bake:
        _write(args.bake, bake_hcl(tags, os.path.relpath(cf, os.path.dirname(os.path.abspath(
            args.bake)) or ".")))
    if args.tags_file:
        _write(args.tags_file, "".join(t + "\n" for ts in tags.values() for t in ts))
    emit(data, args.json, _report_text)
    return 0


def _dry_text(d: dict) -> str:
    r = d["resolved"]
    out = [d["containerfile"], f"# context: {d['context']}", f"# base: {r['base']}"]
    if r["platform"]:
        p = r["platform"]
        out.append(f"# wheels for Python {p['python']}, glibc {'.'.join(map(str, p['glibc']))}"
                   f", {p['machine']} ({p['source']})")
    for slot, versions in r["slots"].items():
        out.append(f"# {slot}: " + ", ".join(f"{n}=={v}" for n, v in versions.items()))
    if d["fetch"]:
        out.append(f"# app fetched from {d['fetch']}"
                   + (f" (sha256 {r['app_sha256']})" if r["app_sha256"] else ""))
    out += [f"# note: {n}" for n in r["notes"]]
    out.append(f"# wheels: {d['wheelhouse']}; resolved in {human_duration(d['seconds'])}")
    out += [_show(c) for c in d["commands"]]
    return "\n".join(out)


def _detect_or_none() -> str | None:
    from ..image.engine import detect

    try:
        return detect(None)
    except UsageError:
        return None


def _report_text(d: dict) -> str:
    out = []
    several = len(d["images"]) > 1
    for img in d["images"]:
        shared = (f" ({human_size(img['shared_bytes'])} in layers shared with the other images)"
                  if several else "")
        out.append(f"{img['ref']}  {human_size(img['layer_bytes'])}{shared}")
        out.append(table([[la["digest"][7:19], human_size(la["size"]), la["created_by"][:90]]
                          for la in img["layers"]], ["  layer", "size", "step"]))
    if several:
        out.append(f"sum of the images: {human_size(d['sum_of_images'])}; stored once: "
                   f"{human_size(d['stored_once'])}; built in "
                   f"{human_duration(d['total_seconds'])}")
    else:
        out.append(f"built in {human_duration(d['total_seconds'])}")
    st = d.get("storage") or {}
    if st.get("bytes") is not None:
        first = d["images"][0]["layer_bytes"] if d["images"] else 0
        ratio = f"{st['bytes'] / first:.2f}x {d['images'][0]['ref']}; " if first else ""
        out.append(f"local storage now holds {human_size(st['bytes'])} ({ratio}{st['how']}, "
                   "which counts everything it holds, earlier builds included)")
    tags = [t for ts in d["tags"].values() for t in ts]
    out.append("tags: " + ", ".join(tags))
    return "\n".join(out)


def cmd_init(args: argparse.Namespace) -> int:
    from ..image.recipes import RECIPES, resolve_recipe, write_recipe

    if args.recipe not in RECIPES:
        raise UsageError(f"--recipe {args.recipe!r}: known recipes: {', '.join(RECIPES)}")
    text, pins = RECIPES[args.recipe], {}
    if not args.no_resolve:
        text, pins = resolve_recipe(args.recipe, args.index_url, _say(args.json))
    path = write_recipe(text, args.output, force=args.force)
    emit({"manifest": path, "recipe": args.recipe, "pins": pins}, args.json,
         lambda d: f"wrote {d['manifest']} (recipe {d['recipe']}"
         + ("; pins resolved against the index now" if d["pins"] else "; pins not resolved")
         + f"); next: cudaswitch image build --dry-run --manifest {d['manifest']}")
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
    singles = p.add_mutually_exclusive_group()
    singles.add_argument("--singles", action="store_true", dest="singles", default=False,
                         help="also one image per slot, NAME:VERSION-<slot>, and the moving "
                              "NAME:cuda<major> tags; each slot after the first is then stored "
                              "twice in local storage")
    singles.add_argument("--no-singles", action="store_false", dest="singles",
                         help="only the all-slots image NAME:VERSION: the default now, kept so "
                              "that older scripts work")


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
                   help="resolve the base, every slot's wheels and the app source (metadata "
                        "only, seconds), print the Containerfile and the exact commands; "
                        "build nothing")
    b.add_argument("--context", metavar="DIR", help="where to assemble the build context "
                   "(default: ~/.cache/cudaswitch/image-build/NAME)")
    b.add_argument("--bake", metavar="FILE", help="also write a docker-bake.hcl")
    b.add_argument("--tags-file", metavar="FILE", help="also write the tags, one a line")
    b.add_argument("--root", metavar="DIR", help="podman/buildah storage root")
    b.add_argument("--runroot", metavar="DIR", help="podman/buildah run root")
    b.add_argument("--storage-driver", metavar="NAME", help="podman/buildah storage driver")
    b.add_argument("--isolation", choices=("oci", "chroot", "rootless"),
                   help="podman/buildah RUN isolation")
    b.add_argument("--network", choices=("none", "host"),
                   help="network for RUN steps (default: only the system_packages step gets "
                        "it; none forbids even that; host gives it to every step)")
    b.add_argument("--pull", choices=("missing", "always", "newer", "never"), default="missing",
                   help="when to pull the base image, as podman's --pull (default missing)")
    b.add_argument("--refresh", action="store_true",
                   help="resolve the base digest and every wheel again, ignoring "
                        "cudaswitch-image.lock")
    b.add_argument("--index-url", metavar="URL", help="the package index pip resolves from "
                   "(default: pip's own configuration)")
    b.add_argument("--quiet", action="store_true", help="hide the engine's own output")
    b.add_argument("--json", action="store_true")
    b.set_defaults(func=cmd_build)

    i = isub.add_parser("init", help="write a manifest from a recipe (facefusion, facefuse)")
    i.add_argument("--recipe", required=True, metavar="NAME",
                   help="the app to start from: facefusion or facefuse")
    i.add_argument("-o", "--output", default="cudaswitch.toml", metavar="FILE",
                   help="where to write the manifest (default cudaswitch.toml)")
    i.add_argument("--force", action="store_true", help="overwrite an existing file")
    i.add_argument("--no-resolve", action="store_true",
                   help="write the recipe's version ranges as they are, without asking the "
                        "index which versions it serves")
    i.add_argument("--index-url", metavar="URL", help="the package index to resolve against")
    i.add_argument("--json", action="store_true")
    i.set_defaults(func=cmd_init)
    p.set_defaults(func=lambda a: (p.print_help(), 2)[1])
