package plexauth

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/caddy-plexauth/caddy-plexauth/plextest"
)

// The XML form as the issue and the clients that parse it show it, with an
// id past float64's integers and a second user invited only.
const usersXML = `<?xml version="1.0" encoding="UTF-8"?>
<MediaContainer friendlyName="myPlex" identifier="com.plexapp.plugins.myplex" totalSize="2" size="2">
  <User id="9007199254740993" title="Frank" username="frank" email="frank@example.org" recommendationsPlaylistId="" thumb="https://plex.tv/users/x/avatar" protected="0" home="0" allowTuners="0" allowSync="1" allowCameraUpload="0" allowChannels="0" allowSubtitleAdmin="0" filterAll="" filterMovies="" filterMusic="" filterPhotos="" filterTelevision="" restricted="0">
    <Server id="907759180" serverId="9999999" machineIdentifier="srv" name="Home" lastSeenAt="1556281940" numLibraries="3" allLibraries="0" owned="1" pending="0"/>
    <Server id="907759181" serverId="9999998" machineIdentifier="other" name="Other" lastSeenAt="1556281940" numLibraries="1" allLibraries="1" owned="1" pending="1"/>
  </User>
  <User id="1004" title="Gina" username="gina" email="gina@example.org" home="1" restricted="1" protected="1">
    <Server id="907759182" serverId="9999999" machineIdentifier="srv" name="Home" owned="1" pending="1"/>
  </User>
</MediaContainer>
`

// The JSON form of the Plex OpenAPI description (booleans as 0/1).
const usersJSON = `{"MediaContainer": {"friendlyName": "myPlex", "identifier": "com.plexapp.plugins.myplex",
 "machineIdentifier": "3dff4c4da3b1229a649aa574a9e2b419a684a20e", "totalSize": 2, "size": 2,
 "User": [
  {"id": 9007199254740993, "title": "Frank", "username": "frank", "email": "frank@example.org", "recommendationsPlaylistId": null,
   "thumb": "", "protected": 0, "home": 0, "allowTuners": 0, "allowSync": 1, "allowCameraUpload": 0, "allowChannels": 0,
   "allowSubtitleAdmin": 0, "filterAll": null, "restricted": 0,
   "Server": [{"id": 907759180, "serverId": 9999999, "machineIdentifier": "srv", "name": "Home", "owned": 1, "pending": 0},
              {"id": 907759181, "serverId": 9999998, "machineIdentifier": "other", "name": "Other", "owned": 1, "pending": 1}]},
  {"id": "1004", "username": "gina", "home": true, "Server": [{"machineIdentifier": "srv", "pending": "1"}]}
 ]}}`

func checkParsedUsers(t *testing.T, users []plexSharedUser) {
	t.Helper()
	if len(users) != 2 {
		t.Fatalf("%d users: %+v", len(users), users)
	}
	f, g := users[0], users[1]
	if f.ID != 9007199254740993 || f.Username != "frank" || f.Home || len(f.Servers) != 2 {
		t.Errorf("frank: %+v", f)
	}
	if f.Servers[0].MachineIdentifier != "srv" || f.Servers[0].Pending || f.Servers[1].MachineIdentifier != "other" || !f.Servers[1].Pending {
		t.Errorf("frank's servers: %+v", f.Servers)
	}
	if g.ID != 1004 || !g.Home || len(g.Servers) != 1 || !g.Servers[0].Pending {
		t.Errorf("gina: %+v", g)
	}
}

func TestUsersAnswerDecodesByContentType(t *testing.T) {
	for _, c := range []struct {
		name, contentType, body string
	}{
		{"XML as plex.tv sends it", "application/xml; charset=utf-8", usersXML},
		{"XML as text/xml", "text/xml;charset=UTF-8", usersXML},
		{"XML without a Content-Type", "", usersXML},
		{"JSON of the spec", "application/json", usersJSON},
		{"JSON with charset", "application/json; charset=utf-8", usersJSON},
	} {
		t.Run(c.name, func(t *testing.T) {
			var a plexUsersAnswer
			if err := decodePlexBody(c.contentType, []byte(c.body), &a); err != nil {
				t.Fatal(err)
			}
			checkParsedUsers(t, a.Users)
		})
	}
}

