// Rewrite every <time class="local-time"> (rendered in UTC by
// controlplane.units.local_time) in the browser's own time zone, zone shown.
"use strict";
(function () {
  const styles = {
    short: {month: "short", day: "2-digit", hour: "2-digit", minute: "2-digit",
            hourCycle: "h23", timeZoneName: "short"},
    full: {year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit",
           minute: "2-digit", second: "2-digit", hourCycle: "h23",
           timeZoneName: "short"},
  };
  function localize() {
    for (const element of document.querySelectorAll("time.local-time")) {
      const moment = new Date(element.getAttribute("datetime"));
      if (Number.isNaN(moment.getTime())) {
        continue;
      }
      const style = styles[element.dataset.style] || styles.short;
      element.textContent = new Intl.DateTimeFormat(undefined, style).format(moment);
      element.classList.add("localized");
    }
  }
  document.addEventListener("DOMContentLoaded", localize);
})();
