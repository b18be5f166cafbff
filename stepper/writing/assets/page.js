/* stepper's interactive worked solution. Plain JavaScript, no requests: the data is the trace embedded in the
   page as JSON (#stepper-data), KaTeX is inlined before this script. Each output cell of a worked layer is a
   button (a "step"); choosing one highlights the cells it reads and shows its working. */
(function () {
  "use strict";

  var data = JSON.parse(document.getElementById("stepper-data").textContent);
  var body = document.body;
  var steps = Array.prototype.slice.call(document.querySelectorAll("button.cell"));
  var current = -1;
  var answered = {}; // try it: the steps already answered
  var LISTS = ["windows", "cells", "neurons", "elements"];

  /* ---- maths ---- */

  function tex(source, element, display) {
    if (!window.katex) { element.textContent = source; return; }
    window.katex.render(source, element, { displayMode: display, throwOnError: false, output: "htmlAndMathml" });
  }

  function renderStatic() {
    document.querySelectorAll(".tex").forEach(function (el) {
      tex(el.textContent, el, el.classList.contains("display"));
    });
  }

  /* ---- a step's data ---- */

  function stepOf(button) {
    var layer = data.layers[Number(button.dataset.layer)];
    // a transposed convolution worked as a convolution: that convolution's windows (page.py's as_convolution)
    if (layer.convolution) layer = Object.assign({}, layer, layer.convolution);
    var field = LISTS.filter(function (name) { return Array.isArray(layer[name]); })[0];
    return { layer: layer, index: Number(button.dataset.layer), field: field, item: layer[field][Number(button.dataset.item)] };
  }

  function where(step, button) {
    var item = step.item, text = button.getAttribute("aria-label");
    if (step.field === "windows") {
      text += ": " + (padded(step.layer) ? "padded " : "") + "rows " + item.rows[0] + "\u2013" + item.rows[1] +
        ", columns " + item.cols[0] + "\u2013" + item.cols[1];
    }
    return text;
  }

  function padded(layer) {
    var p = layer.padding || {};
    return Boolean(p.top || p.bottom || p.left || p.right);
  }

  function working(step) {
    var item = step.item;
    if (item.working) return item.working;
    var x = item.x ? item.x.text : "", y = item.y ? item.y.text : "";
    if (step.layer.kind === "relu") return "\\max(0, " + x + ") = " + y;
    return "\\operatorname{" + step.layer.kind.replace(/_/g, "\\_") + "}(" + x + ") = " + y;
  }

  function answer(step) {
    var item = step.item;
    return (item.value || item.y || {}).text || "";
  }

  /* ---- highlighting ---- */

  function tablesOf(layer, role, lead) {
    var found = document.querySelectorAll('table[data-layer="' + layer + '"][data-role="' + role + '"]');
    return Array.prototype.filter.call(found, function (t) {
      return lead === undefined || (t.dataset.lead + ",").indexOf(lead + ",") === 0;
    });
  }

  function markCell(layer, role, at, cls) {
    tablesOf(layer, role).forEach(function (t) {
      var td = t.querySelector('td[data-at="' + at + '"]');
      if (td) td.classList.add(cls);
    });
  }

  function markTables(layer, role, lead) {
    tablesOf(layer, role, lead).forEach(function (t) {
      t.querySelectorAll("td[data-at]").forEach(function (td) { td.classList.add("hl"); });
    });
  }

  function highlight(step, button) {
    document.querySelectorAll("td.hl, td.win, td.current").forEach(function (td) {
      td.classList.remove("hl", "win", "current");
    });
    var L = step.index, item = step.item;
    if (step.field === "windows") {
      item.cells.forEach(function (cell) { markCell(L, "padded", cell.join(","), "hl"); });
      if (item.filter) markTables(L, "filter", String(item.filter));
      if (item.winner) markCell(L, "padded", item.channel + "," + item.winner.join(","), "win");
    } else if (step.field === "cells" && step.layer.kind === "conv1x1") {
      for (var c = 1; c <= step.layer.input.shape[0]; c++) markCell(L, "in", c + "," + item.index.join(","), "hl");
      markTables(L, "weights");
    } else if (step.field === "neurons") {
      markTables(L, "in");
      markTables(L, "weights-" + item.index[0]);
    } else if (step.field === "elements") {
      markCell(L, "in", item.index.join(","), "hl");
    }
    button.parentElement.classList.add("current");
  }

  /* ---- showing a step ---- */

  function panelOf(button) {
    return button.closest(".stage").querySelector(".panel");
  }

  function show(k, focus) {
    if (k < 0 || k >= steps.length) return;
    var button = steps[k], step = stepOf(button), panel = panelOf(button);
    current = k;
    highlight(step, button);
    rove(button);
    document.querySelectorAll(".current-stage, .current-group").forEach(function (el) {
      el.classList.remove("current-stage", "current-group");
    });
    button.closest(".stage").classList.add("current-stage");
    var group = button.closest(".group[data-group]");
    if (group) group.classList.add("current-group");
    panel.querySelector(".where").textContent = where(step, button);
    var asking = body.classList.contains("tryit") && !answered[k];
    ask(panel, asking, focus);
    if (!asking) reveal(panel, step);
    label(k, step);
    if (focus && !asking) button.focus({ preventScroll: true });
    if (body.classList.contains("present")) window.scrollTo(0, 0);
    else button.scrollIntoView({ block: "nearest", inline: "nearest" });
  }

  function reveal(panel, step) {
    tex(working(step), panel.querySelector(".working"), true);
  }

  function label(k, step) {
    document.getElementById("step-label").textContent =
      "Step " + (k + 1) + " of " + steps.length + " \u00b7 " + step.layer.heading;
    document.getElementById("previous").disabled = k <= 0;
    document.getElementById("next").disabled = k >= steps.length - 1;
  }

  /* ---- try it: the value asked before the working is shown ---- */

  function ask(panel, asking, focus) {
    var form = panel.querySelector(".try"), input = form.querySelector("input");
    form.hidden = !asking;
    panel.querySelector(".working").textContent = "";
    var verdict = panel.querySelector(".verdict");
    verdict.textContent = "";
    verdict.className = "verdict";
    if (asking) {
      input.value = "";
      if (focus === "answer") input.focus();
    }
  }

  /* A value as text, compared loosely: any minus sign, no spaces, no leading plus or "≈", no trailing zeros. */
  function normal(text) {
    var t = String(text).replace(/[\s{}]|\\,|\\!/g, "").replace(/[\u2212\u2012\u2013\u2014\uFE63\uFF0D]/g, "-");
    t = t.replace(/^(\\approx|\u2248|\+)/, "").replace(/^-?\+/, function (s) { return s.charAt(0) === "-" ? "-" : ""; });
    t = t.replace(/,(\d)/g, ".$1");
    var m = /^(-?)(\d*)(?:\.(\d*))?$/.exec(t);
    if (!m || (m[2] === "" && !m[3])) return t;
    var whole = m[2].replace(/^0+(?=\d)/, "") || "0", part = (m[3] || "").replace(/0+$/, "");
    var number = whole + (part ? "." + part : "");
    return number === "0" ? "0" : m[1] + number;
  }

  function check(event) {
    event.preventDefault();
    if (current < 0) return;
    var button = steps[current], step = stepOf(button), panel = panelOf(button);
    var input = panel.querySelector(".try input"), expected = answer(step);
    var right = normal(input.value) === normal(expected);
    var verdict = panel.querySelector(".verdict");
    verdict.className = "verdict " + (right ? "right" : "wrong");
    verdict.textContent = right ? "\u2713 Right: " + shown(expected) + "."
      : "\u2717 Not quite: you wrote " + (input.value.trim() || "nothing") + "; the value is " + shown(expected) + ".";
    answered[current] = true;
    button.classList.add("revealed");
    panel.querySelector(".try").hidden = true;
    reveal(panel, step);
    button.focus({ preventScroll: true });
  }

  function shown(text) {
    return text.replace(/^-/, "\u2212");
  }

  /* ---- modes ---- */

  function toggle(id, cls, on) {
    var control = document.getElementById(id);
    on = on === undefined ? !body.classList.contains(cls) : on;
    body.classList.toggle(cls, on);
    control.setAttribute("aria-pressed", String(on));
    return on;
  }

  function present(on) {
    on = toggle("present", "present", on);
    var root = document.documentElement;
    if (on) {
      if (root.requestFullscreen && !document.fullscreenElement) root.requestFullscreen().catch(function () {});
      show(current < 0 ? 0 : current, false);
    } else if (document.fullscreenElement && document.exitFullscreen) {
      document.exitFullscreen().catch(function () {});
    }
    if (!on && current >= 0) steps[current].scrollIntoView({ block: "center" });
  }

  /* ---- the keyboard: arrows (and Home, End) move between a map's cells; PageUp/PageDown step; Escape leaves
     present ---- */

  /* A map is one tab stop (a roving tabindex): Tab passes over its cells to what follows, the arrows move
     between them, and the cell last visited is the one Tab comes back to. */
  function rove(button) {
    var table = button.closest("table");
    table.querySelectorAll("button.cell").forEach(function (b) { b.tabIndex = b === button ? 0 : -1; });
  }

  function move(button, key) {
    var td = button.parentElement, tr = td.parentElement, rows = tr.parentElement.rows;
    var r = tr.sectionRowIndex, c = td.cellIndex;
    var dr = { ArrowUp: -1, ArrowDown: 1 }[key] || 0, dc = { ArrowLeft: -1, ArrowRight: 1 }[key] || 0;
    var row = rows[r + dr], cell = row && row.cells[c + dc], target = cell && cell.querySelector("button.cell");
    if (key === "Home" || key === "End") {
      var all = tr.parentElement.querySelectorAll("button.cell");
      target = all[key === "Home" ? 0 : all.length - 1];
    }
    if (target) { rove(target); target.focus(); }
  }

  function onKey(event) {
    var target = event.target;
    if (event.key === "Escape" && body.classList.contains("present")) { present(false); return; }
    if (target.tagName === "INPUT") return;
    if (target.classList && target.classList.contains("cell") && /^(Arrow|Home$|End$)/.test(event.key)) {
      event.preventDefault();
      move(target, event.key);
    } else if (event.key === "PageDown" || (body.classList.contains("present") && event.key === "ArrowRight")) {
      event.preventDefault();
      show(current + 1, false);
    } else if (event.key === "PageUp" || (body.classList.contains("present") && event.key === "ArrowLeft")) {
      event.preventDefault();
      show(Math.max(current - 1, 0), false);
    }
  }

  /* ---- wiring ---- */

  function start() {
    renderStatic();
    document.querySelectorAll("table.map").forEach(function (table) {
      var first = table.querySelector("button.cell");
      if (first) rove(first);
    });
    steps.forEach(function (button, k) {
      button.addEventListener("click", function () { show(k, "answer"); });
    });
    document.querySelectorAll(".try").forEach(function (form) { form.addEventListener("submit", check); });
    document.getElementById("next").addEventListener("click", function () { show(current + 1, false); });
    document.getElementById("previous").addEventListener("click", function () { show(Math.max(current - 1, 0), false); });
    document.getElementById("shade").addEventListener("click", function () {
      document.getElementById("legend").hidden = !toggle("shade", "shaded");
    });
    document.getElementById("try").addEventListener("click", function () {
      toggle("try", "tryit");
      if (current >= 0) show(current, false);
    });
    document.getElementById("present").addEventListener("click", function () { present(); });
    document.addEventListener("fullscreenchange", function () {
      if (!document.fullscreenElement && body.classList.contains("present")) present(false);
    });
    document.addEventListener("keydown", onKey);
    document.getElementById("previous").disabled = true;
    if (!steps.length) document.getElementById("next").disabled = true;
  }

  start();
})();
