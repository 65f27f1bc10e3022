// Editing and deleting one's own messages, from each message's menu (a <details>: reachable
// and opened by keyboard), through the JSON API. The page then shows the server's version
// (the socket's edited/deleted frame does the same for every other page).
/** A button of `type`, with `className` (if any) and `text`. */
function makeButton(type, className, text) {
  const made = document.createElement("button");
  made.type = type;
  if (className) made.className = className;
  made.textContent = text;
  return made;
}

export function enableEditing(box, conversation) {
  const api = "/api/v1/conversations/" + conversation + "/messages/";
  function refresh(id) {
    return htmx.ajax("GET", "/conversations/" + conversation + "/messages/" + id, { target: "#msg-" + id, swap: "outerHTML" });
  }
  async function change(method, id, body) {
    const response = await fetch(api + id, {
      method: method,
      headers: body ? { "Content-Type": "application/json" } : {},
      body: body ? JSON.stringify(body) : undefined,
    }).catch(function () { return null; });
    if (!response) return "You are offline; try again when the connection is back.";
    if (response.status === 401) {
      location.href = "/login";
      return "";
    }
    if (response.ok) {
      refresh(id);
      return null;
    }
    const answer = await response.json().catch(function () { return {}; });
    return (answer.error && answer.error.message) || "That did not work; please try again.";
  }
  function problem(message, text) {
    let line = message.querySelector(".problem");
    if (!line) {
      line = document.createElement("p");
      line.className = "problem field-error";
      line.setAttribute("role", "alert");
      message.append(line);
    }
    line.textContent = text;
  }
  function openEditor(message) {
    const body = message.querySelector(".body");
    const editor = document.createElement("form");
    editor.className = "editor";
    const field = document.createElement("textarea");
    field.value = body.textContent;
    field.dir = "auto";
    field.rows = 2;
    field.setAttribute("aria-label", "Edit your message");
    const save = makeButton("submit", "", "Save");
    const cancel = makeButton("button", "cancel", "Cancel");
    editor.append(field, save, cancel);
    body.hidden = true;
    message.querySelector(".actions").open = false;
    body.after(editor);
    field.focus();
    const close = function () {
      editor.remove();
      body.hidden = false;
      message.querySelector(".actions summary").focus();
    };
    cancel.addEventListener("click", close);
    field.addEventListener("keydown", function (event) {
      if (event.key === "Escape") close();
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        editor.requestSubmit();
      }
    });
    editor.addEventListener("submit", async function (event) {
      event.preventDefault();
      const failed = await change("PATCH", message.dataset.id, { body: field.value });
      if (failed) problem(message, failed);
    });
  }
  box.addEventListener("click", async function (event) {
    const button = event.target.closest("button");
    const message = button && button.closest(".message.own");
    if (!message) return;
    const menu = message.querySelector(".menu");
    if (button.classList.contains("edit")) {
      openEditor(message);
    } else if (button.classList.contains("delete")) {
      // Asked once more, in place: deleting takes the message away for both people.
      menu.replaceChildren();
      const keep = makeButton("button", "keep", "Keep");
      const sure = makeButton("button", "confirm-delete", "Delete for both of you");
      menu.append(sure, keep);
      sure.focus();
    } else if (button.classList.contains("keep")) {
      refresh(message.dataset.id);
    } else if (button.classList.contains("confirm-delete")) {
      const failed = await change("DELETE", message.dataset.id);
      if (failed) problem(message, failed);
    }
  });
}
