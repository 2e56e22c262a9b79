// facegate console: plain JavaScript over the /v1 API (no build step, nothing fetched from the
// internet). Credentials stay in this tab's sessionStorage and go out as the app_id /
// app_secret headers (admin pages: admin_secret), exactly as any API client sends them.
"use strict";

const store = window.sessionStorage;
const $ = (sel, root = document) => root.querySelector(sel);
const page = () => $("#page");

function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (v !== undefined && v !== null && v !== false) el.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

function toast(text) {
  const t = $("#toast");
  t.textContent = text;
  t.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { t.hidden = true; }, 5000);
}

// --- the API -----------------------------------------------------------------------------
function creds() {
  return { app_id: store.getItem("app_id") || "", app_secret: store.getItem("app_secret") || "" };
}

class ApiError extends Error {
  constructor(status, body) {
    const error = (body && body.error) || {};
    super(`${status} ${error.code || ""}: ${(body && body.detail) || error.message || "error"}`);
    this.status = status;
    this.code = error.code || "";
    this.body = body;
  }
}

async function api(method, path, body, { admin = false, raw = false } = {}) {
  const headers = admin ? { admin_secret: store.getItem("admin_secret") || "" } : creds();
  let payload;
  if (body instanceof FormData) payload = body;
  else if (body !== undefined) {
    payload = JSON.stringify(body);
    headers["content-type"] = "application/json";
  }
  const response = await fetch(path, { method, headers, body: payload });
  if (raw) {
    if (!response.ok) throw new ApiError(response.status, null);
    return response;
  }
  const data = await response.json().catch(() => null);
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}

function guard(fn) {
  return async (...args) => {
    try {
      return await fn(...args);
    } catch (err) {
      toast(err.message);
      if (err.status === 401 && !location.hash.startsWith("#/apps")) location.hash = "#/signin";
      throw err;
    }
  };
}

// Thumbnails need the credentials, so they are fetched and shown as blob URLs.
async function thumb(group, faceId, has = true) {
  const img = h("img", { class: "thumb", alt: `face ${faceId}`, "data-face": faceId });
  if (!has) return img;
  try {
    const response = await api("GET", `/v1/groups/${enc(group)}/faces/${faceId}/thumbnail`,
                               undefined, { raw: true });
    img.src = URL.createObjectURL(await response.blob());
    img.classList.add("loaded");
  } catch (err) { img.title = "no thumbnail"; }
  return img;
}

const enc = encodeURIComponent;

async function groupNames() {
  const data = await api("GET", "/v1/groups?size=1000");
  return data.groups.map((g) => g.name);
}

async function groupSelect(id, selected) {
  const names = await groupNames();
  return h("select", { id }, names.map((n) => h("option", { value: n, selected: n === selected }, n)));
}

function fileToBase64(file) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(String(reader.result).split(",", 2)[1]);
    reader.onerror = () => reject(reader.error);
    reader.readAsDataURL(file);
  });
}

function loadImage(file) {
  return new Promise((resolve, reject) => {
    const img = new Image();
    img.onload = () => resolve(img);
    img.onerror = reject;
    img.src = URL.createObjectURL(file);
  });
}

// --- pages -------------------------------------------------------------------------------
const pages = {};

pages.signin = async () => {
  const form = h("form", { class: "card", id: "signin-form" },
    h("h1", {}, "Sign in with an app's credentials"),
    h("p", { class: "muted" }, "The API key and secret of an app (`make run` prints the development app's; ",
      "an admin makes others on the Apps page or with `facegate app create`)."),
    h("div", { class: "row" },
      h("input", { id: "app-id", placeholder: "app_id (API key)", size: 30, required: true }),
      h("input", { id: "app-secret", placeholder: "app_secret", type: "password", size: 40, required: true }),
      h("button", { id: "signin", type: "submit" }, "Sign in")),
    h("p", { id: "signin-error", class: "error" }));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    store.setItem("app_id", $("#app-id").value.trim());
    store.setItem("app_secret", $("#app-secret").value.trim());
    try {
      await api("GET", "/v1/groups?size=1");
      location.hash = "#/groups";
    } catch (err) {
      store.removeItem("app_secret");
      $("#signin-error").textContent = err.message;
    }
  });
  page().replaceChildren(form);
};

