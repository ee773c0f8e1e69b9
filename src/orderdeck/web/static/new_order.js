// Create order: hide the billing address fields while "Same as the shipping address" is
// ticked. Without this script they stay visible and are simply ignored while it is ticked.
"use strict";

(() => {
  const same = document.getElementById("f-billing_same");
  const fields = document.getElementById("billing-fields");
  if (!same || !fields) return;
  const sync = () => { fields.hidden = same.checked; };
  same.addEventListener("change", sync);
  sync();
})();
