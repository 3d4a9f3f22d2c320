// Shared by every page: the CSRF token, requests that carry it, the
// toast, the question dialog, and times in the browser's own zone.
"use strict";
document.documentElement.classList.add("js");

const pandav = (() => {
  const tokenMeta = document.querySelector('meta[name="pandav-token"]');
  const token = tokenMeta ? tokenMeta.content : "";

  // headers every change carries: the session's CSRF token (Basic-auth
  // users have none and need none) and the admin API's header.
  function changeHeaders(extra) {
    const h = Object.assign({"X-Pandav-CSRF": "1"}, extra || {});
    if (token) h["X-Pandav-Token"] = token;
    return h;
  }

  // api calls the admin API and returns the decoded answer, or throws an
  // Error with the API's own sentence.
  async function api(method, route, body) {
    const init = {method, headers: method === "GET" ? {} : changeHeaders(), credentials: "same-origin"};
    if (body !== undefined) {
      init.body = JSON.stringify(body);
      init.headers["Content-Type"] = "application/json";
    }
    const resp = await fetch("/.pandav/api/v1/" + route, init);
    if (resp.status === 204) return null;
    let data = null;
    try { data = await resp.json(); } catch (e) { data = null; }
    if (!resp.ok) {
      const err = new Error((data && data.error) || ("the server answered " + resp.status));
      err.status = resp.status;
      throw err;
    }
    return data;
  }

  // dav sends a WebDAV request from the page.
  async function dav(method, url, headers) {
    const resp = await fetch(url, {method, headers: changeHeaders(headers), credentials: "same-origin"});
    if (resp.status >= 400) {
      const text = (await resp.text()).trim();
      throw new Error(text || (method + " answered " + resp.status));
    }
    return resp;
  }

  let toastTimer = null;
  function toast(text, bad) {
    const el = document.getElementById("toast");
    el.textContent = text;
    el.className = bad ? "bad" : "";
    el.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => { el.hidden = true; }, bad ? 8000 : 3000);
  }

  // ask shows the page's dialog; it resolves to the input's text (or true
  // without an input) on OK, and to null on Cancel.
  function ask(text, value) {
    const dlg = document.getElementById("ask");
    const input = document.getElementById("ask-input");
    document.getElementById("ask-text").textContent = text;
    const wantInput = value !== undefined;
    input.hidden = !wantInput;
    input.value = wantInput ? value : "";
    return new Promise((resolve) => {
      const ok = document.getElementById("ask-ok");
      const cancel = document.getElementById("ask-cancel");
      function done(v) {
        ok.removeEventListener("click", onOK);
        cancel.removeEventListener("click", onCancel);
        dlg.removeEventListener("cancel", onCancel);
        dlg.close();
        resolve(v);
      }
      function onOK(ev) { ev.preventDefault(); done(wantInput ? input.value : true); }
      function onCancel(ev) { ev.preventDefault(); done(null); }
      ok.addEventListener("click", onOK);
      cancel.addEventListener("click", onCancel);
      dlg.addEventListener("cancel", onCancel);
      dlg.showModal();
      if (wantInput) { input.focus(); input.select(); }
    });
  }

  function localTimes(root) {
    for (const t of (root || document).querySelectorAll("time[datetime]")) {
      const d = new Date(t.getAttribute("datetime"));
      if (!isNaN(d)) t.textContent = d.toLocaleString(undefined, {dateStyle: "medium", timeStyle: "short"});
    }
  }

  function humanSize(n) {
    if (n == null) return "";
    if (n < 1024) return n + " B";
    const units = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    let f = n / 1024, i = 0;
    while (f >= 1024 && i < units.length - 1) { f /= 1024; i++; }
    return (f < 10 ? f.toFixed(1) : f.toFixed(0)) + " " + units[i];
  }

  // el makes an element; text is set as text, never as markup.
  function el(tag, attrs, ...kids) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "class") e.className = v;
      else if (k === "text") e.textContent = v;
      // Through the CSSOM: the CSP refuses style attributes in markup.
      else if (k === "style") e.style.cssText = v;
      else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
      else e.setAttribute(k, v === true ? "" : v);
    }
    for (const k of kids) if (k !== null && k !== undefined) e.append(k);
    return e;
  }

  async function copy(text) {
    try {
      await navigator.clipboard.writeText(text);
      toast("Copied");
      return true;
    } catch (e) {
      toast("Select the text and copy it: the browser did not let the page do it", true);
      return false;
    }
  }

  // encodePath escapes each segment of a WebDAV path.
  function encodePath(p) { return p.split("/").map(encodeURIComponent).join("/"); }

  document.addEventListener("DOMContentLoaded", () => localTimes());
  return {api, dav, toast, ask, localTimes, humanSize, el, copy, encodePath, changeHeaders, token};
})();
