// Reports: typing a date means "these dates", so the period follows to "Chosen dates" (without
// this script the period has to be chosen by hand; the form works either way).
document.addEventListener("DOMContentLoaded", () => {
  const period = document.getElementById("f-period");
  if (!period) return;
  for (const id of ["f-from", "f-to"]) {
    document.getElementById(id)?.addEventListener("change", () => { period.value = "custom"; });
  }
});
