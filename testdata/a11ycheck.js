// An accessibility check of the page in its current state, run by the
// browser tests (browser_test.go). It covers what a person relying on a
// screen reader, a keyboard or good contrast notices on the module's pages:
// WCAG 2.2 AA rules that can be decided from the DOM and computed styles.
// It returns a list of violations, empty when there are none.
(() => {
  "use strict";
  const out = [];
  const doc = document;
  const short = (el) => el.outerHTML.replace(/\s+/g, " ").slice(0, 120);

  // 3.1.1 Language of page; 2.4.2 Page titled.
  if (!doc.documentElement.getAttribute("lang")) out.push("html has no lang attribute");
  if (!doc.title.trim()) out.push("page has no title");

  // 1.3.1 Structure: one main landmark, one h1.
  if (doc.querySelectorAll("main, [role=main]").length !== 1) out.push("page needs exactly one main landmark");
  if (doc.querySelectorAll("h1").length !== 1) out.push("page needs exactly one h1");

  // 1.4.4 Resize text: zoom must not be disabled.
  const vp = doc.querySelector("meta[name=viewport]");
  if (vp && /user-scalable\s*=\s*(no|0)|maximum-scale\s*=\s*1(\.0*)?(\D|$)/i.test(vp.content)) out.push("viewport disables zoom");

  // 4.1.1 ids are unique (aria references rely on it).
  const ids = new Set();
  for (const el of doc.querySelectorAll("[id]")) {
    if (ids.has(el.id)) out.push("duplicate id: " + el.id);
    ids.add(el.id);
  }

  const visible = (el) => {
    if (!el.getClientRects().length) return false;
    const cs = getComputedStyle(el);
    return cs.visibility !== "hidden" && cs.display !== "none";
  };

  // 1.1.1 Non-text content: images have alt; graphics are named or hidden.
  for (const img of doc.querySelectorAll("img")) {
    if (!img.hasAttribute("alt")) out.push("img without alt: " + short(img));
  }
  for (const svg of doc.querySelectorAll("svg")) {
    if (svg.closest("[aria-hidden=true]")) continue;
    if (!svg.getAttribute("aria-label") && !svg.querySelector("title")) out.push("svg neither named nor hidden: " + short(svg));
  }

  // 4.1.2 Name, role, value: every control has an accessible name.
  const accName = (el) => {
    const by = (el.getAttribute("aria-labelledby") || "").split(/\s+/).filter(Boolean)
      .map((id) => (doc.getElementById(id) || {}).textContent || "").join(" ");
    const labels = el.labels ? Array.from(el.labels).map((l) => l.textContent).join(" ") : "";
    const value = el.tagName === "INPUT" && /^(submit|button|reset)$/.test(el.type) ? el.value : "";
    return (el.getAttribute("aria-label") || by || labels || value || el.textContent || el.getAttribute("title") || "").trim();
  };
  const controls = "a[href], button, input:not([type=hidden]), select, textarea, [role=button], [tabindex]:not([tabindex='-1'])";
  for (const el of doc.querySelectorAll(controls)) {
    if (!accName(el)) out.push("control without an accessible name: " + short(el));
  }

  // 2.5.8 Target size (minimum): visible controls are at least 24x24 px.
  for (const el of doc.querySelectorAll(controls)) {
    if (!visible(el)) continue;
    const r = el.getBoundingClientRect();
    if (el.tagName !== "A" && (r.width < 24 || r.height < 24)) out.push("target smaller than 24x24: " + short(el));
  }

  // 1.4.3 Contrast (minimum), for every visible text, against the colours
  // actually behind it.
  const parse = (c) => {
    const m = c.match(/rgba?\(([^)]+)\)/);
    if (!m) return null;
    const p = m[1].split(/[\s,/]+/).filter(Boolean).map(Number);
    return { r: p[0], g: p[1], b: p[2], a: p.length > 3 ? p[3] : 1 };
  };
  const over = (top, bottom) => ({
    r: top.r * top.a + bottom.r * (1 - top.a),
    g: top.g * top.a + bottom.g * (1 - top.a),
    b: top.b * top.a + bottom.b * (1 - top.a),
    a: 1,
  });
  const lum = (c) => {
    const f = (v) => { v /= 255; return v <= 0.04045 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
    return 0.2126 * f(c.r) + 0.7152 * f(c.g) + 0.0722 * f(c.b);
  };
  const ratio = (a, b) => { const x = lum(a), y = lum(b); return (Math.max(x, y) + 0.05) / (Math.min(x, y) + 0.05); };
  // backgroundOf composites the background colours from el up to the root;
  // it returns null when an image (or gradient) lies behind the text.
  const backgroundOf = (el) => {
    const layers = [];
    for (let e = el; e; e = e.parentElement) {
      const cs = getComputedStyle(e);
      if (cs.backgroundImage && cs.backgroundImage !== "none") return null;
      const c = parse(cs.backgroundColor);
      if (c && c.a > 0) {
        layers.push(c);
        if (c.a >= 1) break;
      }
    }
    const dark = matchMedia("(prefers-color-scheme: dark)").matches;
    let bg = dark ? { r: 18, g: 18, b: 18, a: 1 } : { r: 255, g: 255, b: 255, a: 1 };
    for (let i = layers.length - 1; i >= 0; i--) bg = over(layers[i], bg);
    return bg;
  };
  const walker = doc.createTreeWalker(doc.body, NodeFilter.SHOW_TEXT);
  const seen = new Set();
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    const el = n.parentElement;
    if (!n.textContent.trim() || !el || seen.has(el) || !visible(el) || el.closest("script, style, noscript")) continue;
    seen.add(el);
    const cs = getComputedStyle(el);
    const bg = backgroundOf(el);
    if (!bg) { out.push("text over an image, contrast unknown: " + short(el)); continue; }
    const fg = over(parse(cs.color), bg);
    const size = parseFloat(cs.fontSize);
    const large = size >= 24 || (size >= 18.66 && Number(cs.fontWeight) >= 700);
    const need = large ? 3 : 4.5;
    const got = ratio(fg, bg);
    if (got < need) out.push("contrast " + got.toFixed(2) + " < " + need + " for " + JSON.stringify(n.textContent.trim().slice(0, 40)) + " (" + cs.color + " on " + JSON.stringify(bg) + ")");
  }

  // 2.4.7 Focus visible: the focused control draws an outline that stands
  // out from what is around it (3:1, as 1.4.11 asks of focus indicators).
  const active = doc.activeElement;
  if (active && active !== doc.body && active.matches(controls)) {
    const cs = getComputedStyle(active);
    if (cs.outlineStyle === "none" || parseFloat(cs.outlineWidth) < 2) {
      out.push("focused control shows no outline (" + cs.outlineStyle + " " + cs.outlineWidth + "): " + short(active));
    } else {
      const behind = backgroundOf(active.parentElement);
      const ring = parse(cs.outlineColor);
      if (behind && ring && ratio(over(ring, behind), behind) < 3) {
        out.push("focus outline contrast " + ratio(over(ring, behind), behind).toFixed(2) + " < 3: " + short(active));
      }
    }
  }
  return out;
})()
