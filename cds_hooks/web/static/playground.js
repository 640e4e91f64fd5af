// The playground page: an editor, /playground/check, and the answer drawn as an EHR would.
// Every text from the document or the cards goes in as text nodes: no HTML is ever parsed.
"use strict";

(function () {
  const body = document.body;
  const $ = (id) => document.getElementById(id);
  const doc = $("doc");
  const gutter = $("gutter");
  const mark = $("line-mark");
  const editor = $("editor");
  const errorBox = $("doc-error");
  const checkButton = $("check");
  const status = $("status");
  const LINE_HEIGHT = 20;
  const PAD = 8;
  const maxBytes = Number(body.dataset.maxBytes || 5000000);
  let errorLine = null;
  let lastResult = null;

  // -- small DOM helpers ------------------------------------------------------------------
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "class") node.className = value;
      else if (key === "text") node.textContent = value;
      else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value === true ? "" : String(value));
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function safeHref(url) {
    try {
      const parsed = new URL(url, window.location.href);
      return parsed.protocol === "http:" || parsed.protocol === "https:" ? parsed.href : null;
    } catch (_) {
      return null;
    }
  }

  function link(url, text) {
    const href = safeHref(url);
    if (!href) return document.createTextNode(text);
    return el("a", { href, target: "_blank", rel: "noopener noreferrer" }, text);
  }

  // -- markdown: the safe subset cards use (bold, code, http(s) links, line breaks, bullets) ---
  const INLINE = /\*\*([^*]+)\*\*|`([^`]+)`|\[([^\]]+)\]\(([^)\s]+)\)/g;

  function inline(text, into) {
    let last = 0;
    for (const m of text.matchAll(INLINE)) {
      if (m.index > last) into.append(text.slice(last, m.index));
      if (m[1] !== undefined) into.append(el("strong", { text: m[1] }));
      else if (m[2] !== undefined) into.append(el("code", { text: m[2] }));
      else into.append(link(m[4], m[3]));
      last = m.index + m[0].length;
    }
    if (last < text.length) into.append(text.slice(last));
  }

  function appendLine(block, line, hardBreak) {
    if (block.childNodes.length) block.append(hardBreak ? el("br") : " ");
    inline(line.replace(/\s+$/, ""), block);
  }

  function markdown(source) {
    const out = el("div", { class: "card-detail" });
    let list = null;
    let block = null;
    let hardBreak = false;
    for (const raw of String(source || "").split(/\r?\n/)) {
      const bullet = /^[-*+]\s+(.*)$/.exec(raw);
      if (!raw.trim()) {
        list = null;
        block = null;
      } else if (bullet) {
        list = list || out.appendChild(el("ul"));
        block = list.appendChild(el("li"));
        appendLine(block, bullet[1], false);
      } else if (list && /^\s+/.test(raw)) {
        appendLine(block, raw.trim(), hardBreak);
      } else {
        list = null;
        if (!block || block.tagName !== "P") block = out.appendChild(el("p"));
        appendLine(block, raw.trim(), hardBreak);
      }
      hardBreak = / {2,}$|\\$/.test(raw);
    }
    return out;
  }

  // -- the editor: line numbers, the error line -------------------------------------------
  function lineCount() {
    let n = 1;
    for (let i = doc.value.indexOf("\n"); i !== -1; i = doc.value.indexOf("\n", i + 1)) n++;
    return n;
  }

  let shownLines = 0;
  function renderGutter() {
    const n = lineCount();
    if (n !== shownLines) {
      const numbers = [];
      for (let i = 1; i <= n; i++) numbers.push(i);
      gutter.textContent = numbers.join("\n");
      shownLines = n;
    }
    syncScroll();
  }

  function syncScroll() {
    gutter.scrollTop = doc.scrollTop;
    if (errorLine !== null) {
      mark.style.top = `${PAD + (errorLine - 1) * LINE_HEIGHT - doc.scrollTop}px`;
    }
  }

  function clearError() {
    errorLine = null;
    mark.hidden = true;
    errorBox.hidden = true;
    errorBox.replaceChildren();
    editor.classList.remove("invalid");
    doc.removeAttribute("aria-invalid");
  }

  function showError(error) {
    errorBox.replaceChildren();
    const title = {
      json: "This is not valid JSON.",
      fhir: "This is not a FHIR Claim we can check.",
      "too-large": "This document is too large.",
      "too-complex": "This document is too big to check here.",
      empty: "Nothing to check yet.",
    }[error.kind] || "The service could not check this.";
    errorBox.append(el("strong", { text: title }));
    const message = el("span", { text: error.message || "" });
    errorBox.append(message);
    if (error.path) {
      errorBox.append(" ", el("span", { class: "small" }, "FHIR path: ", el("code", { text: error.path })));
    }
    errorBox.hidden = false;
    editor.classList.add("invalid");
    doc.setAttribute("aria-invalid", "true");
    if (error.kind === "json" && error.line) {
      errorLine = error.line;
      mark.hidden = false;
      const lines = doc.value.split("\n");
      let offset = 0;
      for (let i = 0; i < error.line - 1 && i < lines.length; i++) offset += lines[i].length + 1;
      offset += Math.max(0, (error.column || 1) - 1);
      doc.focus();
      doc.setSelectionRange(offset, Math.min(offset + 1, doc.value.length));
      doc.scrollTop = Math.max(0, (error.line - 1) * LINE_HEIGHT - doc.clientHeight / 3);
      syncScroll();
    }
  }

  function setText(text) {
    doc.value = text;
    clearError();
    doc.scrollTop = 0;
    renderGutter();
  }

  // -- the results ---------------------------------------------------------------------------
  function findingItem(f) {
    const where = f.line !== null && f.line !== undefined
      ? `Line ${f.line}${f.code ? " · " + f.code : ""}`
      : f.target;
    return el(
      "li",
      { class: f.severity },
      el(
        "div",
        { class: "finding-head" },
        el("span", { class: `sev ${f.severity}`, text: f.severity }),
        f.line !== null && f.line !== undefined
          ? el("button", { type: "button", class: "where linkish", title: "Show this line in the editor", onclick: () => revealItem(f) }, where)
          : el("span", { class: "where", text: where }),
        safeHref(f.rule_url)
          ? el("a", { class: "rule", href: safeHref(f.rule_url), target: "_blank", rel: "noopener", text: f.rule })
          : el("span", { class: "rule", text: f.rule })
      ),
      el("div", { text: f.message }),
      el(
        "div",
        { class: "fixline" },
        "Fix: ",
        el("span", { class: "what", text: f.fix }),
        el("span", { class: f.automatic ? "tag auto" : "tag", text: f.automatic ? "automatic" : "needs a decision" })
      ),
      el("div", { class: "cite", text: `Source: ${f.citation}` })
    );
  }

  // The item a finding names, found in the editor's text (its `"sequence": n` after `"item"`).
  function revealItem(f) {
    const text = doc.value;
    const id = String(f.target || "").split("/")[1];
    let from = 0;
    if (id) {
      const own = text.search(new RegExp(`"id"\\s*:\\s*"${id.replace(/[^A-Za-z0-9.-]/g, "")}"`));
      if (own >= 0) from = own;
    }
    const items = text.indexOf('"item"', from);
    if (items < 0) return;
    const match = new RegExp(`"sequence"\\s*:\\s*${Number(f.line)}(?![0-9])`).exec(text.slice(items));
    if (!match) return;
    const start = items + match.index;
    const line = text.slice(0, start).split("\n").length;
    doc.focus();
    doc.setSelectionRange(start, start + match[0].length);
    doc.scrollTop = Math.max(0, (line - 1) * LINE_HEIGHT - doc.clientHeight / 3);
    syncScroll();
  }

  function findingsBlock(title, findings) {
    const section = el("section", { class: "block" }, el("h3", {}, title));
    if (!findings.length) {
      section.append(el("div", { class: "none", text: "No findings: coded right for this payer. The hook returns no card for it." }));
    } else {
      section.append(el("ul", { class: "findings" }, findings.map(findingItem)));
    }
    return section;
  }

  function applySuggestion(suggestion) {
    let parsed;
    try {
      parsed = JSON.parse(doc.value);
    } catch (_) {
      return;
    }
    for (const action of suggestion.actions || []) {
      const resource = action.resource;
      if (action.type !== "update" || !resource || !resource.resourceType) continue;
      const same = (r) => r && r.resourceType === resource.resourceType && r.id === resource.id;
      if (parsed.resourceType === "Bundle") {
        for (const entry of parsed.entry || []) {
          if (same(entry.resource)) entry.resource = resource;
        }
      } else if (same(parsed)) {
        parsed = resource;
      }
    }
    setText(JSON.stringify(parsed, null, 2));
    status.textContent = `Applied "${suggestion.label}". Checking again…`;
    check();
  }

  function smartLink(linkObject, demoLaunch) {
    if (demoLaunch) {
      const url = new URL(demoLaunch);
      url.searchParams.set("app", linkObject.url);
      if (linkObject.appContext) url.searchParams.set("appContext", linkObject.appContext);
      const href = safeHref(url.href);
      if (href) {
        // The card's own label, as the EHR shows it; the demo EHR does the SMART launch.
        return el(
          "a",
          { class: "button secondary small", href, target: "_blank", rel: "noopener" },
          linkObject.label || "Open the SMART app",
          el("span", { class: "rec", text: "SMART app · demo EHR launch" })
        );
      }
    }
    return el(
      "details",
      { class: "smart-link" },
      el(
        "summary",
        {},
        el("span", { class: "kind", text: "SMART app" }),
        el("strong", { text: linkObject.label }),
        el("span", { class: "k", text: " · your EHR launches it from the card" })
      ),
      el("div", {}, el("span", { class: "k", text: "launch URL " }), el("code", { text: linkObject.url })),
      linkObject.appContext
        ? el("div", {}, el("span", { class: "k", text: "appContext " }), el("code", { text: linkObject.appContext }))
        : null,
      el("div", { class: "k", text: "An EHR does a SMART on FHIR EHR launch of this URL with the appContext; this page cannot." })
    );
  }

  // The card's source as an EHR shows it: icon (only this service's own or inline images, as the
  // page's CSP allows), label (a link when it has an http(s) url) and its topic.
  function sourceLine(source) {
    const icon = source.icon && safeHref(source.icon);
    const ownIcon = icon && new URL(icon).origin === window.location.origin;
    return el(
      "div",
      { class: "card-source" },
      ownIcon ? el("img", { class: "source-icon", src: icon, alt: "", width: 16, height: 16 }) : null,
      "Source: ",
      source.url ? link(source.url, source.label) : source.label,
      source.topic && (source.topic.display || source.topic.code)
        ? el("span", { class: "topic", text: ` · ${source.topic.display || source.topic.code}` })
        : null
    );
  }

  function cardNode(card, demoLaunch) {
    const indicator = ["info", "warning", "critical"].includes(card.indicator) ? card.indicator : "info";
    const node = el("article", { class: `cds-card ${indicator}`, "data-indicator": indicator });
    node.append(
      el(
        "div",
        { class: "card-head" },
        el("span", { class: `indicator ${indicator}`, text: indicator }),
        el("div", {}, el("div", { class: "card-summary", text: card.summary }), card.source ? sourceLine(card.source) : null)
      )
    );
    if (card.detail) node.append(markdown(card.detail));
    if (card.suggestions && card.suggestions.length > 1 && card.selectionBehavior === "at-most-one") {
      node.append(el("div", { class: "k small", text: "Choose one of these suggestions (selectionBehavior at-most-one)." }));
    }
    if (card.suggestions && card.suggestions.length) {
      node.append(
        el(
          "div",
          { class: "card-suggestions" },
          card.suggestions.map((s) =>
            el(
              "button",
              {
                type: "button",
                class: s.isRecommended ? "small" : "secondary small",
                // What the EHR would do on accept (each action's description), on hover and to AT.
                title: (s.actions || []).map((a) => a.description).filter(Boolean).join("; ") || null,
                onclick: () => applySuggestion(s),
              },
              s.label,
              s.isRecommended ? el("span", { class: "rec", text: "recommended" }) : null
            )
          )
        )
      );
    }
    const links = card.links || [];
    if (links.length) {
      node.append(
        el(
          "div",
          { class: "card-links" },
          links.map((l) => (l.type === "smart" ? smartLink(l, demoLaunch) : link(l.url, l.label)))
        )
      );
    }
    if (card.overrideReasons && card.overrideReasons.length) {
      const select = el(
        "select",
        { class: "dismiss", "aria-label": `Dismiss the card "${card.summary}" with a reason` },
        el("option", { value: "", text: "Dismiss with a reason…" }),
        card.overrideReasons.map((r) => el("option", { value: r.code, text: r.display || r.code }))
      );
      select.addEventListener("change", () => {
        const reason = select.options[select.selectedIndex].text;
        if (!select.value) return;
        node.classList.add("dismissed");
        node.append(el("div", { class: "dismissed-note", text: `Dismissed: ${reason}. An EHR sends this to the service as feedback (overrideReason).` }));
        select.disabled = true;
      });
      (node.querySelector(".card-links") || node.appendChild(el("div", { class: "card-links" }))).append(select);
    }
    return node;
  }

  function diffBlock(claim) {
    const section = el("section", { class: "block" });
    const copy = el("button", { type: "button", class: "secondary small", onclick: () => copyText(JSON.stringify(claim.corrected_claim, null, 2), copy) }, "Copy");
    const download = el("button", { type: "button", class: "secondary small", onclick: () => downloadJson(claim) }, "Download");
    section.append(
      el("div", { class: "diff-head" }, el("h3", {}, "Corrected Claim ", el("span", { class: "muted", text: "what changes" })), claim.changed ? el("div", { class: "tools" }, copy, download) : null)
    );
    if (!claim.changed) {
      const same = claim.clean
        ? "Nothing to correct: the Claim can go out as you sent it."
        : "No automatic fix: the findings above need a person's decision, so the Claim is unchanged.";
      section.append(el("div", { class: "same", text: same }));
      return section;
    }
    // A real table: each row is a line before and/or after, and screen readers say which.
    const SIGN = { add: ["+", "added"], del: ["−", "removed"], ctx: ["", "unchanged"] };
    const rows = claim.diff.map((row) => {
      if (row.op === "skip") {
        return el("tr", { class: "row gap" }, el("td", { colspan: 4, text: `⋯ ${row.count} unchanged line${row.count === 1 ? "" : "s"}` }));
      }
      const [sign, said] = SIGN[row.op];
      return el(
        "tr",
        { class: `row ${row.op}` },
        el("td", { class: "n", text: row.old || "" }),
        el("td", { class: "n", text: row.new || "" }),
        el("td", { class: "s" }, el("span", { "aria-hidden": "true", text: sign }), el("span", { class: "visually-hidden", text: said })),
        el("td", { class: "t", text: row.text })
      );
    });
    const head = el(
      "thead",
      {},
      el("tr", {}, ...["Line before", "Line after", "Change", "JSON"].map((h) => el("th", { scope: "col" }, el("span", { class: "visually-hidden", text: h }))))
    );
    const table = el("table", { "aria-label": "Changes to the Claim" }, head, el("tbody", {}, rows));
    // Scrolls inside its box, so it takes the focus: keyboard users scroll it with the arrows.
    section.append(el("div", { class: "diff", tabindex: 0, role: "region", "aria-label": "Changes to the Claim, scrollable" }, table));
    return section;
  }

  function copyText(text, button) {
    const done = () => {
      button.textContent = "Copied";
      setTimeout(() => (button.textContent = "Copy"), 1500);
    };
    if (navigator.clipboard) navigator.clipboard.writeText(text).then(done, () => {});
  }

  function downloadJson(claim) {
    const blob = new Blob([JSON.stringify(claim.corrected_claim, null, 2)], { type: "application/fhir+json" });
    const a = el("a", { href: URL.createObjectURL(blob), download: `${claim.claim.replace(/[^A-Za-z0-9_.-]+/g, "-")}-corrected.json` });
    document.body.append(a);
    a.click();
    a.remove();
  }

  function render(result) {
    lastResult = result;
    $("empty").hidden = true;
    $("out").hidden = false;
    const all = result.claims.flatMap((c) => c.findings).concat(result.orders.flatMap((o) => o.findings));
    const errors = all.filter((f) => f.severity === "error").length;
    const warnings = all.filter((f) => f.severity === "warning").length;
    const verdict = $("verdict");
    const clean = result.claims.every((c) => c.clean) && !errors && !warnings;
    const incomplete = result.claims.filter((c) => c.status === "incomplete").length;
    const outOfScope = result.claims.length > 0 && result.claims.every((c) => c.status === "out-of-scope");
    verdict.className = `verdict ${clean ? "ok" : errors ? "bad" : "warn"}`;
    const count = (n, word) => `${n} ${word}${n === 1 ? "" : "s"}`;
    const headline = clean
      ? "Clean: nothing to fix."
      : errors
        ? `Will be denied: ${count(errors, "error")}` + (warnings ? `, ${count(warnings, "warning")}` : "")
        : warnings
          ? `Check before billing: ${count(warnings, "warning")}`
          : outOfScope
            ? "Out of scope: not checked (not a claim type, use or code we judge)."
            : `Incomplete: ${count(incomplete, "claim")} could not be checked completely.`;
    verdict.replaceChildren(
      el("strong", { text: headline }),
      el("span", { class: "facts", text: `${result.claims.map((c) => `${c.claim} · ${c.payer_profile}`).join("; ")} · ${count(result.cards.length, "card")}` })
    );
    const claims = $("claims");
    claims.replaceChildren();
    const many = result.claims.length > 1;
    for (const claim of result.claims) {
      const wrap = el("div", { class: "claim" });
      if (many) wrap.append(el("p", { class: "claim-title" }, el("code", { text: claim.claim }), ` · ${claim.payer_profile}`));
      wrap.append(findingsBlock(many ? `Findings on ${claim.claim}` : "Findings", claim.findings));
      if (claim.unchecked && claim.unchecked.length) {
        const list = el("ul", { class: "unchecked" });
        for (const u of claim.unchecked) list.append(el("li", { text: `${u.line === null ? "claim" : `line ${u.line}`}: ${u.reason}` }));
        wrap.append(el("section", { class: "block", "data-status": claim.status }, el("h3", { text: `Not checked (${claim.status})` }), list));
      }
      claims.append(wrap);
    }
    const orders = $("order-findings");
    orders.replaceChildren(...result.orders.map((o) => findingsBlock(`Draft order ${o.order}`, o.findings)));
    const cards = $("cards");
    cards.replaceChildren();
    if (!result.cards.length) {
      cards.append(el("div", { class: "cards-none", text: "No cards: the EHR shows nothing and the clinician signs without interruption." }));
    }
    for (const card of result.cards) cards.append(cardNode(card, result.demo_ehr_launch));
    $("diffs").replaceChildren(...result.claims.map(diffBlock));
    $("wire-request").textContent = JSON.stringify(result.hook_request, null, 2);
    $("wire-response").textContent = JSON.stringify(result.hook_response, null, 2);
  }

  // -- talking to the service ------------------------------------------------------------
  let inFlight = null;

  async function check() {
    const text = doc.value;
    clearError();
    if (!text.trim()) {
      showError({ kind: "empty", message: "Paste or upload a FHIR Claim or Bundle, or pick a sample." });
      return;
    }
    if (new Blob([text]).size > maxBytes) {
      showError({ kind: "too-large", message: `The service accepts up to ${maxBytes} bytes.` });
      return;
    }
    if (inFlight) inFlight.abort();
    const controller = new AbortController();
    inFlight = controller;
    checkButton.disabled = true;
    status.textContent = "Checking…";
    body.setAttribute("aria-busy", "true");
    try {
      const response = await fetch("/playground/check", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: text,
        signal: controller.signal,
      });
      let answer = null;
      try {
        answer = await response.json();
      } catch (_) {
        answer = null;
      }
      if (!response.ok || !answer || answer.error) {
        const error = (answer && answer.error) || {
          kind: "service",
          message: (answer && answer.issue && answer.issue[0] && answer.issue[0].diagnostics) || `HTTP ${response.status}`,
        };
        showError(error);
        status.textContent = "";
        return;
      }
      render(answer);
      status.textContent = `Checked at ${new Date().toLocaleTimeString()}.`;
    } catch (err) {
      if (err.name !== "AbortError") {
        showError({ kind: "service", message: "The service did not answer. Is it still running?" });
        status.textContent = "";
      }
    } finally {
      if (inFlight === controller) {
        inFlight = null;
        checkButton.disabled = false;
        body.removeAttribute("aria-busy");
      }
    }
  }

  async function loadSample(key, push) {
    for (const button of document.querySelectorAll("button.sample")) {
      button.setAttribute("aria-pressed", String(button.dataset.sample === key));
    }
    status.textContent = "Loading sample…";
    const response = await fetch(`/playground/samples/${encodeURIComponent(key)}`);
    if (!response.ok) {
      status.textContent = "That sample is not available.";
      return;
    }
    setText(JSON.stringify(await response.json(), null, 2));
    if (push) {
      const url = new URL(window.location.href);
      url.searchParams.set("sample", key);
      history.replaceState(null, "", url);
    }
    await check();
  }

  function forgetSample() {
    for (const button of document.querySelectorAll("button.sample")) button.setAttribute("aria-pressed", "false");
    const url = new URL(window.location.href);
    if (url.searchParams.has("sample")) {
      url.searchParams.delete("sample");
      history.replaceState(null, "", url);
    }
  }

  function readFile(file) {
    if (!file) return;
    if (file.size > maxBytes) {
      showError({ kind: "too-large", message: `${file.name} is ${file.size} bytes; the service accepts up to ${maxBytes}.` });
      return;
    }
    file.text().then((text) => {
      forgetSample();
      setText(text);
      check();
    });
  }

  // -- wiring --------------------------------------------------------------------------------
  document.addEventListener("click", (event) => {
    const button = event.target.closest("button[data-sample]");
    if (button) loadSample(button.dataset.sample, true);
  });
  checkButton.addEventListener("click", check);
  $("format").addEventListener("click", () => {
    try {
      setText(JSON.stringify(JSON.parse(doc.value), null, 2));
    } catch (_) {
      check(); // the service says where the JSON breaks
    }
  });
  $("file").addEventListener("change", (event) => {
    readFile(event.target.files[0]);
    event.target.value = "";
  });
  doc.addEventListener("input", () => {
    if (errorLine !== null || !errorBox.hidden) clearError();
    renderGutter();
  });
  doc.addEventListener("paste", () => forgetSample());
  doc.addEventListener("scroll", syncScroll);
  doc.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      check();
    }
  });
  editor.addEventListener("dragover", (event) => {
    event.preventDefault();
    editor.classList.add("dragging");
  });
  editor.addEventListener("dragleave", () => editor.classList.remove("dragging"));
  editor.addEventListener("drop", (event) => {
    event.preventDefault();
    editor.classList.remove("dragging");
    readFile(event.dataTransfer.files[0]);
  });

  renderGutter();
  if (body.dataset.sample) loadSample(body.dataset.sample, false);
  window.tractionPlayground = { check, get result() { return lastResult; } };
})();
