// The few lines of our own: follow the WebSocket (JSON frames, resuming from the last cursor after
// a drop), ask the server for rendered fragments (htmx), send (keeping what cannot go out yet),
// typing and read receipts.
// Every handler is here, none in the templates: the pages' Content-Security-Policy runs no inline
// script and htmx evaluates no attribute (allowEval is off in base.html).
(function () {
  "use strict";
  const page = document.body.dataset;
  if (!page.page) return;

  // Browser notifications of new messages while the tab is in the background: off until turned
  // on in the settings, where the browser asks for permission on that click (a user gesture).
  const NOTIFY = "chat.notifications";
  const canNotify = "Notification" in window;
  function notifying() {
    return canNotify && Notification.permission === "granted" && localStorage.getItem(NOTIFY) === "on";
  }
  function notifyIfAway(message) {
    if (message.sender.id === page.me || document.visibilityState === "visible" || !notifying()) return;
    const shown = new Notification(message.sender.display_name, { body: message.body || "", tag: message.conversation_id });
    shown.onclick = function () {
      window.focus();
      location.href = "/conversations/" + message.conversation_id;
      shown.close();
    };
  }
  if (page.page === "settings") {
    const status = document.getElementById("notify-status");
    const toggle = document.getElementById("notify-toggle");
    const show = function () {
      if (!canNotify) {
        status.textContent = "This browser cannot show notifications.";
      } else if (Notification.permission === "denied") {
        status.textContent = "Off: notifications are blocked in this browser's settings for this site.";
        toggle.hidden = true;
      } else {
        const on = notifying();
        status.textContent = on
          ? "On: a new message shows a notification while this tab is in the background."
          : "Off.";
        toggle.textContent = on ? "Turn off notifications" : "Turn on notifications";
        toggle.hidden = false;
      }
    };
    toggle.addEventListener("click", async function () {
      if (notifying()) {
        localStorage.setItem(NOTIFY, "off");
      } else if (await Notification.requestPermission() === "granted") {
        localStorage.setItem(NOTIFY, "on");
      }
      show();
    });
    show();
    return;
  }
  const conversation = page.conversationId;
  const me = page.me;
  let cursor = Number(page.cursor || 0);
  // Reconnecting backs off from half a second to at most MAX_DELAY: a few seconds, so a page
  // whose network is back finds out soon even if the browser does not say so.
  const FIRST_DELAY = 500;
  const MAX_DELAY = 4000;
  let delay = FIRST_DELAY;
  let socket = null;
  let reconnect = null;
  let onReconnect = function () {};

  // Offline is said in a banner over the top of the page (it moves nothing) that is also a live
  // region, so a screen reader hears it too.
  const banner = document.getElementById("offline");
  function showOffline(offline) {
    document.body.classList.toggle("offline", offline);
    if (banner) {
      banner.textContent = offline
        ? "You are offline. Reconnecting… Messages you send now are kept and go out when you are back online."
        : "";
    }
  }

  function newClientId() {
    return (window.crypto && crypto.randomUUID) ? crypto.randomUUID() : Date.now() + "-" + Math.random();
  }

  function connect() {
    clearTimeout(reconnect);
    if (socket && socket.readyState <= WebSocket.OPEN) return;
    const scheme = location.protocol === "https:" ? "wss://" : "ws://";
    const opened = new WebSocket(scheme + location.host + "/api/v1/ws?after=" + cursor);
    socket = opened;
    opened.onopen = function () {
      delay = FIRST_DELAY;
      showOffline(false);
      reportVisibility();
      onReconnect();
    };
    opened.onmessage = function (event) {
      let frame;
      try { frame = JSON.parse(event.data); } catch (e) { return; }
      if (frame.cursor && frame.type !== "hello") cursor = Math.max(cursor, frame.cursor);
      handle(frame);
    };
    opened.onclose = function (event) {
      // 4001: this session ended (logged out here or elsewhere, revoked): log in again.
      if (event.code === 4001) {
        location.href = "/login";
        return;
      }
      if (opened !== socket) return;
      showOffline(true);
      // While the browser knows it is offline, trying is pointless: its `online` event reconnects.
      if (navigator.onLine === false) return;
      reconnect = setTimeout(connect, delay);
      delay = Math.min(delay * 2, MAX_DELAY);
    };
  }
  window.addEventListener("offline", function () {
    showOffline(true);
    if (socket) socket.close();
  });
  window.addEventListener("online", function () {
    delay = FIRST_DELAY;
    connect();
  });

  // A page in a background tab is online but not looking: Telegram may still notify.
  function reportVisibility() {
    if (socket && socket.readyState === 1) {
      socket.send(JSON.stringify({ type: "visibility", hidden: document.visibilityState !== "visible" }));
    }
  }
  document.addEventListener("visibilitychange", reportVisibility);

  // Times arrive in UTC; show them in the viewer's time zone (the full instant on hover), with a
  // line where a new day starts: "Today", "Yesterday", or the date.
  const timeFormat = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit", hourCycle: "h23" });
  const fullFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "full", timeStyle: "long" });
  const dayFormat = new Intl.DateTimeFormat(undefined, { weekday: "long", day: "numeric", month: "long", year: "numeric" });
  function dayKey(date) {
    return date.getFullYear() + "-" + date.getMonth() + "-" + date.getDate();
  }
  function dayLabel(date) {
    const today = new Date();
    const yesterday = new Date(today.getFullYear(), today.getMonth(), today.getDate() - 1);
    if (dayKey(date) === dayKey(today)) return "Today";
    if (dayKey(date) === dayKey(yesterday)) return "Yesterday";
    return dayFormat.format(date);
  }
  // In the conversation list, when each last had something happen: the time today, "Yesterday",
  // or the date.
  const shortDate = new Intl.DateTimeFormat(undefined, { day: "numeric", month: "short" });
  function localizeList() {
    document.querySelectorAll("#conversation-list time.when[datetime]").forEach(function (time) {
      const date = new Date(time.getAttribute("datetime"));
      if (isNaN(date.getTime())) return;
      const label = dayLabel(date);
      time.textContent = label === "Today" ? timeFormat.format(date) : label === "Yesterday" ? label : shortDate.format(date);
      time.title = fullFormat.format(date);
    });
  }
  localizeList();
  document.body.addEventListener("htmx:afterSettle", localizeList);

  function localize() {
    const box = document.getElementById("messages");
    if (!box) return;
    box.querySelectorAll(".day").forEach(function (line) { line.remove(); });
    let lastDay = "";
    box.querySelectorAll(".message").forEach(function (message) {
      const time = message.querySelector("time[datetime]");
      if (!time) return;
      const date = new Date(time.getAttribute("datetime"));
      if (isNaN(date.getTime())) return;
      time.textContent = timeFormat.format(date);
      time.title = fullFormat.format(date);
      if (dayKey(date) !== lastDay) {
        lastDay = dayKey(date);
        const line = document.createElement("div");
        line.className = "day";
        line.setAttribute("role", "separator");
        line.textContent = dayLabel(date);
        const above = message.previousElementSibling;
        (above && above.id === "unread" ? above : message).before(line);
      }
    });
  }
  localize();
  document.body.addEventListener("htmx:afterSettle", localize);

  // Older messages load as the list scrolls up to its top (the "older" line comes into view inside
  // the list, not the window); they go above what the reader sees, so the reader's place is kept.
  let fromBottom = null;
  document.body.addEventListener("htmx:beforeSwap", function (event) {
    const box = document.getElementById("messages");
    if (box && event.detail.target && event.detail.target.id === "older") {
      fromBottom = box.scrollHeight - box.scrollTop;
    }
  });
  document.body.addEventListener("htmx:afterSettle", function () {
    const box = document.getElementById("messages");
    if (box && fromBottom !== null) {
      box.scrollTop = box.scrollHeight - fromBottom;
      fromBottom = null;
    }
  });

  function scrollDown() {
    const box = document.getElementById("messages");
    if (box) box.scrollTop = box.scrollHeight;
  }

  // The tab's title starts with how many messages wait to be read, as messengers' do: on the
  // list the sum of its badges, in a conversation the peer's messages not yet seen.
  const baseTitle = document.title;
  function showUnreadInTitle() {
    let count = 0;
    if (page.page === "list") {
      document.querySelectorAll("#conversation-list .unread.badge").forEach(function (badge) {
        count += Number(badge.textContent) || 0;
      });
    } else {
      document.querySelectorAll("#messages .message.peer").forEach(function (m) {
        if (Number(m.dataset.seq) > toldRead) count += 1;
      });
    }
    document.title = count > 0 ? "(" + count + ") " + baseTitle : baseTitle;
  }

  // Read receipts follow the reader's eyes: a message from the peer counts as read once at least
  // half of it (or half the list, for a long one) has been on screen while the page was visible,
  // and the server is told the highest such seq. Opening a conversation marks nothing by itself.
  let toldRead = 0;
  const onScreen = new Set();
  let readObserver = null;
  function reportRead() {
    if (document.visibilityState !== "visible" || onScreen.size === 0) return;
    const upTo = Math.max.apply(null, Array.from(onScreen));
    if (upTo <= toldRead) return;
    toldRead = upTo;
    showUnreadInTitle();
    htmx.ajax("POST", "/conversations/" + conversation + "/read", { values: { up_to: upTo }, swap: "none" });
  }
  function watchUnread() {
    if (!readObserver) return;
    document.querySelectorAll("#messages .message.peer:not([data-watched])").forEach(function (m) {
      m.dataset.watched = "";
      if (Number(m.dataset.seq) > toldRead) readObserver.observe(m);
    });
  }
  function startReading(box) {
    toldRead = Number(box.dataset.readUpTo || 0);
    readObserver = new IntersectionObserver(function (entries) {
      entries.forEach(function (entry) {
        const seq = Number(entry.target.dataset.seq);
        const seen = entry.isIntersecting && (entry.intersectionRatio >= 0.5 ||
          entry.intersectionRect.height >= entry.rootBounds.height / 2);
        if (seen) onScreen.add(seq); else onScreen.delete(seq);
        if (seq <= toldRead) readObserver.unobserve(entry.target);
      });
      reportRead();
    }, { root: box, threshold: [0, 0.5, 1] });
    watchUnread();
    document.addEventListener("visibilitychange", reportRead);
  }

  // What a screen reader should hear as it happens (new messages, typing): one polite live region.
  function announce(text) {
    const live = document.getElementById("announce");
    if (live) live.textContent = text;
  }

  let presenceAt = 0;
  let peerRead = Number((document.getElementById("messages") || {dataset: {}}).dataset.peerRead || 0);
  // Each of one's own messages shows its status: one tick sent, two ticks seen by the peer.
  function showReceipt() {
    document.querySelectorAll("#messages .message.own .tick").forEach(function (tick) {
      const seen = Number(tick.closest(".message").dataset.seq) <= peerRead;
      if (tick.classList.contains("seen") === seen && tick.textContent) return;
      tick.classList.toggle("seen", seen);
      tick.textContent = seen ? "✓✓" : "✓";
      tick.setAttribute("aria-label", seen ? "seen" : "sent");
    });
    const last = lastOwnSeq();
    const receipt = document.getElementById("receipt");
    const text = last > 0 && peerRead >= last ? "Seen" : "";
    // Rewritten only when it changes: its live region would say "Seen" again.
    if (receipt.textContent !== text) receipt.textContent = text;
  }

  function lastOwnSeq() {
    let last = 0;
    document.querySelectorAll("#messages .message.own").forEach(function (m) { last = Math.max(last, Number(m.dataset.seq)); });
    return last;
  }

  function handle(frame) {
    if (frame.type === "message.new") notifyIfAway(frame.message);
    if (page.page === "list") {
      if (["message.new", "message.edited", "message.deleted", "read", "presence", "conversation.started"].includes(frame.type)) {
        htmx.ajax("GET", "/conversations/list", { target: "#conversation-list", swap: "innerHTML" });
      }
      return;
    }
    if (frame.conversation_id && frame.conversation_id !== conversation) return;
    switch (frame.type) {
      case "message.new": {
        const m = frame.message;
        if (!document.getElementById("msg-" + m.id)) {
          htmx.ajax("GET", "/conversations/" + conversation + "/messages/" + m.id, { target: "#messages", swap: "beforeend" });
        }
        if (m.sender.id !== me) {
          document.getElementById("typing").textContent = "";
          announce(m.sender.display_name + ": " + (m.body || ""));
        }
        break;
      }
      case "message.edited":
      case "message.deleted":
        if (document.getElementById("msg-" + frame.message_id)) {
          htmx.ajax("GET", "/conversations/" + conversation + "/messages/" + frame.message_id, { target: "#msg-" + frame.message_id, swap: "outerHTML" });
        }
        break;
      case "read":
        if (frame.reader_id !== me) {
          peerRead = Math.max(peerRead, frame.up_to);
          showReceipt();
        }
        break;
      case "typing":
        if (frame.user.id !== me) {
          const typing = document.getElementById("typing");
          if (!typing.textContent) announce(frame.user.display_name + " is typing");
          typing.textContent = frame.user.display_name + " is typing…";
          clearTimeout(typing.timer);
          typing.timer = setTimeout(function () { typing.textContent = ""; }, frame.expires_in_ms || 6000);
        }
        break;
      case "presence":
        if (frame.user_id === page.peer && (frame.at || 0) >= presenceAt) {
          presenceAt = frame.at || 0;
          const dot = document.getElementById("presence");
          dot.classList.toggle("online", frame.online);
          dot.title = frame.online ? "online" : "offline";
          document.getElementById("presence-text").textContent = dot.title;
        }
        break;
    }
  }

  if (page.page === "conversation") {
    const box = document.getElementById("messages");
    const newMessages = document.getElementById("new-messages");
    let atBottom = true;
    const compose = document.getElementById("compose");
    const form = document.getElementById("send");
    let lastTyping = 0;
    compose.addEventListener("keydown", function (event) {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        if (compose.value.trim()) form.requestSubmit();
      }
    });
    // Sending. A message gets its client_id once, when it is written: the server stores a message
    // once per client_id, so sending it again after a failure that may have reached the server is
    // harmless. What cannot go out (the browser is offline, the request did not get through)
    // stays on the page as pending, in order, and is sent when the connection is back. A refusal
    // (an empty message, too fast) is shown beside the box, which keeps the text.
    const sendError = document.getElementById("send-error");
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
      if (socket && socket.readyState === WebSocket.OPEN) setTimeout(flush, MAX_DELAY);
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
    onReconnect = flush;

    // Editing and deleting one's own messages, from each message's menu (a <details>: reachable
    // and opened by keyboard), through the JSON API. The page then shows the server's version
    // (the socket's edited/deleted frame does the same for every other page).
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
      const save = document.createElement("button");
      save.type = "submit";
      save.textContent = "Save";
      const cancel = document.createElement("button");
      cancel.type = "button";
      cancel.className = "cancel";
      cancel.textContent = "Cancel";
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
        const keep = document.createElement("button");
        keep.type = "button";
        keep.className = "keep";
        keep.textContent = "Keep";
        const sure = document.createElement("button");
        sure.type = "button";
        sure.className = "confirm-delete";
        sure.textContent = "Delete for both of you";
        menu.append(sure, keep);
        sure.focus();
      } else if (button.classList.contains("keep")) {
        refresh(message.dataset.id);
      } else if (button.classList.contains("confirm-delete")) {
        const failed = await change("DELETE", message.dataset.id);
        if (failed) problem(message, failed);
      }
    });
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
    compose.addEventListener("input", function () {
      const now = Date.now();
      if (socket && socket.readyState === 1 && now - lastTyping > 2000) {
        lastTyping = now;
        socket.send(JSON.stringify({ type: "typing", conversation_id: conversation }));
      }
    });
    // A reader who scrolled up to read older messages stays there when new ones arrive; a button
    // says there are new ones and takes them down.
    box.addEventListener("scroll", function () {
      atBottom = box.scrollHeight - box.scrollTop - box.clientHeight < 80;
      if (atBottom) newMessages.hidden = true;
    });
    newMessages.addEventListener("click", function () {
      scrollDown();
      newMessages.hidden = true;
    });
    // New messages arrived at the bottom (a live one, or a send's answer): each is shown once, and
    // the ones waiting to be sent stay below them.
    function messagesAdded() {
      const seen = new Set();
      box.querySelectorAll(".message[id]").forEach(function (m) {
        if (seen.has(m.id)) m.remove(); else seen.add(m.id);
      });
      // Answers can arrive out of order (a live message's fragment waits for the read model,
      // a send's answer does not): each message goes before the first one with a higher seq.
      const shown = Array.from(box.querySelectorAll(".message[data-seq]"));
      shown.forEach(function (m, i) {
        const seq = Number(m.dataset.seq);
        if (i === 0 || Number(shown[i - 1].dataset.seq) < seq) return;
        const later = shown.find(function (other) { return Number(other.dataset.seq) > seq; });
        if (later && later !== m) later.before(m);
      });
      outbox.forEach(function (item) { box.append(item.element); });
      localize();
      watchUnread();
      showUnreadInTitle();
      if (atBottom) scrollDown(); else newMessages.hidden = false;
      showReceipt();
    }
    function addMessages(html) {
      box.insertAdjacentHTML("beforeend", html);
      messagesAdded();
    }
    document.body.addEventListener("htmx:afterSwap", function (event) {
      if (event.detail.target.id === "messages") messagesAdded();
    });
    document.body.addEventListener("htmx:afterSettle", watchUnread);
    // A message swapped in again (edited, deleted) comes with the default tick.
    document.body.addEventListener("htmx:afterSettle", showReceipt);
    // Opened with unread messages: start at the first of them (under its line), not at the bottom.
    const unreadLine = document.getElementById("unread");
    if (unreadLine) {
      box.scrollTop = unreadLine.offsetTop - 8;
      atBottom = box.scrollHeight - box.scrollTop - box.clientHeight < 80;
      newMessages.hidden = atBottom;
    } else {
      scrollDown();
    }
    startReading(box);
    showUnreadInTitle();
    showReceipt();
    // Ready to write at once (not seven Tab stops away); not on touch screens, where focusing the
    // box would open the keyboard over the conversation.
    if (!window.matchMedia("(pointer: coarse)").matches) compose.focus({ preventScroll: true });
  }
  if (page.page === "list") {
    showUnreadInTitle();
    document.body.addEventListener("htmx:afterSettle", showUnreadInTitle);
  }
  window.addEventListener("pagehide", function () { if (socket) socket.close(); });
  connect();
})();
