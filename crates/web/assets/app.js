// Marimo ERP: the little script the pages use. Everything works without
// it; it only adds the journal line editor's running difference, extra
// lines, and a confirmation before irreversible actions.
"use strict";

// Exact decimal text ("12.34", "-5", "0.5") to integer hundredths; NaN if not a number.
function cents(text) {
  const t = String(text).trim().replace(",", ".");
  if (t === "") return 0;
  const m = /^(-?)(\d+)(?:\.(\d{1,2}))?$/.exec(t);
  if (!m) return NaN;
  const v = parseInt(m[2], 10) * 100 + parseInt((m[3] || "0").padEnd(2, "0"), 10);
  return m[1] === "-" ? -v : v;
}

function showCents(v) {
  const sign = v < 0 ? "-" : "";
  const a = Math.abs(v);
  return sign + Math.floor(a / 100) + "." + String(a % 100).padStart(2, "0");
}

function updateDifference(editor) {
  let debit = 0, credit = 0, bad = false;
  editor.querySelectorAll("input[name=debit]").forEach(i => { const c = cents(i.value); if (isNaN(c)) bad = true; else debit += c; });
  editor.querySelectorAll("input[name=credit]").forEach(i => { const c = cents(i.value); if (isNaN(c)) bad = true; else credit += c; });
  const out = editor.querySelector("[data-difference]");
  if (!out) return;
  const diff = debit - credit;
  out.textContent = bad ? "?" : showCents(diff);
  out.className = !bad && diff === 0 && debit > 0 ? "diff-ok" : "diff-bad";
  const totals = editor.querySelector("[data-totals]");
  if (totals) totals.textContent = showCents(debit) + " / " + showCents(credit);
}

document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("[data-line-editor]").forEach(editor => {
    editor.addEventListener("input", () => updateDifference(editor));
    const add = editor.querySelector("[data-add-line]");
    if (add) {
      add.hidden = false;
      add.addEventListener("click", () => {
        const rows = editor.querySelectorAll("tbody tr");
        const copy = rows[rows.length - 1].cloneNode(true);
        copy.querySelectorAll("input").forEach(i => { i.value = ""; });
        rows[rows.length - 1].after(copy);
        copy.querySelector("input").focus();
      });
    }
    updateDifference(editor);
  });
  document.querySelectorAll("form[data-confirm]").forEach(form => {
    form.addEventListener("submit", e => {
      if (!window.confirm(form.getAttribute("data-confirm"))) e.preventDefault();
    });
  });
});
