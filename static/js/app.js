// Keeps the protein selection of a target page across HTMX search and paging swaps.
// Without JavaScript the checkboxes of the current page are submitted as they are.
(function () {
  "use strict";

  function selectionForm() { return document.getElementById("snapshot-form"); }

  function load(form) {
    try { return new Set(JSON.parse(sessionStorage.getItem(form.dataset.selectionKey) || "[]")); }
    catch (e) { return new Set(); }
  }

  function save(form, selected) {
    sessionStorage.setItem(form.dataset.selectionKey, JSON.stringify(Array.from(selected)));
    var counter = document.getElementById("selected-count");
    if (counter) counter.textContent = String(selected.size);
  }

  function sync() {
    var form = selectionForm();
    if (!form) return;
    var selected = load(form);
    form.querySelectorAll('input[type=checkbox][name=proteins]').forEach(function (box) {
      box.checked = selected.has(box.value);
    });
    save(form, selected);
  }

  document.addEventListener("change", function (event) {
    var box = event.target;
    var form = selectionForm();
    if (!form || box.name !== "proteins" || !form.contains(box)) return;
    var selected = load(form);
    if (box.checked) selected.add(box.value); else selected.delete(box.value);
    save(form, selected);
  });

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (form.id !== "snapshot-form") return;
    var selected = load(form);
    form.querySelectorAll('input[type=checkbox][name=proteins]').forEach(function (box) {
      selected.delete(box.value);  // boxes on this page submit themselves
    });
    selected.forEach(function (code) {
      var hidden = document.createElement("input");
      hidden.type = "hidden"; hidden.name = "proteins"; hidden.value = code;
      form.appendChild(hidden);
    });
    sessionStorage.removeItem(form.dataset.selectionKey);
  });

  document.addEventListener("click", function (event) {
    if (event.target.id !== "clear-selection") return;
    var form = selectionForm();
    if (!form) return;
    save(form, new Set());
    sync();
  });

  document.addEventListener("DOMContentLoaded", sync);
  document.addEventListener("htmx:afterSwap", sync);
})();
