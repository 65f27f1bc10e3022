// What a group's page adds to a conversation: "seen by" counted from the other members' read
// marks (moved as receipts, messages and membership entries arrive on the socket), the names
// behind it on request, the members panel kept current, and who is typing.

// "Ann is typing…", "Ann and Ben are typing…", "3 people are typing…".
export function typingText(names) {
  if (names.length === 0) return "";
  if (names.length === 1) return names[0] + " is typing…";
  if (names.length === 2) return names[0] + " and " + names[1] + " are typing…";
  return names.length + " people are typing…";
}

// Who is typing now: each notice lasts its `expires_in_ms`, and a message from someone ends
// theirs. `show(text)` gets the line whenever it changes.
export function typingWatch(show) {
  const typing = new Map();
  function render() {
    show(typingText(Array.from(typing.values()).map(function (t) { return t.name; })));
  }
  return {
    started: function (user, ms) {
      const known = typing.get(user.id);
      if (known) clearTimeout(known.timer);
      typing.set(user.id, {
        name: user.display_name,
        timer: setTimeout(function () { typing.delete(user.id); render(); }, ms || 6000),
      });
      render();
      return !known;
    },
    stopped: function (userId) {
      const known = typing.get(userId);
      if (!known) return;
      clearTimeout(known.timer);
      typing.delete(userId);
      render();
    },
  };
}

// The other members' read marks, `{user id: [read_up_to, joined_after]}` as the page was made,
// kept current from the socket's frames.
export function readMarks(initial) {
  const marks = new Map(Object.entries(initial || {}));
  return {
    // How many others have read the entry `seq` (the viewer wrote it: they are not in `marks`).
    seenBy: function (seq) {
      let count = 0;
      marks.forEach(function (mark) { if (mark[1] < seq && mark[0] >= seq) count += 1; });
      return count;
    },
    others: function () { return marks.size; },
    read: function (userId, upTo) {
      const mark = marks.get(userId);
      if (mark) mark[0] = Math.max(mark[0], upTo);
    },
    // A message or entry: its sender has read up to it; a membership entry adds or drops a mark
    // (a new member has read their own "added" entry and saw nothing before it).
    entry: function (message, me) {
      const system = message.system;
      if (system && system.member && system.member.id !== me) {
        if (system.kind === "member_added") marks.set(system.member.id, [message.seq, message.seq - 1]);
        if (system.kind === "member_removed" || system.kind === "member_left") marks.delete(system.member.id);
      }
      if (!system) this.read(message.sender.id, message.seq);
    },
  };
}

// The "Seen by N" line under the viewer's latest own message, with the names on request (a
// click fetches them from the server: who has read it is its to say, not the page's guess).
export function showSeenBy(box, conversation, marks) {
  // The line makes the last message taller: a reader at the bottom stays at the bottom.
  const atBottom = box.scrollHeight - box.scrollTop - box.clientHeight < 80;
  const text = seenByLine(box, conversation, marks);
  if (atBottom) box.scrollTop = box.scrollHeight;
  return text;
}

function seenByLine(box, conversation, marks) {
  const own = Array.from(box.querySelectorAll(".message.own[data-seq]"));
  own.forEach(function (m) {
    const count = marks.seenBy(Number(m.dataset.seq));
    const tick = m.querySelector(".tick");
    if (tick) {
      const seen = count > 0;
      const label = seen ? "seen by " + count : "sent";
      if (tick.getAttribute("aria-label") !== label || !tick.textContent) {
        tick.classList.toggle("seen", seen);
        tick.textContent = seen ? "✓✓" : "✓";
        tick.setAttribute("aria-label", label);
      }
    }
  });
  const last = own.filter(function (m) { return !m.classList.contains("deleted"); }).pop();
  box.querySelectorAll(".seen-by-line").forEach(function (line) {
    if (!last || line.parentElement !== last) line.remove();
  });
  if (!last) return "";
  const count = marks.seenBy(Number(last.dataset.seq));
  let line = last.querySelector(".seen-by-line");
  if (count === 0) {
    if (line) line.remove();
    return "";
  }
  const text = "Seen by " + count;
  if (!line) {
    line = document.createElement("div");
    line.className = "seen-by-line";
    const button = document.createElement("button");
    button.type = "button";
    button.className = "seen-by";
    button.setAttribute("aria-expanded", "false");
    const names = document.createElement("div");
    names.className = "readers";
    names.id = "readers-" + last.dataset.id;
    names.hidden = true;
    button.setAttribute("aria-controls", names.id);
    button.addEventListener("click", function () {
      const open = names.hidden;
      names.hidden = !open;
      button.setAttribute("aria-expanded", String(open));
      if (open) {
        htmx.ajax("GET", "/conversations/" + conversation + "/messages/" + last.dataset.id + "/readers",
          { target: "#" + names.id, swap: "innerHTML" });
      }
    });
    line.append(button, names);
    last.append(line);
  }
  const button = line.querySelector(".seen-by");
  if (button.textContent !== text) {
    button.textContent = text;
    // Names asked for before are out of date now: ask again when opened.
    const names = line.querySelector(".readers");
    if (!names.hidden) {
      htmx.ajax("GET", "/conversations/" + conversation + "/messages/" + last.dataset.id + "/readers",
        { target: "#" + names.id, swap: "innerHTML" });
    }
  }
  return text;
}
