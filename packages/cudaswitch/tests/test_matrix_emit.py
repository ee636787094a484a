"""``matrix --emit``: hostile strings never change a CI file's structure, and the file installs
cudaswitch from a source the pipeline can reach (never the unpublished name).

The YAML escaper is proven by round trips through a real YAML parser (PyYAML), with generated
text; the "Regenerate with" comment by evaluating it in a real bash.
"""

from __future__ import annotations

import shlex
import subprocess
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from cs_helpers import clean_env, cudaswitch_cmd
from cudaswitch.errors import UsageError
from cudaswitch.matrix.emit import (
    comment_line,
    emit,
    install_step,
    shell_word,
    to_yaml,
    yaml_string,
)
from cudaswitch.matrix.jobs import SlotRef

WHEEL = "dist/cudaswitch-0.1.0-py3-none-any.whl"
SHA = "0123456789abcdef0123456789abcdef01234567"
REFS = (SlotRef("cuda12", "manifest", "12.4"),)
HOSTILE = [
    "x\npermissions: write-all",
    "x\r\npermissions: write-all",
    "x\x85permissions: write-all",
    "x\u2028permissions: write-all",
    "x\u2029y",
    "it's \"quoted\" \\ back\\slash",
    "$HOME ${{ secrets.TOKEN }} `id` $(id)",
    "ünïcødé 🚀 \u200b\ufeff",
    "\t\x00\x1b[31m\x7f",
    "# not a comment",
    "key: value",
    "- item",
    "*alias &anchor !tag |block >folded",
]

# Text YAML can carry: every code point except lone surrogates (no UTF-8 form).
yaml_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=60)


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cudaswitch_cmd(*args), capture_output=True, text=True, timeout=60,
                          env=clean_env())


def top_keys(text: str) -> set:
    return set(yaml.safe_load(text))


@pytest.mark.parametrize("flavour,keys", [("github", {"name", "on", "jobs"}),
                                          ("gitlab", {"stages", "cuda-matrix"})])
@pytest.mark.parametrize("hostile", HOSTILE, ids=range(len(HOSTILE)))
def test_hostile_argv_never_adds_a_key(flavour, keys, hostile):
    text = emit(flavour, REFS, ["sh", "-c", hostile], install_from=WHEEL)
    assert top_keys(text) == keys
    doc = yaml.safe_load(text)
    run = (doc["jobs"]["cuda"]["steps"][-1]["run"] if flavour == "github"
           else doc["cuda-matrix"]["script"][-1])
    assert run.endswith(" -- " + shlex.join(["sh", "-c", hostile]))
    assert all(line.startswith("#") for line in text.splitlines()[:2])


def test_the_issue_example_through_the_cli(tmp_path):
    manifest = tmp_path / "cudaswitch.toml"
    manifest.write_text('[[slot]]\nname = "cuda12"\ncuda = "12.4"\n')
    proc = subprocess.run(
        cudaswitch_cmd("matrix", "--emit", "github", "--install-from", WHEEL, "--",
                       "sh", "-c", "x\npermissions: write-all"),
        capture_output=True, text=True, timeout=60,
        env=clean_env(CUDASWITCH_CONFIG=str(manifest), CUDASWITCH_HOME=str(tmp_path / "h")))
    assert proc.returncode == 0, proc.stderr
    doc = yaml.safe_load(proc.stdout)
    assert set(doc) == {"name", "on", "jobs"}
    assert "permissions" not in doc


# Words and forms YAML 1.1 (PyYAML, and GitHub's and GitLab's readers) resolves to something
# other than a string when they stand unquoted: null, booleans, numbers, merge keys.
YAML_SPECIAL_WORDS = ["NULL", "null", "Null", "~", "on", "ON", "Yes", "n", "true", "False",
                      ".inf", ".NaN", "0x1F", "0o17", "1_000", "1e3", "12:30", "<<", "=",
                      "2001-12-14", "-1", "+2", "0b101"]


@pytest.mark.parametrize("word", YAML_SPECIAL_WORDS)
def test_a_key_that_yaml_would_read_as_another_type_is_quoted(word):
    assert yaml.safe_load(to_yaml({word: word, "w": {word: [word]}})) == \
        {word: word, "w": {word: [word]}}


