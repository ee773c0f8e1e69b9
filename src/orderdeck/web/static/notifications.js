// The notification template editor's live preview: as staff type, the parts are posted (after a
// short pause) to the preview endpoint and the preview shows what the customer would get. The
// page works without this script: its Preview button renders the same on the server.
"use strict";

(function () {
  const form = document.getElementById("template-form");
  if (!form || !window.fetch) return;
  const url = form.dataset.previewUrl;
  const token = document.querySelector('meta[name="csrf-token"]').content;
  const body = document.querySelector(".preview-body");
  const problem = document.getElementById("preview-problem");
  const state = document.getElementById("preview-state");
  const shown = {
    subject: document.getElementById("preview-subject"),
    html: document.getElementById("preview-html"),
    text: document.getElementById("preview-text"),
    sms: document.getElementById("preview-sms"),
  };
  const labels = { subject: "Subject", html: "HTML", text: "Plain text", sms: "SMS", order: "Order" };
  let timer = null;
  let latest = 0;

  function fieldsOf() {
    const data = new URLSearchParams();
    for (const name of ["subject", "html", "text", "sms", "order"]) {
      data.append(name, form.elements[name].value);
    }
    return data;
  }

  async function refresh() {
    const asked = ++latest;
    let answer;
    try {
      answer = await fetch(url, {
        method: "POST",
        body: fieldsOf(),
        credentials: "same-origin",
        headers: { "X-CSRF-Token": token, Accept: "application/json" },
      });
    } catch (_) {
      return; // offline for a moment: the next keystroke tries again
    }
    if (asked !== latest) return; // a newer preview is on its way
    let found;
    try {
      found = await answer.json();
    } catch (_) {
      return;
    }
    // The part the problem is in is marked (as the server marks it when saving is refused).
    for (const name of Object.keys(labels)) {
      const field = form.elements[name];
      if (found.errors && found.errors[name]) field.setAttribute("aria-invalid", "true");
      else if (!document.getElementById(`e-${name}`)) field.removeAttribute("aria-invalid");
    }
    if (found.preview) {
      shown.subject.textContent = found.preview.subject;
      shown.html.srcdoc = found.preview.html;
      shown.text.textContent = found.preview.text;
      shown.sms.textContent = found.preview.sms;
      body.hidden = false;
      problem.hidden = true;
      const order = form.elements.order.value.trim().replace(/^#/, "");
      state.textContent = order ? `With order #${order}.` : "With the sample order.";
    } else {
      const words = Object.entries(found.errors || {}).map(([field, message]) => {
        const name = labels[field] ? labels[field] + ": " : "";
        return name + message;
      });
      problem.textContent = "The preview could not be made: " + words.join(" ");
      problem.hidden = false;
      state.textContent = "The preview shows the last version that worked.";
    }
  }

  form.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(refresh, 350);
  });
})();
