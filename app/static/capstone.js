// Capstone views: picking a layer and head in the selector shows its map (the form works without it).
document.addEventListener("DOMContentLoaded", function () {
  var sel = document.getElementById("head-select");
  if (sel) { sel.addEventListener("change", function () { sel.form.submit(); }); }
});
