// Draws calibration charts: each [data-calibration-chart] figure names a json_script
// element holding [{x: mean forecast %, y: observed %, n: count}, ...]. The table
// next to the chart has the same figures, so a failure here loses nothing.
(function () {
  "use strict";

  function axis(title) {
    return {
      min: -5,
      max: 105,
      afterBuildTicks: function (scale) {
        var ticks = [];
        for (var v = 0; v <= 100; v += 10) ticks.push({ value: v });
        scale.ticks = ticks;
      },
      // Upright labels, some skipped on a narrow screen, rather than a slanted crowd.
      ticks: { maxRotation: 0, autoSkipPadding: 8 },
      title: { display: true, text: title },
    };
  }

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
            // The biggest dots may still reach past the padded axes: draw them whole.
            clip: false,
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
        // Five points of room beyond 0 and 100 so that dots at the edges (an
        // observed 0% is common) show whole; the ticks stay at 0, 10, ... 100.
        scales: {
          x: axis("Mean forecast (%)"),
          y: axis("Observed frequency (%)"),
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
