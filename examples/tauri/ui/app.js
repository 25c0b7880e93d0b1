"use strict";

const list = document.getElementById("notes");
const input = document.getElementById("text");
const status = document.getElementById("status");

function show(notes) {
  list.replaceChildren(
    ...notes.map((note) => {
      const item = document.createElement("li");
      item.textContent = note.text;
      return item;
    }),
  );
}

// ANCHOR: add
// The click: a span in the webview, the command's spans in the core, one
// trace.
async function add() {
  const span = telemetry.userAction("click", "button#add");
  try {
    const note = await telemetry.invoke(span, "add_note", { text: input.value });
    input.value = "";
    show(await window.__TAURI__.core.invoke("list_notes"));
    status.textContent = `added note ${note.id}`;
    telemetry.end(span);
  } catch (e) {
    status.textContent = `failed: ${e}`;
    telemetry.end(span, e);
  }
}
// ANCHOR_END: add

document.getElementById("add").addEventListener("click", add);

window.__TAURI__.core
  .invoke("list_notes")
  .then((notes) => {
    show(notes);
    status.textContent = "ready";
  })
  .catch((e) => {
    status.textContent = `failed: ${e}`;
  });
