// Sending. A message gets its client_id once, when it is written: the server stores a message
// once per client_id, so sending it again after a failure that may have reached the server is
// harmless. What cannot go out (the browser is offline, the request did not get through)
// stays on the page as pending, in order, and is sent when the connection is back. A refusal
// (an empty message, too fast) is shown beside the box, which keeps the text.
//
// What waits is also kept in the browser's storage (per conversation, with its client_id), so a
// reload or a closed tab does not lose it: the next page of the conversation shows it as pending
// again and sends it when it can, still with the same client_id (so it is stored once even if
// the first try had reached the server).
//
// `addMessages(html)` shows a sent message (the server's fragment), `connected()` says whether
// the socket is up; `retryAfter` is how long to wait before trying again with it up.
// Returns `flush` (send what waits, in order) and `waiting()` (the pending bubbles).
export function enableSending({ conversation, form, compose, box, addMessages, scrollDown, connected, retryAfter }) {
  const sendError = document.getElementById("send-error");
  const stored = "chat.outbox." + conversation;
  function save() {
    try {
      if (outbox.length) {
        localStorage.setItem(stored, JSON.stringify(outbox.map(function (item) {
          return { clientId: item.clientId, body: item.body };
        })));
      } else {
        localStorage.removeItem(stored);
      }
    } catch (e) {
      // Storage full or forbidden: what waits still waits on this page.
    }
  }
  function restore() {
    let kept = [];
    try {
      kept = JSON.parse(localStorage.getItem(stored) || "[]");
    } catch (e) {
      kept = [];
    }
    if (!Array.isArray(kept)) return;
    kept.forEach(function (item) {
      if (item && typeof item.clientId === "string" && typeof item.body === "string") {
        show({ clientId: item.clientId, body: item.body });
      }
    });
  }
  function newClientId() {
    return (window.crypto && crypto.randomUUID) ? crypto.randomUUID() : Date.now() + "-" + Math.random();
  }
  const outbox = [];
  let flushing = false;
  function textOf(html) {
    return new DOMParser().parseFromString(html, "text/html").body.textContent;
  }
  // "sent", "refused" (with the reason shown) or "unsent" (try again later).
  async function post(item) {
    let response;
    try {
      response = await fetch(form.action, {
        method: "POST",
        headers: { "Content-Type": "application/x-www-form-urlencoded", "HX-Request": "true" },
        body: new URLSearchParams({ body: item.body, client_id: item.clientId }),
      });
    } catch (e) {
      return { outcome: "unsent" };
    }
    if (response.status === 401) {
      location.href = "/login";
      return { outcome: "refused", reason: "" };
    }
    const html = await response.text();
    if (response.ok) {
      addMessages(html);
      return { outcome: "sent" };
    }
    if (response.status >= 500 && item.element) return { outcome: "unsent" };
    return { outcome: "refused", reason: textOf(html) };
  }
  function keep(item) {
    show(item);
    save();
  }
  function show(item) {
    const bubble = document.createElement("div");
    bubble.className = "message own pending";
    const body = document.createElement("span");
    body.className = "body";
    body.dir = "auto";
    body.textContent = item.body;
    const meta = document.createElement("span");
    meta.className = "meta";
    meta.textContent = "Not sent yet: waiting for the network";
    bubble.append(body, meta);
    box.append(bubble);
    item.element = bubble;
    outbox.push(item);
    scrollDown();
  }
  // With the socket up the server is reachable again soon (a restart, a proxy's 502): try
  // again after a while; with it down, its reconnection sends what waits.
  function retryLater() {
    if (connected()) setTimeout(flush, retryAfter);
  }
  async function flush() {
    if (flushing) return;
    flushing = true;
    try {
      while (outbox.length) {
        const item = outbox[0];
        const result = await post(item);
        if (result.outcome === "unsent") {
          retryLater();
          return;
        }
        outbox.shift();
        save();
        if (result.outcome === "sent") {
          item.element.remove();
        } else {
          item.element.classList.replace("pending", "failed");
          item.element.querySelector(".meta").textContent = "Not sent: " + result.reason;
        }
      }
    } finally {
      flushing = false;
    }
  }
  form.addEventListener("submit", async function (event) {
    event.preventDefault();
    const item = { clientId: newClientId(), body: compose.value };
    const written = function () {
      if (compose.value === item.body) form.reset();
      sendError.textContent = "";
    };
    // Behind what waits, or known to be offline: wait too (in order).
    if (item.body.trim() && (outbox.length || navigator.onLine === false)) {
      keep(item);
      written();
      return;
    }
    const result = await post(item);
    if (result.outcome === "sent") {
      written();
      scrollDown();
    } else if (result.outcome === "unsent" && item.body.trim()) {
      keep(item);
      written();
      retryLater();
    } else {
      sendError.textContent = result.reason || "The message could not be sent; please try again.";
    }
  });
  restore();
  return {
    flush: flush,
    waiting: function () { return outbox.map(function (item) { return item.element; }); },
  };
}
