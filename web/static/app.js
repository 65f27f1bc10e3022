// The few lines of our own: follow the WebSocket (JSON frames, resuming from the last cursor after
// a drop), ask the server for rendered fragments (htmx), Enter to send, typing and read receipts.
// Every handler is here, none in the templates: the pages' Content-Security-Policy runs no inline
// script and htmx evaluates no attribute (allowEval is off in base.html).
(function () {
  "use strict";
  const page = document.body.dataset;
  if (!page.page) return;
  const conversation = page.conversationId;
  const me = page.me;
  let cursor = Number(page.cursor || 0);
  let delay = 500;
  let socket = null;

  function newClientId() {
    return (window.crypto && crypto.randomUUID) ? crypto.randomUUID() : Date.now() + "-" + Math.random();
  }

  function connect() {
    const scheme = location.protocol === "https:" ? "wss://" : "ws://";
    socket = new WebSocket(scheme + location.host + "/api/v1/ws?after=" + cursor);
    socket.onopen = function () {
      delay = 500;
      document.body.classList.remove("offline");
      reportVisibility();
    };
    socket.onmessage = function (event) {
      let frame;
      try { frame = JSON.parse(event.data); } catch (e) { return; }
      if (frame.cursor && frame.type !== "hello") cursor = Math.max(cursor, frame.cursor);
      handle(frame);
    };
    socket.onclose = function (event) {
      // 4001: this session ended (logged out here or elsewhere, revoked): log in again.
      if (event.code === 4001) {
        location.href = "/login";
        return;
      }
      document.body.classList.add("offline");
      setTimeout(connect, delay);
      delay = Math.min(delay * 2, 10000);
    };
  }

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

  let presenceAt = 0;
  let peerRead = Number((document.getElementById("messages") || {dataset: {}}).dataset.peerRead || 0);
  function showReceipt() {
    const last = lastOwnSeq();
    document.getElementById("receipt").textContent = last > 0 && peerRead >= last ? "Seen" : "";
  }

  function lastOwnSeq() {
    let last = 0;
    document.querySelectorAll("#messages .message.own").forEach(function (m) { last = Math.max(last, Number(m.dataset.seq)); });
    return last;
  }

  function handle(frame) {
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
        if (m.sender.id !== me) document.getElementById("typing").textContent = "";
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
        }
        break;
    }
  }

  if (page.page === "conversation") {
    const compose = document.getElementById("compose");
    const form = document.getElementById("send");
    let lastTyping = 0;
    compose.addEventListener("keydown", function (event) {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        if (compose.value.trim()) form.requestSubmit();
      }
    });
    // Each send carries a fresh client_id: the key under which the server stores a message once.
    form.addEventListener("htmx:configRequest", function (event) {
      event.detail.parameters.client_id = newClientId();
    });
    // A refused send answers with its real status and its reason, retargeted at #send-error:
    // show the reason (htmx swaps no error answer by itself) and keep the typed text.
    // (htmx fires beforeSwap on the target, which is outside the form.)
    document.body.addEventListener("htmx:beforeSwap", function (event) {
      const target = event.detail.target;
      if (event.detail.xhr.status >= 400 && target && target.id === "send-error") {
        event.detail.shouldSwap = true;
        event.detail.isError = false;
      }
    });
    form.addEventListener("htmx:afterRequest", function (event) {
      const status = event.detail.xhr ? event.detail.xhr.status : 0;
      if (status >= 200 && status < 300) {
        form.reset();
        document.getElementById("send-error").textContent = "";
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
    const box = document.getElementById("messages");
    const newMessages = document.getElementById("new-messages");
    let atBottom = true;
    box.addEventListener("scroll", function () {
      atBottom = box.scrollHeight - box.scrollTop - box.clientHeight < 80;
      if (atBottom) newMessages.hidden = true;
    });
    newMessages.addEventListener("click", function () {
      scrollDown();
      newMessages.hidden = true;
    });
    form.addEventListener("htmx:afterRequest", function (event) {
      if (event.detail.xhr && event.detail.xhr.status < 300) scrollDown();
    });
    document.body.addEventListener("htmx:afterSwap", function (event) {
      if (event.detail.target.id === "messages") {
        const seen = new Set();
        document.querySelectorAll("#messages .message").forEach(function (m) {
          if (seen.has(m.id)) m.remove(); else seen.add(m.id);
        });
        if (atBottom) scrollDown(); else newMessages.hidden = false;
        showReceipt();
      }
    });
    document.body.addEventListener("htmx:afterSettle", watchUnread);
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
  }
  window.addEventListener("pagehide", function () { if (socket) socket.close(); });
  connect();
})();
