"""The portal in a real browser: Debian's chromium, driven by Playwright.

Set ``CUDASWITCH_PORTAL_SCREENSHOTS=DIR`` to keep the screenshots (docs/portal/ holds the
ones docs/portal.md shows); otherwise they go to a temporary folder.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import sys
import time
from pathlib import Path

import pytest
from k8s_helpers import gfd_labels
from PIL import Image
from portal_support import (
    PASSWORD,
    TREE_SCRIPT,
    PortalProcess,
    alive,
    source_photo,
    target_photo,
    video_clip,
    wait_gone,
)

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run"]

pytestmark = pytest.mark.skipif(not os.path.exists(CHROMIUM),
                                reason="Debian's chromium is not installed; .ci/run installs it")


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    where = os.environ.get("CUDASWITCH_PORTAL_SCREENSHOTS")
    path = Path(where) if where else tmp_path_factory.mktemp("shots")
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="module")
def portal(tmp_path_factory, wheel_roots):
    home = tmp_path_factory.mktemp("portal-browser")
    nodes = home / "nodes.json"  # a stand-in node list: no kube-apiserver here
    nodes.write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": [
        {"metadata": {"name": "h100-a", "labels": gfd_labels("580.95.05", "13.0", "9.0")}},
        {"metadata": {"name": "t4-old", "labels": gfd_labels("470.256.02", "11.4", "7.5")}},
    ]}))
    p = PortalProcess(home, None, wheel_roots, ("--workers", "2", "--nodes", str(nodes)))
    p.add_users()
    script = home / "tree.py"
    script.write_text(TREE_SCRIPT)
    p.tree_command = shlex.join([sys.executable, str(script)])
    p.start()
    yield p
    p.stop()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        yield b
        b.close()


def _page(browser, portal, user: str | None, **context):  # noqa: ANN202
    ctx = browser.new_context(base_url=portal.base, accept_downloads=True, **context)
    page = ctx.new_page()
    if user:
        page.goto("/login")
        page.get_by_label("User name").fill(user)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        page.wait_for_url("**/jobs")
    return page


def _state(page) -> str:  # noqa: ANN001
    return page.locator('#job [data-field="state"]').inner_text()


def _wait_state(page, state: str, timeout: float = 60) -> None:  # noqa: ANN001
    """Until the page (updated by its own script) shows ``state``; polled from here because
    the portal's CSP forbids the string evaluation wait_for_function would need."""
    deadline = time.time() + timeout
    while _state(page) != state:
        assert time.time() < deadline, f"the page never showed {state}; it shows {_state(page)}"
        time.sleep(0.1)


def test_runner_submits_watches_progress_and_downloads_the_result(browser, portal, shots):
    page = _page(browser, portal, None)
    page.goto("/login")
    page.screenshot(path=str(shots / "login.png"), full_page=True)
    page.get_by_label("User name").fill("runner")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/jobs")
    page.get_by_role("link", name="New job").first.click()
    page.get_by_label("Source photo (the face to use)").set_input_files(str(source_photo()))
    page.get_by_label("Target photo or video (where the face goes)").set_input_files(
        str(target_photo()))
    page.get_by_label("CUDA runtime (slot)").first.select_option("cuda12.4")
    assert page.get_by_label("CUDA (GPU)").is_disabled()  # no GPU here: offered, turned off
    assert page.get_by_label("CPU").is_checked()
    page.screenshot(path=str(shots / "new-job.png"), full_page=True)
    page.get_by_role("button", name="Start the job").click()
    page.wait_for_url("**/jobs/*")
    seen = set()
    deadline = time.time() + 120
    while time.time() < deadline:
        state = _state(page)
        seen.add(state)
        if state in ("succeeded", "failed"):
            break
        time.sleep(0.1)
    assert _state(page) == "succeeded", page.locator("#log").inner_text()
    assert seen & {"queued", "running"}, "the page never showed the job before it finished"
    assert "face(s) swapped" in page.locator("#log").inner_text()
    assert page.locator('#job progress').get_attribute("value") == "1"
    assert page.locator("#preview").evaluate("img => img.complete && img.naturalWidth") == 512
    page.screenshot(path=str(shots / "job.png"), full_page=True)
    with page.expect_download() as info:
        page.get_by_role("link", name="Download the result").click()
    saved = Path(portal.home) / "downloaded.png"
    info.value.save_as(str(saved))
    with Image.open(saved) as got, Image.open(target_photo()) as target:
        assert got.format == "PNG" and got.size == target.size
    page.goto("/jobs")
    page.screenshot(path=str(shots / "jobs.png"), full_page=True)
    page.context.close()


