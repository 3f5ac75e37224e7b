// The watch page's room: live chat, reactions, like and share counters and the viewer count,
// over WS /ws/streams/{id} (protocol: docs/realtime.md). User text is only ever set with
// textContent, never parsed as HTML. Needs window.livecast from watch.js (session id, token).
(function () {
  "use strict";
  const REACTIONS = { like: "👍", love: "❤️", fire: "🔥", clap: "👏", wow: "😮" };
  const MAX_SHOWN = 200;  // comments kept in the page; older ones scroll away
  const HISTORY_WINDOW = 1000;  // on first join, show comments among the last this many events

  const livecast = window.livecast;
  const streamId = document.getElementById("engagement").dataset.streamId;
  const api = "/api/v1/streams/" + streamId;
  const $ = function (id) { return document.getElementById(id); };
  const commentsEl = $("comments"), pinnedEl = $("pinned"), statusEl = $("chat-status");
  const postForm = $("post"), loginForm = $("login"), textInput = $("text"), sendButton = $("send");

  let socket = null;
  let welcomed = false;  // the open socket has had its welcome: auth may go over it
  let lastSeq = null;  // the last seq seen: a reconnect resumes after it
  let canChat = false;
  let user = null;
  let retryUntil = 0;  // wall time (ms) until which the server refuses our comments
  let statusText = "";
  let backoff = 500;
  let nextCid = 0;
  const sending = {};  // cid → text of comments awaiting their ack
  const reactionCounts = {};

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;  // text only: never markup
    return node;
  }

  function send(message) {
    if (socket && socket.readyState === WebSocket.OPEN) {
      message.v = 1;
      socket.send(JSON.stringify(message));
      return true;
    }
    return false;
  }

  // -- status line and the rate-limit countdown ------------------------------------------

  function setStatus(text) {
    statusText = text;
    renderStatus();
  }

  function renderStatus() {
    const wait = retryUntil - Date.now();
    if (wait > 0) {
      statusEl.textContent = (statusText ? statusText + " " : "") +
        "You can send again in " + Math.ceil(wait / 1000) + " s.";
      sendButton.disabled = true;
    } else {
      statusEl.textContent = statusText;
      sendButton.disabled = false;
      if (retryUntil) {  // the countdown just ended
        retryUntil = 0;
        statusText = "";
        statusEl.textContent = "";
      }
    }
  }
  setInterval(renderStatus, 250);

  // -- who we are ---------------------------------------------------------------------------

  function setIdentity(newUser, chat) {
    user = newUser;
    canChat = chat;
    postForm.hidden = !canChat;
    loginForm.hidden = user !== null;
    $("logout").hidden = user === null;
    $("me").textContent = user ? "Chatting as " + user.display_name : "Read-only: log in to chat.";
  }

  loginForm.addEventListener("submit", async function (event) {
    event.preventDefault();
    const body = { username: $("username").value, password: $("password").value };
    const response = await fetch("/api/v1/auth/login", {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
    });
    if (!response.ok) {
      setStatus(response.status === 429 ? "Too many attempts; wait a minute." : "Wrong username or password.");
      return;
    }
    livecast.setToken((await response.json()).access_token);
    $("password").value = "";
    setStatus("");
    // Before the welcome, a new connection with the token is simpler than racing it.
    if (!welcomed || !send({ type: "auth", token: livecast.token(), cid: "login" })) reconnect();
  });

  $("logout").addEventListener("click", function () {
    livecast.setToken(null);
    setIdentity(null, false);
    reconnect();  // a connection never switches users: start an anonymous one
  });

  // -- chat ---------------------------------------------------------------------------------

  function commentItem(comment, tag) {
    const item = el(tag || "li", "comment");
    item.dataset.seq = String(comment.seq);
    item.append(el("span", "author", comment.user.display_name), el("span", "text", comment.text));
    return item;
  }

  function addComment(comment) {
    if (commentsEl.querySelector('[data-seq="' + comment.seq + '"]')) return;
    commentsEl.append(commentItem(comment));
    while (commentsEl.children.length > MAX_SHOWN) commentsEl.firstElementChild.remove();
    commentsEl.scrollTop = commentsEl.scrollHeight;
  }

  function addNotice(text) {
    commentsEl.append(el("li", "notice", text));
  }

  function removeComments(predicate) {
    for (const item of Array.from(commentsEl.querySelectorAll("li.comment"))) {
      if (predicate(Number(item.dataset.seq))) item.remove();
    }
    const pinnedSeq = Number(pinnedEl.dataset.seq);
    if (!pinnedEl.hidden && predicate(pinnedSeq)) showPinned(null);
  }

  function showPinned(comment) {
    pinnedEl.replaceChildren();
    pinnedEl.hidden = !comment;
    if (!comment) return;
    pinnedEl.dataset.seq = String(comment.seq);
    pinnedEl.append(el("span", "label", "Pinned"), commentItem(comment, "div"));
  }

  // History before the live events: comments up to welcome.last_seq, deleted ones left out.
  async function loadHistory(upTo) {
    const since = Math.max(0, upTo - HISTORY_WINDOW);
    const token = livecast.token();
    const headers = token ? { Authorization: "Bearer " + token } : {};
    try {
      const response = await fetch(api + "/comments?limit=500&since=" + since, { headers: headers });
      if (!response.ok) return;
      const page = await response.json();
      const older = page.items.filter(function (c) { return c.seq <= upTo; }).slice(-MAX_SHOWN / 2);
      const fragment = document.createDocumentFragment();
      for (const comment of older) {
        if (!commentsEl.querySelector('[data-seq="' + comment.seq + '"]')) fragment.append(commentItem(comment));
      }
      commentsEl.prepend(fragment);
      commentsEl.scrollTop = commentsEl.scrollHeight;
    } catch (err) {
      // History is a courtesy; live chat works without it.
    }
  }

  postForm.addEventListener("submit", function (event) {
    event.preventDefault();
    const text = textInput.value.trim();
    if (!text || Date.now() < retryUntil) return;
    nextCid += 1;
    const cid = "c-" + Date.now().toString(36) + "-" + nextCid;
    if (send({ type: "comment", cid: cid, text: text })) {
      sending[cid] = textInput.value;
    } else {
      setStatus("Not connected; reconnecting…");
    }
  });

  function onAck(ack) {
    const text = sending[ack.cid];
    delete sending[ack.cid];
    if (ack.ok) {
      if (text !== undefined && textInput.value === text) textInput.value = "";  // unless retyped
      setStatus("");
      return;
    }
    if (text !== undefined) {  // a refused comment: keep its text, count down to the next try
      retryUntil = ack.retry_after_ms ? Date.now() + ack.retry_after_ms : 0;
    }
    setStatus(ack.detail || ack.reason);
  }

  // -- reactions, counters, viewers -----------------------------------------------------------

  function renderReactions() {
    for (const kind of Object.keys(REACTIONS)) {
      $("reaction-" + kind).querySelector(".count").textContent = String(reactionCounts[kind] || 0);
    }
  }

  for (const kind of Object.keys(REACTIONS)) {
    const button = el("button", "reaction");
    button.type = "button";
    button.id = "reaction-" + kind;
    button.title = kind;
    button.append(el("span", "emoji", REACTIONS[kind]), el("span", "count", "0"));
    button.addEventListener("click", function () { send({ type: "reaction", kind: kind }); });
    $("reactions").append(button);
  }
  $("like").addEventListener("click", function () { send({ type: "like", cid: "like" }); });
  $("share").addEventListener("click", function () {
    send({ type: "share" });
    if (navigator.clipboard) navigator.clipboard.writeText(location.href).catch(function () {});
  });

  function setCounters(likes, shares) {
    $("likes").textContent = String(likes);
    $("shares").textContent = String(shares);
  }

  function setViewers(viewers) {
    $("viewers").textContent = String(viewers);
  }

  // -- the socket -----------------------------------------------------------------------------

  const HANDLERS = {
    comment: addComment,
    deleted: function (e) { removeComments(function (seq) { return seq === e.comment_seq; }); },
    clear: function (e) {
      removeComments(function (seq) { return seq <= e.through_seq; });
      addNotice("The chat was cleared.");
    },
    pin: function (e) { showPinned(e.comment); },
    unpin: function () { showPinned(null); },
    reactions: function (e) { Object.assign(reactionCounts, e.totals); renderReactions(); },
    counters: function (e) { setCounters(e.likes, e.shares); },
    viewer_update: function (e) { setViewers(e.viewers); },
    timeout: function (e) { addNotice(e.user.display_name + " was timed out for " + e.seconds + " s."); },
    ban: function (e) { addNotice(e.user.display_name + " was banned."); },
    system: function (e) {
      if (e.event === "stream_started") addNotice("The stream started.");
      else if (e.event === "stream_ended") addNotice("The stream ended.");
      else if (e.event === "viewer_milestone") addNotice(e.viewers + " viewers!");
    },
  };

  function onBatch(batch) {
    for (const event of batch.events) {
      if (typeof event.seq === "number") lastSeq = Math.max(lastSeq || 0, event.seq);
      const handler = HANDLERS[event.type];
      if (handler) handler(event);
    }
    if (batch.sampled && batch.skipped) addNotice("… " + batch.skipped + " messages skipped");
  }

  function onWelcome(welcome) {
    welcomed = true;
    backoff = 500;
    const state = welcome.state;
    setViewers(state.viewers);
    setCounters(state.likes, state.shares);
    Object.assign(reactionCounts, state.reactions);
    renderReactions();
    showPinned(state.pinned);
    textInput.maxLength = welcome.limits.max_comment_chars;
    setIdentity(welcome.user, welcome.can_chat);
    const first = lastSeq === null;
    if (first) {
      lastSeq = welcome.last_seq;
      loadHistory(welcome.last_seq);
    }
  }

  function onMessage(message) {
    switch (message.type) {
      case "welcome": onWelcome(message); break;
      case "batch": onBatch(message); break;
      case "ack": onAck(message); break;
      case "auth_ok": setIdentity(message.user, message.can_chat); break;
      case "error":
        if (message.cid === "login") livecast.setToken(null);
        setStatus(message.detail || message.code);
        break;
      default: break;  // resumed, pong
    }
  }

  function connect() {
    const params = new URLSearchParams({ session_id: livecast.sessionId });
    const token = livecast.token();
    if (token) params.set("token", token);
    if (lastSeq !== null) params.set("since", String(lastSeq));
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const ws = new WebSocket(scheme + "//" + location.host + "/ws/streams/" + streamId + "?" + params);
    socket = ws;
    welcomed = false;
    ws.addEventListener("message", function (event) {
      if (ws === socket) onMessage(JSON.parse(event.data));
    });
    ws.addEventListener("close", function (event) {
      if (ws !== socket) return;  // replaced on purpose
      socket = null;
      if (event.code === 4401) {
        livecast.setToken(null);  // expired or revoked: continue anonymously
        setIdentity(null, false);
      } else if (event.code === 4404) {
        setStatus("This chat is not available.");
        return;
      }
      setTimeout(connect, backoff);
      backoff = Math.min(backoff * 2, 15000);
    });
  }

  function reconnect() {
    const old = socket;
    socket = null;
    if (old) old.close(1000, "reconnecting");
    connect();
  }

  window.livecastChat = { send: send };  // for tests and the console
  setIdentity(null, false);
  connect();
})();