pages.groups = guard(async () => {
  const data = await api("GET", "/v1/groups?size=1000");
  const create = h("form", { class: "row card", id: "create-group" },
    h("input", { id: "group-name", placeholder: "new group name (letters, digits, _)", required: true, size: 34 }),
    h("input", { id: "group-tag", placeholder: "tag (optional)" }),
    h("button", { type: "submit", id: "create-group-button" }, "Create group"));
  create.addEventListener("submit", guard(async (ev) => {
    ev.preventDefault();
    await api("POST", "/v1/groups", { name: $("#group-name").value.trim(), tag: $("#group-tag").value });
    render();
  }));
  const rows = data.groups.map((g) => h("tr", { "data-group": g.name },
    h("td", {}, h("a", { href: `#/group/${enc(g.name)}` }, g.name)),
    h("td", {}, g.tag), h("td", { class: "count" }, g.faces), h("td", {}, g.indexed ? "HNSW" : "exact scan"),
    h("td", {}, h("button", { class: "danger", onclick: guard(async () => {
      if (!confirm(`Delete group ${g.name} and its ${g.faces} faces?`)) return;
      await api("DELETE", `/v1/groups/${enc(g.name)}`);
      render();
    }) }, "Delete"))));
  page().replaceChildren(h("h1", {}, `Groups (${data.total})`), create,
    h("table", { id: "groups" }, h("tr", {}, ["name", "tag", "faces", "search", ""].map((t) => h("th", {}, t))), rows));
});

const FACES_PER_PAGE = 200;

pages.group = guard(async (name) => {
  const query = new URLSearchParams(location.hash.split("?")[1] || "");
  const tag = query.get("tag") || "";
  const offset = Number(query.get("offset")) || 0;
  const data = await api("GET", `/v1/groups/${enc(name)}/faces?limit=${FACES_PER_PAGE}&offset=${offset}&tag=${enc(tag)}`);
  const at = (start) => `#/group/${enc(name)}?tag=${enc(tag)}&offset=${Math.max(0, start)}`;
  const pager = h("div", { class: "row", id: "pager" },
    offset > 0 ? h("a", { href: at(offset - FACES_PER_PAGE) }, "previous") : null,
    h("span", { class: "muted" }, `${data.total ? offset + 1 : 0}-${offset + data.faces.length} of ${data.total}`),
    offset + data.faces.length < data.total ? h("a", { href: at(offset + FACES_PER_PAGE), id: "next-page" }, "next") : null);
  const search = h("form", { class: "row" },
    h("input", { id: "tag-search", placeholder: "search by tag", value: tag }),
    h("button", { type: "submit", class: "secondary" }, "Search"));
  search.addEventListener("submit", (ev) => {
    ev.preventDefault();
    location.hash = `#/group/${enc(name)}?tag=${enc($("#tag-search").value)}`;
  });
  const enrol = h("form", { class: "row card", id: "enrol-form" },
    h("strong", {}, "Enrol a photo"),
    h("input", { type: "file", id: "enrol-file", accept: "image/*", required: true }),
    h("input", { id: "enrol-tag", placeholder: "tag (e.g. the person's name)" }),
    h("button", { type: "submit", id: "enrol-button" }, "Enrol"),
    h("span", { id: "enrol-result", class: "muted" }));
  enrol.addEventListener("submit", guard(async (ev) => {
    ev.preventDefault();
    const form = new FormData();
    form.append("image", $("#enrol-file").files[0]);
    form.append("tag", $("#enrol-tag").value);
    $("#enrol-result").textContent = "enrolling...";
    try {
      const made = await api("POST", `/v1/groups/${enc(name)}/faces`, form);
      toast(`enrolled face ${made.face_id}`);
      render();
    } catch (err) { $("#enrol-result").textContent = err.message; throw err; }
  }));
  const cards = await Promise.all(data.faces.map(async (f) => h("div", { class: "face", "data-face": f.face_id },
    await thumb(name, f.face_id, f.thumbnail),
    h("div", {}, f.tag || h("span", { class: "muted" }, "(no tag)")),
    h("div", { class: "muted" }, `#${f.face_id}` + (f.uid ? ` · user ${f.uid}` : "") +
      (f.quality !== null ? ` · q ${f.quality.toFixed(2)}` : "")),
    h("button", { class: "danger", onclick: guard(async () => {
      await api("DELETE", `/v1/groups/${enc(name)}/faces/${f.face_id}`);
      render();
    }) }, "Delete"))));
  page().replaceChildren(h("h1", {}, `Group ${name}: ${data.total} face(s)` + (tag ? ` tagged "${tag}"` : "")),
    enrol, search, h("h2", {}, "Faces"), pager, h("div", { class: "grid", id: "faces" }, cards));
});

