// The filing dashboard's charts (Chart.js, served from static/vendor). Each canvas carries its chart as JSON in
// data-chart (the Content-Security-Policy forbids inline script): labels, and datasets of numbers with the link
// of each number. Clicking a bar or a slice opens the filing list behind it; the table under the chart holds the
// same numbers and links.
"use strict";

(() => {
  if (typeof window.Chart === "undefined") {
    return; // the tables still show every number
  }
  // The page names colors by tone (Bootstrap's palette); a chart without tones takes them in this order.
  const TONES = {
    blue: "#0d6efd", red: "#dc3545", yellow: "#ffc107", green: "#198754", cyan: "#0dcaf0", orange: "#fd7e14",
    purple: "#6f42c1", grey: "#adb5bd", dark: "#495057",
  };
  const PALETTE = Object.values(TONES);
  const BAR_HEIGHT = 14; // pixels per bar of a horizontal chart, so that a long ranking stays readable

  function tone(spec, index) {
    return TONES[(spec.tones || [])[index]] || PALETTE[index % PALETTE.length];
  }

  function colors(spec, datasetIndex) {
    // A doughnut colors its slices; bars color their dataset.
    return spec.type === "doughnut" ? spec.labels.map((_, i) => tone(spec, i)) : tone(spec, datasetIndex);
  }

  function aspectRatio(canvas, spec) {
    if (!spec.horizontal) {
      return 2;
    }
    const width = canvas.parentElement.clientWidth || 600;
    const height = Math.max(160, spec.labels.length * spec.datasets.length * BAR_HEIGHT + 80);
    return width / height;
  }

  function linkAt(spec, element) {
    const dataset = spec.datasets[element.datasetIndex];
    return dataset && dataset.links ? dataset.links[element.index] : null;
  }

  document.querySelectorAll("canvas[data-chart]").forEach((canvas) => {
    const spec = JSON.parse(canvas.dataset.chart);
    const bars = spec.type !== "doughnut";
    const valueAxis = { beginAtZero: true, ticks: { precision: 0 } };
    new window.Chart(canvas, {
      type: spec.type,
      data: {
        labels: spec.labels,
        datasets: spec.datasets.map((set, index) => ({
          label: set.label,
          data: set.data,
          backgroundColor: colors(spec, index),
        })),
      },
      options: {
        indexAxis: spec.horizontal ? "y" : "x",
        aspectRatio: aspectRatio(canvas, spec),
        animation: false,
        plugins: { legend: { display: !bars || spec.datasets.length > 1, position: "bottom" } },
        scales: bars ? (spec.horizontal ? { x: valueAxis } : { y: valueAxis }) : {},
        onClick: (_event, elements) => {
          const link = elements.length ? linkAt(spec, elements[0]) : null;
          if (link) {
            window.location.assign(link);
          }
        },
        onHover: (event, elements) => {
          const link = elements.length ? linkAt(spec, elements[0]) : null;
          event.native.target.style.cursor = link ? "pointer" : "default";
        },
      },
    });
  });
})();