func TestUsersAnswerRefusesWhatItCannotReadSafely(t *testing.T) {
	for _, c := range []struct {
		name, contentType, body string
	}{
		{"XML labelled JSON", "application/json", usersXML},
		{"JSON labelled XML", "application/xml", usersJSON},
		{"error body at 200", "application/xml", `<errors><error code="1001" message="nope"/></errors>`},
		{"truncated XML", "application/xml", usersXML[:len(usersXML)/2]},
		{"truncated JSON", "application/json", usersJSON[:len(usersJSON)/2]},
		{"JSON without MediaContainer", "application/json", `{"User": [{"id": 1, "home": 1}]}`},
		{"pending as a word", "application/xml", `<MediaContainer><User id="5"><Server machineIdentifier="srv" pending="no"/></User></MediaContainer>`},
		{"empty pending", "application/xml", `<MediaContainer><User id="5"><Server machineIdentifier="srv" pending=""/></User></MediaContainer>`},
		{"home as 2", "application/json", `{"MediaContainer": {"User": [{"id": 5, "home": 2}]}}`},
		{"id not a number", "application/xml", `<MediaContainer><User id="5abc" home="1"/></MediaContainer>`},
		{"id as a float", "application/json", `{"MediaContainer": {"User": [{"id": 5.5, "home": 1}]}}`},
		{"id past int64", "application/json", `{"MediaContainer": {"User": [{"id": 9223372036854775808, "home": 1}]}}`},
	} {
		t.Run(c.name, func(t *testing.T) {
			var a plexUsersAnswer
			if err := decodePlexBody(c.contentType, []byte(c.body), &a); err == nil {
				t.Fatalf("decoded %+v", a.Users)
			}
		})
	}
}

// Other answers stay JSON whatever the Content-Type: only the answers that
// may come as XML are read as XML.
func TestOnlyXMLCapableAnswersAreReadAsXML(t *testing.T) {
	var u plexUser
	if err := decodePlexBody("application/xml", []byte(`<user id="5" username="x"/>`), &u); err == nil {
		t.Fatal("a /api/v2/user answer was read as XML")
	}
}

func testPlexClient(plex *plextest.Server) *plexClient {
	return &plexClient{
		base: plex.URL, product: "Test", clientID: "test-client", timeout: 2 * time.Second,
		http: &http.Client{Timeout: 2 * time.Second},
	}
}

// The client reads the fake's list in both forms, and sends the owner's
// token in a header only.
func TestUsersFromTheFakeInBothForms(t *testing.T) {
	plex := plextest.NewServer()
	defer plex.Close()
	plex.AddServer("srv", "Home")
	for _, u := range []string{"owner", "homie", "friend", "invitee"} {
		plex.AddAccount(u)
	}
	plex.Share("srv", "owner", plextest.Owner)
	plex.Share("srv", "homie", plextest.Home)
	plex.Share("srv", "friend", plextest.Friend)
	plex.Invite("srv", "invitee")
	token := plex.Account("owner").Token
	c := testPlexClient(plex)
	for _, asJSON := range []bool{false, true} {
		plex.SetUsersJSON(asJSON)
		plex.ResetLog()
		users, err := c.users(context.Background(), token)
		if err != nil {
			t.Fatalf("json=%v: %v", asJSON, err)
		}
		l := compileAccessList(int64(plex.Account("owner").ID), users, []string{"srv"})
		for name, want := range map[string]string{"owner": tierOwner, "homie": tierHome, "friend": tierFriend, "invitee": ""} {
			if got := l.TierOf(int64(plex.Account(name).ID)); got != want {
				t.Errorf("json=%v: %s is %q, want %q", asJSON, name, got, want)
			}
		}
		reqs := plex.Requests()
		if len(reqs) != 1 || reqs[0].Path != "/api/users" || reqs[0].Header.Get("X-Plex-Token") != token ||
			!strings.Contains(reqs[0].Header.Get("Accept"), "application/json") || len(reqs[0].Query) != 0 {
			t.Errorf("json=%v: requests %+v", asJSON, reqs)
		}
	}
	if _, err := c.users(context.Background(), "revoked"); !errors.Is(err, errTokenRejected) {
		t.Fatalf("a rejected owner token: %v, want errTokenRejected", err)
	}
}

// A list bigger than what is read of an answer is refused, not cut short:
// a cut list would silently drop people.
func TestUsersAnswerTooLargeIsAnError(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/xml")
		w.Write([]byte("<MediaContainer>"))
		user := []byte(`<User id="5" home="0"><Server machineIdentifier="srv" pending="0"/></User>`)
		for n := 0; n < maxPlexBody; n += len(user) {
			w.Write(user)
		}
		w.Write([]byte("</MediaContainer>"))
	}))
	defer srv.Close()
	c := &plexClient{base: srv.URL, timeout: 5 * time.Second, http: srv.Client()}
	if users, err := c.users(context.Background(), "t"); err == nil {
		t.Fatalf("a cut list was read: %d users", len(users))
	}
}
