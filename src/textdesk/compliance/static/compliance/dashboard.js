// Draws the dashboard's charts with Chart.js from the tables the page carries (the same tables as the CSVs).
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("dashboard-data").textContent);
  var words = document.querySelector(".dashboard").dataset;
  if (!window.Chart) { return; }
  var charts = {};
  function rows(table) { return table.slice(1); }
  function draw(id, config) {
    var canvas = document.getElementById(id);
    if (canvas) { charts[id] = new window.Chart(canvas, config); }
  }
  draw("chart-messages", {
    type: "bar",
    data: {
      labels: rows(data.messages).map(function (r) { return r[0]; }),
      datasets: [
        { label: words.sent, data: rows(data.messages).map(function (r) { return r[1]; }) },
        { label: words.received, data: rows(data.messages).map(function (r) { return r[2]; }) }
      ]
    }
  });
  var d = data.delivery[1];
  draw("chart-delivery", {
    type: "doughnut",
    data: { labels: [words.delivered, words.failed, words.pending], datasets: [{ data: [d[0], d[1], d[2]] }] }
  });
  draw("chart-failures", {
    type: "bar",
    options: { indexAxis: "y" },
    data: {
      labels: rows(data.failures).map(function (r) { return r[0]; }),
      datasets: [{ label: words.failures, data: rows(data.failures).map(function (r) { return r[1]; }) }]
    }
  });
  draw("chart-optouts", {
    type: "line",
    data: {
      labels: rows(data.optouts).map(function (r) { return r[0]; }),
      datasets: [{ label: words.optouts, data: rows(data.optouts).map(function (r) { return r[1]; }) }]
    }
  });
  function bars(id, table, columns, labels) {
    draw(id, {
      type: "bar",
      data: {
        labels: rows(table).map(function (r) { return r[0]; }),
        datasets: columns.map(function (column, i) {
          return { label: labels[i], data: rows(table).map(function (r) { return r[column]; }) };
        })
      }
    });
  }
  bars("chart-optouts-by-number", data.optouts_by_number, [1], [words.optouts]);
  bars("chart-sellers", data.sellers, [1, 2, 3], [words.sent, words.delivered, words.failed]);
  bars("chart-teams", data.teams, [1, 2, 3], [words.sent, words.received, words.delivered]);
  window.textdeskCharts = charts;
})();