def test_viewer_sees_runtimes_and_host_but_cannot_submit(browser, portal, shots):
    page = _page(browser, portal, "viewer")
    assert page.get_by_role("link", name="New job").count() == 0
    response = page.goto("/jobs/new")
    assert response.status == 403
    assert "needs the runner role" in page.locator("[role=alert]").inner_text()
    page.goto("/runtimes")
    assert page.get_by_role("rowheader", name="cuda11.8 implicit").count() == 1
    page.screenshot(path=str(shots / "runtimes.png"), full_page=True)
    page.goto("/host")
    page.screenshot(path=str(shots / "host.png"), full_page=True)
    page.get_by_role("link", name="Fleet").click()
    assert page.get_by_role("rowheader", name="t4-old").count() == 1
    page.screenshot(path=str(shots / "fleet.png"), full_page=True)
    page.goto("/account")
    page.get_by_label("What it is for").fill("nightly-script")
    page.get_by_role("button", name="Make a token").click()
    assert page.locator("#new-token").inner_text().startswith("csp_")
    page.screenshot(path=str(shots / "account.png"), full_page=True)
    page.context.close()


def test_forged_form_without_csrf_token_is_refused(browser, portal):
    page = _page(browser, portal, "runner")
    before = page.request.get("/api/jobs").json()["jobs"]
    page.evaluate("""() => {
        const f = document.createElement('form');
        f.method = 'post'; f.action = '/jobs';
        for (const [k, v] of [['kind', 'command'], ['command', 'tree'], ['slot', 'cuda12.4']]) {
            const i = document.createElement('input');
            i.type = 'hidden'; i.name = k; i.value = v; f.appendChild(i);
        }
        document.body.appendChild(f); f.submit();
    }""")
    page.wait_for_load_state()
    assert "CSRF" in page.locator("[role=alert]").inner_text()
    assert page.request.get("/api/jobs").json()["jobs"] == before
    page.context.close()


# WCAG 2 contrast of every element that holds text of its own, against the first opaque
# background behind it: 4.5:1, or 3:1 for large text; disabled controls are exempt (WCAG 1.4.3).
CONTRAST = """() => {
  const rgb = c => {
    const m = c.match(/rgba?\\(([^)]+)\\)/);
    if (!m) return null;
    const p = m[1].split(',').map(Number);
    return {r: p[0], g: p[1], b: p[2], a: p.length > 3 ? p[3] : 1};
  };
  const lin = v => {
    v /= 255;
    return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4);
  };
  const lum = c => 0.2126 * lin(c.r) + 0.7152 * lin(c.g) + 0.0722 * lin(c.b);
  const behind = e => {
    for (let n = e; n; n = n.parentElement) {
      const c = rgb(getComputedStyle(n).backgroundColor);
      if (c && c.a > 0.5) return c;
    }
    return {r: 255, g: 255, b: 255, a: 1};
  };
  const off = e => {
    const label = e.closest('label');
    return e.matches(':disabled') || (label && label.control && label.control.disabled);
  };
  const bad = [];
  for (const e of document.querySelectorAll('body *')) {
    if (!e.getClientRects().length || e.closest('.skip') || off(e)) continue;
    if (![...e.childNodes].some(n => n.nodeType === 3 && n.textContent.trim())) continue;
    const st = getComputedStyle(e), a = lum(rgb(st.color)), b = lum(behind(e));
    const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    const size = parseFloat(st.fontSize);
    const large = size >= 24 || (size >= 18.66 && +st.fontWeight >= 700);
    if (ratio < (large ? 3 : 4.5)) {
      bad.push(e.tagName + ' "' + e.textContent.trim().slice(0, 30) + '" ' + ratio.toFixed(2));
    }
  }
  return bad;
}"""