pages.users = guard(async () => {
  const select = await groupSelect("users-group", store.getItem("users_group"));
  const table = h("table", { id: "users" });
  async function load() {
    store.setItem("users_group", select.value);
    if (!select.value) return;
    const data = await api("GET", `/v1/groups/${enc(select.value)}/users?limit=500`);
    table.replaceChildren(h("tr", {}, h("th", {}, "uid"), h("th", {}, "user_info"), h("th", {}, "")),
      ...data.users.map((u) => h("tr", {}, h("td", {}, u.uid), h("td", {}, u.user_info),
        h("td", {}, h("button", { class: "danger", onclick: guard(async () => {
          await api("DELETE", `/v1/users/${enc(u.uid)}?group=${enc(select.value)}`);
          load();
        }) }, "Remove from group")))));
  }
  select.addEventListener("change", guard(load));
  page().replaceChildren(h("h1", {}, "Baidu users"),
    h("p", { class: "muted" }, "Users registered through Baidu's faceset/user/add, by group."),
    h("div", { class: "row" }, "Group ", select), h("h2", {}, "Users"), table);
  await load();
});

const CLUSTERS_PER_PAGE = 50;
const THUMBS_PER_CLUSTER = 12;

// People: a group's faces clustered by person (POST/GET /v1/groups/{g}/clusters), largest
// cluster first, each a row of thumbnails with its corrections (clusterCard), and the group's
// persons below (personList).
pages.people = guard(async () => {
  const select = await groupSelect("people-group", store.getItem("people_group"));
  const threshold = h("input", { id: "people-threshold", type: "number", step: "0.01", min: "0.5",
    max: "0.99", placeholder: "threshold (default 0.85)" });
  const status = h("span", { id: "people-status", class: "muted" });
  const list = h("div", { id: "clusters" });
  const people = h("div", { id: "persons" });
  const query = new URLSearchParams(location.hash.split("?")[1] || "");
  const offset = Number(query.get("offset")) || 0;
  async function load() {
    store.setItem("people_group", select.value);
    list.replaceChildren();
    people.replaceChildren();
    if (!select.value) return;
    const group = select.value;
    let data;
    try {
      data = await api("GET", `/v1/groups/${enc(group)}/clusters?limit=${CLUSTERS_PER_PAGE}&offset=${offset}`);
    } catch (err) {
      if (err.code !== "CLUSTER_NOT_FOUND") throw err;
      status.textContent = "not clustered yet: press Cluster";
      await personList(group, people, load);
      return;
    }
    status.textContent = `${data.total} people (clusters) among ${data.faces} faces, ` +
      `threshold ${data.threshold}, clustered ${new Date(data.clustered * 1000).toLocaleString()}`;
    const at = (start) => `#/people?offset=${Math.max(0, start)}`;
    const rows = await Promise.all(data.clusters.map((c) => clusterCard(group, c, data.clusters, load)));
    list.replaceChildren(...rows, h("div", { class: "row" },
      offset > 0 ? h("a", { href: at(offset - CLUSTERS_PER_PAGE) }, "previous") : null,
      offset + data.clusters.length < data.total ? h("a", { href: at(offset + CLUSTERS_PER_PAGE), id: "next-clusters" }, "next") : null));
    await personList(group, people, load);
  }
  const start = h("form", { class: "row card", id: "cluster-form" }, "Group ", select, threshold,
    h("button", { type: "submit", id: "cluster-button" }, "Cluster"), status);
  start.addEventListener("submit", guard(async (ev) => {
    ev.preventDefault();
    const body = threshold.value ? { threshold: Number(threshold.value) } : {};
    let job = await api("POST", `/v1/groups/${enc(select.value)}/clusters`, body);
    while (job.status === "queued" || job.status === "running") {
      status.textContent = `clustering: ${job.progress.done}/${job.progress.total} faces`;
      await new Promise((r) => setTimeout(r, 1000));
      job = await api("GET", `/v1/jobs/${job.job_id}`);
    }
    if (job.status === "failed") throw new Error(job.error ? job.error.message : "clustering failed");
    await load();
  }));
  select.addEventListener("change", guard(load));
  page().replaceChildren(h("h1", {}, "People"),
    h("p", { class: "muted" }, "A group's faces clustered by person, nobody labelled. Confirm a cluster as a person " +
      "to keep it; click faces to select them, then split them off or mark them \"not this person\". " +
      "Persons and their marks survive re-clustering; merges and splits of clusters last until the next one."),
    start, list, h("h2", {}, "Persons"), people);
  await load();
});

