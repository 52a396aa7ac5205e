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
    if (!(form instanceof HTMLFormElement) || form.method.toLowerCase() !== "post") { return; }
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
    if (evt.detail.successful) { renewToken(form); }
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
