// The admin center's own script (no inline script: see entrypoints/web/security.py).
(function () {
  "use strict";
  function ready(fn) {
    if (document.readyState !== "loading") { fn(); } else { document.addEventListener("DOMContentLoaded", fn); }
  }
  ready(function () {
    // On a phone the menu starts folded, so the page itself comes first.
    if (window.matchMedia("(max-width: 768px)").matches) {
      document.querySelectorAll("details.navmenu").forEach(function (d) { d.open = false; });
    }
  });
  // A form with data-confirm asks before it is sent (the Remove card button).
  document.addEventListener("submit", function (event) {
    var form = event.target instanceof HTMLFormElement ? event.target : null;
    var question = form ? form.getAttribute("data-confirm") : null;
    if (question && !window.confirm(question)) { event.preventDefault(); }
  });
  // A one-time link's field selects itself, ready to copy.
  document.addEventListener("focusin", function (event) {
    var target = event.target instanceof HTMLInputElement ? event.target : null;
    if (target && target.hasAttribute("data-select-on-focus")) { target.select(); }
  });
  document.addEventListener("click", function (event) {
    var target = event.target instanceof Element ? event.target : null;
    if (!target) { return; }
    if (target.closest("[data-print]")) { event.preventDefault(); window.print(); }
    var back = target.closest("a[data-back]");
    if (back && window.history.length > 1) { event.preventDefault(); window.history.back(); }
  });
  // A form answered with X-CC-Form-Error (a 4xx with the form and its errors) is swapped in
  // like a success, in sections marked data-swap-form-errors.
  document.addEventListener("htmx:beforeSwap", function (event) {
    var detail = event.detail;
    var elt = event.target instanceof Element ? event.target : null;
    if (elt && elt.closest("[data-swap-form-errors]") &&
        detail.xhr && detail.xhr.getResponseHeader("X-CC-Form-Error")) {
      detail.shouldSwap = true;
      detail.isError = false;
    }
  });
})();
