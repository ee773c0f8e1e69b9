// The refund page: keeps the suggested amount up to date while items, restock and shipping are
// chosen, by asking the server the same "Update suggested amount" question the button asks
// (nothing changes). Without this script the button does the same.
"use strict";

document.querySelectorAll("[data-refund-form]").forEach((form) => {
  const summary = form.querySelector("[data-refund-summary]");
  const amount = form.querySelector("#f-amount");
  let timer = null;
  let asked = 0;
  const update = async () => {
    const mine = ++asked;
    const data = new FormData(form);
    data.set("step", "calculate");
    try {
      const answer = await fetch(form.action, { method: "POST", body: data, credentials: "same-origin" });
      if (!answer.ok || mine !== asked) return;
      const page = new DOMParser().parseFromString(await answer.text(), "text/html");
      const fresh = page.querySelector("[data-refund-summary]");
      const freshAmount = page.querySelector("#f-amount");
      if (fresh && summary) summary.innerHTML = fresh.innerHTML;
      if (freshAmount && amount) amount.placeholder = freshAmount.placeholder;
    } catch (_) { /* the button still works */ }
  };
  form.addEventListener("input", (event) => {
    if (event.target === amount || event.target.name === "note") return;
    clearTimeout(timer);
    timer = setTimeout(update, 350);
  });
});