// A cluster of the People page, with its corrections: name (tags), confirm as a person,
// merge into another cluster, split selected faces off, "not this person".
async function clusterCard(group, c, clusters, reload) {
  const base = `/v1/groups/${enc(group)}/clusters/${c.cluster_id}`;
  const picked = new Set();
  const name = h("input", { class: "cluster-name", placeholder: "name (tags its faces)", value: c.name || "" });
  const form = h("form", { class: "row" }, name, h("button", { type: "submit", class: "secondary" }, "Name"));
  form.addEventListener("submit", guard(async (ev) => {
    ev.preventDefault();
    const done = await api("POST", `${base}/name`, { tag: name.value });
    toast(`${done.faces} face(s) tagged "${done.tag}"`);
    reload();
  }));
  const who = h("input", { class: "person-name", placeholder: "person's name", value: c.person || c.name || "" });
  const confirm = h("button", { type: "button", class: "confirm-button" },
    c.person_id ? "Add its faces to the person" : "Confirm as person");
  confirm.addEventListener("click", guard(async () => {
    const body = c.person_id ? { person_id: c.person_id } : { name: who.value };
    const done = await api("POST", `${base}/confirm`, body);
    toast(`${done.joined} face(s) now ${done.name}` + (done.left.length ? `; ${done.left.length} left as they were` : ""));
    reload();
  }));
  const split = h("button", { type: "button", class: "secondary split-button" }, "Split selected off");
  split.addEventListener("click", guard(async () => {
    if (!picked.size) { toast("click faces to select them first"); return; }
    const done = await api("POST", `${base}/split`, { face_ids: [...picked] });
    toast(`${picked.size} face(s) moved to cluster ${done.cluster_id}`);
    reload();
  }));
  const notThem = c.person_id ? h("button", { type: "button", class: "danger not-button" }, "Not this person") : null;
  if (notThem) notThem.addEventListener("click", guard(async () => {
    if (!picked.size) { toast("click faces to select them first"); return; }
    for (const face of picked) {
      await api("POST", `/v1/groups/${enc(group)}/people/${enc(c.person_id)}/not`, { face_id: face });
    }
    toast(`${picked.size} face(s) marked not ${c.person}`);
    reload();
  }));
  const merge = h("select", { class: "merge-into" }, h("option", { value: "" }, "merge into…"),
    clusters.filter((o) => o.cluster_id !== c.cluster_id).map((o) =>
      h("option", { value: o.cluster_id }, o.person || o.name || `cluster ${o.cluster_id}`)));
  merge.addEventListener("change", guard(async () => {
    if (merge.value === "") return;
    await api("POST", `/v1/groups/${enc(group)}/clusters/${merge.value}/merge`, { other: c.cluster_id });
    toast(`cluster ${c.cluster_id} merged into ${merge.value}`);
    reload();
  }));
  const shown = [c.representative, ...c.faces.filter((f) => f !== c.representative)].slice(0, THUMBS_PER_CLUSTER);
  const thumbs = await Promise.all(shown.map(async (f) => {
    const img = await thumb(group, f);
    img.classList.add("pick");
    img.title = `face ${f}: click to select`;
    img.addEventListener("click", () => {
      if (picked.delete(f)) img.classList.remove("picked");
      else { picked.add(f); img.classList.add("picked"); }
    });
    return img;
  }));
  return h("div", { class: "card cluster", "data-cluster": c.cluster_id, "data-person": c.person_id || "" },
    h("div", { class: "row" }, h("strong", {}, c.person || c.name || `cluster ${c.cluster_id}`),
      c.person_id ? h("span", { class: "good person-badge" }, "person") : null,
      h("span", { class: "muted" }, `${c.size} face(s)`), form),
    h("div", { class: "row thumbs" }, thumbs,
      c.size > shown.length ? h("span", { class: "muted" }, `+${c.size - shown.length} more`) : null),
    h("div", { class: "row" }, c.person_id ? null : who, confirm, split, notThem, merge));
}

// The group's persons: rename, merge one into another, delete.
async function personList(group, into, reload) {
  const data = await api("GET", `/v1/groups/${enc(group)}/people?limit=1000`);
  if (!data.people.length) {
    into.replaceChildren(h("p", { class: "muted" }, "No persons yet: confirm a cluster, or make one with POST /v1/groups/{group}/people."));
    return;
  }
  const base = `/v1/groups/${enc(group)}/people`;
  into.replaceChildren(h("table", { id: "person-table" },
    h("tr", {}, h("th", {}, "person"), h("th", {}, "faces"), h("th", {}, "")),
    data.people.map((p) => {
      const name = h("input", { class: "rename", value: p.name });
      const rename = h("button", { type: "button", class: "secondary rename-button" }, "Rename");
      rename.addEventListener("click", guard(async () => {
        await api("PATCH", `${base}/${enc(p.person_id)}`, { name: name.value });
        toast(`renamed ${name.value}`);
        reload();
      }));
      const merge = h("select", { class: "merge-person" }, h("option", { value: "" }, "is the same as…"),
        data.people.filter((o) => o.person_id !== p.person_id).map((o) => h("option", { value: o.person_id }, o.name)));
      merge.addEventListener("change", guard(async () => {
        if (!merge.value) return;
        await api("POST", `${base}/${enc(merge.value)}/merge`, { other: p.person_id });
        toast(`${p.name} merged into another person`);
        reload();
      }));
      const remove = h("button", { type: "button", class: "danger delete-person" }, "Delete");
      remove.addEventListener("click", guard(async () => {
        await api("DELETE", `${base}/${enc(p.person_id)}`);
        toast(`${p.name} and their faces deleted`);
        reload();
      }));
      return h("tr", { "data-person": p.person_id }, h("td", {}, h("div", { class: "row" }, name, rename)),
        h("td", {}, String(p.faces)), h("td", {}, h("div", { class: "row" }, merge, remove)));
    })));
}

