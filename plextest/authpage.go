package plextest

import (
	"bytes"
	"errors"
	"html/template"
	"net/http"
	"time"
)

// authPageTmpl stands in for https://app.plex.tv/auth. Like the real page it
// takes its parameters from the location fragment
// (#?clientID=…&code=…&forwardUrl=…&context%5Bdevice%5D%5Bproduct%5D=…, or
// #!?…), needs JavaScript, and once the user picked an account it goes to
// forwardUrl when given, else closes the window. It loads nothing external.
var authPageTmpl = template.Must(template.New("auth").Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Plex (plextest)</title>
<style>
body { font-family: sans-serif; background: #1f1f1f; color: #eee; max-width: 28em; margin: 3em auto; padding: 0 1em; }
button { display: block; width: 100%; margin: .5em 0; padding: .8em; font-size: 1em; background: #e5a00d; color: #1f1f1f; border: 0; border-radius: 4px; cursor: pointer; }
button:disabled { opacity: .5; cursor: default; }
#status { min-height: 1.5em; }
</style>
</head>
<body data-state="loading">
<h1>Sign in to <span id="product">Plex</span></h1>
<p id="client"></p>
<div id="accounts">
{{- range .}}
<button type="button" id="continue-{{.Username}}" data-username="{{.Username}}">Continue as {{.Username}}</button>
{{- else}}
<p id="no-accounts">No test accounts: call AddAccount.</p>
{{- end}}
</div>
<p id="status" role="status"></p>
<script>
(function () {
  "use strict";
  var frag = window.location.hash.replace(/^#/, "").replace(/^!/, "").replace(/^\?/, "");
  var params = new URLSearchParams(frag);
  var code = params.get("code") || "";
  var clientID = params.get("clientID") || "";
  var forwardUrl = params.get("forwardUrl") || "";
  var product = params.get("context[device][product]") || "";
  var status = document.getElementById("status");
  var buttons = document.querySelectorAll("button[data-username]");
  if (product) { document.getElementById("product").textContent = product; }
  if (clientID) { document.getElementById("client").textContent = "Device: " + clientID; }
  function setState(state, text) {
    document.body.setAttribute("data-state", state);
    status.textContent = text;
  }
  function enable(on) {
    for (var i = 0; i < buttons.length; i++) { buttons[i].disabled = !on; }
  }
  if (!code || !clientID) {
    setState("error", "The link is missing its code or clientID.");
    enable(false);
    return;
  }
  var target = null;
  if (forwardUrl) {
    try {
      target = new URL(forwardUrl);
      if (target.protocol !== "http:" && target.protocol !== "https:") { throw new Error("bad scheme"); }
    } catch (e) {
      setState("error", "forwardUrl is not an absolute http(s) URL.");
      enable(false);
      return;
    }
  }
  setState("ready", "");
  for (var i = 0; i < buttons.length; i++) {
    buttons[i].addEventListener("click", function (ev) {
      var username = ev.currentTarget.getAttribute("data-username");
      enable(false);
      setState("busy", "Signing in as " + username + "…");
      var body = new URLSearchParams();
      body.set("code", code);
      body.set("clientID", clientID);
      body.set("username", username);
      fetch("/auth/approve", {
        method: "POST",
        headers: { "Content-Type": "application/x-www-form-urlencoded" },
        body: body.toString()
      }).then(function (resp) {
        if (resp.status !== 204) { throw new Error("approval failed: HTTP " + resp.status); }
        setState("approved", "Signed in as " + username + ". You can close this window.");
        document.body.setAttribute("data-username", username);
        if (target) {
          window.location.assign(target.href);
        } else {
          window.close();
        }
      }).catch(function (e) {
        setState("error", String(e && e.message || e));
        enable(true);
      });
    });
  }
})();
</script>
</body>
</html>
`))

// GET /auth: the sign-in page, one button per account.
func (s *Server) authPage(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	accounts := make([]Account, len(s.accountList))
	for i, a := range s.accountList {
		accounts[i] = a.Account
	}
	coop := s.openerPol
	s.mu.Unlock()

	var buf bytes.Buffer
	if err := authPageTmpl.Execute(&buf, accounts); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if coop != "" {
		w.Header().Set("Cross-Origin-Opener-Policy", coop)
	}
	w.Write(buf.Bytes())
}

// POST /auth/approve with form fields code, clientID and username: approves
// the live pin with that code and client identifier as that account.
// 204 on success, 404 for an unknown or expired code (or another client's),
// 400 for an unknown account.
func (s *Server) authApprove(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		writeError(w, r, http.StatusBadRequest, codeBadRequest, "bad form")
		return
	}
	code, clientID, username := r.PostForm.Get("code"), r.PostForm.Get("clientID"), r.PostForm.Get("username")

	s.mu.Lock()
	var err error
	p := s.livePinByCode(code, time.Now())
	if p == nil || p.clientID != clientID {
		err = errUnknownPin
	} else {
		err = s.approve(p, username)
	}
	s.mu.Unlock()

	switch {
	case err == nil:
		w.WriteHeader(http.StatusNoContent)
	case errors.Is(err, errUnknownPin):
		writeError(w, r, http.StatusNotFound, codeNotFound, "Code not found or expired")
	default:
		writeError(w, r, http.StatusBadRequest, codeBadRequest, "Unknown account")
	}
}
