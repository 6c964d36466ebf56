// Behaviour attached from here, never inline (the Content-Security-Policy forbids inline scripts).
"use strict";

document.querySelectorAll("form[data-confirm]").forEach((form) => {
  form.addEventListener("submit", (event) => {
    if (!window.confirm(form.dataset.confirm)) {
      event.preventDefault();
    }
  });
});

// The prefix tree: expanding a row fetches one page of its children as rows and inserts them below it;
// collapsing hides every row below it that belongs to a deeper level.
async function fetchRows(url) {
  const response = await fetch(url, { headers: { Accept: "text/html" }, credentials: "same-origin" });
  if (!response.ok) {
    throw new Error(`${response.status} ${url}`);
  }
  const template = document.createElement("template");
  template.innerHTML = (await response.text()).trim();
  return Array.from(template.content.querySelectorAll("tr"));
}

function depthOf(row) {
  const match = /depth-(\d+)/.exec(row.className);
  return match ? Number(match[1]) : 0;
}

function rowsBelow(row) {
  const rows = [];
  const depth = depthOf(row);
  for (let next = row.nextElementSibling; next && depthOf(next) > depth; next = next.nextElementSibling) {
    rows.push(next);
  }
  return rows;
}

document.addEventListener("click", async (event) => {
  const toggle = event.target.closest(".tree-toggle");
  const more = event.target.closest(".tree-more-button");
  if (toggle) {
    const row = toggle.closest("tr");
    if (toggle.getAttribute("aria-expanded") === "true") {
      rowsBelow(row).forEach((r) => r.remove());
      toggle.setAttribute("aria-expanded", "false");
      toggle.textContent = "▸";
      return;
    }
    toggle.disabled = true;
    try {
      row.after(...(await fetchRows(toggle.dataset.childrenUrl)));
      toggle.setAttribute("aria-expanded", "true");
      toggle.textContent = "▾";
    } finally {
      toggle.disabled = false;
    }
  } else if (more) {
    const row = more.closest("tr");
    more.disabled = true;
    row.replaceWith(...(await fetchRows(more.dataset.moreUrl)));
  }
});

// A running import: poll its progress and reload the page when it has finished.
document.querySelectorAll("[data-import-progress]").forEach((box) => {
  const bar = box.querySelector("progress");
  const text = box.querySelector("[data-progress-text]");
  const poll = async () => {
    try {
      const response = await fetch(box.dataset.importProgress, { credentials: "same-origin" });
      if (response.ok) {
        const state = await response.json();
        if (state.finished) {
          window.location.reload();
          return;
        }
        if (state.progress) {
          bar.value = Math.round(state.progress.fraction * 100);
          text.textContent = `${state.progress.phase} · ${state.progress.rows.toLocaleString()} · ${state.progress.rate.toLocaleString()}/s`;
        }
      }
    } catch (error) {
      // The next poll tries again.
    }
    window.setTimeout(poll, 1000);
  };
  window.setTimeout(poll, 1000);
});

// A button that asks before it submits (the form may hold other buttons that do not).
document.querySelectorAll("button[data-confirm]").forEach((button) => {
  button.addEventListener("click", (event) => {
    if (!window.confirm(button.dataset.confirm)) {
      event.preventDefault();
    }
  });
});

// "Choose all" checkboxes: data-check-all names the checkboxes it sets.
document.querySelectorAll("input[data-check-all]").forEach((master) => {
  master.addEventListener("change", () => {
    const form = master.closest("form") || document;
    form.querySelectorAll(`input[type=checkbox][name="${master.dataset.checkAll}"]`).forEach((box) => {
      box.checked = master.checked;
    });
  });
});