function progress(job) {
  const pct = job.progress.percent;
  const fill = h("div");
  fill.style.width = `${pct}%`;  // a style property, not a style attribute (the CSP allows it)
  return h("div", { class: "row" }, h("div", { class: "bar" }, fill),
    `${job.progress.done}/${job.progress.total} (${pct}%)`);
}

pages.jobs = guard(async () => {
  const data = await api("GET", "/v1/jobs?limit=50");
  const rows = data.jobs.map((j) => h("tr", {},
    h("td", {}, h("a", { href: `#/job/${j.job_id}` }, j.job_id.slice(0, 8))),
    h("td", {}, j.group), h("td", {}, j.status), h("td", {}, progress(j)),
    h("td", {}, Object.entries(j.counts).filter(([, n]) => n).map(([k, n]) => `${k} ${n}`).join(", ")),
    h("td", {}, new Date(j.created * 1000).toLocaleString())));
  page().replaceChildren(h("h1", {}, "Ingestion jobs"),
    h("table", { id: "jobs" }, h("tr", {}, ["job", "group", "status", "progress", "outcomes", "created"].map((t) => h("th", {}, t))), rows));
});

pages.job = guard(async (id) => {
  const job = await api("GET", `/v1/jobs/${enc(id)}`);
  const items = await api("GET", `/v1/jobs/${enc(id)}/items?limit=500`);
  page().replaceChildren(h("h1", {}, `Job ${id}`),
    h("div", { class: "card" }, `group ${job.group} · ${job.status}`, progress(job),
      h("div", { class: "muted" }, `rate ${job.progress.rate_per_s}/s · faces created ${job.faces_created}`)),
    h("table", { id: "items" }, h("tr", {}, ["#", "key", "tag", "status", "detail"].map((t) => h("th", {}, t))),
      items.items.map((it) => h("tr", {}, h("td", {}, it.index), h("td", {}, it.key), h("td", {}, it.tag),
        h("td", { class: it.status === "enrolled" ? "good" : "bad" }, it.status),
        h("td", {}, it.error ? it.error.message : (it.face_id ? `face ${it.face_id}` : ""))))));
});

// Draws boxes, landmarks and a label per face over the photo.
function drawFaces(img, faces, label) {
  const canvas = h("canvas", { width: img.naturalWidth, height: img.naturalHeight });
  const ctx = canvas.getContext("2d");
  ctx.drawImage(img, 0, 0);
  // sizes in the photo's pixels that read as ~12 px on screen (the canvas is shown scaled)
  const scale = Math.max(1, img.naturalWidth / Math.min(1160, window.innerWidth - 60));
  faces.forEach((f, i) => {
    ctx.lineWidth = 1.5 * scale;
    ctx.strokeStyle = "#22c55e";
    ctx.strokeRect(f.box.x, f.box.y, f.box.width, f.box.height);
    const marks = f.landmarks && f.landmarks.points68 ? f.landmarks.points68.map(([x, y]) => ({ x, y }))
      : (f.landmarks && f.landmarks.points5) || (Array.isArray(f.landmarks) ? f.landmarks : []);
    const dot = Math.max(0.8, Math.min(1.5 * scale, f.box.width / 45));
    ctx.fillStyle = "#f43f5e";
    for (const p of marks) { ctx.beginPath(); ctx.arc(p.x, p.y, dot, 0, 2 * Math.PI); ctx.fill(); }
    const text = label(f, i);
    const size = 12 * scale;
    ctx.font = `${Math.round(size)}px sans-serif`;
    ctx.fillStyle = "rgba(0,0,0,.65)";
    const w = ctx.measureText(text).width + size / 2;
    const top = Math.max(0, f.box.y - size * 1.3);
    ctx.fillRect(f.box.x, top, w, size * 1.3);
    ctx.fillStyle = "#fff";
    ctx.fillText(text, f.box.x + size / 4, top + size);
  });
  return canvas;
}

