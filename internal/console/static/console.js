// The admin pages: mounts and their logins, cloud download, share links,
// each over the admin API (/.pandav/api/v1/, docs/admin-api.md).
"use strict";
(() => {
  const {api, toast, ask, el, humanSize, copy} = pandav;
  const page = document.body.dataset.page;

  function age(seconds) {
    if (seconds == null) return "";
    if (seconds < 90) return Math.round(seconds) + " s";
    if (seconds < 5400) return Math.round(seconds / 60) + " min";
    if (seconds < 172800) return Math.round(seconds / 3600) + " h";
    return Math.round(seconds / 86400) + " days";
  }
  function when(iso) {
    if (!iso) return "";
    const d = new Date(iso);
    return isNaN(d) ? iso : d.toLocaleString(undefined, {dateStyle: "medium", timeStyle: "short"});
  }
  function kv(label, value, cls) {
    return el("div", {class: "kv " + (cls || "")}, el("span", {class: "k", text: label}), el("span", {class: "v", text: value || "—"}));
  }

  // ---- Mounts ----
  function mountsPage() {
    const cards = document.getElementById("cards");
    let mounts = [], checks = {};
    let loginWatch = null;

    function state(m) {
      const c = checks[m.path];
      if (c) {
        if (c.ok) return ["ok", "healthy"];
        if (c.login === "none") return ["none", "not logged in"];
        if (c.login === "refused") return ["bad", "login refused"];
        return ["bad", "problem"];
      }
      if (!m.login) return ["unknown", "no login of its own"];
      if (m.login.refused) return ["bad", "login refused"];
      if (!m.login.logged_in) return ["none", "not logged in"];
      return ["pending", "logged in"];
    }

    function card(m) {
      const c = checks[m.path] || {};
      const [cls, word] = state(m);
      const head = el("div", {class: "card-head"},
        el("h2", {text: m.path}), el("span", {class: "driver", text: m.driver}),
        el("span", {class: "badge " + cls, "data-state": cls, text: word}));
      const body = el("div", {class: "card-body"});
      body.append(kv("Account", c.account));
      body.append(kv("VIP", c.vip ? c.vip + (c.vip_expires ? " until " + when(c.vip_expires) : "") : ""));
      if (c.space_total) {
        const pct = Math.min(100, Math.round((c.space_used || 0) * 100 / c.space_total));
        body.append(el("div", {class: "kv quota"}, el("span", {class: "k", text: "Space"}),
          el("span", {class: "v"}, el("span", {class: "bar", role: "progressbar", "aria-valuenow": pct, "aria-valuemin": 0, "aria-valuemax": 100},
            el("span", {class: "fill" + (pct > 90 ? " full" : ""), style: "width:" + pct + "%"})),
          el("span", {class: "small", text: humanSize(c.space_used || 0) + " of " + humanSize(c.space_total) + " (" + pct + "%)"}))));
      } else body.append(kv("Space", ""));
      const since = c.token_age_s != null ? c.token_age_s : (m.login && m.login.since ? (Date.now() - new Date(m.login.since)) / 1000 : null);
      body.append(kv("Token age", age(since)));
      if (c.root_listed) body.append(kv("Root", c.root_entries + " entries in " + c.root_ms + " ms"));
      if (m.logins) body.append(kv("Logins", m.logins.map((k) => k.kind + ": " + (k.refused ? "refused" : k.logged_in ? "ok" : "none")).join(", ")));
      if (c.share) body.append(kv("Share", c.share, c.share_ok ? "" : "bad"));
      body.append(kv("Throttled", m.throttled_until ? "yes, until " + when(m.throttled_until) : "no", m.throttled_until ? "bad" : ""));
      const problem = c.problem || (m.login && m.login.refused) || "";
      if (problem) body.append(el("p", {class: "problem", text: problem}));
      if (m.last_error) body.append(el("p", {class: "last-error", text: "Last cloud error (" + when(m.last_error.at) + "): " + m.last_error.message}));
      const foot = el("div", {class: "card-foot"});
      for (const kind of m.login_kinds || []) {
        const label = (m.login_kinds.length > 1 ? "Log in (" + kind + ")" : "Log in");
        foot.append(el("button", {type: "button", class: "login-button", "data-mount": m.path, "data-kind": kind, text: label, onclick: () => startLogin(m, kind)}));
      }
      foot.append(el("a", {href: encodeURI(m.path) + "/", text: "Browse"}));
      return el("article", {class: "card " + cls, "data-mount": m.path}, head, body, foot);
    }

    function draw() { cards.replaceChildren(...mounts.map(card)); }

    async function loadMounts() {
      try {
        mounts = (await api("GET", "mounts")).mounts;
        draw();
      } catch (e) { toast("Mounts: " + e.message, true); }
    }
    async function check() {
      const btn = document.getElementById("check-now");
      btn.disabled = true;
      try {
        const rep = await api("GET", "check");
        checks = {};
        for (const r of rep.mounts) checks[r.mount] = r;
        document.getElementById("checked").textContent = "Checked " + when(rep.checked) + (rep.ok ? ": every mount is fine." : ": some mounts need you.");
        await loadMounts();
      } catch (e) { toast("Check: " + e.message, true); }
      btn.disabled = false;
    }
    document.getElementById("check-now").addEventListener("click", check);

    const dlg = document.getElementById("login-dialog");
    const words = {
      waiting: "Waiting for you to scan the code",
      scanned: "Scanned: confirm the login on your phone",
      confirmed: "Confirmed: storing the login",
      finished: "Logged in: the mount is serving",
      expired: "The code expired: start again",
      cancelled: "The login was refused in the app",
      failed: "The login failed",
    };
    async function startLogin(m, kind) {
      stopWatch();
      const stateEl = document.getElementById("login-state");
      document.getElementById("login-title").textContent = "Log in " + m.path;
      document.getElementById("login-app").textContent = "Scan the code with " + (m.login_app || "the cloud's app") + ".";
      const img = document.getElementById("login-qr");
      img.removeAttribute("src");
      img.hidden = false;
      stateEl.textContent = "Starting…";
      stateEl.dataset.state = "starting";
      dlg.showModal();
      let l;
      try {
        l = await api("POST", "logins", {mount: m.path, kind});
      } catch (e) {
        stateEl.textContent = e.message;
        stateEl.dataset.state = "failed";
        img.hidden = true;
        return;
      }
      img.src = "/.pandav/qr/" + encodeURIComponent(l.id) + ".png";
      document.getElementById("login-text").textContent = "";
      const watch = {id: l.id, stopped: false};
      loginWatch = watch;
      let last = l.state;
      const show = (s, err) => {
        stateEl.textContent = words[s] + (err ? ": " + err : "") + ".";
        stateEl.dataset.state = s;
      };
      show(last);
      while (!watch.stopped) {
        try {
          l = await api("GET", "logins/" + encodeURIComponent(watch.id) + "?wait=25s&last=" + encodeURIComponent(last));
        } catch (e) {
          if (watch.stopped) return;
          stateEl.textContent = e.message;
          return;
        }
        if (watch.stopped) return;
        last = l.state;
        show(l.state, l.error);
        if (["finished", "expired", "cancelled", "failed"].includes(l.state)) {
          img.hidden = true;
          if (l.state === "finished") {
            if (l.account) document.getElementById("login-text").textContent = "Account: " + l.account;
            check();
          }
          return;
        }
      }
    }
    function stopWatch() {
      if (!loginWatch) return;
      const w = loginWatch;
      loginWatch = null;
      w.stopped = true;
      api("DELETE", "logins/" + encodeURIComponent(w.id)).catch(() => {});
    }
    document.getElementById("login-close").addEventListener("click", () => {
      const s = document.getElementById("login-state").dataset.state;
      if (s === "finished" || s === "failed" || s === "expired" || s === "cancelled") loginWatch = null;
      stopWatch();
      dlg.close();
    });

    loadMounts().then(check);
    setInterval(loadMounts, 15000);
  }

  // ---- Cloud download ----
  function downloadsPage() {
    const sel = document.getElementById("dl-mount");
    const tbody = document.querySelector("#tasks tbody");
    let timer = null;
    const mount = () => sel.value;

    async function init() {
      let mounts = [];
      try { mounts = (await api("GET", "mounts")).mounts.filter((m) => m.cloud_download); } catch (e) { toast(e.message, true); }
      if (!mounts.length) { document.getElementById("dl-none").hidden = false; return; }
      for (const m of mounts) sel.append(el("option", {value: m.path, text: m.path}));
      sel.addEventListener("change", () => { document.getElementById("dl-to").placeholder = mount(); refresh(); });
      document.getElementById("dl-to").placeholder = mount();
      refresh();
    }

    async function refresh() {
      clearTimeout(timer);
      if (!mount()) return;
      try {
        const list = await api("GET", "downloads?mount=" + encodeURIComponent(mount()));
        drawTasks(list.tasks || []);
        const q = await api("GET", "downloads/quota?mount=" + encodeURIComponent(mount()));
        document.getElementById("dl-quota").textContent = "Quota: " + q.left + " of " + q.total + " tasks left";
      } catch (e) { toast("Tasks: " + e.message, true); }
      timer = setTimeout(refresh, document.hidden ? 15000 : 2000);
    }

    function drawTasks(tasks) {
      document.getElementById("dl-empty").hidden = tasks.length > 0;
      tbody.replaceChildren(...tasks.map((t) => {
        const pct = Math.round(t.percent || 0);
        const bar = el("span", {class: "bar", role: "progressbar", "aria-valuenow": pct, "aria-valuemin": 0, "aria-valuemax": 100},
          el("span", {class: "fill " + t.status, style: "width:" + pct + "%"}));
        const del = el("button", {type: "button", class: "task-delete", text: "Delete", onclick: async () => {
          if (!(await ask("Delete the task " + (t.name || t.id) + "? What it downloaded stays."))) return;
          try {
            await api("POST", "downloads/remove", {mount: mount(), tasks: [t.id], with_files: false});
            refresh();
          } catch (e) { toast(e.message, true); }
        }});
        return el("tr", {class: "task " + t.status, "data-id": t.id, "data-status": t.status},
          el("td", {class: "name", text: t.name || t.url || t.id}),
          el("td", {class: "status"}, el("span", {class: "badge " + t.status, text: t.status})),
          el("td", {class: "progress-col"}, bar, el("span", {class: "small", text: pct + "%"})),
          el("td", {text: t.size ? humanSize(t.size) : ""}),
          el("td", {}, t.folder ? el("a", {href: encodeURI(t.folder) + "/", text: t.folder}) : ""),
          el("td", {}, del));
      }));
    }

    document.getElementById("dl-add").addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const body = {};
      const to = document.getElementById("dl-to").value.trim() || mount();
      if (to) body.to = to;
      const links = document.getElementById("dl-links").value.split(/\r?\n/).map((s) => s.trim()).filter(Boolean);
      const file = document.getElementById("dl-torrent").files[0];
      if (file) {
        const buf = new Uint8Array(await file.arrayBuffer());
        let bin = "";
        for (let i = 0; i < buf.length; i += 0x8000) bin += String.fromCharCode.apply(null, buf.subarray(i, i + 0x8000));
        body.torrent = btoa(bin);
        body.torrent_name = file.name;
      } else if (links.length) body.links = links;
      else { toast("Give links or a .torrent", true); return; }
      const out = document.getElementById("dl-results");
      try {
        const res = await api("POST", "downloads", body);
        out.replaceChildren(...res.results.map((r) => el("li", {class: r.error ? "bad" : "ok",
          text: (r.link || body.torrent_name) + ": " + (r.error || (r.existed ? "already in the task list" : "added"))})));
        if (res.ok) { document.getElementById("dl-links").value = ""; document.getElementById("dl-torrent").value = ""; }
        refresh();
      } catch (e) { out.replaceChildren(el("li", {class: "bad", text: e.message})); }
    });

    for (const b of document.querySelectorAll("button[data-clear]")) {
      b.addEventListener("click", async () => {
        if (!(await ask("Clear the " + b.dataset.clear + " tasks? Their files stay."))) return;
        try {
          await api("POST", "downloads/clear", {mount: mount(), which: b.dataset.clear, with_files: false});
          refresh();
        } catch (e) { toast(e.message, true); }
      });
    }
    init();
  }

  // ---- Shares ----
  function sharesPage() {
    const tbody = document.querySelector("#shares tbody");
    async function load() {
      try {
        const list = (await api("GET", "shares")).shares || [];
        document.getElementById("sh-empty").hidden = list.length > 0;
        tbody.replaceChildren(...list.map(row));
      } catch (e) { toast("Shares: " + e.message, true); }
    }
    function row(s) {
      const views = [s.views != null ? s.views + " views" : "", s.saves != null ? s.saves + " saves" : ""].filter(Boolean).join(", ");
      return el("tr", {class: "share " + s.state, "data-id": s.id},
        el("td", {class: "name", text: s.name}),
        el("td", {}, /^https?:\/\//.test(s.url) ? el("a", {href: s.url, rel: "noreferrer noopener", target: "_blank", text: s.url}) : s.url),
        el("td", {class: "pwd", text: s.password || "none"}),
        el("td", {text: s.expires ? when(s.expires) : "never"}),
        el("td", {}, el("span", {class: "badge " + s.state, text: s.state})),
        el("td", {text: views}),
        el("td", {class: "ops"},
          el("button", {type: "button", class: "share-copy", text: "Copy", onclick: () => copy(s.text)}),
          el("button", {type: "button", class: "share-edit", text: "Change", onclick: () => edit(s)}),
          el("button", {type: "button", class: "share-cancel", text: "Cancel link", onclick: async () => {
            if (!(await ask("Cancel the link to " + s.name + "? Whoever has it can no longer open it."))) return;
            try {
              await api("DELETE", "shares/" + encodeURIComponent(s.id) + "?mount=" + encodeURIComponent(s.mount));
              toast("Cancelled");
              load();
            } catch (e) { toast(e.message, true); }
          }})));
    }
    function edit(s) {
      const dlg = document.getElementById("sh-edit");
      document.getElementById("sh-edit-id").textContent = s.name;
      const pwd = document.getElementById("sh-edit-password");
      const exp = document.getElementById("sh-edit-expire");
      const desc = document.getElementById("sh-edit-desc");
      pwd.value = s.password || ""; exp.value = ""; desc.value = s.description || "";
      const ok = document.getElementById("sh-edit-ok"), cancel = document.getElementById("sh-edit-cancel");
      const close = () => { ok.onclick = null; cancel.onclick = null; dlg.close(); };
      cancel.onclick = close;
      ok.onclick = async (ev) => {
        ev.preventDefault();
        const body = {mount: s.mount};
        if (pwd.value !== (s.password || "")) body.password = pwd.value;
        if (exp.value.trim()) body.expire = exp.value.trim();
        if (desc.value !== (s.description || "")) body.description = desc.value;
        if (Object.keys(body).length === 1) { close(); return; }
        try {
          await api("PATCH", "shares/" + encodeURIComponent(s.id), body);
          close();
          toast("Changed");
          load();
        } catch (e) { toast(e.message, true); }
      };
      dlg.showModal();
    }
    const random = document.getElementById("sh-random");
    random.addEventListener("change", () => { document.getElementById("sh-password").disabled = random.checked; });
    document.getElementById("sh-create").addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const paths = document.getElementById("sh-paths").value.split(/\r?\n/).map((s) => s.trim()).filter(Boolean);
      if (!paths.length) { toast("Name what to share", true); return; }
      const body = {paths, expire: document.getElementById("sh-expire").value, description: document.getElementById("sh-desc").value};
      if (random.checked) body.random_password = true;
      else body.password = document.getElementById("sh-password").value.trim();
      try {
        const s = await api("POST", "shares", body);
        document.getElementById("sh-text").value = s.text;
        document.getElementById("sh-made").hidden = false;
        load();
      } catch (e) { toast(e.message, true); }
    });
    document.getElementById("sh-copy").addEventListener("click", () => copy(document.getElementById("sh-text").value));
    document.getElementById("sh-reload").addEventListener("click", load);
    load();
  }

  if (page === "mounts") mountsPage();
  else if (page === "downloads") downloadsPage();
  else if (page === "shares") sharesPage();
})();
