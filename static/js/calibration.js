// Draws calibration charts: each [data-calibration-chart] figure names a json_script
// element holding [{x: mean forecast %, y: observed %, n: count}, ...]. The table
// next to the chart has the same figures, so a failure here loses nothing.
(function () {
  "use strict";

  function draw(figure) {
    if (typeof window.Chart === "undefined" || figure.dataset.drawn) return;
    var source = document.getElementById(figure.dataset.calibrationChart);
    var canvas = figure.querySelector("canvas");
    if (!source || !canvas) return;
    var points = JSON.parse(source.textContent);
    figure.dataset.drawn = "1";
    figure.classList.add("is-drawn");
    new window.Chart(canvas, {
      type: "scatter",
      data: {
        datasets: [
          {
            label: "Forecasts in the bin",
            data: points,
            pointRadius: points.map(function (p) { return Math.min(4 + Math.sqrt(p.n) * 2, 16); }),
            backgroundColor: "rgba(37, 99, 235, 0.6)",
            borderColor: "rgb(37, 99, 235)",
          },
          {
            label: "Perfect calibration",
            type: "line",
            data: [{ x: 0, y: 0 }, { x: 100, y: 100 }],
            borderColor: "rgb(150, 150, 150)",
            borderDash: [4, 4],
            pointRadius: 0,
          },
        ],
      },
      options: {
        animation: false,
        maintainAspectRatio: false,
        scales: {
          x: { min: 0, max: 100, title: { display: true, text: "Mean forecast (%)" } },
          y: { min: 0, max: 100, title: { display: true, text: "Observed frequency (%)" } },
        },
        plugins: {
          tooltip: {
            callbacks: {
              label: function (ctx) {
                var p = ctx.raw;
                if (p.n === undefined) return "Perfect calibration";
                return "forecast " + p.x.toFixed(1) + "%, happened " + p.y.toFixed(1) + "% (" + p.n + ")";
              },
            },
          },
        },
      },
    });
  }

  function init() {
    document.querySelectorAll("[data-calibration-chart]").forEach(draw);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