// Holder fields: the organization's short code, chosen by searching as one types (name, code or USCC). The list
// comes from the field's data-holder-picker address and holds only organizations the user may name; the field
// still sends the code, and without this script it is a plain text field.
document.querySelectorAll("input[data-holder-picker]").forEach((input, index) => {
  const list = document.createElement("div");
  list.id = `${input.id || "holder"}-choices-${index}`;
  list.className = "list-group position-absolute w-100 shadow-sm z-3 holder-choices";
  list.setAttribute("role", "listbox");
  list.hidden = true;
  const chosen = document.createElement("div");
  chosen.className = "form-text";
  chosen.dataset.holderChosen = "";
  chosen.setAttribute("aria-live", "polite");
  const wrapper = document.createElement("div");
  wrapper.className = "position-relative";
  input.before(wrapper);
  wrapper.append(input, list);
  wrapper.after(chosen);
  input.setAttribute("role", "combobox");
  input.setAttribute("aria-autocomplete", "list");
  input.setAttribute("aria-expanded", "false");
  input.setAttribute("aria-controls", list.id);

  let items = [];
  let active = -1;
  let timer = null;
  let asked = 0;

  const describe = (org) => [org.name, org.code, org.uscc, org.division].filter(Boolean).join(" · ");
  const close = () => {
    list.hidden = true;
    input.setAttribute("aria-expanded", "false");
    input.removeAttribute("aria-activedescendant");
    active = -1;
  };
  const highlight = (next) => {
    const options = list.querySelectorAll("[role=option]");
    options.forEach((option, i) => {
      option.classList.toggle("active", i === next);
      option.setAttribute("aria-selected", i === next ? "true" : "false");
    });
    active = next;
    if (options[next]) {
      input.setAttribute("aria-activedescendant", options[next].id);
      options[next].scrollIntoView({ block: "nearest" });
    }
  };
  const choose = (org) => {
    input.value = org.code;
    chosen.textContent = describe(org);
    close();
    input.dispatchEvent(new Event("change", { bubbles: true }));
  };
  const search = async (text, exact) => {
    const ticket = ++asked;
    const url = `${input.dataset.holderPicker}?q=${encodeURIComponent(text)}`;
    const response = await fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" });
    if (!response.ok || ticket !== asked) {
      return null;
    }
    const found = (await response.json()).items;
    if (exact) {
      return found.find((org) => org.code.toLowerCase() === text.toLowerCase()) || null;
    }
    items = found;
    list.replaceChildren(
      ...found.map((org, i) => {
        const option = document.createElement("button");
        option.type = "button";
        option.id = `${list.id}-${i}`;
        option.tabIndex = -1;
        option.className = "list-group-item list-group-item-action py-1";
        option.setAttribute("role", "option");
        option.dataset.holderCode = org.code;
        const name = document.createElement("div");
        name.textContent = org.name;
        const details = document.createElement("div");
        details.className = "small text-body-secondary font-monospace";
        details.textContent = [org.code, org.uscc, org.kind, org.division].filter(Boolean).join(" · ");
        option.append(name, details);
        // mousedown, not click: choosing must happen before the field loses focus and closes the list.
        option.addEventListener("mousedown", (event) => {
          event.preventDefault();
          choose(org);
        });
        return option;
      }),
    );
    if (!found.length) {
      const none = document.createElement("div");
      none.className = "list-group-item small text-body-secondary";
      none.textContent = input.dataset.holderNone || "—";
      list.append(none);
    }
    list.hidden = false;
    input.setAttribute("aria-expanded", "true");
    highlight(found.length ? 0 : -1);
    return null;
  };

  input.addEventListener("input", () => {
    chosen.textContent = "";
    window.clearTimeout(timer);
    const text = input.value.trim();
    if (!text) {
      close();
      return;
    }
    timer = window.setTimeout(() => search(text, false).catch(close), 200);
  });
  input.addEventListener("keydown", (event) => {
    if (list.hidden) {
      return;
    }
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      event.preventDefault();
      const step = event.key === "ArrowDown" ? 1 : -1;
      highlight(items.length ? (active + step + items.length) % items.length : -1);
    } else if (event.key === "Enter" && active >= 0) {
      event.preventDefault();
      choose(items[active]);
    } else if (event.key === "Escape") {
      event.preventDefault();
      close();
    }
  });
  input.addEventListener("blur", close);
  // Text typed before this script took the field (a slow page) gets its suggestions now.
  if (input.value.trim() && document.activeElement === input) {
    search(input.value.trim(), false).catch(close);
  } else if (input.value.trim()) {
    // A code already in the field (editing, or a form shown again with errors) is named too.
    search(input.value.trim(), true)
      .then((org) => {
        if (org) {
          chosen.textContent = describe(org);
        }
      })
      .catch(() => {});
  }
});