def test_text_contrast_meets_wcag_aa_on_every_page(browser, portal):
    page = _page(browser, portal, "admin")
    for path in ("/jobs", "/jobs/new", "/runtimes", "/host", "/fleet", "/account", "/admin",
                 "/jobs/1"):
        page.goto(path)
        low = page.evaluate(CONTRAST)
        assert low == [], f"{path}: text below WCAG AA contrast: {low[:5]}"
    page.context.close()
    login = _page(browser, portal, None)
    login.goto("/login")
    assert login.evaluate(CONTRAST) == []
    login.context.close()


def test_every_form_control_has_a_label_and_the_phone_layout_fits(browser, portal, shots):
    page = _page(browser, portal, "runner", viewport={"width": 390, "height": 844},
                 device_scale_factor=1, is_mobile=True, has_touch=True)
    for path in ("/jobs/new", "/jobs", "/runtimes", "/host", "/fleet", "/account", "/jobs/1"):
        page.goto(path)
        unlabeled = page.evaluate("""() => [...document.querySelectorAll(
            'input:not([type=hidden]), select, textarea')].filter(
            e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label')).map(
            e => e.name || e.id)""")
        assert unlabeled == [], f"{path}: controls without a label: {unlabeled}"
        wide = page.evaluate("""() => [...document.querySelectorAll('body *')].filter(
            e => e.getBoundingClientRect().right > 391
                 && !e.closest('.scroll')).map(e => e.tagName + '#' + (e.id || e.name || ''))""")
        assert wide == [], f"{path}: wider than a 390-pixel phone screen: {wide[:5]}"
        assert page.evaluate("window.innerWidth") == 390
    page.goto("/jobs/new")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    page.screenshot(path=str(shots / "phone-new-job.png"), full_page=True)
    page.context.close()


def test_video_job_previews_inline_and_plays(browser, portal, shots, tmp_path):
    clip = video_clip(tmp_path)
    page = _page(browser, portal, "runner")
    page.goto("/jobs/new")
    page.get_by_label("Source photo (the face to use)").set_input_files(str(source_photo()))
    page.get_by_label("Target photo or video (where the face goes)").set_input_files(str(clip))
    page.get_by_label("CUDA runtime (slot)").first.select_option("cuda12.4")
    page.get_by_role("button", name="Start the job").click()
    page.wait_for_url("**/jobs/*")
    _wait_state(page, "succeeded", timeout=120)
    video = page.locator("video#preview")
    assert video.get_attribute("controls") is not None
    deadline = time.time() + 30
    while video.evaluate("v => v.readyState") < 2:  # HAVE_CURRENT_DATA: a frame is decoded
        assert time.time() < deadline, video.evaluate("v => v.error && v.error.message")
        time.sleep(0.1)
    assert video.evaluate("v => [v.videoWidth, v.videoHeight]") == [256, 256]
    assert 0.9 <= video.evaluate("v => v.duration") <= 1.1  # six frames at six a second
    video.evaluate("v => { v.muted = true; return v.play(); }")
    deadline = time.time() + 30
    while video.evaluate("v => v.currentTime") <= 0:
        assert time.time() < deadline, "the preview never played"
        time.sleep(0.1)
    video.evaluate("v => { v.pause(); v.currentTime = 0; }")
    page.screenshot(path=str(shots / "job-video.png"), full_page=True)
    page.context.close()


# --- keyboard and landmarks ------------------------------------------------------------------

# Where the focus is, and whether it shows: the focused element is marked for the
# accessibility-tree lookup and as reached (data-kbd-seen).
FOCUS = """() => {
  const e = document.activeElement;
  if (!e || e === document.body || e === document.documentElement) return null;
  document.querySelectorAll('[data-kbd-now]').forEach(n => n.removeAttribute('data-kbd-now'));
  e.setAttribute('data-kbd-now', '');
  e.setAttribute('data-kbd-seen', '');
  const st = getComputedStyle(e), r = e.getBoundingClientRect();
  return {tag: e.tagName.toLowerCase(), id: e.id, name: e.name || '', key: e.dataset.kbdKey || '',
          ring: (st.outlineStyle !== 'none' && parseFloat(st.outlineWidth) >= 2)
                || st.boxShadow !== 'none',
          shown: r.width > 0 && r.height > 0};
}"""

