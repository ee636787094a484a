"""The entrypoint's cache of its own decisions, so that a container start costs an interpreter
start and a few ``stat`` calls, not a full discovery.

A record holds what the full flow decided (the variables to set or unset, the banner) and
everything that decision read: the variables of ``registry`` that decide, the interpreter and
its ``sys.path`` (NVIDIA wheels may sit in any of its site folders), the user id (it moves the
data home), the working folder, the manifests' bytes, the driver version and GPU list as the
kernel reports them, and every file and folder discovery looked at (their ``stat``, taken
before a second discovery that must find the same toolkits). Any difference is a miss, and the
full flow runs again.

Only built-in modules are imported here (``posix``, ``marshal``, ``sys``; not even
``__future__``): on a cached start, importing ``os`` would cost more than everything else this
module does.
"""

import marshal
import posix
import sys

from . import registry

FORMAT = 2
CACHE_ENV = "CUDASWITCH_CACHE_DIR"
OFF_ENV = "CUDASWITCH_NO_CACHE"
MANIFEST_LIMIT = 1 << 20

# Every variable whose value the full flow's decision depends on: part of a record's key.
KEY_VARS = registry.decision_variables()


def environ() -> dict[str, str]:
    """``os.environ`` decoded the way ``os`` decodes it, without importing ``os``."""
    return {k.decode("utf-8", "surrogateescape"): v.decode("utf-8", "surrogateescape")
            for k, v in posix.environ.items()}


def execvpe(file: str, args: list[str], env: dict[str, str]) -> None:
    """``os.execvpe`` on ``posix`` alone: search the new environment's PATH, then exec."""
    if "/" in file:
        posix.execve(file, args, env)
    denied: OSError | None = None
    for folder in env.get("PATH", "/usr/local/bin:/usr/bin:/bin").split(":"):
        try:
            posix.execve(f"{folder or '.'}/{file}", args, env)
        except (FileNotFoundError, NotADirectoryError):
            continue
        except PermissionError as e:
            denied = e
    raise denied or FileNotFoundError(2, "No such file or directory", file)


def cache_dir(env) -> str | None:
    if env.get(OFF_ENV, "") not in ("", "0"):
        return None
    if env.get(CACHE_ENV):
        return env[CACHE_ENV]
    base = env.get("XDG_CACHE_HOME") or f"{env.get('HOME') or '/root'}/.cache"
    return f"{base.rstrip('/')}/cudaswitch"


def _bucket(text: str) -> str:
    """A cheap file name for a key. Two keys may share it: the record holds its full key, so a
    collision only costs a miss, and this takes microseconds where a real hash in pure Python
    takes a large share of a cached start."""
    data = text.encode("utf-8", "surrogateescape")
    return f"{len(data):05x}{sum(data) & 0xFFFFFF:06x}{sum(data[1::7]) & 0xFFFF:04x}"


def host_facts(env) -> tuple[str, str]:
    """Driver version and GPU bus ids as the kernel shows them: cheap enough for every start."""
    driver = env.get("CUDASWITCH_DRIVER_VERSION") or ""
    if not driver:
        for path in ("/sys/module/nvidia/version", "/proc/driver/nvidia/version"):
            try:
                with open(path, "rb") as f:
                    driver = f.read(512).decode("ascii", "replace").strip()
                break
            except OSError:
                continue
    try:
        gpus = ",".join(sorted(posix.listdir("/proc/driver/nvidia/gpus")))
    except OSError:
        gpus = ""
    return driver, gpus


def stamp(path: str) -> tuple[int, ...]:
    """What changes when a file or folder does: times (ctime too: a chmod makes a toolkit
    unreadable), inode and size, of the link and of what it points at."""
    try:
        ls = posix.lstat(path)
    except OSError:
        return (-1,)
    try:
        st = posix.stat(path)
    except OSError:
        return (ls.st_mtime_ns, ls.st_ctime_ns, -1)
    return (ls.st_mtime_ns, ls.st_ctime_ns, st.st_mtime_ns, st.st_ctime_ns, st.st_ino,
            st.st_size)


def read_bytes(path: str) -> bytes | None:
    """A manifest's bytes, never blocking on a FIFO; None when absent."""
    try:
        fd = posix.open(path, posix.O_RDONLY | posix.O_NONBLOCK | posix.O_CLOEXEC)
    except OSError:
        return None
    try:
        st = posix.fstat(fd)
        if st.st_mode & 0o170000 != 0o100000 or st.st_size > MANIFEST_LIMIT:
            return b"\0not a small regular file"
        return posix.read(fd, MANIFEST_LIMIT + 1)
    except OSError:
        return b"\0unreadable"
    finally:
        posix.close(fd)


def key_of(env, command: str = "") -> str:
    """``command`` is the program to run: when it is a Python, its packages' CUDA is checked."""
    parts = [*(f"{k}={env.get(k)!r}" for k in KEY_VARS), f"cmd={command}"]
    try:
        parts.append(f"cwd={posix.getcwd()}")
    except OSError:
        parts.append("cwd=")
    parts += [f"uid={posix.geteuid()}", f"exe={sys.executable}", f"prefix={sys.prefix}",
              f"flags={sys.flags.isolated}{sys.flags.no_site}{sys.flags.no_user_site}",
              "path=" + "\1".join(sys.path)]
    return "\0".join(parts)


def _record_path(env, command: str = "") -> tuple[str, str] | None:
    folder = cache_dir(env)
    if folder is None:
        return None
    key = key_of(env, command)
    return f"{folder.rstrip('/')}/entry-{_bucket(key)}.bin", key


def lookup(env, command: str = "") -> dict | None:
    """The cached decision for this environment, host and command, or None."""
    where = _record_path(env, command)
    if where is None:
        return None
    path, key = where
    try:
        with open(path, "rb") as f:
            rec = marshal.load(f)
    except (OSError, EOFError, ValueError, TypeError):
        return None
    if not isinstance(rec, dict) or rec.get("format") != FORMAT or rec.get("key") != key:
        return None
    if rec.get("host") != host_facts(env):
        return None
    for k, v in rec.get("deps", {}).items():
        if env.get(k) != v:
            return None
    for p, data in rec.get("files", ()):
        if read_bytes(p) != data:
            return None
    for p, s in rec.get("watch", ()):
        if stamp(p) != s:
            return None
    return rec


def store(env, changes: dict, banner: str, notes: list, watch: list, files: list,
          host: tuple[str, str], command: str = "") -> None:
    """Write a record atomically; any failure only means the next start is a miss. ``watch``
    holds (path, stamp) pairs and ``files`` (path, bytes) pairs, both read before the flow
    looked (see entrypoint)."""
    import os

    where = _record_path(env, command)
    if where is None:
        return
    path, key = where
    rec = {
        "format": FORMAT, "key": key, "host": host, "changes": changes,
        "banner": banner, "notes": notes, "watch": watch, "files": files,
        "deps": {k: env.get(k) for k in changes},
    }
    tmp = f"{path}.{os.getpid()}.tmp"
    try:
        os.makedirs(os.path.dirname(path), mode=0o755, exist_ok=True)
        with open(tmp, "wb") as f:
            marshal.dump(rec, f)
        os.replace(tmp, path)
    except (OSError, ValueError):
        if os.path.lexists(tmp):
            os.unlink(tmp)


def apply(env, changes: dict) -> dict:
    out = dict(env)
    for k, v in changes.items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = v
    return out
