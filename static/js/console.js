// Small behaviours around htmx. No framework; everything here degrades to plain forms.
(function () {
  "use strict";

  // --- Polling with ETags: send the version we show; the server answers 304 when unchanged.
  document.addEventListener("htmx:configRequest", function (evt) {
    var etag = evt.detail.elt && evt.detail.elt.dataset && evt.detail.elt.dataset.etag;
    if (etag && evt.detail.verb === "get") {
      evt.detail.headers["If-None-Match"] = etag;
    }
  });

  // --- Never replace a panel the user is typing or choosing in.
  document.addEventListener("htmx:oobBeforeSwap", function (evt) {
    var target = evt.detail.target;
    if (target && target.contains(document.activeElement) && document.activeElement !== document.body) {
      evt.detail.shouldSwap = false;
    }
  });

  // --- Drafts: what is typed into a form with data-draft-key survives reloads and failures.
  function draftFields(form) {
    return Array.prototype.filter.call(form.elements, function (el) {
      return el.name && (el.tagName === "TEXTAREA" || (el.tagName === "INPUT" && el.type === "text"));
    });
  }
  function draftKey(form) { return "console-draft:" + form.dataset.draftKey; }
  function saveDraft(form) {
    var values = {};
    draftFields(form).forEach(function (el) { if (el.value) { values[el.name] = el.value; } });
    try {
      if (Object.keys(values).length) { localStorage.setItem(draftKey(form), JSON.stringify(values)); }
      else { localStorage.removeItem(draftKey(form)); }
    } catch (e) { /* storage full or disabled: the form itself still holds the text */ }
  }
  function restoreDraft(form) {
    var raw;
    try { raw = localStorage.getItem(draftKey(form)); } catch (e) { return; }
    if (!raw) { return; }
    var values = JSON.parse(raw);
    draftFields(form).forEach(function (el) {
      if (!el.value && values[el.name]) { el.value = values[el.name]; }
    });
  }
  function clearDraft(form) {
    try { localStorage.removeItem(draftKey(form)); } catch (e) { /* nothing to clear */ }
  }
  function initForms(root) {
    var forms = root.querySelectorAll ? root.querySelectorAll("form[data-draft-key]") : [];
    if (root.matches && root.matches("form[data-draft-key]")) { forms = [root].concat(Array.from(forms)); }
    Array.prototype.forEach.call(forms, function (form) {
      if (form.dataset.draftReady) { return; }
      form.dataset.draftReady = "1";
      restoreDraft(form);
      form.addEventListener("input", function () { saveDraft(form); });
    });
  }
  document.addEventListener("DOMContentLoaded", function () { initForms(document); });
  document.addEventListener("htmx:load", function (evt) { initForms(evt.detail.elt); });

  document.addEventListener("htmx:afterRequest", function (evt) {
    var form = evt.detail.elt;
    if (!form || form.tagName !== "FORM" || !evt.detail.successful) { return; }
    if (form.dataset.draftKey) { clearDraft(form); }
    if (form.hasAttribute("data-reset-on-success")) { form.reset(); }
  });

  // Ctrl+Enter / Cmd+Enter adds the note.
  document.addEventListener("keydown", function (evt) {
    if (evt.key === "Enter" && (evt.ctrlKey || evt.metaKey) && evt.target.tagName === "TEXTAREA" && evt.target.form) {
      evt.preventDefault();
      evt.target.form.requestSubmit();
    }
  });

  // --- Errors are shown, never swallowed.
  function toast(text, kind) {
    var box = document.getElementById("toasts");
    if (!box) { return; }
    var el = document.createElement("div");
    el.className = "toast toast-" + (kind || "error");
    el.setAttribute("role", "alert");
    el.textContent = text;
    box.appendChild(el);
    dismissLater(el, 8000);
  }
  function dismissLater(el, ms) {
    setTimeout(function () {
      el.classList.add("is-leaving");
      setTimeout(function () { el.remove(); }, 500);
    }, ms);
  }
  document.addEventListener("htmx:responseError", function (evt) {
    var xhr = evt.detail.xhr;
    var text = (xhr.getResponseHeader("Content-Type") || "").indexOf("text/plain") === 0 ? xhr.responseText : "";
    toast(text || ("The server answered " + xhr.status + ". Nothing you typed was lost; try again."));
  });
  document.addEventListener("htmx:sendError", function (evt) {
    // Polls fail quietly while the network blips; a failed action must be visible.
    if (evt.detail.requestConfig && evt.detail.requestConfig.verb === "get") { return; }
    toast("Could not reach the console. Your text is kept; try again.");
  });
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("#toasts .toast").forEach(function (el) { dismissLater(el, 8000); });
  });

  // --- Clocks tick in the browser between polls.
  function fmt(seconds) {
    seconds = Math.max(0, Math.floor(seconds));
    if (seconds < 60) { return seconds + "s"; }
    var m = Math.floor(seconds / 60);
    if (m < 60) { return m + "m"; }
    var h = Math.floor(m / 60);
    m = m % 60;
    if (h < 24) { return h + "h " + (m < 10 ? "0" : "") + m + "m"; }
    return Math.floor(h / 24) + "d " + (h % 24) + "h";
  }
  function tick() {
    var now = Date.now();
    document.querySelectorAll("[data-clock-since]").forEach(function (el) {
      el.textContent = fmt((now - Date.parse(el.dataset.clockSince)) / 1000);
    });
    document.querySelectorAll("[data-clock-until]").forEach(function (el) {
      var left = (Date.parse(el.dataset.clockUntil) - now) / 1000;
      el.textContent = left >= 0 ? fmt(left) : fmt(-left) + " over";
      el.closest("strong") && el.closest("strong").classList.toggle("text-breach", left < 0);
    });
  }
  setInterval(tick, 1000);
})();
