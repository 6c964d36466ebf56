// The reconciliation pages' behaviour (the Content-Security-Policy forbids inline script):
// - a queued or running run's page reloads itself until the run is done (data-refresh-after: seconds);
// - the run's discrepancies by carrier as a stacked bar chart (Chart.js, from static/vendor), from the JSON data
//   block #carrier-chart-data; each segment opens the findings it counts (the table beside it has the same links);
// - the start form shows the carrier or the block field only for the scope that needs it.
"use strict";

(() => {
  const waiting = document.querySelector("[data-refresh-after]");
  if (waiting) {
    const seconds = Number(waiting.dataset.refreshAfter) || 3;
    window.setTimeout(() => window.location.reload(), seconds * 1000);
  }

  const form = document.querySelector("[data-scope-form]");
  const scope = form ? form.querySelector("select[name=scope]") : null;
  if (scope) {
    const follow = () => {
      form.querySelectorAll("[data-scope]").forEach((part) => {
        part.hidden = part.dataset.scope !== scope.value;
      });
    };
    scope.addEventListener("change", follow);
    follow();
  }

  const data = document.getElementById("carrier-chart-data");
  const canvas = document.getElementById("carrier-chart");
  if (!data || !canvas || typeof window.Chart === "undefined") {
    return; // the table under the chart still shows every number
  }
  const TONES = {
    orange: "#fd7e14", purple: "#6f42c1", red: "#dc3545", yellow: "#ffc107", cyan: "#0dcaf0", dark: "#495057",
  };
  const BAR_HEIGHT = 28; // pixels per carrier: a long list of carriers stays readable
  const spec = JSON.parse(data.textContent);
  canvas.parentElement.style.position = "relative";
  canvas.parentElement.style.height = `${Math.max(160, spec.labels.length * BAR_HEIGHT + 90)}px`;

  const linkAt = (element) => {
    const dataset = spec.datasets[element.datasetIndex];
    return dataset ? dataset.links[element.index] : null;
  };
  new window.Chart(canvas, {
    type: "bar",
    data: {
      labels: spec.labels,
      datasets: spec.datasets.map((set) => ({
        label: set.label,
        data: set.data,
        backgroundColor: TONES[set.tone] || "#adb5bd",
      })),
    },
    options: {
      indexAxis: "y",
      maintainAspectRatio: false,
      animation: false,
      plugins: { legend: { position: "bottom" } },
      scales: { x: { stacked: true, beginAtZero: true, ticks: { precision: 0 } }, y: { stacked: true } },
      onClick: (_event, elements) => {
        const link = elements.length ? linkAt(elements[0]) : null;
        if (link) {
          window.location.assign(link);
        }
      },
      onHover: (event, elements) => {
        const link = elements.length ? linkAt(elements[0]) : null;
        event.native.target.style.cursor = link ? "pointer" : "default";
      },
    },
  });
})();
