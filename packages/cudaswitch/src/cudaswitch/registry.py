"""Every environment variable the flow reads and every exit code, in one place.

The entrypoint's cache key, ``cudaswitch --help``, the entrypoint's usage text and the README's
tables are derived from these tuples, and a test fails when the flow reads a variable that is
not listed here. Plain tuples, no imports: the container entrypoint's cached start imports this
module, where even ``os`` would cost more than the lookup.
"""

# (name, group, what it does). Groups: "select" picks the toolkit; "host" stands in for the
# driver and GPUs; "where" says where toolkits and state are; "plan" is what the plan rewrites
# (its old value decides the new one); "run" changes only how the entrypoint runs, not what
# it decides.
VARIABLES = (
    ("CUDASWITCH_CUDA", "select", "a version spec: 12, 12.4, 12.4.1, '>=12.1,<13', auto, latest"),
    ("CUDASWITCH_SLOT", "select", "a slot by name (with CUDASWITCH_CUDA: exit 2)"),
    ("CUDASWITCH_ACTIVE", "select",
     "NAME@ROOT of the toolkit this shell or process runs under (set by `env` and every launch)"),
    ("CUDA_VERSION", "select",
     "a plain version only (11.8, 12; 12.4.1 reads as 12.4): what NVIDIA's images set"),
    ("CUDASWITCH_CONFIG", "select", "the manifest (cudaswitch.toml) whose default is read"),
    ("CUDASWITCH_FORCE", "select", "1: run even where the verdict says it cannot (as --force)"),
    ("CUDASWITCH_DRIVER_VERSION", "host", "the driver version to check against (no GPU here)"),
    ("CUDASWITCH_GPU_ARCH", "host", "compute capabilities of the GPUs, e.g. 9.0 or 8.6,9.0"),
    ("CUDASWITCH_GPU_BRAND", "host", "brand of those GPUs (forward compatibility: Tesla, ...)"),
    ("CUDASWITCH_DRIVER_CUDA", "host", "the CUDA version the driver supports, if not the table's"),
    ("CUDASWITCH_PATH", "where", "extra roots: toolkits, folders of toolkits or of NVIDIA wheels"),
    ("CUDASWITCH_HOME", "where", "data home: managed slots, venvs (default per user)"),
    ("CUDASWITCH_SYSTEM_PREFIX", "where", "root under which /usr/local/cuda-* is looked for"),
    ("CUDASWITCH_EXTRA_RELEASES", "where", "extra cuda-toolkit releases a slot may name"),
    ("CUDA_HOME", "where", "a toolkit to find (and what the plan sets)"),
    ("CUDA_PATH", "where", "a toolkit to find (and what the plan sets)"),
    ("CONDA_PREFIX", "where", "a conda environment holding NVIDIA's conda packages"),
    ("HOME", "where", "the per-user data home and user site-packages"),
    ("XDG_DATA_HOME", "where", "the per-user data home"),
    ("PYTHONUSERBASE", "where", "user site-packages, where NVIDIA wheels may be"),
    ("PATH", "plan", "other toolkits' bin folders leave, the target's come first"),
    ("LD_LIBRARY_PATH", "plan", "other toolkits' library folders leave, the target's first"),
    ("LIBRARY_PATH", "plan", "as LD_LIBRARY_PATH, for linking"),
    ("CPATH", "plan", "the target's include folder"),
    ("CUDASWITCH_ADDED", "plan", "what the previous switch changed, so switching leaves no trace"),
    ("CUDASWITCH_QUIET", "run", "1: the entrypoint prints no banner"),
    ("CUDASWITCH_CACHE_DIR", "run", "where the entrypoint keeps its decisions"),
    ("CUDASWITCH_NO_CACHE", "run", "1: the entrypoint decides afresh every time"),
    ("XDG_CACHE_HOME", "run", "the default cache folder's parent"),
    ("CUDASWITCH_BAKED", "run",
     "off: a baked entrypoint hands every start to the full flow; only: exit 125 instead"),
)

DECISION_GROUPS = ("select", "host", "where", "plan")

# (code, name, meaning)
EXIT_CODES = (
    (0, "OK", "success (`exec` and the entrypoint: the command's own status)"),
    (1, "FAILED", "a requirement or check did not hold (`require check`, `doctor` errors)"),
    (2, "USAGE", "bad input (spec, flag, two selectors at once, manifest, path); "
                 "nothing was changed"),
    (3, "NO_MATCH", "no installed toolkit or slot matches the request; the installed ones are "
                    "listed"),
    (4, "INCOMPATIBLE", "the chosen toolkit or slot cannot run on this host's driver or GPU, "
                        "or a check of it failed (`--force` runs it anyway)"),
    (5, "VERIFY", "`--verify` failed: the runtime did not load, or a CUDA call failed (named)"),
    (6, "SWITCH", "the `/usr/local/cuda` switch failed; the old link is untouched"),
    (7, "ENVIRONMENT", "environment fault: disk full, permission denied, read-only or "
                       "unwritable folder (e.g. CUDASWITCH_HOME)"),
    (127, "NOT_FOUND", "the command to run was not found, or is a CUDA tool the chosen toolkit "
                       "lacks"),
    (130, "INTERRUPTED", "interrupted (Ctrl-C)"),
    (141, "PIPE", "the output pipe closed early (e.g. `| head`); the rest was dropped"),
)


def decision_variables() -> tuple[str, ...]:
    """The variables whose values decide what the flow picks: the cache key."""
    return tuple(name for name, group, _ in VARIABLES if group in DECISION_GROUPS)


def variable_names() -> tuple[str, ...]:
    return tuple(name for name, _, _ in VARIABLES)


def exit_code(name: str) -> int:
    for code, n, _ in EXIT_CODES:
        if n == name:
            return code
    raise KeyError(name)


def exit_codes_help() -> str:
    """The ``--help`` epilog."""
    lines = ["exit codes:"]
    for c, _, m in EXIT_CODES:
        words, line = m.replace("`", "").split(), f"  {c:<4}"
        for w in words:
            if len(line) + len(w) + 1 > 92:
                lines.append(line)
                line = " " * 6
            line += " " + w
        lines.append(line)
    return "\n".join(lines)


def exit_codes_table() -> str:
    """The README's exit-code table (a test keeps the README equal to it)."""
    rows = [f"| {c} | {m} |" for c, _, m in EXIT_CODES]
    return "\n".join(["| code | meaning |", "|---|---|", *rows])


def variables_table() -> str:
    """The README's table of variables (a test keeps the README equal to it)."""
    rows = [f"| `{n}` | {g} | {d.replace('|', '/')} |" for n, g, d in VARIABLES]
    return "\n".join(["| variable | group | what it does |", "|---|---|---|", *rows])
