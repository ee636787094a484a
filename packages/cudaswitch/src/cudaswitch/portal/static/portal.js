// Live updates for the portal's pages. Plain JavaScript, no libraries, nothing fetched from
// elsewhere: the pages work without it, and it only refreshes what the server rendered.
"use strict";

const FINAL = ["succeeded", "failed", "cancelled"];

function when(t) {
  if (!t) return "";
  return new Date(t * 1000).toISOString().replace("T", " ").slice(0, 19) + " UTC";
}

function setState(el, job) {
  el.textContent = job.state;
  el.className = "state state-" + job.state;
}

function setProgress(el, job) {
  if (job.progress === null || job.progress === undefined) {
    el.removeAttribute("value");
  } else {
    el.value = job.progress;
    el.textContent = Math.round(job.progress * 100) + "%";
  }
}

async function fetchJson(url) {
  const r = await fetch(url, {credentials: "same-origin", headers: {"Accept": "application/json"}});
  if (!r.ok) throw new Error(url + ": " + r.status);
  return r.json();
}

function liveJob(section) {
  const url = section.dataset.live;
  const field = (name) => section.querySelector('[data-field="' + name + '"]');
  let timer = null;
  async function tick() {
    let job;
    try { job = await fetchJson(url); } catch (e) { timer = setTimeout(tick, 3000); return; }
    setState(field("state"), job);
    setProgress(field("progress"), job);
    field("started_at").textContent = when(job.started_at);
    field("finished_at").textContent = when(job.finished_at);
    field("reason").textContent = job.reason || "";
    const log = field("log");
    const atEnd = log.scrollTop + log.clientHeight >= log.scrollHeight - 4;
    if (log.textContent !== job.log) {
      log.textContent = job.log;
      if (atEnd) log.scrollTop = log.scrollHeight;
    }
    const result = field("result");
    if (job.result) {
      result.hidden = false;
      const media = document.getElementById("preview");
      if (media && !media.getAttribute("src")) media.src = media.dataset.src;
    } else {
      result.hidden = true;
    }
    section.querySelectorAll("form[data-when]").forEach((f) => {
      f.hidden = !f.dataset.when.split(" ").includes(job.state);
    });
    section.dataset.state = job.state;
    if (!FINAL.includes(job.state)) timer = setTimeout(tick, 1000);
  }
  tick();
}

function liveTable(table) {
  async function tick() {
    let data;
    try { data = await fetchJson(table.dataset.live); } catch (e) { setTimeout(tick, 5000); return; }
    for (const job of data.jobs) {
      const row = table.querySelector('tr[data-job="' + job.id + '"]');
      if (!row) continue;
      setState(row.querySelector('[data-field="state"]'), job);
      setProgress(row.querySelector('[data-field="progress"]'), job);
    }
    setTimeout(tick, 2000);
  }
  setTimeout(tick, 2000);
}

function providerChoices(form) {
  const slot = form.querySelector("#slot");
  if (!slot) return;
  function update() {
    const opt = slot.options[slot.selectedIndex];
    const ok = opt ? opt.dataset.providers.split(" ") : ["cpu"];
    form.querySelectorAll('input[name="provider"]').forEach((radio) => {
      radio.disabled = !ok.includes(radio.value);
      if (radio.disabled && radio.checked) form.querySelector("#provider-cpu").checked = true;
      const why = form.querySelector('.why-not[data-provider="' + radio.value + '"]');
      if (why) why.textContent = radio.disabled ? "Not available in this runtime here." : "";
    });
  }
  slot.addEventListener("change", update);
  update();
}

document.addEventListener("DOMContentLoaded", () => {
  const job = document.getElementById("job");
  if (job) liveJob(job);
  const table = document.getElementById("jobs");
  if (table) liveTable(table);
  const form = document.getElementById("new-job");
  if (form) providerChoices(form);
});
