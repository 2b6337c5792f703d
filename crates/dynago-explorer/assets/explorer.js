// Draws the explorer's charts from the data in their elements' attributes,
// again after each live section is swapped in. No data is ever read as
// markup.
(function () {
  "use strict";
  function draw(element) {
    if (element.dataset.drawn || typeof uPlot === "undefined") return;
    var xs = JSON.parse(element.dataset.x || "[]");
    var ys = JSON.parse(element.dataset.y || "[]");
    var bars = element.dataset.chart === "bars";
    var width = Math.max(240, Math.min(720, element.parentElement.clientWidth || 480));
    var options = {
      width: width,
      height: 160,
      legend: { show: false },
      series: [
        {},
        {
          label: element.dataset.label || "",
          stroke: "#2b6cb0",
          fill: bars ? "rgba(43,108,176,0.35)" : undefined,
          width: 2,
          paths: bars && uPlot.paths && uPlot.paths.bars ? uPlot.paths.bars({ size: [0.8, 20] }) : undefined,
          points: { show: !bars && xs.length < 3 },
        },
      ],
      axes: [{}, { size: 50 }],
    };
    new uPlot(options, [xs, ys], element);
    element.dataset.drawn = "1";
  }
  function drawAll(root) {
    (root || document).querySelectorAll("[data-chart]").forEach(draw);
  }
  document.addEventListener("DOMContentLoaded", function () { drawAll(document); });
  document.addEventListener("htmx:afterSwap", function (event) { drawAll(event.target.parentElement || document); });
  window.dynagoExplorerCharts = drawAll;
})();