@settings(max_examples=300, deadline=None)
@given(yaml_text)
def test_yaml_string_round_trips(text):
    assert yaml.safe_load(yaml_string(text)) == text
    assert yaml.safe_load(to_yaml({text or "k": [text, {"v": text}]})) == \
        {text or "k": [text, {"v": text}]}


@settings(max_examples=300, deadline=None)
@given(yaml_text)
def test_a_comment_is_one_line(text):
    line = comment_line(text)
    assert yaml.safe_load(line + "\nk: 1\n") == {"k": 1}


def test_a_lone_surrogate_is_refused():
    """Bytes that are not UTF-8 in argv reach Python as lone surrogates: no YAML can hold them."""
    with pytest.raises(UsageError, match="UTF-8"):
        emit("github", REFS, ["echo", "\udcff"], install_from=WHEEL)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.text(st.characters(blacklist_categories=("Cs",),
                                      blacklist_characters="\x00"), max_size=20),
                min_size=1, max_size=4))
def test_the_regenerate_command_gives_back_argv_in_bash(argv):
    """The comment's words, pasted into bash, are the same argv (NUL cannot be in argv)."""
    words = " ".join(shell_word(a) for a in argv)
    out = subprocess.run(["bash", "-c", f"printf '%s\\0' {words}"], capture_output=True,
                         timeout=30, check=True).stdout
    assert out.split(b"\0")[:-1] == [a.encode() for a in argv]


def test_emit_refuses_to_guess_an_install_source():
    proc = cli("matrix", "--emit", "github", "--", "true")
    assert proc.returncode == 2
    assert "--install-from" in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.parametrize("source,message", [
    ("cudaswitch", "a wheel file"),
    ("git+https://example.org/cudaswitch.git@main", "commit"),
    ("git+https://example.org/cudaswitch.git", "commit"),
    ("dist/cudaswitch.tar.gz", "a wheel file"),
    ("dist/x\n.whl", "control"),
    ("https://example.org/cudaswitch-0.1.0-py3-none-any.whl", "sha256"),
])
def test_bad_install_sources(source, message):
    with pytest.raises(UsageError, match=message):
        install_step(source)


@pytest.mark.parametrize("source,want", [
    (WHEEL, f"python -m pip install ./{WHEEL}"),
    ("./" + WHEEL, f"python -m pip install ./{WHEEL}"),
    (f"git+https://example.org/org/cudaswitch.git@{SHA}#subdirectory=packages/cudaswitch",
     "python -m pip install 'cudaswitch @ git+https://example.org/org/cudaswitch.git"
     f"@{SHA}#subdirectory=packages/cudaswitch'"),
    ("https://example.org/a/cudaswitch-0.1.0-py3-none-any.whl#sha256=" + "ab" * 32,
     "python -m pip install 'cudaswitch @ https://example.org/a/cudaswitch-0.1.0-py3-none-any"
     ".whl#sha256=" + "ab" * 32 + "'"),
])
def test_install_sources(source, want):
    assert install_step(source) == want


@pytest.mark.parametrize("flavour", ["github", "gitlab"])
def test_the_unpublished_name_is_never_installed(flavour):
    text = emit(flavour, REFS, ["true"], install_from=WHEEL)
    assert "pip install cudaswitch" not in text
    assert f"pip install ./{WHEEL}" in text


def test_install_step_is_the_same_in_both_flavours():
    gh = yaml.safe_load(emit("github", REFS, ["true"], install_from=WHEEL))
    gl = yaml.safe_load(emit("gitlab", REFS, ["true"], install_from=WHEEL))
    step = next(s for s in gh["jobs"]["cuda"]["steps"] if s.get("name") == "Install cudaswitch")
    assert step["run"] == gl["cuda-matrix"]["script"][0] == install_step(WHEEL)


def test_regenerate_comment_names_the_install_source(tmp_path: Path):
    text = emit("github", REFS, ["true"], install_from=WHEEL)
    assert f"--install-from {WHEEL}" in text.splitlines()[1]
