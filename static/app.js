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
