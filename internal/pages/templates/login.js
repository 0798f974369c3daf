// The login page's popup flow. Clicking "Sign in with Plex" opens Plex's
// sign-in in a popup and asks {prefix}/poll about once a second how it
// went; the answer that reports ok has set the session cookie, so the page
// then goes to the return URL.
//
// Only the pin's outcome ends the wait, never the popup's `closed`: under a
// Cross-Origin-Opener-Policy (app.plex.tv sent one in September 2025, and a
// site's "secure headers" preset can add one here) this page reads
// `popup.closed === true` while the user is still signing in at Plex. Sonarr
// (PR #8170) and seerr (PR #2941) met this and poll until the pin resolves
// or expires, as this does. After a few seconds the page also offers
// "Continue in this tab", for a popup that was lost or closed too soon.
//
// Without this script, or when the popup is blocked, the form posts to
// {prefix}/start and the whole tab goes through Plex and back: nothing here
// is needed to sign in.
(function () {
  "use strict";

  var form = document.querySelector("form[data-poll]");
  if (!form || !window.fetch || !window.URLSearchParams || !window.FormData) {
    return;
  }
  var pollURL = form.getAttribute("data-poll");
  var button = form.querySelector("[type=submit]");
  var label = form.querySelector("[data-label]");
  var waiting = document.querySelector("[data-waiting]");
  var cancel = document.querySelector("[data-cancel]");
  var outcomes = document.querySelectorAll("[data-outcome]");
  var accounts = document.querySelectorAll("[data-account]");
  var message = document.querySelector("[data-message]");
  var sameTab = document.querySelectorAll("[data-same-tab]");
  var sameTabButton = document.querySelector("button[data-same-tab]");
  var defaultMessage = message ? message.textContent : "";
  var limited = document.querySelector("[data-limited]");
  var defaultLimited = limited ? limited.textContent : "";

  var POLL_EVERY = 1000; // ms
  var SLOW_POLL_EVERY = 3000; // ms, once the popup reads closed
  var SAME_TAB_AFTER = 5000; // ms before "Continue in this tab" shows
  var MAX_FAILURES = 3; // network errors or plex.tv errors in a row

  var popup = null; // the Plex window
  var run = 0; // bumps on every start and cancel, so stale answers are ignored
  var timer = 0;
  var inFlight = false;
  var failures = 0;
  var seenPending = false; // this attempt's state cookie was accepted once
  var sameTabTimer = 0;

  function show(name, account, text) {
    if (message) {
      message.textContent = text || defaultMessage;
    }
    if (limited) {
      limited.textContent = (name === "limited" && text) || defaultLimited;
    }
    for (var i = 0; i < outcomes.length; i++) {
      outcomes[i].hidden = outcomes[i].getAttribute("data-outcome") !== name;
    }
    for (var j = 0; j < accounts.length; j++) {
      accounts[j].textContent = account || "";
    }
  }

  function showSameTab(on) {
    for (var i = 0; i < sameTab.length; i++) {
      sameTab[i].hidden = !on;
    }
  }

  function setWaiting(on) {
    if (waiting) {
      waiting.hidden = !on;
    }
    showSameTab(false);
    form.hidden = on && !!waiting;
    button.disabled = on;
    // Keyboard users land on the one thing they can do while waiting.
    if (on && cancel) {
      cancel.focus();
    }
  }

  function closePopup() {
    if (popup && !popup.closed) {
      try {
        popup.close();
      } catch (e) {
        // A window we cannot close is left to the user.
      }
    }
    popup = null;
  }

  function stop() {
    run++;
    clearTimeout(timer);
    timer = 0;
    clearTimeout(sameTabTimer);
    sameTabTimer = 0;
    inFlight = false;
    closePopup();
  }

  // finish ends the attempt with a message and puts the button back.
  function finish(name, account, text) {
    stop();
    setWaiting(false);
    show(name, account, text);
    if (label) {
      var text = label.getAttribute(name === "denied" ? "data-other" : "data-again");
      if (text) {
        label.textContent = text;
      }
    }
    button.focus();
  }

  function signedIn(redirect) {
    stop();
    show("ok");
    window.location.replace(redirect || "/");
  }

  // readJSON gives the status code and the decoded body of an answer; a
  // body that is not JSON counts as an error.
  function readJSON(resp) {
    return resp.json().then(function (body) {
      return { code: resp.status, body: body || {} };
    }, function () {
      return { code: resp.status, body: { status: "error" } };
    });
  }

  // outcome answers a final status; it returns false for pending.
  function outcome(res) {
    var b = res.body;
    switch (b.status) {
      case "ok":
        signedIn(b.redirect);
        return true;
      case "denied":
        finish("denied", b.account);
        return true;
      case "expired":
        finish("expired");
        return true;
      case "limited":
        // This site's own limit refused the start: the message says how
        // long to wait.
        finish("limited", "", b.message);
        return true;
      case "pending":
        return false;
    }
    // 400: the state cookie is missing or was refused. It lives as long as
    // the pin, so once it was accepted its loss means the sign-in expired.
    if (res.code === 400) {
      finish(seenPending ? "expired" : "badstate");
    } else {
      finish("error", "", b.message);
    }
    return true;
  }

  function schedule(my, delay) {
    clearTimeout(timer);
    timer = setTimeout(function () {
      poll(my);
    }, delay);
  }

  function poll(my) {
    if (my !== run || inFlight) {
      return;
    }
    inFlight = true;
    fetch(pollURL, {
      credentials: "same-origin",
      cache: "no-store",
      headers: { Accept: "application/json" }
    }).then(readJSON).then(function (res) {
      if (my !== run) {
        return;
      }
      inFlight = false;
      // Over this site's limit: the sign-in goes on; ask again when told.
      if (res.body.status === "limited") {
        schedule(my, Math.max(1, res.body.retryAfter || 1) * 1000);
        return;
      }
      // plex.tv may hiccup: a failed check is retried a few times.
      if (res.body.status === "error" && res.code !== 400 && ++failures < MAX_FAILURES) {
        schedule(my, POLL_EVERY);
        return;
      }
      if (res.body.status !== "error") {
        failures = 0;
      }
      if (outcome(res)) {
        return;
      }
      // Pending, whatever the popup's closed says (see the top). A popup
      // that reads closed may also be one the user really closed and walked
      // away from, until the pin expires: ask less often then. Coming back
      // to this tab asks at once (now, below).
      seenPending = true;
      schedule(my, !popup || popup.closed ? SLOW_POLL_EVERY : POLL_EVERY);
    }, function () {
      if (my !== run) {
        return;
      }
      inFlight = false;
      if (++failures < MAX_FAILURES) {
        schedule(my, POLL_EVERY);
      } else {
        finish("error");
      }
    });
  }

  // begin asks start for a pin (which sets the state cookie) and sends the
  // popup, opened already, to Plex.
  function begin(win) {
    stop();
    popup = win;
    var my = run;
    failures = 0;
    seenPending = false;
    show("");
    setWaiting(true);
    try {
      win.document.title = "Plex";
      win.document.body.textContent = "Opening Plex…";
    } catch (e) {
      // Not ours to write: fine.
    }
    var body = new URLSearchParams(new FormData(form));
    body.set("popup", "1");
    fetch(form.action, {
      method: "POST",
      credentials: "same-origin",
      headers: { Accept: "application/json" },
      body: body
    }).then(readJSON).then(function (res) {
      if (my !== run) {
        return;
      }
      if (res.body.status === "started" && res.body.url) {
        if (!popup || popup.closed) {
          finish("closed");
          return;
        }
        popup.location.href = res.body.url;
        schedule(my, POLL_EVERY);
        sameTabTimer = setTimeout(function () {
          if (my === run) {
            showSameTab(true);
          }
        }, SAME_TAB_AFTER);
        return;
      }
      outcome(res);
    }, function () {
      if (my === run) {
        finish("error");
      }
    });
  }

  form.addEventListener("submit", function (ev) {
    var w = 520;
    var h = 720;
    var left = Math.max(0, Math.round((window.screenX || 0) + ((window.outerWidth || w) - w) / 2));
    var top = Math.max(0, Math.round((window.screenY || 0) + ((window.outerHeight || h) - h) / 2));
    var win = null;
    // Opened here, in the click's own turn, so popup blockers let it through.
    try {
      win = window.open("", "plexauth", "popup=yes,width=" + w + ",height=" + h + ",left=" + left + ",top=" + top);
    } catch (e) {
      win = null;
    }
    if (!win) {
      return; // blocked: the form goes through Plex in this tab
    }
    ev.preventDefault();
    begin(win);
  });

  // "Continue in this tab" starts over without the popup: the form posts
  // to start as it does with the popup blocked, and this tab goes through
  // Plex and back. A new pin, rather than sending this tab to Plex with the
  // popup's: the server already has this path (it is the flow without
  // JavaScript), and the popup it replaces is most often one that is gone.
  if (sameTabButton) {
    sameTabButton.addEventListener("click", function () {
      stop();
      form.submit(); // submit() skips the submit listener: no popup
    });
  }

  if (cancel) {
    cancel.addEventListener("click", function () {
      stop();
      setWaiting(false);
      show("");
      button.focus();
    });
  }

  // Back in this tab (on phones the popup is a tab): ask at once rather
  // than at the next tick, which a background tab may have slowed.
  function now() {
    if (timer && !inFlight) {
      schedule(run, 0);
    }
  }
  window.addEventListener("focus", now);
  document.addEventListener("visibilitychange", function () {
    if (!document.hidden) {
      now();
    }
  });

  // Coming back through the history cache must not leave the page waiting.
  window.addEventListener("pageshow", function (ev) {
    if (ev.persisted) {
      stop();
      setWaiting(false);
    }
  });
})();