pages.detect = guard(async () => {
  const out = h("div", { id: "detect-result" });
  const form = h("form", { class: "row card" },
    h("input", { type: "file", id: "detect-file", accept: "image/*", required: true }),
    h("button", { type: "submit", id: "detect-button" }, "Detect and analyse"));
  form.addEventListener("submit", guard(async (ev) => {
    ev.preventDefault();
    const file = $("#detect-file").files[0];
    const body = new FormData();
    body.append("image", file);
    body.append("fields", "landmarks,age,gender,emotion,pose,quality,liveness");
    out.textContent = "running...";
    const data = await api("POST", "/v1/analyse", body);
    const img = await loadImage(file);
    const label = (f, i) => `#${i + 1} ${f.gender ? f.gender.value : ""} ${f.age !== undefined ? Math.round(f.age) : ""}`;
    out.replaceChildren(h("p", {}, `${data.faces.length} face(s)`), drawFaces(img, data.faces, label),
      h("table", { id: "attributes" }, h("tr", {}, ["#", "probability", "age", "gender", "emotion", "yaw/pitch/roll", "blur", "live"].map((t) => h("th", {}, t))),
        data.faces.map((f, i) => h("tr", {}, h("td", {}, i + 1), h("td", {}, f.probability.toFixed(3)),
          h("td", {}, f.age !== undefined ? f.age.toFixed(1) : ""), h("td", {}, f.gender ? f.gender.value : ""),
          h("td", {}, f.emotion ? f.emotion.value : ""),
          h("td", {}, f.pose ? `${f.pose.yaw.toFixed(0)} / ${f.pose.pitch.toFixed(0)} / ${f.pose.roll.toFixed(0)}` : ""),
          h("td", {}, f.quality ? f.quality.blur.toFixed(2) : ""),
          h("td", {}, f.liveness ? `${f.liveness.live} (${f.liveness.score.toFixed(2)})` : "")))));
  }));
  page().replaceChildren(h("h1", {}, "Detect: boxes, 68 landmarks, attributes"), form, out);
});

pages.compare = guard(async () => {
  const out = h("div", { id: "compare-result" });
  const form = h("form", { class: "row card" },
    "Photo A ", h("input", { type: "file", id: "compare-a", accept: "image/*", required: true }),
    "Photo B ", h("input", { type: "file", id: "compare-b", accept: "image/*", required: true }),
    h("button", { type: "submit", id: "compare-button" }, "Compare"));
  form.addEventListener("submit", guard(async (ev) => {
    ev.preventDefault();
    const [a, b] = [$("#compare-a").files[0], $("#compare-b").files[0]];
    const body = new FormData();
    body.append("image_a", a);
    body.append("image_b", b);
    out.textContent = "running...";
    const data = await api("POST", "/v1/compare", body);
    const [ia, ib] = await Promise.all([loadImage(a), loadImage(b)]);
    out.replaceChildren(
      h("p", { id: "verdict", class: data.same_person ? "good" : "bad" },
        `score ${data.score.toFixed(3)}: ${data.same_person ? "same person" : "different people"} ` +
        `(threshold ${data.threshold}, model ${data.model})`),
      h("div", { class: "pair" }, h("div", {}, drawFaces(ia, [data.face_a], () => "A")),
        h("div", {}, drawFaces(ib, [data.face_b], () => "B"))));
  }));
  page().replaceChildren(h("h1", {}, "Compare two photos"), form, out);
});

pages.identify = guard(async () => {
  const select = await groupSelect("identify-group", store.getItem("identify_group"));
  const out = h("div", { id: "identify-result" });
  const form = h("form", { class: "row card" }, "Group ", select,
    h("input", { type: "file", id: "identify-file", accept: "image/*", required: true }),
    h("button", { type: "submit", id: "identify-button" }, "Identify"));
  form.addEventListener("submit", guard(async (ev) => {
    ev.preventDefault();
    store.setItem("identify_group", select.value);
    const body = new FormData();
    body.append("image", $("#identify-file").files[0]);
    body.append("top_n", "5");
    out.textContent = "searching...";
    const data = await api("POST", `/v1/groups/${enc(select.value)}/identify`, body);
    const cards = await Promise.all(data.matches.map(async (m) => h("div", { class: "face match", "data-face": m.face_id },
      await thumb(select.value, m.face_id),
      h("div", {}, m.tag || "(no tag)"),
      h("div", { class: m.same_person ? "good" : "muted" }, `${m.score.toFixed(3)} ${m.same_person ? "match" : "below threshold"}`))));
    out.replaceChildren(h("p", {}, `top ${data.matches.length} in ${data.group} (a match scores at least ${data.threshold})`),
      h("div", { class: "grid", id: "matches" }, cards));
  }));
  page().replaceChildren(h("h1", {}, "Identify a face in a group"), form, out);
});