# What a mouse could operate: links, controls, anything focusable, anything that shows a
# pointer; visible and enabled. Each is marked data-kbd-key so the Tab walk can tick it off.
MOUSE_TARGETS = """() => {
  const shown = e => e.getClientRects().length > 0 && !e.closest('[hidden]')
                     && getComputedStyle(e).visibility !== 'hidden';
  const sel = 'a[href], button, input:not([type=hidden]), select, textarea, summary, '
            + 'video[controls], audio[controls], [tabindex], [onclick], [role=button], [role=link]';
  const out = [];
  document.querySelectorAll('body *').forEach((e, i) => {
    const pointer = getComputedStyle(e).cursor === 'pointer' && !e.closest('a, button, label');
    if (!(e.matches(sel) || pointer) || !shown(e) || e.matches(':disabled')) return;
    if (e.getAttribute('tabindex') === '-1') return;
    e.dataset.kbdKey = String(i);
    out.push({key: String(i), tag: e.tagName.toLowerCase(), type: e.type || '',
              name: e.name || '', text: (e.textContent || e.id).trim().slice(0, 40)});
  });
  return out;
}"""

NAMED_ROLES = {"button", "link", "textbox", "combobox", "radio", "checkbox", "listbox",
               "slider", "spinbutton", "searchbox", "switch", "menuitem", "tab", "video",
               "region", "progressbar"}


def _ax_of_focus(cdp) -> tuple[str, str]:  # noqa: ANN001
    """Chromium's own role and accessible name for the focused element."""
    root = cdp.send("DOM.getDocument", {"depth": 0})["root"]["nodeId"]
    node = cdp.send("DOM.querySelector", {"nodeId": root, "selector": "[data-kbd-now]"})
    nodes = cdp.send("Accessibility.getPartialAXTree",
                     {"nodeId": node["nodeId"], "fetchRelatives": False})["nodes"]
    own = nodes[0]
    return own.get("role", {}).get("value", ""), str(own.get("name", {}).get("value", ""))


def _focus(page, cdp) -> dict | None:  # noqa: ANN001
    info = page.evaluate(FOCUS)
    if info is not None:
        info["role"], info["label"] = _ax_of_focus(cdp)
        assert info["ring"], f"{page.url}: focus is not visible on {info}"
        assert info["shown"], f"{page.url}: focus is on something not shown: {info}"
        assert info["label"].strip() or info["role"] == "main", \
            f"{page.url}: {info} has no accessible name"
    return info


def _press(page, cdp, key: str) -> dict | None:  # noqa: ANN001
    page.keyboard.press(key)
    return _focus(page, cdp)


def _tab_to(page, cdp, label: str, role: str | None = None,  # noqa: ANN001
            limit: int = 80) -> list[dict]:
    """Tab until the focus is on ``label`` (a ``role``), checking every stop on the way;
    the stops, the last one the target."""
    stops: list[dict] = []
    now = _focus(page, cdp)
    for _ in range(limit):
        if now and now["label"] == label and role in (None, now["role"]):
            return [*stops, now]
        if now:
            stops.append(now)
        now = _press(page, cdp, "Tab")
    raise AssertionError(f"{page.url}: Tab never reached {role or ''} {label!r}; stops: "
                         f"{[(s['role'], s['label']) for s in stops]}")


