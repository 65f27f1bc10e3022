// Browser notifications of new messages while the tab is in the background: off until turned
// on in the settings, where the browser asks for permission on that click (a user gesture).
const NOTIFY = "chat.notifications";
const canNotify = "Notification" in window;
function notifying() {
  return canNotify && Notification.permission === "granted" && localStorage.getItem(NOTIFY) === "on";
}
export function notifyIfAway(message, me) {
  if (message.sender.id === me || document.visibilityState === "visible" || !notifying()) return;
  const shown = new Notification(message.sender.display_name, { body: message.body || "", tag: message.conversation_id });
  shown.onclick = function () {
    window.focus();
    location.href = "/conversations/" + message.conversation_id;
    shown.close();
  };
}

// The settings page's switch.
export function setUpNotificationSettings() {
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
}