pages.bulk = guard(async () => {
  const select = await groupSelect("bulk-group");
  const out = h("div", { id: "bulk-result" });
  const form = h("form", { class: "row card" }, "Group ", select,
    h("input", { type: "file", id: "bulk-files", accept: "image/*", multiple: true, required: true }),
    h("button", { type: "submit", id: "bulk-button" }, "Upload"));
  form.addEventListener("submit", guard(async (ev) => {
    ev.preventDefault();
    const files = [...$("#bulk-files").files];
    out.textContent = `reading ${files.length} photo(s)...`;
    const items = await Promise.all(files.map(async (f) => ({ image: await fileToBase64(f), tag: f.name.replace(/\.[^.]+$/, ""), key: f.name })));
    const made = await api("POST", `/v1/groups/${enc(select.value)}/faces/bulk`, { items });
    for (;;) {  // live progress until the job ends
      const job = await api("GET", made.poll);
      out.replaceChildren(h("p", {}, `job ${job.job_id}: ${job.status}`), progress(job),
        h("p", { class: "muted", id: "bulk-counts" }, Object.entries(job.counts).map(([k, n]) => `${k} ${n}`).join(" · ")));
      if (job.status !== "running") break;
      await new Promise((r) => setTimeout(r, 1000));
    }
  }));
  page().replaceChildren(h("h1", {}, "Bulk upload"), form, out);
});

pages.apps = async () => {
  const secretForm = h("form", { class: "row card" },
    h("input", { id: "admin-secret", type: "password", placeholder: "admin secret (FACEGATE_ADMIN_SECRET)", size: 40,
                 value: store.getItem("admin_secret") || "" }),
    h("button", { type: "submit", class: "secondary" }, "Use"));
  const body = h("div", { id: "apps-body" });
  secretForm.addEventListener("submit", (ev) => {
    ev.preventDefault();
    store.setItem("admin_secret", $("#admin-secret").value);
    load();
  });
  const shown = h("div", { id: "new-secret" });
  async function load() {
    try {
      const data = await api("GET", "/v1/admin/apps", undefined, { admin: true });
      const create = h("form", { class: "row card" },
        h("input", { id: "app-name", placeholder: "new app name", required: true }),
        h("input", { id: "app-qps", placeholder: "qps (empty: default)", type: "number", min: 0 }),
        h("button", { type: "submit" }, "Create app"));
      create.addEventListener("submit", guard(async (ev) => {
        ev.preventDefault();
        const qps = $("#app-qps").value;
        const made = await api("POST", "/v1/admin/apps", { name: $("#app-name").value, ...(qps ? { qps: Number(qps) } : {}) }, { admin: true });
        showSecret(made);
      }));
      const act = (label, cls, fn) => h("button", { class: cls, onclick: guard(fn) }, label);
      body.replaceChildren(create, h("table", { id: "apps" },
        h("tr", {}, ["name", "api key", "qps", "state", ""].map((t) => h("th", {}, t))),
        data.apps.map((a) => h("tr", {}, h("td", {}, a.name), h("td", {}, a.api_key || "-"),
          h("td", {}, a.qps === null ? "default" : a.qps), h("td", {}, a.active ? "active" : "revoked"),
          h("td", {}, a.active ? [
            act("Rotate secret", "secondary", async () => showSecret(await api("POST", `/v1/admin/apps/${enc(a.name)}/rotate`, undefined, { admin: true }))),
            act("Set QPS", "secondary", async () => {
              const qps = prompt(`QPS for ${a.name} (0: the default)`, a.qps || 0);
              if (qps === null) return;
              await api("PATCH", `/v1/admin/apps/${enc(a.name)}`, { qps: Number(qps) }, { admin: true });
              load();
            }),
            act("Revoke", "danger", async () => {
              if (!confirm(`Revoke ${a.name}? Its credentials stop working.`)) return;
              await api("DELETE", `/v1/admin/apps/${enc(a.name)}`, undefined, { admin: true });
              load();
            })] : "")))));
    } catch (err) {
      body.replaceChildren(h("p", { class: "error" }, err.message));
    }
  }
  function showSecret(made) {
    shown.replaceChildren(h("div", { class: "card" }, h("strong", {}, `${made.name}: keep the secret now, only its hash is stored`),
      h("div", { class: "secret" }, `app_id ${made.api_key}`), h("div", { class: "secret" }, `app_secret ${made.secret}`)));
    load();
  }
  page().replaceChildren(h("h1", {}, "Apps (admin)"), secretForm, shown, body);
  if (store.getItem("admin_secret")) await load();
};

