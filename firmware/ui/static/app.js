/* The officer interface's script: draws what the device's event stream says, sends what the
   officer taps. Server-sent events only (never a polling loop); no storage of anything in the
   browser; print bands and preview frames are drawn and forgotten, and cleared on submit. */
"use strict";

(function () {
  const $ = (id) => document.getElementById(id);
  const S = JSON.parse($("strings").textContent);
  const boot = JSON.parse($("boot").textContent);
  const lang = document.documentElement.lang;
  const state = {
    signedIn: boot.signed_in,
    locked: boot.locked,
    officer: boot.officer,
    status: boot.status,
    shift: boot.shift || [],
    hits: boot.hits || [],
    check: null, // {fingers: [...], index, captured: {}, accepted: Set, face: bool}
    chosen: new Set([2, 7]),
    waiting: null, // record id hex the result screen waits for
    screen: null,
  };

  const fmt = (text, values) => text.replace(/\{(\w+)\}/g, (_, k) => (k in values ? values[k] : ""));
  const number = new Intl.NumberFormat(lang);
  const clock = new Intl.DateTimeFormat(lang, { hour: "2-digit", minute: "2-digit" });

  // -- calls ------------------------------------------------------------------------------------

  async function call(path, body) {
    let response;
    try {
      response = await fetch(path, {
        method: "POST",
        headers: { "Content-Type": "application/json", "X-Hotspot": "1" },
        body: JSON.stringify(body || {}),
        credentials: "same-origin",
        cache: "no-store",
      });
    } catch (e) {
      // No answer at all (the service is down or restarting): say so in the officer's words,
      // not the browser's "Failed to fetch".
      const error = new Error(S.errors.unreachable);
      error.code = "unreachable";
      throw error;
    }
    let data = {};
    try { data = await response.json(); } catch (e) { data = {}; }
    if (!response.ok) {
      if (response.status === 401) { location.reload(); }
      if (response.status === 423) { state.locked = true; render(); }
      const error = new Error(data.message || response.statusText);
      error.code = data.error;
      throw error;
    }
    return data;
  }

  function showError(message) {
    const box = $("error");
    box.textContent = message || "";
    box.hidden = !message;
  }

  async function act(path, body) {
    showError("");
    try {
      return await call(path, body);
    } catch (error) {
      showError(error.message);
      return null;
    }
  }

  // -- screens ----------------------------------------------------------------------------------

  function show(name) {
    state.screen = name;
    for (const section of document.querySelectorAll(".screen")) {
      section.hidden = section.id !== "screen-" + name;
    }
    const heading = document.querySelector("#screen-" + name + " h1");
    if (heading) { heading.tabIndex = -1; heading.focus({ preventScroll: true }); }
  }

  function render() {
    if (!state.signedIn) { show("sign-in"); return; }
    if (state.locked) {
      $("locked-officer").textContent = state.officer || "";
      $("unlock-officer").value = state.officer || "";
      show("locked");
      renderHit();
      return;
    }
    if (boot.check && !state.check) resume(boot.check);
    else if (!state.screen || state.screen === "sign-in" || state.screen === "locked") showHome();
    renderHit();
  }

  function resume(open) {
    // The page was reloaded during a check (a language change, an unlock): carry on.
    state.check = {
      fingers: open.fingers,
      index: open.fingers.findIndex((p) => !open.accepted.includes(p)),
      captured: open.captured,
      accepted: new Set(open.accepted),
      face: open.face,
    };
    if (state.check.index >= 0) showFinger();
    else if (open.face) showReview();
    else { state.check.index = open.fingers.length; showFace(); }
  }

  function operationText() {
    const op = boot.operation || {};
    return [op.name, op.site].filter(Boolean).join(" — ");
  }

  // -- status bar -------------------------------------------------------------------------------

  function renderStatus(s) {
    state.status = s;
    const link = $("st-link-text");
    if (s.link_up) {
      const parts = [s.operator, s.technology, s.signal_dbm != null ? fmt(S.signal, { dbm: number.format(s.signal_dbm) }) : null];
      link.textContent = parts.filter(Boolean).join(" · ") || S.link_up;
      link.className = "value up";
    } else {
      link.textContent = S.link_down;
      link.className = "value down";
    }
    const battery = $("st-battery-text");
    if (s.battery_percent == null) {
      battery.textContent = S.battery_unknown;
      battery.className = "value low";
    } else {
      const percent = new Intl.NumberFormat(lang, { style: "percent", maximumFractionDigits: 0 });
      battery.textContent = percent.format(s.battery_percent / 100) + (s.charging ? " · " + S.charging : "");
      battery.className = s.battery_low ? "value low" : "value";
    }
    renderBacklog();
    $("st-gnss-text").textContent = s.gnss
      ? s.gnss.map((x) => new Intl.NumberFormat(lang, { maximumFractionDigits: 4 }).format(x)).join(", ")
      : S.no_fix;
    if (s.battery_low && state.signedIn) showError(S.errors.battery_low);
    const pending = $("sign-in-pending");
    if (pending) pending.hidden = !(boot.pending_hits > 0);
  }

  function renderBacklog() {
    const s = state.status;
    let text = s.backlog_text;
    if (s.backlog > 0 && s.oldest_ms) {
      const minutes = Math.max(0, Math.round((Date.now() - s.oldest_ms) / 60000));
      const age = new Intl.NumberFormat(lang, { style: "unit", unit: "minute", unitDisplay: "short" }).format(minutes);
      text += " · " + fmt(S.oldest, { age: age });
    }
    $("st-backlog-text").textContent = text;
  }

  function tick() {
    const now = new Date();
    const el = $("st-clock-text");
    el.textContent = clock.format(now);
    el.dateTime = now.toISOString();
    renderBacklog();
  }

  // -- sign-in, lock ----------------------------------------------------------------------------

  $("sign-in-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const result = await act("/api/sign-in", { officer: $("officer").value, pin: $("pin").value });
    $("pin").value = "";
    if (result) location.reload();
  });

  $("unlock-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const result = await act("/api/unlock", { pin: $("unlock-pin").value });
    $("unlock-pin").value = "";
    if (result) location.reload();
  });

  for (const select of document.querySelectorAll("select.language")) {
    select.addEventListener("change", async () => {
      if (await act("/api/language", { language: select.value })) location.reload();
    });
  }

  $("lock").addEventListener("click", async () => {
    await act("/api/lock");
    location.reload();
  });
  $("end-shift").addEventListener("click", async () => {
    await act("/api/sign-out", { end_shift: true });
    location.reload();
  });
  $("locked-sign-out").addEventListener("click", async () => {
    await act("/api/sign-out", { end_shift: false });
    location.reload();
  });

  let lastActivity = 0;
  document.addEventListener("pointerdown", () => {
    if (!state.signedIn || state.locked || Date.now() - lastActivity < 30000) return;
    lastActivity = Date.now();
    call("/api/activity").catch(() => {});
  });

  // -- home and the shift -----------------------------------------------------------------------

  function showHome() {
    $("home-operation").textContent = operationText();
    renderShift();
    show("home");
  }

  function outcomeText(line) {
    return line.outcome ? line.outcome_text : line.state_text;
  }

  function renderShift() {
    const list = $("shift-list");
    list.replaceChildren();
    if (!state.shift.length) {
      const empty = document.createElement("li");
      empty.textContent = S.no_checks;
      list.append(empty);
      return;
    }
    for (const line of state.shift) {
      const item = document.createElement("li");
      item.className = "line-" + (line.outcome || line.state);
      const button = document.createElement("button");
      button.type = "button";
      const time = document.createElement("span");
      time.className = "time";
      time.textContent = line.time_text;
      const what = document.createElement("span");
      what.textContent = (line.case || S.no_reference) + " · " + line.fingers_text + (line.face ? " · " + S.with_face : "");
      const outcome = document.createElement("span");
      outcome.className = "outcome";
      outcome.textContent = outcomeText(line);
      const stateLine = document.createElement("span");
      stateLine.className = "state";
      stateLine.textContent = line.acknowledged_ms
        ? fmt(S.acknowledged, { officer: line.acknowledged_by, time: line.acknowledged_time_text })
        : line.state_text;
      button.append(time, what, outcome, stateLine);
      button.addEventListener("click", () => showResult(line));
      item.append(button);
      list.append(item);
    }
  }

  function upsertLine(line) {
    const at = state.shift.findIndex((x) => x.id === line.id);
    if (at >= 0) state.shift[at] = line; else state.shift.unshift(line);
    if (state.screen === "home") renderShift();
  }

  $("new-check").addEventListener("click", () => {
    for (const button of document.querySelectorAll(".finger")) {
      const position = Number(button.dataset.position);
      button.textContent = S.fingers[position];
      button.setAttribute("aria-pressed", state.chosen.has(position) ? "true" : "false");
    }
    show("choose");
  });

  for (const button of document.querySelectorAll(".finger")) {
    button.addEventListener("click", () => {
      const position = Number(button.dataset.position);
      if (state.chosen.has(position)) state.chosen.delete(position); else state.chosen.add(position);
      button.setAttribute("aria-pressed", state.chosen.has(position) ? "true" : "false");
    });
  }

  $("choose-cancel").addEventListener("click", showHome);
  $("choose-start").addEventListener("click", async () => {
    const fingers = [...state.chosen].sort((a, b) => a - b);
    if (!fingers.length) return;
    if (!(await act("/api/check/begin", { fingers: fingers }))) return;
    state.check = { fingers: fingers, index: 0, captured: {}, accepted: new Set(), face: false };
    showFinger();
  });

  // -- fingers ----------------------------------------------------------------------------------

  const printCanvas = $("print-canvas");
  const maskCanvas = $("mask-canvas");

  function clearImages() {
    for (const canvas of [printCanvas, maskCanvas, $("face-canvas")]) {
      canvas.getContext("2d").clearRect(0, 0, canvas.width, canvas.height);
    }
  }

  function currentPosition() {
    return state.check.fingers[state.check.index];
  }

  function showFinger() {
    const position = currentPosition();
    $("h-finger").textContent = S.fingers[position];
    $("finger-step").textContent = fmt(S.finger_step, {
      number: number.format(state.check.index + 1),
      count: number.format(state.check.fingers.length),
    });
    printCanvas.setAttribute("aria-label", S.print_label + ": " + S.fingers[position]);
    clearImages();
    $("finger-prompt").textContent = S.place_finger;
    $("finger-quality").textContent = "";
    $("finger-guidance").replaceChildren();
    $("finger-capture").hidden = false;
    $("finger-capture").disabled = false;
    $("finger-retake").hidden = true;
    $("finger-accept").hidden = true;
    show("finger");
  }

  async function capture() {
    $("finger-capture").disabled = true;
    $("finger-retake").disabled = true;
    $("finger-accept").hidden = true;
    $("finger-quality").textContent = "";
    $("finger-guidance").replaceChildren();
    $("finger-prompt").textContent = S.place_finger;
    if (!(await act("/api/check/finger", { position: currentPosition() }))) {
      $("finger-capture").disabled = false;
      $("finger-retake").disabled = false;
    }
  }
  $("finger-capture").addEventListener("click", capture);
  $("finger-retake").addEventListener("click", capture);

  $("finger-accept").addEventListener("click", async () => {
    if (!(await act("/api/check/finger", { position: currentPosition(), accept: true }))) return;
    state.check.index += 1;
    if (state.check.index < state.check.fingers.length) showFinger(); else showFace();
  });
  $("finger-cancel").addEventListener("click", abandon);

  function drawBand(data) {
    if (state.screen !== "finger" || data.position !== currentPosition()) return;
    if (printCanvas.width !== data.width || printCanvas.height !== data.height) {
      printCanvas.width = data.width;
      printCanvas.height = data.height;
    }
    $("finger-prompt").textContent = data.y + 16 >= data.height ? S.analysing : S.receiving;
    const image = new Image();
    image.onload = () => printCanvas.getContext("2d").drawImage(image, 0, data.y);
    image.src = "data:image/png;base64," + data.png;
  }

  function fingerDone(data) {
    if (state.screen !== "finger" || data.position !== currentPosition()) return;
    state.check.captured[data.position] = data.quality;
    $("finger-prompt").textContent = "";
    const quality = $("finger-quality");
    quality.textContent = fmt(data.acceptable ? S.quality : S.quality_low, { score: number.format(data.quality) });
    quality.className = "quality " + (data.acceptable ? "good" : "poor");
    const list = $("finger-guidance");
    list.replaceChildren(...data.guidance_text.map((text) => {
      const item = document.createElement("li");
      item.textContent = text;
      return item;
    }));
    const mask = new Image();
    mask.onload = () => {
      maskCanvas.width = mask.width;
      maskCanvas.height = mask.height;
      maskCanvas.getContext("2d").drawImage(mask, 0, 0);
    };
    mask.src = "data:image/png;base64," + data.mask;
    $("finger-capture").hidden = true;
    $("finger-retake").hidden = false;
    $("finger-retake").disabled = false;
    $("finger-accept").hidden = false;
    requestAnimationFrame(() => { list.dataset.shownMs = String(Date.now()); });
  }

  function fingerError(data) {
    if (state.screen !== "finger") return;
    $("finger-prompt").textContent = "";
    showError(data.message);
    $("finger-capture").disabled = false;
    $("finger-retake").disabled = false;
  }

  // -- face -------------------------------------------------------------------------------------

  const faceCanvas = $("face-canvas");
  let frames = 0;

  function showFace() {
    $("face-quality").textContent = "";
    $("face-guidance").textContent = "";
    faceCanvas.setAttribute("aria-label", S.preview_label);
    $("face-start").hidden = false;
    $("face-start").disabled = false;
    $("face-finish").hidden = true;
    $("face-retake").hidden = true;
    $("face-next").hidden = true;
    show("face");
  }

  async function startFace() {
    $("face-start").hidden = true;
    $("face-retake").hidden = true;
    $("face-next").hidden = true;
    $("face-finish").hidden = false;
    state.check.face = false;
    if (!(await act("/api/check/face", { step: "capture" }))) {
      $("face-start").hidden = false;
      $("face-finish").hidden = true;
    }
  }
  $("face-start").addEventListener("click", startFace);
  $("face-retake").addEventListener("click", startFace);
  $("face-finish").addEventListener("click", () => act("/api/check/face", { step: "finish" }));
  $("face-skip").addEventListener("click", async () => {
    await act("/api/check/face", { step: "finish" });
    if (state.check.face) await act("/api/check/face", { step: "drop" });
    state.check.face = false;
    showReview();
  });
  $("face-next").addEventListener("click", showReview);

  function drawFrame(data) {
    if (state.screen !== "face") return;
    const bytes = Uint8Array.from(atob(data.jpeg), (c) => c.charCodeAt(0));
    createImageBitmap(new Blob([bytes], { type: "image/jpeg" })).then((bitmap) => {
      if (faceCanvas.width !== bitmap.width || faceCanvas.height !== bitmap.height) {
        faceCanvas.width = bitmap.width;
        faceCanvas.height = bitmap.height;
      }
      const g = faceCanvas.getContext("2d");
      g.drawImage(bitmap, 0, 0);
      bitmap.close();
      if (data.box) {
        const scale = faceCanvas.width / data.width;
        g.lineWidth = 3;
        g.strokeStyle = data.guidance.length ? "#ffab00" : "#00e676";
        g.strokeRect(data.box[0] * scale, data.box[1] * scale, data.box[2] * scale, data.box[3] * scale);
      }
      frames += 1;
      // Public counters of what was drawn (the preview's frame rate is measured from them).
      faceCanvas.dataset.frames = String(frames);
      if (!faceCanvas.dataset.firstMs) faceCanvas.dataset.firstMs = String(Date.now());
      faceCanvas.dataset.lastMs = String(Date.now());
    });
    $("face-guidance").textContent = data.guidance_text.length ? data.guidance_text[0] : "";
  }

  function faceDone(data) {
    if (state.screen !== "face") return;
    state.check.face = true;
    $("face-quality").textContent = fmt(S.face_good, { score: number.format(data.quality) });
    $("face-guidance").textContent = data.guidance_text.length ? data.guidance_text[0] : "";
    $("face-finish").hidden = true;
    $("face-retake").hidden = false;
    $("face-next").hidden = false;
  }

  function faceError(data) {
    if (state.screen !== "face") return;
    showError(data.message);
    $("face-finish").hidden = true;
    $("face-start").hidden = false;
  }

  // -- review and submit ------------------------------------------------------------------------

  function showReview() {
    const summary = $("review-summary");
    summary.replaceChildren(...state.check.fingers.map((p) => {
      const item = document.createElement("li");
      item.textContent = S.fingers[p] + " — " + fmt(S.quality, { score: number.format(state.check.captured[p] || 0) });
      return item;
    }));
    if (state.check.face) {
      const item = document.createElement("li");
      item.textContent = S.with_face;
      summary.append(item);
    }
    $("case-ref").value = "";
    show("review");
  }

  $("review-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const result = await act("/api/check/submit", { case: $("case-ref").value });
    if (!result) return;
    clearImages();
    state.check = null;
    state.waiting = result.record_id;
    $("h-result").textContent = $("case-ref").value || S.no_reference;
    $("result-state").textContent = result.state === "sent" ? S.waiting_answer : S.queued_no_link;
    $("result-state").className = "result-state " + result.state;
    $("result-state").dataset.state = result.state;
    $("result-detail").textContent = "";
    $("result-action").textContent = "";
    show("result");
  });
  $("review-abandon").addEventListener("click", abandon);

  async function abandon() {
    await act("/api/check/abandon");
    clearImages();
    state.check = null;
    showHome();
  }

  function showResult(line) {
    state.waiting = line.id;
    $("h-result").textContent = (line.case || S.no_reference) + " · " + line.time_text;
    const result = $("result-state");
    result.textContent = outcomeText(line);
    result.className = "result-state " + (line.outcome || line.state);
    result.dataset.state = line.outcome || line.state;
    const details = [line.fingers_text + (line.face ? " · " + S.with_face : "")];
    if (line.reference) details.push(line.reference);
    if (line.notice_text) details.push(line.notice_text);
    if (line.modalities_text) details.push(fmt(S.matched_by, { modalities: line.modalities_text }));
    if (line.fmr != null) details.push(fmt(S.estimated_fmr, { rate: new Intl.NumberFormat(lang, { notation: "scientific", maximumFractionDigits: 1 }).format(line.fmr) }));
    if (line.reason) details.push(line.reason);
    if (line.acknowledged_ms) details.push(fmt(S.acknowledged, { officer: line.acknowledged_by, time: line.acknowledged_time_text }));
    $("result-detail").textContent = details.join(" · ");
    $("result-action").textContent = line.action_text || "";
    show("result");
  }
  $("result-done").addEventListener("click", () => { state.waiting = null; showHome(); });

  // -- answers, notifications, the HIT ----------------------------------------------------------

  function notify(line) {
    const button = document.createElement("button");
    button.type = "button";
    button.className = "notice";
    button.dataset.record = line.id;
    button.textContent = fmt(S.late_answer, {
      reference: line.case || S.no_reference,
      time: line.time_text,
      outcome: outcomeText(line),
    });
    button.addEventListener("click", () => { button.remove(); showResult(line); });
    $("notices").append(button);
  }

  function answer(data) {
    const line = data.line;
    upsertLine(line);
    if (line.outcome === "hit" && line.needs_acknowledgement) {
      if (!state.hits.some((h) => h.id === line.id)) state.hits.push(line);
      renderHit(data.received_ms);
    }
    if (data.live && state.screen === "result" && state.waiting === line.id) showResult(line);
    else if (line.outcome !== "hit") notify(line);
  }

  let alarm = null;
  function renderHit(receivedMs) {
    const box = $("hit");
    const line = state.hits[0];
    if (!line || !state.signedIn) { box.hidden = true; stopAlarm(); return; }
    $("hit-notice").textContent = line.notice_text || "";
    $("hit-reference").textContent = line.reference || "";
    $("hit-modalities").textContent = line.modalities_text || "";
    $("hit-check").textContent = (line.case || S.no_reference) + " · " + line.time_text;
    $("hit-action").textContent = line.action_text || "";
    $("hit-training").hidden = !line.training;
    $("hit-training").textContent = S.training_hit;
    $("hit-unlock").hidden = !state.locked;
    box.dataset.record = line.id;
    const wasHidden = box.hidden;
    box.hidden = false;
    if (wasHidden) {
      $("hit-ack").focus();
      startAlarm();
      requestAnimationFrame(() => {
        box.dataset.paintedMs = String(Date.now());
        if (receivedMs) box.dataset.receivedMs = String(receivedMs);
      });
    }
  }

  $("hit-ack").addEventListener("click", async () => {
    const line = state.hits[0];
    if (!line) return;
    if (state.locked) {
      // A locked device shows the HIT, but only its officer may acknowledge it.
      if (!(await act("/api/unlock", { pin: $("hit-pin").value }))) return;
      $("hit-pin").value = "";
      state.locked = false;
    }
    if (!(await act("/api/check/acknowledge", { record_id: line.id }))) return;
    state.hits.shift();
    $("hit").hidden = true;
    renderHit();
  });

  function startAlarm() {
    if (navigator.vibrate) navigator.vibrate([400, 150, 400, 150, 400]);
    try {
      const audio = new (window.AudioContext || window.webkitAudioContext)();
      const tone = audio.createOscillator();
      const gain = audio.createGain();
      tone.type = "square";
      tone.frequency.value = 880;
      gain.gain.value = 0.2;
      tone.connect(gain).connect(audio.destination);
      tone.start();
      let on = true;
      const beat = setInterval(() => { on = !on; gain.gain.value = on ? 0.2 : 0; }, 300);
      alarm = { audio: audio, beat: beat };
    } catch (e) { alarm = null; }
  }
  function stopAlarm() {
    if (!alarm) return;
    clearInterval(alarm.beat);
    alarm.audio.close();
    alarm = null;
  }

  // -- the event stream -------------------------------------------------------------------------

  function listen() {
    const stream = new EventSource("/api/events");
    const on = (name, handler) => stream.addEventListener(name, (e) => handler(JSON.parse(e.data)));
    on("hello", (data) => {
      boot.pending_hits = data.pending_hits;
      renderStatus(data.status);
      if (data.signed_in) {
        state.shift = data.shift;
        state.hits = data.hits;
        if (state.check && !data.check && !data.locked) {
          // The service restarted under us: the open check died with it.
          state.check = null;
          clearImages();
          showHome();
          showError(S.errors.restarted);
        } else if (state.screen === "home") {
          renderShift();
        }
        renderHit();
      }
    });
    on("session", (data) => {
      if (!data.signed_in || data.locked !== state.locked) location.reload();
    });
    on("status", renderStatus);
    on("hits.pending", (data) => { boot.pending_hits = data.count; renderStatus(state.status); });
    on("finger.rows", drawBand);
    on("finger.done", fingerDone);
    on("finger.error", fingerError);
    on("face.frame", drawFrame);
    on("face.done", faceDone);
    on("face.error", faceError);
    on("capture.error", (data) => showError(data.message));
    on("answer", answer);
    on("line", (data) => upsertLine(data.line));
    on("hit.acknowledged", (data) => {
      upsertLine(data.line);
      state.hits = state.hits.filter((h) => h.id !== data.line.id);
      renderHit();
    });
  }

  $("sign-in-operation").textContent = operationText();
  renderStatus(state.status);
  tick();
  setInterval(tick, 1000);
  render();
  listen();
})();
