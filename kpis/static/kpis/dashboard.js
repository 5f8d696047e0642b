// Manager dashboard trend charts (Chart.js 4, served locally from static/vendor).
(function () {
  const node = document.getElementById("kpi-trend");
  if (!node || typeof Chart === "undefined") return;
  const trend = JSON.parse(node.textContent);
  const pct = (values) => values.map((v) => (v === null ? null : Math.round(v * 1000) / 10));
  const base = (yPercent) => ({
    responsive: true,
    animation: false,
    spanGaps: true,
    plugins: { legend: { display: true, position: "bottom" } },
    scales: yPercent ? { y: { min: 0, max: 100, ticks: { callback: (v) => v + " %" } } } : { y: { beginAtZero: true } },
  });
  const make = (id, type, datasets, yPercent) => {
    const canvas = document.getElementById(id);
    if (!canvas) return;
    new Chart(canvas, { type, data: { labels: trend.labels, datasets }, options: base(yPercent) });
  };
  const label = (el) => document.getElementById(el)?.closest(".card")?.querySelector("h2")?.textContent || "";
  const L = JSON.parse(document.getElementById("kpi-trend-labels")?.textContent || "{}");
  make("chart-cars", "bar", [
    { label: L.opened || "opened", data: trend.ro_opened, backgroundColor: "#0b5cab" },
    { label: L.delivered || "delivered", data: trend.ro_delivered, backgroundColor: "#7fb0e0" },
  ]);
  make("chart-revenue", "bar", [{ label: label("chart-revenue"), data: trend.revenue, backgroundColor: "#1f7a3a" }]);
  make("chart-ontime", "line", [{ label: label("chart-ontime"), data: pct(trend.on_time_delivery_rate), borderColor: "#b26a00" }], true);
  make("chart-satisfaction", "line", [
    { label: label("chart-satisfaction"), data: pct(trend.satisfaction_rate), borderColor: "#0b5cab" },
    { label: L.target || "target", data: trend.labels.map(() => 98), borderColor: "#b3261e", borderDash: [6, 4], pointRadius: 0 },
  ], true);
})();
