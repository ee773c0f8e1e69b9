// The admin's small script (no build step). Everything works without it; it only adds
// conveniences: dialogs opened by buttons, confirmations, "select all" on lists, and polling a
// background job's progress.
"use strict";

document.addEventListener("click", (event) => {
  // <button data-open="dialog-id"> opens that <dialog>; <button data-close> closes its own.
  const opener = event.target.closest("[data-open]");
  if (opener) {
    const dialog = document.getElementById(opener.dataset.open);
    if (dialog && dialog.showModal) { event.preventDefault(); dialog.showModal(); }
    return;
  }
  const closer = event.target.closest("[data-close]");
  if (closer) {
    const dialog = closer.closest("dialog");
    if (dialog) { event.preventDefault(); dialog.close(); }
  }
});

document.addEventListener("submit", (event) => {
  // <form data-confirm="Really?"> asks first.
  const form = event.target;
  const question = form.dataset && form.dataset.confirm;
  if (question && !window.confirm(question)) event.preventDefault();
});

document.addEventListener("change", (event) => {
  // <input type=checkbox data-select-all="name"> ticks every checkbox called `name`.
  const all = event.target.closest("[data-select-all]");
  if (all) {
    document.querySelectorAll(`input[type=checkbox][name="${all.dataset.selectAll}"]`).forEach((box) => {
      box.checked = all.checked;
    });
  }
  document.dispatchEvent(new CustomEvent("selection-changed"));
});

// <div data-progress-url="/admin/…/progress.json"> is refreshed until the job says it is finished;
// the server renders the finished page, so the script reloads it then.
function pollProgress(box) {
  const url = box.dataset.progressUrl;
  const tick = async () => {
    try {
      const answer = await fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" });
      if (answer.ok) {
        const job = await answer.json();
        const bar = box.querySelector("progress");
        if (bar) { bar.max = job.total || 1; bar.value = job.done; }
        const words = box.querySelector("[data-progress-text]");
        if (words) words.textContent = `${job.done} of ${job.total} orders`;
        if (job.finished) { window.location.reload(); return; }
      }
    } catch (_) { /* the next tick tries again */ }
    setTimeout(tick, 700);
  };
  setTimeout(tick, 500);
}
document.querySelectorAll("[data-progress-url]").forEach(pollProgress);
