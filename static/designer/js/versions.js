// Saving, publishing and versions: the toolbar's Save draft / Publish / Edit as new draft, opening and
// downloading files, and the Versions tab (state, who published when, export, pick two to compare).

import { clear, h, setText } from "./dom.js";
import { postJson } from "./api.js";
import { isObject } from "./store.js";

const when = (iso) => (iso ? new Date(iso).toLocaleString() : "");

export class VersionControl {
  constructor(store, config, els, { onLoaded } = {}) {
    this.store = store;
    this.config = config;
    this.els = els;
    this.onLoaded = onLoaded || (() => {});
    this.template = config.template;
    this.version = config.version;
    this.draft = config.draft;
    this.versions = config.versions || [];
    this.savedText = this.version ? JSON.stringify(store.doc) : null;
    this.busy = false;

    els.save?.addEventListener("click", () => this.save());
    els.publish?.addEventListener("click", () => this.publish());
    els.editDraft?.addEventListener("click", () => this.editDraft());
    els.download?.addEventListener("click", () => this.download());
    els.openFile?.addEventListener("change", () => this.openFile(els.openFile.files[0]));
    store.addEventListener("change", () => this.renderHeader());
    this.renderHeader();
    this.renderVersions();
  }

  isDirty() {
    return this.savedText === null || JSON.stringify(this.store.doc) !== this.savedText;
  }

  status(text, kind = "info") {
    setText(this.els.status, text);
    this.els.status.className = `pg-status pg-status-${kind}`;
  }

  renderHeader() {
    const version = this.version;
    const key = isObject(this.store.doc) && typeof this.store.doc.key === "string" ? this.store.doc.key : "";
    const title = this.template
      ? `Design ${this.template.key}` + (version ? ` v${version.number}` : "")
      : `New template${key ? ` ${key}` : ""}`;
    setText(this.els.title, title);
    const state = version ? version.state : "new";
    const parts = [state];
    if (!this.store.editable) parts.push("read-only");
    else if (this.isDirty()) parts.push("unsaved changes");
    setText(this.els.state, parts.join(" · "));
    this.els.state.className = `pg-badge pg-state-${state}`;
    // Publishing is its own permission (engine.access.may_publish): without it the button is not offered.
    if (this.els.publish) this.els.publish.hidden = this.config.canPublish === false;
    if (this.els.editDraft) {
      const frozen = version && version.state !== "draft";
      this.els.editDraft.hidden = !(this.config.canChange && frozen);
      const replacing = this.draft && this.draft.id !== version?.id;
      setText(this.els.editDraft, replacing ? `Edit as new draft (replaces draft v${this.draft.number})` : "Edit as new draft");
    }
  }

  async save() {
    if (this.busy) return null;
    this.busy = true;
    this.status("Saving…");
    // The checksum of the draft this editor started from: the server refuses the save (409) if someone
    // else saved the draft since, instead of silently overwriting their work.
    const base = this.version && this.version.state === "draft" ? this.version.checksum : null;
    const { ok, status, body } = await postJson(this.config.urls.save, { document: this.store.doc, base_checksum: base });
    this.busy = false;
    if (!ok) {
      if (body?.problems) this.store.setProblems(body.problems);
      this.status(`Not saved: ${body?.message || body?.problems?.[0]?.message || `HTTP ${status}`}`, "error");
      return null;
    }
    this.version = body.version;
    this.draft = body.version;
    this.template = body.template;
    this.versions = body.versions;
    this.savedText = JSON.stringify(this.store.doc);
    this.store.setProblems(body.problems);
    if (window.location.pathname !== body.version.urls.open) window.history.replaceState(null, "", body.version.urls.open);
    const count = body.problems.length;
    this.status(
      `Saved draft v${body.version.number}` +
        (count ? ` with ${count} problem${count > 1 ? "s" : ""}; publishing needs them fixed.` : "."),
      count ? "warning" : "success",
    );
    this.renderHeader();
    this.renderVersions();
    return body.version;
  }