pages.api = guard(async () => {
  const doc = await (await fetch("/openapi.json")).json();
  const filter = h("input", { id: "api-filter", placeholder: "filter paths", size: 40 });
  const list = h("div", { id: "operations" });
  const all = [];
  for (const [path, methods] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(methods)) all.push({ path, method, op });
  }
  function fields(op) {
    const params = (op.parameters || []).map((p) => ({ name: p.name, where: p.in, required: p.required }));
    const content = op.requestBody && op.requestBody.content;
    const schema = content && (content["application/json"] || content["application/x-www-form-urlencoded"]).schema;
    for (const [name, prop] of Object.entries((schema && schema.properties) || {})) {
      params.push({ name, where: "body", required: (schema.required || []).includes(name),
                    image: prop.contentEncoding === "base64" });  // an image: a file picker
    }
    return params;
  }
  async function baiduToken() {
    const form = new URLSearchParams({ grant_type: "client_credentials", client_id: creds().app_id,
                                       client_secret: creds().app_secret });
    const answer = await (await fetch("/oauth/2.0/token", { method: "POST", body: form })).json();
    return answer.access_token || "";
  }
  function item({ path, method, op }) {
    const tag = op.tags && op.tags[0];
    const inputs = fields(op).map((f) => h("label", { class: "row" }, h("code", {}, `${f.name}${f.required ? "*" : ""}`),
      h("span", { class: "muted" }, f.where),
      h("input", { "data-name": f.name, "data-where": f.where, ...(f.image ? { type: "file", accept: "image/*" } : { size: 50 }) })));
    const out = h("pre", { hidden: true, class: "answer" });
    const tryit = h("button", { class: "secondary send", onclick: async () => {
      let url = path;
      const query = new URLSearchParams();
      const body = {};
      const files = {};
      for (const input of inputs.map((l) => $("input", l))) {
        const name = input.dataset.name;
        if (input.type === "file") {
          if (input.files[0]) files[name] = input.files[0];
          continue;
        }
        if (!input.value) continue;
        const where = input.dataset.where;
        if (where === "path") url = url.replace(`{${name}}`, enc(input.value));
        else if (where === "query") query.set(name, input.value);
        else body[name] = input.value;
      }
      const headers = tag === "Baidu" ? {} : { ...creds() };
      if (tag === "admin") headers.admin_secret = store.getItem("admin_secret") || "";
      const init = { method: method.toUpperCase(), headers };
      if (tag === "Baidu") {  // a token from the signed-in app's credentials; images as base64
        if (path.startsWith("/rest/")) query.set("access_token", await baiduToken());
        for (const [name, file] of Object.entries(files)) body[name] = await fileToBase64(file);
        if (Object.keys(body).length) {
          init.body = new URLSearchParams(body);
          headers["content-type"] = "application/x-www-form-urlencoded";
        }
      } else if (Object.keys(files).length) {  // multipart: the files as they are
        const form = new FormData();
        for (const [name, value] of Object.entries(body)) form.append(name, value);
        for (const [name, file] of Object.entries(files)) form.append(name, file);
        init.body = form;
      } else if (Object.keys(body).length) {
        init.body = JSON.stringify(body);
        headers["content-type"] = "application/json";
      }
      const qs = query.toString();
      const response = await fetch(url + (qs ? `?${qs}` : ""), init);
      let text = await response.text();
      try { text = JSON.stringify(JSON.parse(text), null, 2); } catch (err) { /* not JSON */ }
      out.hidden = false;
      out.textContent = `${response.status}\n${text.slice(0, 20000)}`;
    } }, "Send");
    return h("details", { class: "op", "data-path": path },
      h("summary", {}, h("span", { class: "method" }, method.toUpperCase()), h("code", {}, path), " ",
        h("span", { class: "muted" }, op.summary || "")),
      op.description ? h("p", { class: "muted" }, op.description) : null, inputs, tryit, out);
  }
  function show() {
    const needle = filter.value.toLowerCase();
    list.replaceChildren(...all.filter((o) => o.path.toLowerCase().includes(needle)).map(item));
  }
  filter.addEventListener("input", show);
  page().replaceChildren(h("h1", {}, `API explorer: ${all.length} operations (OpenAPI ${doc.openapi})`),
    h("p", {}, h("a", { href: "/openapi.json" }, "/openapi.json"),
      " · requests go out with the credentials you signed in with"), filter, list);
  show();
});

// --- routing -----------------------------------------------------------------------------
async function render() {
  const [route, ...rest] = location.hash.replace(/^#\//, "").split("?")[0].split("/");
  const name = pages[route] ? route : (creds().app_secret ? "groups" : "signin");
  if (!creds().app_secret && !["signin", "apps", "api"].includes(name)) {
    location.hash = "#/signin";
    return;
  }
  for (const a of document.querySelectorAll("nav a")) {
    a.classList.toggle("active", a.getAttribute("href") === `#/${route}`);
  }
  $("#who").replaceChildren(creds().app_id ? h("span", {}, `app ${creds().app_id} `,
    h("a", { href: "#/signin", id: "signout", onclick: () => { store.removeItem("app_secret"); } }, "sign out")) : "");
  document.title = `facegate · ${name}`;
  try {
    await pages[name](...rest.map(decodeURIComponent));
  } catch (err) {
    console.error(err);
  }
  document.body.dataset.page = name;  // tests wait for this
}

window.addEventListener("hashchange", () => { document.body.dataset.page = ""; render(); });
render();
