"""``image build``, start to end: resolve everything first (fast, metadata only), then fetch,
assemble and build, so a manifest that cannot build fails in seconds with what to change.

Order: the context folder is claimed and the app folders checked (nothing written yet), the
base is made local per ``--pull`` and pinned by digest, the base's own Python says which wheels
fit, pip resolves every slot for it, and only then are wheels fetched (sha256-checked, with
progress), the context written, the lock updated and the stages built: the system packages'
stage with the network, every other step without.
"""

from __future__ import annotations

import os
import time
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from ..errors import CudaswitchError, UsageError
from ..install.pip import IndexOptions
from ..install.resolve import Wheel
from . import engine as eng
from .containerfile import SYSTEM_STAGE
from .context import assemble, check_app, claim_context, created_epoch
from .lock import ImageLock, read_lock, write_lock
from .resolve import Platform, guess_platform, resolve_image
from .spec import ImageManifest
from .tags import tags_for

Line = Callable[[str], None]


@dataclass(frozen=True)
class BuildRequest:
    context: str
    opts: eng.EngineOptions
    pull: str = "missing"
    wheelhouse: str | None = None
    devel: bool = False
    singles: bool = False  # NAME:VERSION-<slot> and NAME:cuda<major> too (opt-in)
    refresh: bool = False
    network: str | None = None  # None: the system packages' stage gets it, nothing else
    index_url: str | None = None


@dataclass(frozen=True)
class Resolved:
    base_ref: str
    digest: str
    platform: Platform | None
    wheels: Mapping[str, tuple[Wheel, ...]]
    app_sha256: str | None
    notes: tuple[str, ...] = field(default=())

    def as_dict(self) -> dict:
        return {"base": self.base_ref, "digest": self.digest,
                "platform": self.platform.as_dict() if self.platform else None,
                "slots": {n: {w.name: w.version for w in ws} for n, ws in self.wheels.items()},
                "app_sha256": self.app_sha256, "notes": list(self.notes)}


def _cache(env: Mapping[str, str]) -> str:
    return os.path.join(env.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"),
                        "cudaswitch")


def _platform(im: ImageManifest, req: BuildRequest, lock: ImageLock, ref: str | None,
              digest: str | None) -> Platform:
    if lock.platform and digest and lock.base_digest(im.image.base) == digest:
        return lock.platform
    if ref:
        return eng.probe_platform(req.opts, ref, im.image.python)
    guess = guess_platform(im.image.base)
    if guess:
        return guess
    raise UsageError(f"base {im.image.base} is not local, so its Python cannot be asked; pull "
                     f"it first ({req.opts.engine} pull {im.image.base}) so that the wheels "
                     "fit its interpreter")


def _check_fetch(url: str) -> None:
    """The app archive answers (a HEAD request): a wrong release tag fails now, not later."""
    try:
        with urllib.request.urlopen(urllib.request.Request(  # noqa: S310 - https only
                url, method="HEAD", headers={"User-Agent": "cudaswitch"}), timeout=30):
            pass
    except OSError as e:
        raise CudaswitchError(f"app.fetch {url}: {e}; check the release tag and the network") \
            from e


