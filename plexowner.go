package plexauth

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"strconv"
	"strings"
)

// The plex.tv calls of the owner's side (owner_token): who the server is
// shared with, and which servers the owner's account owns. They return
// Plex's own shapes; owner.go turns them into an access list.

// plexSharedUser is one User of GET /api/users: someone the token's account
// shares a server with (path /users, operation get-users, in
// LukeHagar/plex-api-spec; the attributes Overseerr's server/api/plextv.ts
// and python-plexapi's MyPlexUser read).
type plexSharedUser struct {
	ID       plexID   `json:"id" xml:"id,attr"`
	Username string   `json:"username" xml:"username,attr"`
	Title    string   `json:"title" xml:"title,attr"`
	Home     plexFlag `json:"home" xml:"home,attr"`
	// Servers are the owner's servers shared with this user.
	Servers []plexSharedServer `json:"Server" xml:"Server"`
}

// plexSharedServer is a Server child of a User: one server of the owner's
// shared with that user.
type plexSharedServer struct {
	MachineIdentifier string `json:"machineIdentifier" xml:"machineIdentifier,attr"`
	Name              string `json:"name" xml:"name,attr"`
	// Pending: invited, not accepted yet (no access).
	Pending plexFlag `json:"pending" xml:"pending,attr"`
}

// plexUsersAnswer is the answer of GET /api/users in either form:
//
//	<MediaContainer …><User id="…" home="0" …><Server machineIdentifier="…" pending="0" …/></User></MediaContainer>
//	{"MediaContainer": {"User": [{"id": …, "home": 0, "Server": [{"machineIdentifier": …, "pending": 0}]}]}}
type plexUsersAnswer struct {
	XMLName xml.Name         `xml:"MediaContainer"`
	Users   []plexSharedUser `xml:"User"`
}

// plexXML marks a plex.tv answer that may come as XML: plex.tv's v1
// endpoints have answered XML to every client known, whatever Accept said.
func (*plexUsersAnswer) plexXML() {}

func (a *plexUsersAnswer) UnmarshalJSON(b []byte) error {
	var doc struct {
		MediaContainer *struct {
			Users []plexSharedUser `json:"User"`
		} `json:"MediaContainer"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		return err
	}
	if doc.MediaContainer == nil {
		return errors.New("no MediaContainer")
	}
	a.Users = doc.MediaContainer.Users
	return nil
}

// plexID is a Plex account id: a 64-bit integer, read from a JSON number or
// string, or an XML attribute, without going through float64.
type plexID int64

func (id *plexID) UnmarshalJSON(b []byte) error {
	s := string(bytes.Trim(b, `"`))
	if s == "null" {
		*id = 0
		return nil
	}
	return id.parse(s)
}

func (id *plexID) UnmarshalXMLAttr(a xml.Attr) error { return id.parse(a.Value) }

func (id *plexID) parse(s string) error {
	v, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil {
		return fmt.Errorf("account id %.30q is not an integer", s)
	}
	*id = plexID(v)
	return nil
}

// plexFlag is one of Plex's booleans: 1/0 in XML attributes and in the JSON
// of v1 endpoints, true/false elsewhere. Anything else is an error, not a
// guess: a flag read wrong would grant or refuse access.
type plexFlag bool

func (f *plexFlag) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*f = false
		return nil
	}
	return f.parse(string(bytes.Trim(b, `"`)))
}

func (f *plexFlag) UnmarshalXMLAttr(a xml.Attr) error { return f.parse(a.Value) }

func (f *plexFlag) parse(s string) error {
	switch strings.TrimSpace(s) {
	case "1", "true":
		*f = true
	case "0", "false":
		*f = false
	default:
		return fmt.Errorf("flag %.10q is not 0 or 1", s)
	}
	return nil
}

// decodePlexBody decodes a 200 answer into out: as XML when the answer's
// Content-Type says XML and out can take it (see plexXML), as JSON
// otherwise. Content-Type decides, not what was asked for.
func decodePlexBody(contentType string, body []byte, out any) error {
	if _, ok := out.(interface{ plexXML() }); ok {
		mt, _, _ := mime.ParseMediaType(contentType)
		if strings.HasSuffix(mt, "/xml") || strings.HasSuffix(mt, "+xml") ||
			(mt == "" && bytes.HasPrefix(bytes.TrimSpace(body), []byte("<"))) {
			return xml.Unmarshal(body, out)
		}
	}
	return json.Unmarshal(body, out)
}

// users returns the people the token's account shares its servers with.
func (c *plexClient) users(ctx context.Context, token string) ([]plexSharedUser, error) {
	var a plexUsersAnswer
	if err := c.do(ctx, http.MethodGet, "/api/users", token, &a); err != nil {
		return nil, err
	}
	return a.Users, nil
}

// resources returns the devices and servers the token's account can reach,
// as plex.tv lists them.
func (c *plexClient) resources(ctx context.Context, token string) ([]plexDevice, error) {
	var devices []plexDevice
	if err := c.do(ctx, http.MethodGet, "/api/v2/resources?includeHttps=1&includeRelay=1", token, &devices); err != nil {
		return nil, err
	}
	return devices, nil
}
