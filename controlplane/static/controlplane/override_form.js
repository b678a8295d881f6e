// On the override form, choosing another key reloads the form for that key, so
// its help, rule, widget (a select for booleans and choices) and current value
// are the new key's, never the previous one's. The reason typed so far is kept.
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  const key = document.querySelector("select#id_key:not([disabled])");
  if (!key) {
    return;
  }
  key.addEventListener("change", function () {
    const query = new URLSearchParams({key: key.value});
    const reason = document.querySelector("#id_reason");
    if (reason && reason.value) {
      query.set("reason", reason.value);
    }
    window.location.search = query.toString();
  });
});