def resolve(im: ImageManifest, req: BuildRequest, env: Mapping[str, str], line: Line,
            dry_run: bool = False) -> Resolved:
    """Everything the build will use, decided before anything big is downloaded."""
    lock = ImageLock() if req.refresh else read_lock(im)
    notes: list[str] = []
    check_app(im)
    locked = lock.base_digest(im.image.base)
    if dry_run:
        ref_try = f"{eng._repo(im.image.base)}@{locked}" if locked else im.image.base
        digest = eng.image_digest(req.opts, ref_try)
        if digest:
            base_ref = f"{eng._repo(im.image.base)}@{digest}"
        else:
            base_ref = im.image.base
            if req.pull == "never":
                raise UsageError(f"base {im.image.base} is not in local storage and "
                                 f"--pull=never; pull it ({req.opts.engine} pull "
                                 f"{im.image.base}) or build with --pull=missing")
            notes.append(f"base {im.image.base} is not local: the build pulls it "
                         f"(--pull={req.pull})")
        ref = base_ref if digest else None
    else:
        base_ref, digest = eng.ensure_base(req.opts, im.image.base, req.pull, locked,
                                           echo=line)
        ref = base_ref
    platform = None if req.wheelhouse else _platform(im, req, lock, ref, digest)
    wheels: dict[str, tuple[Wheel, ...]] = {}
    if not req.wheelhouse:
        assert platform is not None
        line(f"wheels for {platform.describe()}")
        if lock.platform == platform:
            for s in im.slots:
                got = lock.wheels_for(s.name, s.request())
                if got:
                    wheels[s.name] = got
        todo = [s for s in im.slots if s.name not in wheels]
        if todo:
            for sw in resolve_image(todo, platform, IndexOptions(index_url=req.index_url),
                                    os.path.join(_cache(env), "resolve"), env, line):
                wheels[sw.slot.name] = sw.wheels
        if len(todo) < len(im.slots):
            notes.append(f"{len(im.slots) - len(todo)} slot(s) from the lock "
                         "(--refresh resolves again)")
    app_sha = im.image.app.sha256 or lock.app_for(im.image.app.fetch)
    if im.image.app.fetch and not app_sha:
        _check_fetch(im.image.app.fetch)
        notes.append("app archive: no sha256 yet; the first build records it in the lock and "
                     "later builds check it")
    return Resolved(base_ref, digest or "", platform, wheels, app_sha, tuple(notes))


def network_plan(im: ImageManifest, req: BuildRequest) -> tuple[str | None, str]:
    """(network of the system packages' stage or None, network of every other step)."""
    if not im.image.system_packages:
        return None, req.network or "none"
    if req.network == "none":
        raise UsageError(
            f"system_packages ({', '.join(im.image.system_packages)}) are installed with "
            "apt-get, which needs the network, and --network none forbids it; leave --network "
            "out (that stage alone then gets the network), or use a base that has them and "
            "drop system_packages")
    return "host", req.network or "none"


def build(im: ImageManifest, req: BuildRequest, env: Mapping[str, str], line: Line,
          progress, echo: Line | None) -> dict:
    root = claim_context(req.context)
    system_net, net = network_plan(im, req)
    started = time.monotonic()
    res = resolve(im, req, env, line)
    recipe, got = assemble(im, root, req.wheelhouse, req.devel, req.singles, env, res.wheels,
                           res.base_ref, _cache(env), progress, res.app_sha256)
    lock_file = write_lock(im, im.image.base, res.digest, res.platform,
                           {n: list(ws) for n, ws in res.wheels.items()}, got or res.app_sha256)
    cf = os.path.join(root.path, "Containerfile")
    created = created_epoch(im, env)
    tags = tags_for(im.image.name, im.image.version, recipe.targets)
    timings: dict[str, float] = {}
    steps: list[tuple[str | None, list[str], str]] = []
    if system_net:
        steps.append((SYSTEM_STAGE, [], system_net))
    steps += [(stage, ts, net) for stage, ts in tags.items()]
    for stage, ts, network in steps:
        argv = eng.build_argv(req.opts, cf, root.path, stage, ts, created, network)
        line(f"$ {' '.join(argv)}")
        t0 = time.monotonic()
        eng.run(argv, env, echo=echo)
        timings[str(stage)] = round(time.monotonic() - t0, 2)
    infos = [eng.inspect(req.opts, ts[0]) for ts in tags.values()]
    return {"engine": req.opts.engine, "context": root.path, "tags": tags,
            "seconds": timings, "total_seconds": round(time.monotonic() - started, 2),
            "lock": lock_file, "created": int(created), "resolved": res.as_dict(),
            "network": {"system": system_net, "steps": net},
            **eng.size_report(infos), "storage": eng.storage_report(req.opts)}
