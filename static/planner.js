// The subnet planner (templates/plans/planner.html). A tree editor writes the plan's text (as pretty JSON, which is
// YAML too) into the form's textarea; the textarea can be edited by hand, and the editor is rebuilt from the
// document the server read. Each change asks the server for a preview (debounced): the table of nodes, the picture
// of the parent, and the message beside the node that does not fit. Nothing here is needed to save: without
// scripts the form posts the text. The settings and every word shown come from #planner-config (the
// Content-Security-Policy forbids inline scripts).
"use strict";

(() => {
  const configNode = document.getElementById("planner-config");
  const form = document.getElementById("plan-form");
  if (!configNode || !form) {
    return;
  }
  const config = JSON.parse(configNode.textContent);
  const S = config.strings;
  const textarea = form.querySelector("textarea[name=text]");
  const parentSelect = form.querySelector("select[name=parent]");
  const editor = form.querySelector("[data-plan-editor]");
  const panel = document.querySelector("[data-plan-preview]");
  const token = form.querySelector("input[name=csrf_token]").value;
  const applyButton = document.querySelector("[data-plan-apply]");
  const applyNote = document.querySelector("[data-plan-apply-note]");
  const PLAN_KEYS = ["parent", "nibble", "headroom", "reserve", "nodes"];
  const NODE_KEYS = ["name", "names", "count", "length", "headroom", "nodes"];
  const TONES = 12;
  const DEPTHS = 8;
  const WAIT_MS = 350;

  const saved = { text: textarea.value, parent: parentSelect ? parentSelect.value : "" };
  const applyDisabled = applyButton ? applyButton.disabled : true;
  let doc = isMapping(config.tree) ? config.tree : null;
  let views = new Map(); // a node of the document → its row in the editor
  let wholeProblem = null;
  let editorNote = null;
  let timer = null;
  let asked = 0;
  let inFlight = null;
  let source = "editor"; // what changed last: the editor or the text

  // -- small helpers ------------------------------------------------------------------------------------------

  function isMapping(value) {
    return value !== null && typeof value === "object" && !Array.isArray(value);
  }

  function format(template, values) {
    return template.replace(/%\((\w+)\)[sd]/g, (whole, key) => (key in values ? String(values[key]) : whole));
  }

  function make(tag, className, text) {
    const element = document.createElement(tag);
    if (className) {
      element.className = className;
    }
    if (text !== undefined) {
      element.textContent = text;
    }
    return element;
  }

  function input(type, className, label, help) {
    const field = make("input", `form-control form-control-sm ${className}`);
    field.type = type;
    field.setAttribute("aria-label", label);
    field.title = help || label;
    return field;
  }

  function button(label, className, onClick, action) {
    const element = make("button", `btn btn-sm ${className}`, label);
    element.type = "button";
    element.dataset.action = action;
    element.addEventListener("click", onClick);
    return element;
  }

  // A number typed in a field: the number, nothing for an empty field, else the text as typed (the server
  // names the mistake beside the node).
  function typed(value) {
    const text = value.trim();
    if (text === "") {
      return undefined;
    }
    const number = Number(text);
    return Number.isFinite(number) ? number : text;
  }

  function setKey(object, key, value) {
    if (value === undefined) {
      delete object[key];
    } else {
      object[key] = value;
    }
  }

  function parentNetwork() {
    return (parentSelect && config.parents[parentSelect.value]) || (doc && typeof doc.parent === "string" ? doc.parent : "");
  }

  function width() {
    return parentNetwork().includes(":") || parentNetwork() === "" ? 128 : 32;
  }

  // -- the document ----------------------------------------------------------------------------------------------

  // The keys in the order the format documents them; keys the editor does not know stay, after them.
  function ordered(object, keys, inner) {
    const out = {};
    for (const key of [...keys, ...Object.keys(object)]) {
      if (key in object && !(key in out)) {
        out[key] = key === "nodes" && Array.isArray(object.nodes) ? object.nodes.map(inner) : object[key];
      }
    }
    return out;
  }

  function orderedNode(node) {
    return isMapping(node) ? ordered(node, NODE_KEYS, orderedNode) : node;
  }

  function serialize() {
    return `${JSON.stringify(ordered(doc, PLAN_KEYS, orderedNode), null, 2)}\n`;
  }

  // Does the node named ``node`` (a name and a count, or names) make the path segment ``segment``?
  function makes(node, segment) {
    if (!isMapping(node)) {
      return false;
    }
    if (Array.isArray(node.names)) {
      return node.names.some((name) => String(name).trim() === segment);
    }
    const name = String(node.name === undefined || node.name === null ? "" : node.name).trim();
    const count = node.count;
    if (!Number.isInteger(count) || count <= 1) {
      return segment === name;
    }
    const rest = segment.startsWith(`${name}-`) ? segment.slice(name.length + 1) : "";
    return /^[1-9]\d*$/.test(rest) && Number(rest) <= count;
  }

  // The node a problem names: a node's path (site-2/zone-1), or a place in the document (nodes[0].nodes[1].length).
  function nodeFor(path, inDocument) {
    let list = doc && doc.nodes;
    let node = null;
    if (inDocument) {
      const step = /^\.?nodes\[(\d+)\]/;
      let rest = path;
      let match = step.exec(rest);
      while (match && Array.isArray(list)) {
        node = list[Number(match[1])];
        rest = rest.slice(match[0].length);
        list = isMapping(node) ? node.nodes : null;
        match = step.exec(rest);
      }
      return node;
    }
    for (const segment of path.split("/")) {
      node = Array.isArray(list) ? list.find((candidate) => makes(candidate, segment)) : undefined;
      if (!node) {
        return null;
      }
      list = node.nodes;
    }
    return node;
  }

  function uniqueName(siblings) {
    for (let n = siblings.length + 1; ; n += 1) {
      const name = `node${n}`;
      if (!siblings.some((sibling) => makes(sibling, name))) {
        return name;
      }
    }
  }

  function newNode(siblings, length) {
    return { name: uniqueName(siblings), length };
  }

  function leafLength() {
    return width() === 128 ? 64 : 28;
  }

  // -- the editor ----------------------------------------------------------------------------------------------------

  function changed(structural) {
    textarea.value = serialize();
    source = "editor";
    showNote(false);
    if (structural) {
      render();
    }
    schedule();
  }

  function showNote(shown) {
    if (editorNote) {
      editorNote.hidden = !shown;
    }
  }

  function render() {
    editor.replaceChildren();
    editor.hidden = false;
    views = new Map();
    editorNote = make("p", "plan-editor-note small mb-2", S.notEditable);
    editorNote.hidden = doc !== null;
    editor.append(editorNote);
    if (doc === null) {
      return;
    }
    editor.append(make("h2", "h6", S.plan), wholePlan());
    wholeProblem = make("div", "plan-node-problem");
    wholeProblem.hidden = true;
    editor.append(wholeProblem, make("h2", "h6 mt-3 mb-1", S.nodes));
    const tree = make("ul", "plan-tree");
    if (Array.isArray(doc.nodes)) {
      doc.nodes.forEach((node, index) => tree.append(nodeItem(node, doc, doc.nodes, index)));
    }
    editor.append(tree);
    editor.append(
      button(`+ ${S.addTop}`, "btn-outline-primary mt-2", () => {
        if (!Array.isArray(doc.nodes)) {
          doc.nodes = [];
        }
        doc.nodes.push({ name: uniqueName(doc.nodes), nodes: [{ name: "subnet", count: 16, length: leafLength() }] });
        changed(true);
      }, "add-site"),
    );
  }

  function labelled(label, field, className) {
    const wrapper = make("div", className);
    const title = make("label", "form-label small mb-0 d-block", label);
    wrapper.append(title, field);
    return wrapper;
  }

  function wholePlan() {
    const whole = make("div", "plan-whole");
    const nibbleBox = make("div", "form-check");
    const nibble = make("input", "form-check-input");
    nibble.type = "checkbox";
    nibble.id = "plan-nibble";
    nibble.checked = doc.nibble === true;
    nibble.addEventListener("change", () => {
      doc.nibble = nibble.checked;
      changed(false);
    });
    const nibbleLabel = make("label", "form-check-label small", S.nibble);
    nibbleLabel.htmlFor = nibble.id;
    nibbleBox.append(nibble, nibbleLabel);

    const headroom = input("number", "", S.headroom, S.headroomHelp);
    headroom.min = "1";
    headroom.step = "0.5";
    headroom.placeholder = "1";
    headroom.value = doc.headroom === undefined || doc.headroom === null ? "" : String(doc.headroom);
    headroom.addEventListener("input", () => {
      setKey(doc, "headroom", typed(headroom.value));
      changed(false);
    });

    const reserve = input("text", "font-monospace", S.reserve, S.reserveHelp);
    reserve.value = Array.isArray(doc.reserve) ? doc.reserve.join(" ") : String(doc.reserve || "");
    reserve.addEventListener("input", () => {
      doc.reserve = reserve.value.split(/[\s,]+/).filter(Boolean);
      changed(false);
    });
    whole.append(
      nibbleBox,
      labelled(S.headroom, headroom, "plan-headroom"),
      labelled(S.reserve, reserve, "plan-reserve"),
    );
    return whole;
  }

  function nodeItem(node, owner, siblings, index) {
    const item = make("li");
    const row = make("div", "plan-node");
    const fields = make("div", "plan-node-fields");
    const remove = button("×", "btn-outline-danger", () => {
      siblings.splice(index, 1);
      if (siblings.length === 0 && owner !== doc) {
        delete owner.nodes; // a node without children is a leaf, not an empty list
      }
      changed(true);
    }, "remove");
    remove.title = S.remove;
    remove.setAttribute("aria-label", S.remove);
    row.append(fields);
    item.append(row);
    if (!isMapping(node)) {
      fields.append(make("span", "text-muted me-auto", JSON.stringify(node)), remove);
      return item;
    }

    const name = input("text", "plan-name", S.name, S.nameHelp);
    name.value = Array.isArray(node.names) ? node.names.join(", ") : String(node.name === undefined ? "" : node.name);
    const count = input("number", "plan-count", S.count, S.countHelp);
    count.min = "1";
    count.value = node.count === undefined ? "" : String(node.count);
    count.disabled = Array.isArray(node.names);
    name.addEventListener("input", () => {
      if (name.value.includes(",")) {
        node.names = name.value.split(",").map((part) => part.trim()).filter(Boolean);
        delete node.name;
        delete node.count;
        count.value = "";
        count.disabled = true;
      } else {
        node.name = name.value.trim();
        delete node.names;
        count.disabled = false;
      }
      changed(false);
    });
    count.addEventListener("input", () => {
      setKey(node, "count", typed(count.value));
      changed(false);
    });

    const length = input("number", "plan-length", S.length, S.lengthHelp);
    length.min = "0";
    length.max = String(width());
    length.value = node.length === undefined || node.length === null ? "" : String(node.length);
    length.addEventListener("input", () => {
      setKey(node, "length", typed(length.value));
      changed(false);
    });

    const headroom = input("number", "plan-node-headroom", S.nodeHeadroom, `${S.nodeHeadroom}: ${S.nodeHeadroomHelp}`);
    headroom.min = "1";
    headroom.step = "0.5";
    headroom.placeholder = doc.headroom === undefined ? "1" : String(doc.headroom);
    headroom.value = node.headroom === undefined || node.headroom === null ? "" : String(node.headroom);
    headroom.addEventListener("input", () => {
      setKey(node, "headroom", typed(headroom.value));
      changed(false);
    });

    const addChild = button("+↳", "btn-outline-secondary", () => {
      if (!Array.isArray(node.nodes)) {
        node.nodes = [];
      }
      const inner = Number.isInteger(node.length) ? Math.min(width(), node.length + 4) : leafLength();
      node.nodes.push(newNode(node.nodes, inner));
      changed(true);
    }, "add-child");
    addChild.title = S.addChild;
    addChild.setAttribute("aria-label", S.addChild);
    const addSibling = button("+", "btn-outline-secondary", () => {
      siblings.splice(index + 1, 0, newNode(siblings, Number.isInteger(node.length) ? node.length : leafLength()));
      changed(true);
    }, "add-sibling");
    addSibling.title = S.addSibling;
    addSibling.setAttribute("aria-label", S.addSibling);

    fields.append(
      name,
      make("span", "plan-sep", "×"),
      count,
      make("span", "plan-sep", "/"),
      length,
      make("span", "plan-sep", "↑"),
      headroom,
      addChild,
      addSibling,
      remove,
    );
    const problem = make("div", "plan-node-problem");
    problem.hidden = true;
    problem.setAttribute("role", "alert");
    row.append(problem);
    views.set(node, { row, problem });
    if (Array.isArray(node.nodes) && node.nodes.length) {
      const children = make("ul");
      node.nodes.forEach((child, at) => children.append(nodeItem(child, node, node.nodes, at)));
      item.append(children);
    }
    return item;
  }

  // -- the preview -----------------------------------------------------------------------------------------------

  function schedule() {
    window.clearTimeout(timer);
    status(S.checking);
    updateApply();
    timer = window.setTimeout(fetchPreview, WAIT_MS);
  }

  function status(text) {
    const line = panel.querySelector("[data-plan-status]");
    line.textContent = text;
  }

  async function fetchPreview() {
    const number = (asked += 1);
    const from = source;
    if (inFlight) {
      inFlight.abort();
    }
    inFlight = new AbortController();
    const body = { text: textarea.value, parent_id: parentSelect ? parentSelect.value : null };
    if (config.planId) {
      body.plan_id = config.planId;
    }
    let data = null;
    let ok = false;
    try {
      const response = await fetch(config.previewUrl, {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRFToken": token },
        body: JSON.stringify(body),
        signal: inFlight.signal,
      });
      ok = response.ok;
      data = await response.json().catch(() => null);
    } catch (error) {
      if (error.name === "AbortError") {
        return;
      }
    }
    if (number !== asked) {
      return; // a later change asked again
    }
    if (!ok || !data) {
      const message = data && data.error ? data.error.message : S.failed;
      showProblem("", message);
      status("");
      return;
    }
    if (from === "text") {
      rebuildFrom(data.tree);
    }
    show(data);
  }

  // Hand-edited text: the editor shows the document the server read, or says it cannot.
  function rebuildFrom(tree) {
    if (isMapping(tree)) {
      doc = tree;
      render();
    } else if (doc === null) {
      render();
    } else {
      showNote(true);
    }
  }

  function showProblem(path, message) {
    const box = panel.querySelector("[data-plan-problem]");
    box.replaceChildren();
    box.hidden = !message;
    if (!message) {
      return;
    }
    if (path) {
      box.append(make("strong", "font-monospace", path), ": ");
    }
    box.append(message);
  }

  function markNode(data) {
    for (const view of views.values()) {
      view.row.classList.remove("plan-failing");
      view.problem.hidden = true;
    }
    if (wholeProblem) {
      wholeProblem.hidden = true;
    }
    textarea.classList.toggle("is-invalid", !data.ok && data.in_document && !isMapping(data.tree));
    if (data.ok || doc === null) {
      return;
    }
    const node = data.path ? nodeFor(data.path, data.in_document) : null;
    const view = node ? views.get(node) : null;
    if (view) {
      view.row.classList.add("plan-failing");
      view.problem.textContent = data.problem;
      view.problem.hidden = false;
    } else if (wholeProblem) {
      wholeProblem.textContent = data.path ? `${data.path}: ${data.problem}` : data.problem;
      wholeProblem.hidden = false;
    }
  }

  function show(data) {
    showProblem(data.path, data.ok ? "" : data.problem);
    markNode(data);
    showRows(data);
    showMap(data.map);
    status(data.ok ? S.fits : "");
  }

  function sizeText(size) {
    if (size === null || size === undefined) {
      return "";
    }
    return typeof size === "number" ? size.toLocaleString() : String(size);
  }

  function showRows(data) {
    const body = panel.querySelector("[data-plan-rows]");
    const rows = data.nodes.map((node) => {
      const row = make("tr", `plan-depth-${Math.min(node.depth, DEPTHS)}`);
      row.dataset.path = node.path;
      const kept = make("td");
      if (node.kept) {
        const badge = make("span", "badge text-bg-secondary", S.kept);
        badge.title = S.keptHelp;
        kept.append(badge);
      }
      row.append(
        make("td", "plan-path", node.path),
        make("td", "font-monospace", node.prefix),
        make("td", "text-end", sizeText(node.size_64s)),
        kept,
      );
      return row;
    });
    body.replaceChildren(...rows);
    const count = panel.querySelector("[data-plan-count]");
    if (!data.ok) {
      count.textContent = "";
    } else if (data.total > data.nodes.length) {
      count.textContent = format(S.firstShown, { n: data.nodes.length, total: data.total });
    } else {
      count.textContent = format(S.nodesShown, { n: data.total });
    }
  }

  function ownerClass(owner, sites) {
    if (owner === null) {
      return "plan-free";
    }
    if (owner === "existing" || owner === "reserved") {
      return `plan-${owner}`;
    }
    return `plan-tone-${sites.indexOf(owner) % TONES}`;
  }

  function legendItem(className, label) {
    const item = make("li", "list-inline-item");
    item.append(make("span", `plan-swatch ${className}`), label);
    return item;
  }

  function showMap(picture) {
    const figure = panel.querySelector("[data-plan-figure]");
    figure.hidden = false;
    panel.querySelector("[data-plan-map-caption]").textContent = format(S.caption, {
      n: picture.cells.length,
      length: picture.length,
    });
    const labels = { existing: S.existing, reserved: S.reserved };
    const cells = picture.cells.map((cell) => {
      const element = make("span", `plan-cell ${ownerClass(cell.owner, picture.sites)}`);
      element.title = cell.owner ? `${cell.prefix} · ${labels[cell.owner] || cell.owner}` : cell.prefix;
      return element;
    });
    panel.querySelector("[data-plan-map]").replaceChildren(...cells);
    const legend = picture.sites.map((site, index) => legendItem(`plan-tone-${index % TONES}`, site));
    legend.push(
      legendItem("plan-existing", S.existing),
      legendItem("plan-reserved", S.reserved),
      legendItem("plan-free", S.free),
    );
    panel.querySelector("[data-plan-legend]").replaceChildren(...legend);
  }

  // Applying registers the plan as saved: not while the form holds changes.
  function updateApply() {
    if (!applyButton) {
      return;
    }
    const dirty = textarea.value !== saved.text || (parentSelect ? parentSelect.value : "") !== saved.parent;
    applyButton.disabled = dirty || applyDisabled;
    if (applyNote) {
      applyNote.textContent = S.saveFirst;
      applyNote.hidden = !dirty;
    }
  }

  // -- wiring ------------------------------------------------------------------------------------------------------

  textarea.addEventListener("input", () => {
    source = "text";
    schedule();
  });
  if (parentSelect) {
    parentSelect.addEventListener("change", () => {
      if (doc !== null && source === "editor") {
        doc.parent = parentNetwork();
        changed(false);
      } else {
        schedule();
      }
    });
  }
  render();
})();