def _choose_by_key(page, key: str, path) -> None:
    """``key`` on the focused file field opens the file chooser; the file is then set and the
    field holds it before the focus moves on. Chromium drops a key that comes while the last
    chooser is still closing, so an unanswered key is pressed again (three times at most)."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    for _ in range(3):
        try:
            with page.expect_file_chooser(timeout=10_000) as chooser:
                page.keyboard.press(key)
        except PlaywrightTimeout:
            continue
        chooser.value.set_files(str(path))
        page.wait_for_function("document.activeElement.files && "
                               "document.activeElement.files.length === 1")
        return
    raise AssertionError(f"{key} on the focused file field opened no file chooser")


def test_keyboard_only_log_in_submit_and_download(browser, portal, shots):
    ctx = browser.new_context(base_url=portal.base, accept_downloads=True)
    page = ctx.new_page()
    cdp = ctx.new_cdp_session(page)
    page.goto("/login")
    _tab_to(page, cdp, "User name", "textbox")
    page.keyboard.type("runner")
    _tab_to(page, cdp, "Password", "textbox")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url("**/jobs")
    _tab_to(page, cdp, "New job", "link")
    page.keyboard.press("Enter")
    page.wait_for_url("**/jobs/new")
    first = _press(page, cdp, "Tab")
    assert first and first["label"] == "Skip to content", first
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"
    forward = _tab_to(page, cdp, "Source photo (the face to use)")
    assert len(forward) == 2, forward  # main, then straight to the first control
    _choose_by_key(page, "Space", source_photo())
    forward += _tab_to(page, cdp, "Target photo or video (where the face goes)")[1:]
    _choose_by_key(page, "Enter", target_photo())
    forward += _tab_to(page, cdp, "CUDA runtime (slot)", "combobox")[1:]
    slot = page.locator("#slot")
    for key in ["ArrowDown"] * 4 + ["ArrowUp"] * 4:
        if slot.input_value() == "cuda12.4":
            break
        page.keyboard.press(key)
    assert slot.input_value() == "cuda12.4"
    forward += _tab_to(page, cdp, "CPU", "radio")[1:]
    page.keyboard.press("ArrowDown")  # the GPU providers are turned off: the focus stays
    assert page.evaluate("document.activeElement.id") == "provider-cpu"
    assert page.locator("#provider-cpu").is_checked()
    forward += _tab_to(page, cdp, "Start the job", "button")[1:]
    labels = [s["label"] for s in forward]
    for name in ("Which faces to replace", "Face finder", "Face swapper"):
        assert name in labels, labels
    backward = [_press(page, cdp, "Shift+Tab") for _ in forward[1:-1]]
    assert [s["label"] for s in backward] == labels[-2:0:-1]  # Shift+Tab retraces the way
    _tab_to(page, cdp, "Start the job", "button")
    page.screenshot(path=str(shots / "keyboard-new-job.png"), full_page=True)
    page.keyboard.press("Space")
    page.wait_for_url("**/jobs/*")
    _wait_state(page, "succeeded", timeout=120)
    _tab_to(page, cdp, "Download the result", "link")
    with page.expect_download() as info:
        page.keyboard.press("Enter")
    saved = Path(portal.home) / "keyboard-download.png"
    info.value.save_as(str(saved))
    with Image.open(saved) as got, Image.open(target_photo()) as target:
        assert got.format == "PNG" and got.size == target.size
    ctx.close()


def _walk_whole_page(page, cdp) -> list[dict]:  # noqa: ANN001
    """Tab from the top until the focus comes round again; what a mouse could use but
    the keyboard never reached. A radio group counts as reached through any of its
    radios (the arrow keys move within it)."""
    targets = page.evaluate(MOUSE_TARGETS)
    page.evaluate("() => document.activeElement && document.activeElement.blur()")
    seen: list[str] = []
    for _ in range(400):
        now = _press(page, cdp, "Tab")
        if now is None:
            continue
        mark = now["key"] or f"{now['tag']}#{now['id']}"
        if seen and mark == seen[0]:
            break
        seen.append(mark)
    else:
        raise AssertionError(f"{page.url}: the focus never came round again")
    reached = set(seen)
    groups = {t["name"] for t in targets if t["type"] == "radio" and t["key"] in reached}
    return [t for t in targets if t["key"] not in reached
            and not (t["type"] == "radio" and t["name"] in groups)]


def _unnamed_controls(cdp) -> list[tuple[str, str]]:  # noqa: ANN001
    nodes = cdp.send("Accessibility.getFullAXTree")["nodes"]
    return [(n["role"]["value"], str(n.get("name", {}).get("value", "")))
            for n in nodes if not n.get("ignored") and n.get("role", {}).get("value") in
            NAMED_ROLES - {"region"} and not str(n.get("name", {}).get("value", "")).strip()]


def test_every_page_has_a_main_landmark_named_controls_and_nothing_mouse_only(browser,
                                                                               portal):
    admin = browser.new_context(base_url=portal.base)
    page = admin.new_page()
    cdp = admin.new_cdp_session(page)
    page.goto("/login")
    pages = ["/login"]
    checked = []

    def check(path: str) -> None:
        page.goto(path)
        assert page.get_by_role("main").count() == 1, f"{path}: not exactly one main landmark"
        assert _unnamed_controls(cdp) == [], f"{path}: controls without a name"
        titles = page.evaluate("""() => [...document.querySelectorAll('[title]')].map(
            e => e.getAttribute('title')).filter(t => !document.body.innerText.includes(t))""")
        assert titles == [], f"{path}: shown only on hover (title): {titles}"
        missed = _walk_whole_page(page, cdp)
        assert missed == [], f"{path}: a mouse can use these, the keyboard never reaches them"
        checked.append(path)

    check("/login")
    page.get_by_label("User name").fill("admin")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/jobs")
    listing = page.request.get("/api/jobs?limit=200").json()["jobs"]
    done = {j["target_kind"]: j["id"] for j in reversed(listing)
            if j["state"] == "succeeded" and j["target_kind"]}
    pages += ["/jobs", "/jobs?limit=1", "/jobs/new", "/runtimes", "/host", "/fleet",
              "/account", "/admin", "/jobs/999999"]
    pages += [f"/jobs/{done[kind]}" for kind in ("image", "video") if kind in done]
    for path in pages[1:]:
        check(path)
    assert "image" in done and len(checked) == len(pages)
    admin.close()


def _register(browser, portal) -> None:
    admin = _page(browser, portal, "admin")
    admin.goto("/admin")
    if admin.get_by_role("cell", name="tree", exact=True).count() == 0:
        admin.get_by_label("Name", exact=True).fill("tree")
        admin.get_by_label("Command line").fill(portal.tree_command)
        admin.get_by_label("Description").fill("a process tree that sleeps")
        admin.get_by_role("button", name="Register").click()
        admin.wait_for_url("**/admin")
    admin.screenshot(path=str(Path(portal.home) / "admin.png"), full_page=True)
    admin.context.close()


def _run_tree(page, portal) -> tuple[int, list[int]]:  # noqa: ANN001
    page.goto("/jobs/new")
    page.get_by_label("Command", exact=True).select_option("tree")
    page.get_by_role("button", name="Run it").click()
    page.wait_for_url("**/jobs/*")
    job_id = int(page.url.rsplit("/", 1)[1])
    pids_file = portal.data / "jobs" / str(job_id) / "pids.txt"
    deadline = time.time() + 60
    while not pids_file.exists() and time.time() < deadline:
        time.sleep(0.1)
    _wait_state(page, "running")
    return job_id, [int(p) for p in pids_file.read_text().split()]


def test_restart_mid_job_then_cancel_from_the_page(browser, portal, shots):
    _register(browser, portal)
    shutil.copy(Path(portal.home) / "admin.png", shots / "admin.png")
    page = _page(browser, portal, "runner")
    job_id, old = _run_tree(page, portal)
    (portal.data / "jobs" / str(job_id) / "pids.txt").unlink()
    portal.stop(signal.SIGKILL)
    portal.start()
    assert wait_gone(old), "processes of the interrupted job outlived the restart"
    page.goto(f"/jobs/{job_id}")
    assert page.locator(".badge").inner_text() == "interrupted ×1"
    _wait_state(page, "running")
    assert "queued again" in page.locator('[data-field="reason"]').inner_text()
    pids_file = portal.data / "jobs" / str(job_id) / "pids.txt"
    deadline = time.time() + 60
    while not pids_file.exists() and time.time() < deadline:
        time.sleep(0.1)
    new = [int(p) for p in pids_file.read_text().split()]
    assert all(alive(p) for p in new)
    page.screenshot(path=str(shots / "job-interrupted.png"), full_page=True)
    page.get_by_role("button", name="Cancel").click()
    _wait_state(page, "cancelled")
    assert wait_gone(new), "cancel left processes of the job running"
    page.context.close()
