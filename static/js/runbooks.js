// Runbook pages: copy buttons for code blocks, collapsing branches, contents that follow the
// reading position. No framework; without JavaScript the page is complete, just static.
(function () {
  "use strict";

  // --- Copy buttons: copy the block's text exactly as the runbook has it.
  function legacyCopy(text) {
    // navigator.clipboard needs a secure context; a plain-HTTP intranet install has none.
    var area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.className = "visually-hidden";
    document.body.appendChild(area);
    area.select();
    var ok = false;
    try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
    document.body.removeChild(area);
    return ok ? Promise.resolve() : Promise.reject(new Error("copy refused"));
  }

  function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text).catch(function () { return legacyCopy(text); });
    }
    return legacyCopy(text);
  }

  function flash(button, label, className) {
    button.textContent = label;
    button.classList.add(className);
    clearTimeout(button._copyTimer);
    button._copyTimer = setTimeout(function () {
      button.textContent = "Copy";
      button.classList.remove(className);
    }, 2000);
  }

  document.addEventListener("click", function (evt) {
    var button = evt.target.closest && evt.target.closest("[data-copy]");
    if (!button) { return; }
    var block = button.closest(".rb-code");
    var pre = block && block.querySelector("pre");
    if (!pre) { return; }
    copyText(pre.textContent).then(
      function () { flash(button, "Copied", "is-copied"); },
      function () { flash(button, "Copy failed: select the text", "is-failed"); }
    );
  });

  // --- Branches: all open by default (find-in-page and print see everything).
  document.addEventListener("click", function (evt) {
    var button = evt.target.closest && evt.target.closest("[data-branches]");
    if (!button) { return; }
    var open = button.getAttribute("data-branches") === "expand";
    document.querySelectorAll(".rb-branch").forEach(function (details) { details.open = open; });
  });

  // A link to a section inside a collapsed branch must show it.
  function revealTarget() {
    if (!location.hash) { return; }
    var target;
    try { target = document.getElementById(decodeURIComponent(location.hash.slice(1))); } catch (e) { return; }
    for (var node = target; node; node = node.parentElement) {
      if (node.tagName === "DETAILS") { node.open = true; }
    }
  }
  window.addEventListener("hashchange", revealTarget);

  // --- Contents: mark the scenario or section being read.
  function followReading(toc) {
    if (!("IntersectionObserver" in window)) { return; }
    var links = {};
    toc.querySelectorAll("a[href^='#']").forEach(function (a) { links[decodeURIComponent(a.hash.slice(1))] = a; });
    var current = null;
    var observer = new IntersectionObserver(function (entries) {
      entries.forEach(function (entry) {
        if (!entry.isIntersecting) { return; }
        var link = links[entry.target.id];
        if (!link || link === current) { return; }
        if (current) { current.removeAttribute("aria-current"); }
        link.setAttribute("aria-current", "true");
        current = link;
      });
    }, { rootMargin: "0px 0px -75% 0px" });
    Object.keys(links).forEach(function (id) {
      var section = document.getElementById(id);
      if (section) { observer.observe(section); }
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll(".rb-js-only").forEach(function (el) { el.hidden = false; });
    revealTarget();
    var toc = document.querySelector(".rb-toc");
    if (toc) { followReading(toc); }
  });

  // "/" jumps to the library's search box, as on most tools with one.
  document.addEventListener("keydown", function (evt) {
    if (evt.key !== "/" || evt.ctrlKey || evt.metaKey || evt.altKey) { return; }
    var tag = (document.activeElement && document.activeElement.tagName) || "";
    if (tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT") { return; }
    var box = document.getElementById("rb-q");
    if (box) { evt.preventDefault(); box.focus(); box.select(); }
  });
})();
