// The incident page's Runbooks panel (#checklists) through the live refresh.
//
// console.js refuses an out-of-band swap of a focused panel with unsaved typing, so nothing
// being typed is lost. For this panel that would be too much: after ticking a step the focus sits on its
// button, and the panel would never show the tick. So here, after console.js has decided
// (listening on window runs after its listener on document):
//  - a focused button or drawer is not typing: the panel swaps and the focus comes back;
//  - a step's note or skip reason being typed is kept as is (hx-preserve of its form) while
//    everything around it swaps;
//  - runs and drawers stay open or closed as the user left them.
(function () {
  "use strict";

  var refocus = null;
  var stale = false;

  function isTyping(el) {
    if (el.tagName === "TEXTAREA" || el.tagName === "SELECT") { return true; }
    return el.tagName === "INPUT" && ["button", "submit", "checkbox", "radio", "hidden"].indexOf(el.type) < 0;
  }
  function byId(root, id) { return root.querySelector("#" + CSS.escape(id)); }

  window.addEventListener("htmx:oobBeforeSwap", function (evt) {
    var target = evt.detail.target;
    var fresh = evt.detail.fragment;
    if (!target || !target.hasAttribute || !target.hasAttribute("data-checklists") || !fresh) { return; }
    target.querySelectorAll("details[id]").forEach(function (old) {
      var copy = byId(fresh, old.id);
      if (copy) { copy.open = old.open; }
    });
    var active = document.activeElement;
    if (!active || active === document.body || !target.contains(active)) { return; }
    if (isTyping(active)) {
      var form = active.closest("form[id]");
      var copy = form && byId(fresh, form.id);
      if (!copy) {
        // The form is gone from the new version (the step was skipped meanwhile): the typed
        // text wins; the panel refreshes once the focus leaves it.
        stale = true;
        return;
      }
      copy.setAttribute("hx-preserve", "true");
    }
    evt.detail.shouldSwap = true;
    if (active.id) {
      refocus = { id: active.id, start: active.selectionStart, end: active.selectionEnd };
    }
  });

  window.addEventListener("htmx:oobAfterSwap", function () {
    if (!refocus) { return; }
    var el = document.getElementById(refocus.id);
    if (el && document.activeElement !== el) {
      el.focus({ preventScroll: true });
      if (refocus.start != null && el.setSelectionRange) { el.setSelectionRange(refocus.start, refocus.end); }
    }
    refocus = null;
  });

  // A refresh skipped while typing is fetched again when the focus leaves the panel: the poll
  // alone would answer 304, since the page already shows the newest event.
  document.addEventListener("focusout", function (evt) {
    var panel = evt.target.closest && evt.target.closest("[data-checklists]");
    if (!stale || !panel || (evt.relatedTarget && panel.contains(evt.relatedTarget))) { return; }
    stale = false;
    var live = document.getElementById("timeline-live");
    if (live) { live.dataset.etag = ""; }
    htmx.trigger(document.body, "incident-changed");
  });

  // A step's form succeeded: close its drawer and put the focus back on the step's tick, so
  // the coming refresh swaps the panel and keyboard users stay on the step.
  document.addEventListener("htmx:afterRequest", function (evt) {
    var form = evt.detail.elt;
    if (!evt.detail.successful || !form || form.tagName !== "FORM" || !form.closest("[data-checklists]")) { return; }
    var drawer = form.closest("details.cl-tool");
    if (drawer) { drawer.open = false; }
    var step = form.closest(".cl-step");
    var tick = step && step.querySelector("button.cl-tick");
    if (tick && form.contains(document.activeElement) && document.activeElement !== tick) {
      tick.focus({ preventScroll: true });
    }
  });
})();
