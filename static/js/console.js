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

  // --- Live refresh never loses what is typed, and never leaves a panel stale.
  // A field is unsaved when its value differs from what the server rendered (a successful
  // submission makes its values the new baseline). A panel with unsaved typing that holds the
  // focus is not replaced; it is fetched again once the focus leaves it, and then (like any
  // panel with unsaved values) replaced with the typed values carried over. A panel whose focus
  // is only on a button (Acknowledge, Update status) or an unchanged field is replaced at once.
  var FIELDS = "input, textarea, select";
  function isField(el) {
    return el.matches && el.matches(FIELDS) && ["hidden", "submit", "button", "file", "reset"].indexOf(el.type) < 0;
  }
  function isUnsaved(el) {
    if (!isField(el)) { return false; }
    if (el.type === "checkbox" || el.type === "radio") { return el.checked !== el.defaultChecked; }
    if (el.tagName === "SELECT") {
      var options = Array.prototype.slice.call(el.options);
      if (el.multiple) { return options.some(function (o) { return o.selected !== o.defaultSelected; }); }
      var initial = options.findIndex(function (o) { return o.defaultSelected; });
      return el.selectedIndex !== (initial < 0 ? 0 : initial);
    }
    return el.value !== el.defaultValue;
  }
  function markSaved(form) {
    Array.prototype.forEach.call(form.elements, function (el) {
      if (!isField(el)) { return; }
      if (el.type === "checkbox" || el.type === "radio") { el.defaultChecked = el.checked; }
      else if (el.tagName === "SELECT") { Array.prototype.forEach.call(el.options, function (o) { o.defaultSelected = o.selected; }); }
      else { el.defaultValue = el.value; }
    });
  }
  function fieldKey(el) {
    if (el.id) { return "#" + el.id; }
    var form = el.form || (el.closest && el.closest("form"));
    return (form ? (form.id || form.getAttribute("action") || "") : "") + "|" + el.name + "|" + (el.type === "radio" || el.type === "checkbox" ? el.value : "");
  }
  function unsavedFields(panel) {
    return Array.prototype.filter.call(panel.querySelectorAll(FIELDS), isUnsaved);
  }
  function carryOver(fields, fresh) {
    if (!fields.length) { return; }
    var byKey = {};
    fields.forEach(function (el) { byKey[fieldKey(el)] = el; });
    fresh.querySelectorAll(FIELDS).forEach(function (el) {
      var old = byKey[fieldKey(el)];
      if (!old) { return; }
      if (el.type === "checkbox" || el.type === "radio") { el.checked = old.checked; }
      else if (el.tagName === "SELECT") {
        Array.prototype.forEach.call(el.options, function (o) {
          var same = Array.prototype.find.call(old.options, function (p) { return p.value === o.value; });
          if (same) { o.selected = same.selected; }
        });
      } else { el.value = old.value; }
    });
  }
  var stalePanels = {};
  var refocusId = null;
  document.addEventListener("htmx:oobBeforeSwap", function (evt) {
    var target = evt.detail.target;
    var fresh = evt.detail.fragment;
    if (!target || !target.querySelectorAll) { return; }
    var active = document.activeElement;
    var focused = active && active !== document.body && target.contains(active);
    var unsaved = unsavedFields(target);
    if (focused && unsaved.length) {
      evt.detail.shouldSwap = false;
      if (target.id) { stalePanels[target.id] = true; }
      return;
    }
    if (fresh && fresh.querySelectorAll) { carryOver(unsaved, fresh); }
    if (focused && active.id) { refocusId = active.id; }
  });
  document.addEventListener("htmx:oobAfterSwap", function () {
    if (!refocusId) { return; }
    var el = document.getElementById(refocusId);
    refocusId = null;
    if (el && document.activeElement !== el && !el.disabled) { el.focus({ preventScroll: true }); }
  });
  // The poll alone would answer 304 (the page already has the newest event), so a panel left
  // stale is fetched again, in full, once the focus leaves it.
  document.addEventListener("focusout", function (evt) {
    var panel = null;
    Object.keys(stalePanels).forEach(function (id) {
      var el = document.getElementById(id);
      if (el && el.contains(evt.target)) { panel = el; }
    });
    if (!panel || (evt.relatedTarget && panel.contains(evt.relatedTarget))) { return; }
    delete stalePanels[panel.id];
    var live = document.getElementById("timeline-live");
    if (live) { live.dataset.etag = ""; }
    if (window.htmx) { htmx.trigger(document.body, "incident-changed"); }
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

  // --- One intent, one submission. A form's submit buttons are disabled while its request is
  // in flight (htmx) or while the page navigates away (a plain post); the server's one-time
  // token (console/formtoken.py) catches whatever gets through. A form that stays on the page
  // after a success gets a new token for the next intent.
  function submitButtons(form) {
    return form.querySelectorAll("button[type=submit], button:not([type]), input[type=submit]");
  }
  function setBusy(form, busy) {
    submitButtons(form).forEach(function (b) {
      b.disabled = busy;
      if (busy) { b.setAttribute("aria-busy", "true"); } else { b.removeAttribute("aria-busy"); }
    });
    if (busy) { form.dataset.inFlight = "1"; } else { delete form.dataset.inFlight; }
  }
  function renewToken(form) {
    var input = form.querySelector("input[name=form_token]");
    if (!input) { return; }
    var bytes = new Uint8Array(18);
    crypto.getRandomValues(bytes);
    var token = btoa(String.fromCharCode.apply(null, bytes)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
    input.value = token;
    input.defaultValue = token;  // form.reset() keeps the new one
  }
  function formOf(elt) {
    if (!elt) { return null; }
    return elt.tagName === "FORM" ? elt : (elt.closest ? elt.closest("form") : null);
  }
  function isHtmxForm(form) {
    return form.hasAttribute("hx-post") || form.hasAttribute("hx-put") || form.hasAttribute("hx-delete");
  }
  // Capture phase: runs before htmx's own submit handler, so a second submit is stopped
  // before it becomes a request.
  document.addEventListener("submit", function (evt) {
    var form = evt.target;
    // getAttribute, not form.method: a field named "method" (a contact method) shadows it.
    if (!(form instanceof HTMLFormElement) || (form.getAttribute("method") || "get").toLowerCase() !== "post") { return; }
    if (form.dataset.inFlight) {
      evt.preventDefault();
      evt.stopImmediatePropagation();
      return;
    }
    if (isHtmxForm(form)) { return; }  // htmx:beforeRequest marks it
    form.dataset.inFlight = "1";
    // After this event: the form's data (with the clicked button's value) is taken first.
    setTimeout(function () {
      if (evt.defaultPrevented) { delete form.dataset.inFlight; } else { setBusy(form, true); }
    }, 0);
  }, true);
  document.addEventListener("htmx:beforeRequest", function (evt) {
    var form = formOf(evt.detail.elt);
    if (form && evt.detail.requestConfig && evt.detail.requestConfig.verb !== "get") { setBusy(form, true); }
  });
  document.addEventListener("htmx:afterRequest", function (evt) {
    var form = formOf(evt.detail.elt);
    if (!form || !form.dataset.inFlight) { return; }
    setBusy(form, false);
    if (evt.detail.successful) { renewToken(form); markSaved(form); }
  });
  // A page shown again from the back/forward cache must not keep its buttons disabled.
  window.addEventListener("pageshow", function () {
    document.querySelectorAll("form[data-in-flight]").forEach(function (form) { setBusy(form, false); });
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

  // --- The top bar's menu (narrow screens; phone.css hides the toggle on wide ones).
  document.addEventListener("DOMContentLoaded", function () {
    var toggle = document.querySelector(".topbar .nav-toggle");
    var bar = toggle && toggle.closest(".topbar");
    if (!bar) { return; }
    bar.classList.add("has-menu");
    toggle.hidden = false;
    function setOpen(open) {
      bar.classList.toggle("is-open", open);
      toggle.setAttribute("aria-expanded", open ? "true" : "false");
    }
    toggle.addEventListener("click", function () { setOpen(!bar.classList.contains("is-open")); });
    document.addEventListener("keydown", function (evt) {
      if (evt.key === "Escape" && bar.classList.contains("is-open")) { setOpen(false); toggle.focus(); }
    });
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
