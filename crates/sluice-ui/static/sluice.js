// Sluice UI: the few things a server-rendered page cannot do by itself. Every page
// works without this script; it only makes things live.
"use strict";

// Times in the viewer's timezone (the server writes UTC).
const timeFormat = new Intl.DateTimeFormat(undefined, {
  year: "numeric", month: "2-digit", day: "2-digit",
  hour: "2-digit", minute: "2-digit", second: "2-digit",
});
function localizeTimes(root) {
  for (const el of root.querySelectorAll("time[datetime]")) {
    const d = new Date(el.getAttribute("datetime"));
    if (!isNaN(d)) {
      el.title = el.textContent;
      el.textContent = timeFormat.format(d);
    }
  }
}

// Durations of things still running, counted on.
function formatDuration(s) {
  if (s < 1) return Math.round(s * 1000) + " ms";
  if (s < 60) return s.toFixed(1) + " s";
  const w = Math.round(s), d = Math.floor(w / 86400), h = Math.floor(w / 3600) % 24,
    m = Math.floor(w / 60) % 60, sec = w % 60, two = (n) => String(n).padStart(2, "0");
  if (d > 0) return d + "d " + h + "h";
  if (h > 0) return h + "h " + two(m) + "m";
  return m + "m " + two(sec) + "s";
}
function tickDurations() {
  const now = Date.now() / 1000;
  for (const el of document.querySelectorAll("[data-since]")) {
    el.textContent = formatDuration(now - parseFloat(el.dataset.since));
  }
}

// Follow a run's log: rows, the step timeline and the status arrive as server-sent events.
function followLog() {
  const data = document.getElementById("live-log");
  if (!data) return;
  const { url } = JSON.parse(data.textContent);
  const rows = document.getElementById("log-rows");
  const wrap = rows.closest(".table-wrap");
  const indicator = document.getElementById("live-indicator");
  const source = new EventSource(url);
  source.addEventListener("events", (e) => {
    const atBottom = wrap.scrollHeight - wrap.scrollTop - wrap.clientHeight < 40;
    const before = rows.children.length;
    rows.insertAdjacentHTML("beforeend", e.data);
    for (const row of Array.from(rows.children).slice(before)) localizeTimes(row);
    if (atBottom) wrap.scrollTop = wrap.scrollHeight;
  });
  source.addEventListener("steps", (e) => {
    const timeline = document.getElementById("timeline");
    timeline.innerHTML = e.data;
    localizeTimes(timeline);
  });
  source.addEventListener("status", (e) => {
    document.getElementById("run-status").innerHTML = e.data;
  });
  source.addEventListener("end", () => {
    source.close();
    if (indicator) {
      indicator.classList.add("ended");
      indicator.textContent = "The run has finished.";
    }
    // The page's actions depend on the status: show the finished run's.
    setTimeout(() => window.location.reload(), 800);
  });
  source.onerror = () => {
    if (indicator && source.readyState === EventSource.CLOSED) {
      indicator.textContent = "Live updates stopped; reload the page to resume.";
    }
  };
}

// The launchpad checks the config as it is typed.
function checkConfigAsTyped() {
  const form = document.querySelector("form[data-check]");
  if (!form) return;
  const panel = document.getElementById("config-problems");
  let timer = null, seq = 0;
  const check = async () => {
    const mine = ++seq;
    const body = new URLSearchParams(new FormData(form));
    try {
      const response = await fetch(form.dataset.check, { method: "POST", body });
      if (mine === seq && response.ok) panel.innerHTML = await response.text();
    } catch (_) { /* the server is away: the Launch button still checks */ }
  };
  form.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(check, 300);
  });
}

document.addEventListener("DOMContentLoaded", () => {
  localizeTimes(document);
  for (const el of document.querySelectorAll("input[data-timezone-offset]")) {
    el.value = String(-new Date().getTimezoneOffset());
  }
  for (const el of document.querySelectorAll("select[data-autosubmit]")) {
    el.addEventListener("change", () => el.form.submit());
  }
  if (document.querySelector("[data-since]")) setInterval(tickDurations, 1000);
  followLog();
  checkConfigAsTyped();
  document.addEventListener("keydown", (e) => {
    if (e.key === "Escape") {
      for (const d of document.querySelectorAll("details.confirm[open]")) {
        d.open = false;
        d.querySelector("summary").focus();
      }
    }
  });
});