  async publish() {
    let version = this.version;
    if (this.isDirty() || !version || version.state !== "draft") {
      version = await this.save();
      if (!version) return;
    }
    this.status(`Publishing v${version.number}…`);
    const { ok, status, body } = await postJson(version.urls.publish, {});
    if (ok) {
      this.status(`Published v${body.version.number}.`, "success");
      window.location.assign(body.version.urls.open);
      return;
    }
    if (body?.problems) {
      this.store.setProblems(body.problems);
      const n = body.problems.length;
      this.status(`Not published: ${n} problem${n > 1 ? "s" : ""} (listed below). Fix them and publish again.`, "error");
    } else {
      this.status(`Not published: ${body?.message || `HTTP ${status}`}`, "error");
    }
  }

  async editDraft() {
    const { ok, status, body } = await postJson(this.version.urls.draft, {});
    if (ok) window.location.assign(body.url);
    else this.status(`Could not start a draft: ${body?.message || `HTTP ${status}`}`, "error");
  }

  download() {
    const key = isObject(this.store.doc) && typeof this.store.doc.key === "string" && this.store.doc.key ? this.store.doc.key : "template";
    const blob = new Blob([JSON.stringify(this.store.doc, null, 2) + "\n"], { type: "application/json" });
    const url = URL.createObjectURL(blob);
    const link = h("a", { href: url, download: `${key}.json` });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 1000);
  }

  async openFile(file) {
    if (!file) return;
    let document_;
    try {
      document_ = JSON.parse(await file.text());
    } catch (exc) {
      this.status(`${file.name} is not JSON: ${exc.message}`, "error");
      return;
    }
    this.store.replace(document_, "load");
    this.els.openFile.value = "";
    this.status(`Loaded ${file.name}. Save a draft to keep it.`, "info");
    this.onLoaded();
  }

  renderVersions() {
    const panel = this.els.panel;
    clear(panel);
    if (!this.versions.length) {
      panel.append(h("p", { class: "pg-hint" }, "No versions yet: save a draft to make version 1."));
      return;
    }
    const current = this.version?.id;
    const newest = current ?? this.versions[0].id;
    const older = this.versions.find((v) => v.number < (this.versions.find((x) => x.id === newest)?.number ?? 0));
    const radio = (name, version, checked) => {
      const input = h("input", { type: "radio", name: `pg-compare-${name}`, value: version.id, "aria-label": `${name} v${version.number}` });
      input.checked = checked;
      return input;
    };
    const body = h("tbody");
    for (const version of this.versions) {
      body.append(
        h(
          "tr",
          { class: version.id === current ? "pg-current" : "", "data-version": version.number },
          h("td", {}, radio("old", version, version.id === (older?.id ?? newest))),
          h("td", {}, radio("new", version, version.id === newest)),
          h("td", {}, h("a", { href: version.urls.open }, `v${version.number}`)),
          h("td", {}, h("span", { class: `pg-badge pg-state-${version.state}` }, version.state)),
          h("td", {}, version.created_by || "", h("br"), h("small", {}, when(version.created_at))),
          h("td", {}, version.published_by || (version.published_at ? "—" : ""), h("br"), h("small", {}, when(version.published_at))),
          h("td", {}, h("a", { href: version.urls.export, title: "Download this version's JSON" }, "Export")),
        ),
      );
      if (version.notes) body.append(h("tr", { class: "pg-notes" }, h("td", { colspan: 7 }, version.notes)));
    }
    const compare = h("button", {
      type: "button",
      class: "button",
      id: "pg-compare",
      onclick: () => {
        const old = panel.querySelector("input[name=pg-compare-old]:checked")?.value;
        const nu = panel.querySelector("input[name=pg-compare-new]:checked")?.value;
        const params = new URLSearchParams({ old, new: nu });
        window.location.assign(`${this.template.urls.compare}?${params}`);
      },
    }, "Compare selected");
    panel.append(
      h(
        "table",
        { class: "pg-versions" },
        h("thead", {}, h("tr", {}, ...["Old", "New", "Version", "State", "Saved by", "Published by", ""].map((t) => h("th", {}, t)))),
        body,
      ),
      compare,
    );
  }
}
