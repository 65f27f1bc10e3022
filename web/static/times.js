// Times in the viewer's time zone (the full instant on hover). They arrive in UTC (<time
// datetime>). A line marks where a new day starts: "Today", "Yesterday", or the date.
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
export function localizeList() {
  document.querySelectorAll("#conversation-list time.when[datetime]").forEach(function (time) {
    const date = new Date(time.getAttribute("datetime"));
    if (isNaN(date.getTime())) return;
    const label = dayLabel(date);
    time.textContent = label === "Today" ? timeFormat.format(date) : label === "Yesterday" ? label : shortDate.format(date);
    time.title = fullFormat.format(date);
  });
}

export function localize() {
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
