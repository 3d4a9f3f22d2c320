// The files page: sorting and filtering in place, the player, uploads by
// drag and drop or the file input, new folders, renames and deletes,
// each through the WebDAV method itself.
"use strict";
(() => {
  const section = document.querySelector("section.files");
  if (!section) return;
  const folder = section.dataset.folder;
  const tbody = document.querySelector("#listing tbody");
  const rows = () => Array.from(tbody.querySelectorAll("tr.entry"));
  const {dav, toast, ask, el, encodePath} = pandav;

  // Sorting: the header links work without script; here they sort in
  // place and keep the address in step.
  let sortKey = "name", desc = false;
  const sorted = document.querySelector("th[aria-sort] a");
  if (sorted) {
    sortKey = sorted.dataset.sort;
    desc = sorted.parentElement.getAttribute("aria-sort") === "descending";
  }
  function sortRows() {
    const list = rows();
    const cmpName = (a, b) => a.dataset.name.toLowerCase().localeCompare(b.dataset.name.toLowerCase());
    list.sort((a, b) => {
      const da = a.dataset.dir === "true", db = b.dataset.dir === "true";
      if (da !== db) return da ? -1 : 1;
      let c = 0;
      if (sortKey === "size") c = Number(a.dataset.size) - Number(b.dataset.size);
      else if (sortKey === "date") c = Number(a.dataset.mtime) - Number(b.dataset.mtime);
      if (c === 0) c = cmpName(a, b);
      return desc ? -c : c;
    });
    const frag = document.createDocumentFragment();
    list.forEach((r) => frag.append(r));
    tbody.append(frag);
    for (const a of document.querySelectorAll("th a[data-sort]")) {
      const th = a.parentElement;
      if (a.dataset.sort === sortKey) th.setAttribute("aria-sort", desc ? "descending" : "ascending");
      else th.removeAttribute("aria-sort");
    }
    const u = new URL(location.href);
    u.searchParams.set("sort", sortKey);
    if (desc) u.searchParams.set("order", "desc"); else u.searchParams.delete("order");
    history.replaceState(null, "", u);
  }
  for (const a of document.querySelectorAll("th a[data-sort]")) {
    a.addEventListener("click", (ev) => {
      ev.preventDefault();
      if (sortKey === a.dataset.sort) desc = !desc;
      else { sortKey = a.dataset.sort; desc = false; }
      sortRows();
    });
  }

  // Filtering as one types; the form's ?q= does it without script.
  const filter = document.getElementById("filter");
  const count = document.getElementById("count");
  function applyFilter() {
    const needle = filter.value.trim().toLowerCase();
    let shown = 0;
    const list = rows();
    for (const r of list) {
      const hit = !needle || r.dataset.name.toLowerCase().includes(needle);
      r.hidden = !hit;
      if (hit) shown++;
    }
    count.textContent = shown + " of " + list.length;
  }
  filter.addEventListener("input", applyFilter);
  filter.form.addEventListener("submit", (ev) => { ev.preventDefault(); applyFilter(); });
  if (filter.value) applyFilter();

  // The player plays through pandav's own Range-served URL.
  const player = document.getElementById("player");
  const slot = document.getElementById("player-slot");
  const playerError = document.getElementById("player-error");
  function closePlayer() {
    const m = slot.querySelector("video, audio");
    if (m) { m.pause(); m.removeAttribute("src"); m.load(); }
    slot.replaceChildren();
    player.hidden = true;
  }
  document.getElementById("player-close").addEventListener("click", closePlayer);
  tbody.addEventListener("click", (ev) => {
    const a = ev.target.closest("a.play");
    if (!a) return;
    ev.preventDefault();
    closePlayer();
    const name = a.closest("tr").dataset.name;
    const media = el(a.dataset.play, {id: "media", controls: true, preload: "metadata", src: a.getAttribute("href")});
    playerError.hidden = true;
    media.addEventListener("error", () => {
      playerError.textContent = "This browser cannot play " + name + " here; download it instead.";
      playerError.hidden = false;
    });
    document.getElementById("player-name").textContent = name;
    slot.append(media);
    player.hidden = false;
    media.play().catch(() => {});
    player.scrollIntoView({block: "nearest"});
  });

  // WebDAV address.
  const copyButton = document.getElementById("copy-dav");
  copyButton.addEventListener("click", () => pandav.copy(copyButton.dataset.url));

  if (section.dataset.readonly === "true") return;

  // Uploads: one PUT per file, with its own progress bar.
  const uploads = document.getElementById("uploads");
  function upload(files) {
    const list = Array.from(files);
    if (!list.length) return;
    uploads.hidden = false;
    let left = list.length, failed = 0;
    for (const f of list) {
      const bar = el("progress", {max: 100, value: 0});
      const state = el("span", {class: "state", text: "0%"});
      const row = el("div", {class: "upload"}, el("span", {class: "n", text: f.name}), bar, state);
      uploads.append(row);
      const xhr = new XMLHttpRequest();
      xhr.open("PUT", encodePath(folder + f.name));
      for (const [k, v] of Object.entries(pandav.changeHeaders())) xhr.setRequestHeader(k, v);
      xhr.upload.addEventListener("progress", (ev) => {
        if (!ev.lengthComputable) return;
        const pct = Math.round(ev.loaded * 100 / ev.total);
        bar.value = pct;
        state.textContent = pct + "%";
      });
      xhr.addEventListener("loadend", () => {
        if (xhr.status >= 200 && xhr.status < 300) {
          bar.value = 100;
          state.textContent = "done";
          row.classList.add("ok");
        } else {
          failed++;
          state.textContent = "failed: " + (xhr.responseText.trim() || ("status " + xhr.status));
          row.classList.add("bad");
        }
        if (--left === 0) {
          if (failed === 0) location.reload();
          else toast(failed + " of " + list.length + " uploads failed", true);
        }
      });
      xhr.send(f);
    }
  }
  const input = document.getElementById("upload");
  input.addEventListener("change", () => { upload(input.files); input.value = ""; });
  const drop = document.getElementById("dropzone");
  document.addEventListener("dragover", (ev) => {
    if (!ev.dataTransfer || !Array.from(ev.dataTransfer.types).includes("Files")) return;
    ev.preventDefault();
    drop.classList.add("over");
  });
  document.addEventListener("dragleave", (ev) => { if (!ev.relatedTarget) drop.classList.remove("over"); });
  document.addEventListener("drop", (ev) => {
    if (!ev.dataTransfer || !ev.dataTransfer.files.length) return;
    ev.preventDefault();
    drop.classList.remove("over");
    upload(ev.dataTransfer.files);
  });

  document.getElementById("mkdir").addEventListener("click", async () => {
    const name = await ask("Name of the new folder", "");
    if (!name) return;
    try {
      await dav("MKCOL", encodePath(folder + name) + "/");
      location.reload();
    } catch (e) { toast("New folder: " + e.message, true); }
  });

  tbody.addEventListener("click", async (ev) => {
    const b = ev.target.closest("button.rename, button.delete");
    if (!b) return;
    const row = b.closest("tr");
    const name = row.dataset.name, from = row.dataset.path;
    const isDir = row.dataset.dir === "true";
    try {
      if (b.classList.contains("delete")) {
        if (!(await ask("Delete " + name + (isDir ? " and everything in it" : "") + "?"))) return;
        await dav("DELETE", encodePath(from));
        row.remove();
        toast("Deleted " + name);
        return;
      }
      const to = await ask("New name, or a path to move it to", from.replace(/\/$/, ""));
      if (!to || to === from.replace(/\/$/, "")) return;
      const target = to.startsWith("/") ? to : folder + to;
      await dav("MOVE", encodePath(from), {"Destination": location.origin + encodePath(target) + (isDir ? "/" : ""), "Overwrite": "F"});
      location.reload();
    } catch (e) { toast(e.message, true); }
  });
})();
