// The watch page's player: hls.js in low-latency mode, or the browser's own HLS (Safari), or
// dash.js with ?player=dash; and its viewer heartbeat. Also defines window.livecast, shared
// with chat.js: the tab's viewer session id (one per tab, in sessionStorage) and the access
// token (in localStorage).
(function () {
  "use strict";
  const TOKEN_KEY = "livecast.access_token";
  const SESSION_KEY = "livecast.session_id";
  const video = document.getElementById("video");
  const statusEl = document.getElementById("status");
  const latencyEl = document.getElementById("latency");
  const messageEl = document.getElementById("message");
  const src = video.dataset.src;
  let player = null;  // the hls.js or dash.js instance: both have destroy()

  function newSessionId() {
    const bytes = new Uint8Array(16);
    crypto.getRandomValues(bytes);
    return "tab-" + Array.from(bytes, function (b) { return b.toString(16).padStart(2, "0"); }).join("");
  }

  // The chat socket sends the same session id, so that chat and video are one session; a
  // logged-in user's tabs are one viewer on the server (counted by user, not by session).
  let sessionId = sessionStorage.getItem(SESSION_KEY);
  if (!sessionId) {
    sessionId = newSessionId();
    sessionStorage.setItem(SESSION_KEY, sessionId);
  }
  const livecast = {
    sessionId: sessionId,
    token: function () { return localStorage.getItem(TOKEN_KEY); },
    setToken: function (token) {
      if (token) localStorage.setItem(TOKEN_KEY, token);
      else localStorage.removeItem(TOKEN_KEY);
    },
    heartbeats: 0,  // accepted heartbeats: for tests and curious users
  };
  window.livecast = livecast;

  // Playback statistics since the previous heartbeat.
  const stats = { resolution: null, bufferingEvents: 0, bufferingMs: 0, qualityChanges: 0 };
  let waitingSince = null;
  let heartbeatTimer = null;
  let heartbeatSeconds = 10;

  function deviceType() {
    const ua = navigator.userAgent;
    if (/\b(SmartTV|SMART-TV|AppleTV|GoogleTV|CrKey|Tizen|Web0S)\b/i.test(ua)) return "tv";
    if (/iPad|Tablet/i.test(ua) || (/Android/i.test(ua) && !/Mobile/i.test(ua))) return "tablet";
    if (/Mobi|iPhone|Android/i.test(ua)) return "mobile";
    return "desktop";
  }

  function takeStats() {
    if (waitingSince !== null) {  // still stalled: count the time so far in this interval
      const now = performance.now();
      stats.bufferingMs += now - waitingSince;
      waitingSince = now;
    }
    const body = {
      session_id: sessionId,
      device_type: deviceType(),
      buffering_events: stats.bufferingEvents,
      buffering_ms: Math.min(Math.round(stats.bufferingMs), 3600000),
      quality_changes: stats.qualityChanges,
    };
    const width = video.videoWidth, height = video.videoHeight;
    const resolution = stats.resolution || (width && height ? width + "x" + height : null);
    if (resolution) body.resolution = resolution;
    stats.bufferingEvents = 0;
    stats.bufferingMs = 0;
    stats.qualityChanges = 0;
    return body;
  }

  async function heartbeat() {
    const headers = { "Content-Type": "application/json" };
    const token = livecast.token();
    if (token) headers.Authorization = "Bearer " + token;
    try {
      const response = await fetch(video.dataset.api + "/viewers/heartbeat", {
        method: "POST", headers: headers, body: JSON.stringify(takeStats()),
        credentials: "same-origin",
      });
      if (response.ok) {
        livecast.heartbeats += 1;
        heartbeatSeconds = (await response.json()).heartbeat_interval_seconds || 10;
      } else if (response.status === 401) {
        livecast.setToken(null);  // expired: keep watching anonymously; chat.js shows the form
      } else if (response.status === 409) {
        return;  // the stream ended: nobody watches it any more
      }
    } catch (err) {
      // The network failed: the next beat says we are still here.
    }
    heartbeatTimer = setTimeout(heartbeat, heartbeatSeconds * 1000);
  }

  function startHeartbeat() {
    if (heartbeatTimer === null) {
      heartbeatTimer = setTimeout(heartbeat, 0);
    }
  }

  video.addEventListener("waiting", function () {
    if (waitingSince === null && video.currentTime > 0) {
      stats.bufferingEvents += 1;
      waitingSince = performance.now();
    }
  });
  video.addEventListener("playing", function () {
    if (waitingSince !== null) {
      stats.bufferingMs += performance.now() - waitingSince;
      waitingSince = null;
    }
  });

  function show(text) {
    messageEl.textContent = text;  // textContent: never parsed as HTML
    messageEl.hidden = !text;
  }

  function setStatus(status) {
    statusEl.textContent = status;
    statusEl.className = "status " + status;
  }

  function retryLater() {
    show("Playback interrupted; retrying…");
    if (player) player.destroy();
    player = null;
    window.livecastPlayer = null;
    setTimeout(start, 2000);
  }

  function start() {
    if (player || video.src) return;
    if (video.dataset.player === "dash") {
      startDash();
    } else if (window.Hls && window.Hls.isSupported()) {
      startHls();
    } else if (video.canPlayType("application/vnd.apple.mpegurl")) {
      video.src = src;
    } else {
      show("This browser cannot play HLS.");
    }
  }

  // How far behind the live edge the page plays, in part durations. hls.js measures latency
  // from the edge it estimates (the last listed part plus the playlist's age), so 2.7 parts
  // keep the playhead at least two parts behind the newest listed part whenever a playlist
  // arrives: the floor RFC 8216bis sets for PART-HOLD-BACK. The server advertises 3 parts.
  const TARGET_PARTS = 2.7;
  const MIN_AHEAD_S = 0.3;  // never speed up with less than this much media buffered

  function bufferedAhead() {
    const ranges = video.buffered;
    return ranges.length ? ranges.end(ranges.length - 1) - video.currentTime : 0;
  }

  // hls.js only speeds up with more than a second buffered, which a player this close to the
  // edge never has, so a late start (the time spent loading the first parts) would stay as
  // extra latency for good. The page nudges the playback rate itself instead.
  function catchUp(hls) {
    const target = hls.targetLatency;
    const latency = hls.latency;
    if (!target || !latency || video.paused) return;
    const behind = latency - target;
    let rate = 1;
    if (behind > 0.5 && bufferedAhead() > MIN_AHEAD_S) rate = 1.25;
    else if (behind > 0.04 && bufferedAhead() > MIN_AHEAD_S) rate = 1.1;
    else if (behind < -0.15) rate = 0.95;  // too close: let the buffer grow back
    if (video.playbackRate !== rate) video.playbackRate = rate;
  }

  function startHls() {
    const hls = new window.Hls({
      lowLatencyMode: true,
      backBufferLength: 30,
      maxLiveSyncPlaybackRate: 1,  // the page's catchUp() owns the playback rate
    });
    player = hls;
    window.livecastPlayer = hls;  // for tests and the latency readout
    // hls.js starts at the server's PART-HOLD-BACK and counts the stall that often comes with
    // the first parts against its target (a second more each). Once a second has played, the
    // page sets its own target, which also forgets that start-up stall; stalls after that
    // still move the target back, as hls.js means them to.
    let playedFrom = null;
    let targetSet = false;
    video.addEventListener("timeupdate", function () {
      if (player !== hls) return;
      const details = hls.latestLevelDetails;
      if (!targetSet && details && details.live && details.partTarget && !video.paused) {
        if (playedFrom === null) playedFrom = video.currentTime;
        if (video.currentTime - playedFrom > 1) {
          targetSet = true;
          hls.targetLatency = TARGET_PARTS * details.partTarget;
        }
      }
      catchUp(hls);
    });
    hls.on(window.Hls.Events.ERROR, function (_event, data) {
      if (data.fatal) retryLater();
    });
    let firstLevel = true;
    hls.on(window.Hls.Events.LEVEL_SWITCHED, function (_event, data) {
      const level = hls.levels[data.level];
      if (level && level.width && level.height) {
        stats.resolution = level.width + "x" + level.height;
      }
      if (!firstLevel) stats.qualityChanges += 1;
      firstLevel = false;
    });
    hls.on(window.Hls.Events.MANIFEST_PARSED, function () {
      show("");
      video.play().catch(function () {});
    });
    hls.loadSource(src);
    hls.attachMedia(video);
  }

  // dash.js plays the MPD (?player=dash), keeping to the MPD's suggestedPresentationDelay.
  function startDash() {
    if (!window.dashjs) {
      show("This browser cannot play DASH.");
      return;
    }
    const events = window.dashjs.MediaPlayer.events;
    const dash = window.dashjs.MediaPlayer().create();
    dash.updateSettings({
      streaming: { liveCatchup: { enabled: true, playbackRate: { min: -0.2, max: 0.5 } } },
    });
    player = dash;
    window.livecastPlayer = dash;  // for tests and the latency readout
    dash.on(events.ERROR, function (event) {
      console.error("dash.js error", event.error);
      retryLater();
    });
    let firstQuality = true;
    dash.on(events.QUALITY_CHANGE_RENDERED, function (event) {
      if (event.mediaType !== "video") return;
      if (!firstQuality) stats.qualityChanges += 1;
      firstQuality = false;
    });
    dash.on(events.STREAM_INITIALIZED, function () { show(""); });
    dash.initialize(video, src, true);
  }

  function latency() {
    if (!player) return NaN;
    if (typeof player.getCurrentLiveLatency === "function") return player.getCurrentLiveLatency();
    return player.latency;
  }

  async function poll() {
    try {
      const response = await fetch(video.dataset.api, { credentials: "same-origin" });
      if (response.ok) {
        const stream = await response.json();
        setStatus(stream.status);
        if (stream.status === "live") {
          start();
          startHeartbeat();
        } else if (stream.status === "ended") {
          show("This stream has ended.");
        } else {
          show("The stream has not started yet.");
        }
      }
    } catch (err) {
      // The next poll retries.
    }
  }

  setInterval(function () {
    const seconds = latency();
    if (typeof seconds === "number" && isFinite(seconds) && seconds > 0) {
      latencyEl.textContent = "latency " + seconds.toFixed(2) + " s";
    }
  }, 1000);
  setInterval(poll, 5000);
  poll();
})();
