// The page's own script (a module; the others here are its parts): follow the WebSocket (JSON
// frames, resuming from the last cursor after a drop), ask the server for rendered fragments
// (htmx), read receipts, typing, the unread count. Every handler is in these files, none in the
// templates: the pages' Content-Security-Policy runs no inline script and htmx evaluates no
// attribute (allowEval is off in base.html).
import { enableEditing } from "./editing.js";
import { readMarks, showSeenBy, typingWatch } from "./group.js";
import { notifyIfAway, setUpNotificationSettings } from "./notifications.js";
import { enableSending } from "./outbox.js";
import { chimeIfAway, setUpSoundSettings } from "./sound.js";
import { suggestPeople } from "./people.js";
import { localize, localizeList } from "./times.js";

(function () {
  const page = document.body.dataset;
  if (!page.page) return;
  if (page.page === "settings") {
    setUpNotificationSettings();
    setUpSoundSettings();
    return;
  }

  const conversation = page.conversationId;
  const me = page.me;
  const isGroup = page.kind === "group";
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

  localizeList();
  document.body.addEventListener("htmx:afterSettle", localizeList);
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
      document.querySelectorAll(UNREAD).forEach(function (m) {
        if (Number(m.dataset.seq) > toldRead) count += 1;
      });
    }
    document.title = count > 0 ? "(" + count + ") " + baseTitle : baseTitle;
  }

  // What can be unread: others' messages, and a group's entries ("Ann added Ben").
  const UNREAD = "#messages .message.peer, #messages .message.system";
  // Read receipts follow the reader's eyes: a message from the peer counts as read once at least
  // half of it (or half the list, for a long one) has been on screen while the page was visible,
  // and the server is told the highest such seq. Opening a conversation marks nothing by itself.
  let toldRead = 0;
  const onScreen = new Set();
  let readObserver = null;
  function reportRead() {
    // A member removed from the group has nothing left to report.
    if (gone || document.visibilityState !== "visible" || onScreen.size === 0) return;
    const upTo = Math.max.apply(null, Array.from(onScreen));
    if (upTo <= toldRead) return;
    toldRead = upTo;
    showUnreadInTitle();
    htmx.ajax("POST", "/conversations/" + conversation + "/read", { values: { up_to: upTo }, swap: "none" });
  }
  function watchUnread() {
    if (!readObserver) return;
    document.querySelectorAll(UNREAD.split(", ").map(function (css) { return css + ":not([data-watched])"; }).join(", ")).forEach(function (m) {
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
  const messagesBox = document.getElementById("messages") || { dataset: {} };
  let peerRead = Number(messagesBox.dataset.peerRead || 0);
  let marks = null;
  if (isGroup) {
    try { marks = readMarks(JSON.parse(messagesBox.dataset.marks || "{}")); } catch (e) { marks = readMarks({}); }
  }
  // Each of one's own messages shows its status: one tick sent, two ticks seen by the peer (in a
  // group: by at least one other member, and "Seen by N" under the latest).
  function showReceipt() {
    if (isGroup) {
      const text = showSeenBy(messagesBox, conversation, marks);
      const receipt = document.getElementById("receipt");
      if (receipt.textContent !== text) receipt.textContent = text;
      return;
    }
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

  // Someone else's typing notices, as one line; and whether this page still belongs to a member.
  const typers = typingWatch(function (text) {
    const line = document.getElementById("typing");
    if (line) line.textContent = text;
  });
  let gone = false;
  function refreshMembers() {
    if (!document.getElementById("members")) return;
    htmx.ajax("GET", "/conversations/" + conversation + "/members", { target: "#members", swap: "outerHTML" });
  }
  // A membership entry of this group: the marks, the panel, the title, or the end of it for the
  // viewer (removed, or left on another device).
  function groupEntry(m) {
    marks.entry(m, me);
    const system = m.system;
    if (!system) return;
    if (system.member && system.member.id === me && (system.kind === "member_removed" || system.kind === "member_left")) {
      gone = true;
      document.getElementById("gone").hidden = false;
      document.getElementById("send").hidden = true;
      const panel = document.getElementById("members-panel");
      if (panel) panel.remove();
      announce(document.getElementById("gone").textContent);
      return;
    }
    if (system.kind === "renamed" && system.title) {
      document.getElementById("peer-name").textContent = system.title;
      document.title = document.title.replace(/[^·]*·/, system.title + " ·");
    }
    refreshMembers();
  }

  // Fetches a message's fragment and adds it (set up on a conversation page). Each fetch stands
  // alone: htmx would queue requests aimed at one element and keep only the last one waiting,
  // so of three messages arriving together the second would never be shown.
  let showMessage = function () { return Promise.resolve(); };

  function handle(frame) {
    if (frame.type === "message.new" && !frame.message.system) {
      notifyIfAway(frame.message, me);
      chimeIfAway(frame.message, me);
    }
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
        // The entry that takes the viewer out is not theirs to fetch any more: the page says it.
        const out = m.system && m.system.member && m.system.member.id === me &&
          (m.system.kind === "member_removed" || m.system.kind === "member_left");
        if (!out && !gone && !document.getElementById("msg-" + m.id)) {
          showMessage(m.id).then(function () {
            // A group's entry is said as the page words it ("Ann added Ben"), once it is there.
            const entry = m.system && document.querySelector("#msg-" + m.id + " .body");
            if (entry) announce(entry.textContent);
          });
        }
        if (isGroup) groupEntry(m);
        if (m.sender.id !== me && !m.system) {
          typers.stopped(m.sender.id);
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
          if (isGroup) marks.read(frame.reader_id, frame.up_to);
          else peerRead = Math.max(peerRead, frame.up_to);
          showReceipt();
        }
        break;
      case "typing":
        if (frame.user.id !== me && !gone) {
          if (typers.started(frame.user, frame.expires_in_ms)) announce(frame.user.display_name + " is typing");
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
    const sending = enableSending({
      conversation: conversation,
      form: form,
      compose: compose,
      box: box,
      addMessages: addMessages,
      scrollDown: scrollDown,
      connected: function () { return socket !== null && socket.readyState === WebSocket.OPEN; },
      retryAfter: MAX_DELAY,
    });
    onReconnect = sending.flush;
    enableEditing(box, conversation);
    compose.addEventListener("input", function () {
      const now = Date.now();
      if (!gone && socket && socket.readyState === 1 && now - lastTyping > 2000) {
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
      sending.waiting().forEach(function (bubble) { box.append(bubble); });
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
    showMessage = async function (id) {
      let response;
      try {
        response = await fetch("/conversations/" + conversation + "/messages/" + id, { headers: { "HX-Request": "true" } });
      } catch (e) {
        return; // Offline: the resume after reconnecting brings it again.
      }
      if (response.status === 401) {
        location.href = "/login";
        return;
      }
      if (!response.ok) return;
      const html = await response.text();
      if (!document.getElementById("msg-" + id)) addMessages(html);
    };
    document.body.addEventListener("htmx:afterSwap", function (event) {
      if (event.detail.target.id === "messages") messagesAdded();
    });
    document.body.addEventListener("htmx:afterSettle", watchUnread);
    // The members panel came back (a refresh, or the answer to one of its forms): the header
    // counts its members.
    document.body.addEventListener("htmx:afterSettle", function () {
      const count = document.querySelectorAll("#members .member").length;
      const shown = document.getElementById("member-count");
      if (shown && count > 0) shown.textContent = count + (count === 1 ? " member" : " members");
    });
    // A message swapped in again (edited, deleted) comes with the default tick.
    document.body.addEventListener("htmx:afterSettle", showReceipt);
    // Opened with unread messages: start at the first of them (under its line), not at the
    // bottom. With more unread than the page brought, older pages are loaded one after the other
    // until the line comes; nothing counts as read before the page stands there.
    toldRead = Number(box.dataset.readUpTo || 0);
    let findingUnread = box.dataset.unreadAbove === "true";
    let askedOlder = null;
    function openAtUnread() {
      const line = document.getElementById("unread");
      const older = document.getElementById("older");
      if (!line && findingUnread && older) {
        // Each swap settles in several events: ask for each page once.
        if (askedOlder === older) return;
        askedOlder = older;
        htmx.ajax("GET", older.getAttribute("hx-get"), { source: older, target: older, swap: "outerHTML" });
        return;
      }
      findingUnread = false;
      if (line) {
        box.scrollTop = line.offsetTop - 8;
        atBottom = box.scrollHeight - box.scrollTop - box.clientHeight < 80;
        newMessages.hidden = atBottom;
      } else {
        scrollDown();
      }
      startReading(box);
    }
    document.body.addEventListener("htmx:afterSettle", function () {
      if (findingUnread) openAtUnread();
    });
    // At the bottom while older pages come, so that the top's loader does not ask for them too.
    if (findingUnread) scrollDown();
    openAtUnread();
    showUnreadInTitle();
    showReceipt();
    // Ready to write at once (not seven Tab stops away); not on touch screens, where focusing the
    // box would open the keyboard over the conversation.
    if (!window.matchMedia("(pointer: coarse)").matches) compose.focus({ preventScroll: true });
  }
  if (page.page === "list") {
    suggestPeople();
    showUnreadInTitle();
    document.body.addEventListener("htmx:afterSettle", showUnreadInTitle);
  }
  window.addEventListener("pagehide", function () { if (socket) socket.close(); });
  connect();
})();
