// "Start a conversation": as one types, people whose username or display name starts with what is
// typed are suggested (GET /api/v1/users?prefix=, from the user directory), as an ARIA combobox:
// arrows move through the list (the box keeps the focus, `aria-activedescendant` names the
// option), Enter or a click on someone starts the conversation, Escape closes the list. Typing a
// whole username and pressing Enter without choosing works as before.
const DEBOUNCE_MS = 200;
const SHOWN = 8;

export function suggestPeople() {
  const input = document.getElementById("start-with");
  const list = document.getElementById("start-suggestions");
  const status = document.getElementById("suggestions-status");
  if (!input || !list) return;
  const form = input.form;
  let timer = null;
  // Only the answer to the latest question is shown (an earlier one may arrive after it).
  let asked = 0;
  let active = -1;

  function options() {
    return Array.from(list.querySelectorAll("[role=option]"));
  }
  function close() {
    list.hidden = true;
    list.replaceChildren();
    active = -1;
    input.setAttribute("aria-expanded", "false");
    input.removeAttribute("aria-activedescendant");
  }
  function highlight(index) {
    const all = options();
    active = all.length ? (index + all.length) % all.length : -1;
    all.forEach(function (option, i) { option.setAttribute("aria-selected", i === active ? "true" : "false"); });
    if (active >= 0) {
      input.setAttribute("aria-activedescendant", all[active].id);
      all[active].scrollIntoView({ block: "nearest" });
    } else {
      input.removeAttribute("aria-activedescendant");
    }
  }
  function choose(option) {
    input.value = option.dataset.username;
    close();
    form.requestSubmit();
  }
  function show(users) {
    list.replaceChildren();
    active = -1;
    users.forEach(function (user, i) {
      const option = document.createElement("li");
      option.id = "suggestion-" + i;
      option.setAttribute("role", "option");
      option.setAttribute("aria-selected", "false");
      option.dataset.username = user.username;
      const name = document.createElement("span");
      name.className = "name";
      name.textContent = user.display_name;
      const handle = document.createElement("span");
      handle.className = "handle";
      handle.textContent = "@" + user.username;
      option.append(name, handle);
      // Chosen on mousedown: a click would first blur the box, which closes the list.
      option.addEventListener("mousedown", function (event) {
        event.preventDefault();
        choose(option);
      });
      list.append(option);
    });
    const open = users.length > 0;
    list.hidden = !open;
    input.setAttribute("aria-expanded", open ? "true" : "false");
    input.removeAttribute("aria-activedescendant");
    if (status) {
      status.textContent = open
        ? users.length + (users.length === 1 ? " person" : " people") + " found; use the arrow keys to choose."
        : "Nobody found.";
    }
  }
  async function ask() {
    const prefix = input.value.trim();
    const question = ++asked;
    if (!prefix) {
      close();
      return;
    }
    let users;
    try {
      const response = await fetch("/api/v1/users?limit=" + SHOWN + "&prefix=" + encodeURIComponent(prefix), {
        headers: { Accept: "application/json" },
      });
      // Too many questions, or the server away: no suggestions; the form still works.
      if (!response.ok) return;
      users = (await response.json()).users;
    } catch (e) {
      return;
    }
    if (question === asked && document.activeElement === input) show(users);
  }

  input.addEventListener("input", function () {
    clearTimeout(timer);
    timer = setTimeout(ask, DEBOUNCE_MS);
  });
  input.addEventListener("keydown", function (event) {
    const open = !list.hidden;
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      if (!open) return;
      event.preventDefault();
      const step = event.key === "ArrowDown" ? 1 : -1;
      highlight(active < 0 ? (step > 0 ? 0 : -1) : active + step);
    } else if (event.key === "Enter" && open && active >= 0) {
      event.preventDefault();
      choose(options()[active]);
    } else if (event.key === "Escape" && open) {
      event.preventDefault();
      close();
    }
  });
  input.addEventListener("blur", close);
  // Leaving for a conversation: a pending question has nothing to show any more.
  form.addEventListener("submit", function () {
    clearTimeout(timer);
    asked++;
    close();
  });
}
