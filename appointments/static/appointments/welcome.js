// The welcome board's clock, in the site's time zone (the board itself refreshes every minute).
(function () {
  const el = document.getElementById("wb-clock");
  if (!el) return;
  const fmt = new Intl.DateTimeFormat("zh-CN", {
    hour: "2-digit",
    minute: "2-digit",
    hour12: false,
    timeZone: el.dataset.tz || undefined,
  });
  setInterval(() => {
    el.textContent = fmt.format(new Date());
  }, 15000);
})();
