// hookd's dashboard and portal script: live refresh of the parts of a page
// marked `data-refresh`, confirmation of destructive forms, and the portal's
// token exchange. No dependencies; nothing is fetched from elsewhere.
(function () {
  "use strict";

  // The portal link carries its token in the fragment (never sent to a
  // server or logged): post it once, as a form, to get the session cookie.
  function portalLogin() {
    var box = document.getElementById("portal-login");
    if (!box) return;
    var m = /(?:^#|&)key=([^&]+)/.exec(location.hash);
    if (!m) {
      var missing = document.getElementById("portal-missing");
      if (missing) missing.hidden = false;
      return;
    }
    history.replaceState(null, "", location.pathname + location.search);
    var form = document.createElement("form");
    form.method = "post";
    form.action = "/portal/session";
    var input = document.createElement("input");
    input.type = "hidden";
    input.name = "key";
    input.value = decodeURIComponent(m[1]);
    form.appendChild(input);
    document.body.appendChild(form);
    form.submit();
  }

  // The theme: ?theme=dark|light on a link sticks for the tab.
  function theme() {
    var t = new URLSearchParams(location.search).get("theme");
    if (t === "dark" || t === "light") sessionStorage.setItem("hookd-theme", t);
    var saved = sessionStorage.getItem("hookd-theme");
    if (saved) document.documentElement.setAttribute("data-theme", saved);
  }

  function refresh(el) {
    var url = el.getAttribute("data-refresh");
    // Keep open <details> open across refreshes.
    var open = Array.prototype.map.call(el.querySelectorAll("details"), function (d) {
      return d.open;
    });
    fetch(url, { credentials: "same-origin", headers: { "x-hookd-fragment": "1" } })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) {
        if (html === null || !el.isConnected) return;
        var t = document.createElement("template");
        t.innerHTML = html.trim();
        var next = t.content.firstElementChild;
        if (!next) return;
        Array.prototype.forEach.call(next.querySelectorAll("details"), function (d, i) {
          if (open[i]) d.open = true;
        });
        el.replaceWith(next);
        watch(next);
      })
      .catch(function () {});
  }

  function watch(el) {
    setTimeout(function () {
      if (document.hidden) return watch(el);
      refresh(el);
    }, 3000);
  }

  document.addEventListener("submit", function (e) {
    var msg = e.target.getAttribute && e.target.getAttribute("data-confirm");
    if (msg && !confirm(msg)) e.preventDefault();
  });

  document.addEventListener("DOMContentLoaded", function () {
    theme();
    portalLogin();
    Array.prototype.forEach.call(document.querySelectorAll("[data-refresh]"), watch);
  });
})();
