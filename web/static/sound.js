// An optional sound for a new message while the tab is in the background: off until turned on in
// the settings, remembered per browser. The sound is a file of the site (no CDN). The page counts
// the sounds it played in `data-sounds-played` on <body>, so one can tell without listening.
const SOUND = "chat.sound";
let audio = null;

function soundOn() {
  try {
    return localStorage.getItem(SOUND) === "on";
  } catch (e) {
    return false;
  }
}

export function chimeIfAway(message, me) {
  if (message.sender.id === me || document.visibilityState === "visible" || !soundOn()) return;
  if (!audio) audio = new Audio("/static/message.wav");
  audio.currentTime = 0;
  audio.play().then(function () {
    document.body.dataset.soundsPlayed = String(Number(document.body.dataset.soundsPlayed || 0) + 1);
  }, function () {
    // The browser refuses to play before the person has used the page (its autoplay policy):
    // a missed sound, nothing worse.
  });
}

// The settings page's switch.
export function setUpSoundSettings() {
  const status = document.getElementById("sound-status");
  const toggle = document.getElementById("sound-toggle");
  if (!status || !toggle) return;
  const show = function () {
    const on = soundOn();
    status.textContent = on
      ? "On: a new message plays a sound while this tab is in the background."
      : "Off.";
    toggle.textContent = on ? "Turn off the sound" : "Turn on the sound";
    toggle.setAttribute("aria-pressed", on ? "true" : "false");
    toggle.hidden = false;
  };
  toggle.addEventListener("click", function () {
    localStorage.setItem(SOUND, soundOn() ? "off" : "on");
    show();
  });
  show();
}
