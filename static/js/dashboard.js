// The dashboard's charts: Chart.js (vendored in static/vendor) draws the figures the page received as JSON.
// Each chart has a table beside it with the same figures, for screen readers and for copying.
(function () {
  "use strict";
  const node = document.getElementById("dashboard-data");
  if (!node || typeof window.Chart === "undefined") return;
  const data = JSON.parse(node.textContent);
  const css = getComputedStyle(document.documentElement);
  const colour = (name, fallback) => (css.getPropertyValue(name) || fallback).trim();
  const palette = {
    accent: colour("--accent", "#2457c5"),
    ok: colour("--ok", "#1f7a4d"),
    warn: "#d99a00",
    bad: colour("--bad", "#b42318"),
    idle: "#98a2b3",
  };
  const stateColours = {
    created: palette.idle, running: palette.accent, suspended: palette.warn,
    completed: palette.ok, failed: palette.bad, cancelled: "#7a5af8",
  };
  const slaColours = { on_schedule: palette.ok, at_risk: palette.warn, behind_schedule: palette.bad, none: palette.idle };
  const common = {
    responsive: true,
    maintainAspectRatio: false,
    animation: false,
    plugins: { legend: { display: false } },
  };

  function bar(id, labels, values, colours, options) {
    const canvas = document.getElementById(id);
    if (!canvas) return;
    new window.Chart(canvas, {
      type: "bar",
      data: { labels, datasets: [{ data: values, backgroundColor: colours }] },
      options: { ...common, scales: { y: { beginAtZero: true, ticks: { precision: 0 } } }, ...(options || {}) },
    });
  }

  const states = Object.keys(data.instances_by_state);
  bar("chart-states", states, states.map((s) => data.instances_by_state[s]), states.map((s) => stateColours[s] || palette.idle));

  const sla = Object.keys(data.open_human_phases_by_sla);
  const slaWords = { none: "no SLA" }; // as the table beside it says
  bar("chart-sla", sla.map((s) => slaWords[s] || s.replace(/_/g, " ")), sla.map((s) => data.open_human_phases_by_sla[s]),
    sla.map((s) => slaColours[s] || palette.idle));

  const categories = Object.keys(data.failures_by_category);
  bar("chart-failures", categories, categories.map((c) => data.failures_by_category[c]), palette.bad);

  const hours = data.throughput_per_hour;
  const throughput = document.getElementById("chart-throughput");
  if (throughput) {
    const label = (iso) => iso.slice(5, 16).replace("T", " ");
    new window.Chart(throughput, {
      type: "line",
      data: {
        labels: hours.map((h) => label(h.hour)),
        datasets: [
          { label: "instances completed", data: hours.map((h) => h.instances_completed), borderColor: palette.ok, backgroundColor: palette.ok, tension: 0 },
          { label: "phases completed", data: hours.map((h) => h.phases_completed), borderColor: palette.accent, backgroundColor: palette.accent, tension: 0 },
          { label: "phases failed", data: hours.map((h) => h.phases_failed), borderColor: palette.bad, backgroundColor: palette.bad, tension: 0 },
        ],
      },
      options: { ...common, plugins: { legend: { display: true, position: "bottom" } },
        scales: { y: { beginAtZero: true, ticks: { precision: 0 } } } },
    });
  }

  const durations = document.getElementById("chart-durations");
  if (durations) {
    const rows = data.phase_durations.slice(0, 15);
    new window.Chart(durations, {
      type: "bar",
      data: {
        labels: rows.map((r) => `${r.template} · ${r.phase}`),
        datasets: [
          { label: "p50 (s)", data: rows.map((r) => r.p50), backgroundColor: palette.accent },
          { label: "p95 (s)", data: rows.map((r) => r.p95), backgroundColor: palette.warn },
        ],
      },
      options: { ...common, indexAxis: "y", plugins: { legend: { display: true, position: "bottom" } },
        scales: { x: { beginAtZero: true, title: { display: true, text: "seconds" } } } },
    });
  }
})();
