// Caption overlay page: filters the server's caption layout on an interpolated playback clock.
// The filter is the same rule as captioner.core.view.view_at (the layout itself is computed
// server-side, so both displays share one algorithm), and like ViewCache it never takes a
// piece back once shown (keep_revealed): a later estimate may move a word, not un-show it.
"use strict";
(function () {
  const params = new URLSearchParams(location.search);
  const intParam = (name, def, lo, hi) => {
    const v = parseInt(params.get(name), 10);
    return Number.isFinite(v) ? Math.min(hi, Math.max(lo, v)) : def;
  };
  const mode = params.get("mode") === "popon" ? "popon" : "rollup";
  const lines = intParam("lines", 2, 1, 5);
  const width = intParam("width", 42, 10, 200);
  const fontSize = intParam("fontSize", 32, 8, 200);
  const position = params.get("position") === "top" ? "top" : "bottom";

  const box = document.getElementById("captions");
  box.classList.add(position);
  box.style.fontSize = fontSize + "px";

  // Playback clock: last sync from the server, advanced with performance.now().
  const clock = { base: 0, perf: performance.now(), rate: 0 };
  const now = () => clock.base + (performance.now() - clock.perf) * clock.rate;

  const state = { layout: null, revision: null, key: null, painted: new Set(), pending: [],
                  renderedAt: null, ws: null, revealed: new Map(), resyncing: false };
  const overlay = window.__overlay = {
    now, state, paints: [], syncErrors: [],
    text: () => Array.from(box.querySelectorAll(".line")).map((l) => l.textContent).join("\n"),
  };

  function viewAt(lay, t) {
    const shown = lay.pieces.map((p, i) => [p, i]).filter(([p]) => p.reveal_ms <= t || (p.key && state.revealed.has(p.key)));
    let lineNos;
    if (lay.mode === "popon") {
      const opened = new Set();  // cues with a piece already shown stay up until they end
      for (const p of lay.pieces) if (p.key && state.revealed.has(p.key)) opened.add(lay.lines[p.line].cue);
      const onScreen = new Set();
      lay.cues.forEach((c, i) => { if ((c.start_ms <= t || opened.has(i)) && t < c.until_ms) onScreen.add(i); });
      lineNos = lay.lines.map((l, i) => [l, i]).filter(([l]) => onScreen.has(l.cue)).map(([, i]) => i);
    } else {
      lineNos = Array.from(new Set(shown.map(([p]) => p.line))).sort((a, b) => a - b).slice(-lines);
    }
    const byLine = new Map(lineNos.map((n) => [n, []]));
    for (const [p, i] of shown) {
      if (!byLine.has(p.line)) continue;
      const current = p.kind === "word" && p.start_ms <= t && t < p.end_ms;
      byLine.get(p.line).push({ p, i, current });
    }
    return lineNos.map((n) => ({ n, line: lay.lines[n], words: byLine.get(n) }));
  }

  function pieceId(p) { return p.key || (p.item_id + "|" + p.kind + "|" + p.start_ms.toFixed(3) + "|" + p.text); }

  function render(view) {
    const frag = document.createDocumentFragment();
    for (const { line, words } of view) {
      const div = document.createElement("div");
      div.className = "line" + (words.length ? "" : " empty");
      if (line.label) {
        const lab = document.createElement("span");
        lab.className = "label " + line.role;
        lab.textContent = line.label + ":";
        div.appendChild(lab);
      }
      words.forEach(({ p, current }, k) => {
        if (k > 0 && !p.glue) div.appendChild(document.createTextNode(" "));
        const span = document.createElement("span");
        span.className = ["piece", p.role, p.kind, p.provisional ? "provisional" : "", current ? "current" : ""]
          .filter(Boolean).join(" ");
        span.textContent = p.text;
        div.appendChild(span);
      });
      frag.appendChild(div);
    }
    box.replaceChildren(frag);
  }

  function frame() {
    const lay = state.layout;
    if (lay) {
      const t = now();
      const view = viewAt(lay, t);
      for (const p of lay.pieces) {
        if (p.key && p.reveal_ms <= t && !state.revealed.has(p.key)) state.revealed.set(p.key, p.reveal_ms);
      }
      const key = state.revision + ":" + view.map(({ n, words }) =>
        n + "[" + words.map(({ i, current }) => i + (current ? "*" : "")).join(",") + "]").join(";");
      if (key !== state.key) {
        render(view);
        state.key = key;
        const painted = now(); // the DOM is committed; it is painted in this frame
        for (const { words } of view) {
          for (const { p } of words) {
            const id = pieceId(p);
            if (state.painted.has(id)) continue;
            state.painted.add(id);
            const rec = { text: p.text, item_id: p.item_id, kind: p.kind, reveal_ms: p.reveal_ms,
                          start_ms: p.start_ms, painted_ms: painted };
            overlay.paints.push(rec);
            if (overlay.paints.length > 5000) overlay.paints.splice(0, 2500);
            state.pending.push(rec);
          }
        }
      }
      state.renderedAt = t;
      if (state.pending.length > 200) state.pending.splice(0, state.pending.length - 200);  // offline
      if (state.pending.length && state.ws && state.ws.readyState === 1) {
        const errs = overlay.syncErrors;
        // small reports: the server closes a connection whose message exceeds 8 KiB
        state.ws.send(JSON.stringify({ type: "painted", pieces: state.pending.splice(0, 20),
                                       sync_error_ms: errs.length ? errs[errs.length - 1] : null }));
      }
    }
    requestAnimationFrame(frame);
  }

  function connect() {
    const q = new URLSearchParams({ mode, lines: String(lines), width: String(width) });
    const ws = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws?" + q);
    state.ws = ws;
    state.resyncing = false;
    ws.onmessage = (ev) => {
      let msg;
      try { msg = JSON.parse(ev.data); } catch (e) { return; }
      if (msg.type === "clock") {
        if (clock.rate) {
          overlay.syncErrors.push(now() - msg.now_ms);  // drift of the interpolated clock
          if (overlay.syncErrors.length > 1000) overlay.syncErrors.splice(0, 500);
        }
        clock.base = msg.now_ms; clock.perf = performance.now(); clock.rate = msg.rate;
      } else if (msg.type === "captions") {  // the whole layout (on connecting, or a resync)
        state.layout = msg.layout; state.revision = msg.revision; state.key = null; state.resyncing = false;
        state.renderedAt = null;  // not rendered yet: the next frame shows this layout
        state.revealed = new Map();  // a whole layout starts over (a reconnect may meet a restarted session)
      } else if (msg.type === "captions_diff") {  // what changed since the revision we have
        if (!state.layout || msg.base !== state.revision) {  // not what we have: ask for all of it (once)
          if (!state.resyncing) ws.send(JSON.stringify({ type: "resync" }));
          state.resyncing = true;
          return;
        }
        const lay = Object.assign({}, msg.layout);
        for (const part of ["lines", "pieces", "cues"]) {
          lay[part] = state.layout[part].slice(0, msg.layout[part].keep).concat(msg.layout[part].add);
        }
        state.layout = lay; state.revision = msg.revision; state.key = null; state.renderedAt = null;
      }
    };
    ws.onclose = () => { state.ws = null; setTimeout(connect, 1000); };
  }

  connect();
  requestAnimationFrame(frame);
})();
