// Spans in the webview, sent through the Rust core.
//
// The webview exports nothing itself: its content security policy allows
// no connection but Tauri's IPC, and a packaged app has no collector it
// could reach anyway. A span here is a small record; `invoke` carries the
// current span's context to a command as a `traceparent` header, and ended
// spans go to the core's `export_spans` command, which exports them under
// the webview's own service name.
"use strict";

const telemetry = (() => {
  const queue = [];
  let timer = null;

  function hex(bytes) {
    const buffer = new Uint8Array(bytes);
    crypto.getRandomValues(buffer);
    return Array.from(buffer, (b) => b.toString(16).padStart(2, "0")).join("");
  }

  // A root span for something the user did.
  function userAction(name, target) {
    return {
      name,
      traceId: hex(16),
      spanId: hex(8),
      parentSpanId: null,
      startMs: Date.now(),
      endMs: null,
      attributes: { "ui.target": target },
      error: null,
    };
  }

  function traceparent(span) {
    return `00-${span.traceId}-${span.spanId}-01`;
  }

  // `invoke` with the span's context in a header: the command's span
  // becomes its child.
  function invoke(span, command, args) {
    const headers = { traceparent: traceparent(span) };
    return window.__TAURI__.core.invoke(command, args, { headers });
  }

  function end(span, error) {
    span.endMs = Date.now();
    span.error = error ? String(error) : null;
    queue.push(span);
    // Half a second for company, then one IPC call for the batch.
    if (timer === null) {
      timer = setTimeout(flush, 500);
    }
  }

  function flush() {
    timer = null;
    const spans = queue.splice(0);
    if (spans.length === 0) {
      return Promise.resolve();
    }
    return window.__TAURI__.core
      .invoke("export_spans", { spans })
      .catch((e) => console.warn("spans not exported:", e));
  }

  // Leaving the page: send what is queued now.
  window.addEventListener("pagehide", flush);

  return { userAction, invoke, end, flush };
})();
