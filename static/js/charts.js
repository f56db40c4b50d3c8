// Draws the belief trajectory wherever an element carries data-trajectory-url.
// The page already states the latest value as text and holds a data table, so
// if anything here fails the reader still has the numbers.
(function () {
  "use strict";

  var charts = new Map(); // canvas -> Chart
  // The model lines a reader switched on, per question (the trajectory URL
  // without its range): a range button swaps the whole chart block, ticks
  // included, so the choice is kept here and put back after the swap.
  var chosenModels = new Map(); // question trajectory path -> Set of model names

  var DAY = 24 * 60 * 60 * 1000;

  var COLORS = {
    mean: "#1d4ed8",
    band: "rgba(29, 78, 216, 0.14)",
    resolution: "#b45309",
    models: ["#0f766e", "#9333ea", "#c2410c", "#4d7c0f", "#be123c", "#0369a1"],
  };

  function points(rows, key) {
    return rows.map(function (row) { return { x: row.t, y: row[key] }; });
  }

  // A vertical line at the moment the question resolved.
  var resolutionMarker = {
    id: "resolutionMarker",
    afterDatasetsDraw: function (chart, args, options) {
      if (!options || options.t == null) return;
      var x = chart.scales.x.getPixelForValue(options.t);
      var area = chart.chartArea;
      if (x < area.left || x > area.right) return;
      var ctx = chart.ctx;
      ctx.save();
      ctx.strokeStyle = COLORS.resolution;
      ctx.lineWidth = 2;
      ctx.setLineDash([5, 4]);
      ctx.beginPath();
      ctx.moveTo(x, area.top);
      ctx.lineTo(x, area.bottom);
      ctx.stroke();
      ctx.setLineDash([]);
      ctx.fillStyle = COLORS.resolution;
      ctx.font = "12px system-ui, sans-serif";
      ctx.textAlign = x > area.right - 90 ? "right" : "left";
      ctx.fillText("Resolved " + options.outcome, x + (ctx.textAlign === "right" ? -4 : 4), area.top + 12);
      ctx.restore();
    },
  };

  function questionKey(block) {
    return (block.dataset.trajectoryUrl || "").split("?")[0];
  }

  // A time unit that gives at least three ticks over the data's span. Left to
  // itself the scale may pick months for a month of data and show a single
  // "Dec 2026" on a phone. A span shorter than two days is widened around
  // its points so that even one round gets a readable axis.
  function timeAxis(rows) {
    var times = rows.map(function (row) { return row.t; });
    var first = Math.min.apply(null, times);
    var last = Math.max.apply(null, times);
    var axis = {};
    if (last - first < 2 * DAY) {
      var middle = (first + last) / 2;
      axis.min = middle - DAY;
      axis.max = middle + DAY;
      first = axis.min;
      last = axis.max;
    }
    var span = last - first;
    if (span <= 3 * DAY) axis.unit = "hour";
    else if (span <= 120 * DAY) axis.unit = "day";
    else if (span <= 3 * 365 * DAY) axis.unit = "month";
    else axis.unit = "year";
    return axis;
  }

  function draw(block, canvas, data) {
    var key = questionKey(block);
    var chosen = chosenModels.get(key) || new Set();
    chosenModels.set(key, chosen);
    var datasets = [
      {
        label: "Lowest model",
        data: points(data.rows, "min"),
        borderWidth: 0,
        pointRadius: 0,
        fill: false,
        backgroundColor: COLORS.band,
      },
      {
        label: "Range of the models",
        data: points(data.rows, "max"),
        borderWidth: 0,
        pointRadius: 0,
        fill: "-1", // fills down to the lowest model: the min-max band
        backgroundColor: COLORS.band,
      },
      {
        label: "Panel average",
        data: points(data.rows, "mean"),
        borderColor: COLORS.mean,
        backgroundColor: COLORS.mean,
        borderWidth: 2.5,
        pointRadius: data.rows.length > 60 ? 0 : 2.5,
        tension: 0,
      },
    ];
    data.models.forEach(function (series, i) {
      var color = COLORS.models[i % COLORS.models.length];
      datasets.push({
        label: series.name,
        modelName: series.name,
        data: series.points.map(function (p) { return { x: p[0], y: p[1] }; }),
        borderColor: color,
        backgroundColor: color,
        borderWidth: 1.5,
        pointRadius: 0,
        hidden: !chosen.has(series.name),
      });
    });
    var resolution = data.resolution || {};
    var narrow = canvas.parentNode.clientWidth < 500;
    var axis = data.rows.length ? timeAxis(data.rows) : {};
    var old = Chart.getChart(canvas);
    if (old) old.destroy();
    var chart = new Chart(canvas, {
      type: "line",
      data: { datasets: datasets },
      plugins: [resolutionMarker],
      options: {
        animation: false,
        parsing: false,
        normalized: true,
        responsive: true,
        maintainAspectRatio: false,
        interaction: { mode: "nearest", axis: "x", intersect: false },
        scales: {
          // Epoch milliseconds shown in the reader's own time zone.
          x: {
            type: "time",
            min: axis.min,
            max: axis.max,
            time: {
              unit: axis.unit,
              tooltipFormat: "d MMM yyyy, HH:mm",
              displayFormats: { hour: "d MMM HH:mm", day: "d MMM", month: "MMM yyyy", year: "yyyy" },
            },
            // Fewer labels on a phone so that dates never overlap.
            ticks: { maxRotation: 0, autoSkip: true, autoSkipPadding: 16, maxTicksLimit: narrow ? 4 : 7 },
          },
          y: { min: 0, max: 100, ticks: { stepSize: 25, callback: function (v) { return v + "%"; } } },
        },
        plugins: {
          legend: {
            display: true,
            labels: {
              boxWidth: 12,
              filter: function (item) { return item.datasetIndex >= 1 && !item.hidden; },
            },
          },
          tooltip: {
            filter: function (item) { return item.datasetIndex >= 2; },
            callbacks: {
              label: function (ctx) { return ctx.dataset.label + ": " + ctx.parsed.y.toFixed(1) + "%"; },
            },
          },
          resolutionMarker: { t: resolution.t, outcome: resolution.outcome },
        },
      },
    });
    charts.set(canvas, chart);
    block.classList.add("is-drawn");

    block.querySelectorAll("input[data-model]").forEach(function (box) {
      box.checked = chosen.has(box.dataset.model);
      box.addEventListener("change", function () {
        if (box.checked) chosen.add(box.dataset.model);
        else chosen.delete(box.dataset.model);
        chart.data.datasets.forEach(function (ds, index) {
          if (ds.modelName === box.dataset.model) chart.setDatasetVisibility(index, box.checked);
        });
        chart.update();
      });
    });
  }

  function setup(block) {
    var canvas = block.querySelector("canvas");
    if (!canvas || typeof Chart === "undefined" || block.dataset.chartStarted) return;
    block.dataset.chartStarted = "true";
    fetch(block.dataset.trajectoryUrl, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (response) {
        if (!response.ok) throw new Error("trajectory " + response.status);
        return response.json();
      })
      .then(function (data) { draw(block, canvas, data); })
      .catch(function (error) {
        block.classList.add("chart-failed");
        console.warn("Belief trajectory not drawn:", error);
      });
  }

  // Charts whose canvas an htmx swap removed are destroyed so they stop listening to resizes.
  function forgetDetached() {
    charts.forEach(function (chart, canvas) {
      if (!canvas.isConnected) {
        chart.destroy();
        charts.delete(canvas);
      }
    });
  }

  function init(root) {
    forgetDetached();
    var blocks = [];
    if (root.matches && root.matches("[data-trajectory-url]")) blocks.push(root);
    root.querySelectorAll("[data-trajectory-url]").forEach(function (el) { blocks.push(el); });
    blocks.forEach(setup);
  }

  // This file is deferred like htmx, so htmx exists here. onLoad runs init for
  // the initial page and for every fragment htmx swaps in (the lazy
  // trajectory, a new range).
  if (window.htmx) {
    window.htmx.onLoad(init);
  } else {
    document.addEventListener("DOMContentLoaded", function () { init(document.body); });
  }
})();
