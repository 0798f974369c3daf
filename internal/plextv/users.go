package plextv

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

// SharedUser is one User of GET /api/users: someone the token's account
// shares a server with (path /users, operation get-users, in
// LukeHagar/plex-api-spec; the attributes Overseerr's server/api/plextv.ts
// and python-plexapi's MyPlexUser read). The owner itself is not one.
type SharedUser struct {
	ID       ID     `json:"id" xml:"id,attr"`
	Username string `json:"username" xml:"username,attr"`
	Title    string `json:"title" xml:"title,attr"`
	// Home: a member of the owner's Plex Home.
	Home Flag `json:"home" xml:"home,attr"`
	// Servers are the owner's servers shared with this user.
	Servers []SharedServer `json:"Server" xml:"Server"`
}

// SharedServer is a Server child of a User: one server of the owner's
// shared with that user.
type SharedServer struct {
	MachineIdentifier string `json:"machineIdentifier" xml:"machineIdentifier,attr"`
	Name              string `json:"name" xml:"name,attr"`
	// Pending: invited, not accepted yet (no access).
	Pending Flag `json:"pending" xml:"pending,attr"`
}

// Users returns the people token's account shares its servers with, read
// from plex.tv's answer in XML or JSON, whichever its Content-Type says.
// An answer that cannot be read whole and exactly (a flag that is not 0/1
// or true/false, an id that is not a 64-bit integer, an answer past the
// size read) is an *Unavailable, never a shorter or guessed list.
func (c *Client) Users(ctx context.Context, token string) ([]SharedUser, error) {
	var a usersAnswer
	if err := c.do(ctx, http.MethodGet, "/api/users", token, &a); err != nil {
		return nil, err
	}
	return a.Users, nil
}

// usersAnswer is the answer of GET /api/users in either form:
//
//	<MediaContainer …><User id="…" home="0" …><Server machineIdentifier="…" pending="0" …/></User></MediaContainer>
//	{"MediaContainer": {"User": [{"id": …, "home": 0, "Server": [{"machineIdentifier": …, "pending": 0}]}]}}
type usersAnswer struct {
	XMLName xml.Name     `xml:"MediaContainer"`
	Users   []SharedUser `xml:"User"`
}

// plexXML marks a plex.tv answer that may come as XML: plex.tv's v1
// endpoints have answered XML to every client known, whatever Accept said.
func (*usersAnswer) plexXML() {}

func (a *usersAnswer) UnmarshalJSON(b []byte) error {
	var doc struct {
		MediaContainer *struct {
			Users []SharedUser `json:"User"`
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

// ID is a Plex account id: a 64-bit integer, read from a JSON number or
// string, or an XML attribute, without going through float64. Anything
// else is an error.
type ID int64

// UnmarshalJSON reads a JSON number or string; null is 0.
func (id *ID) UnmarshalJSON(b []byte) error {
	s := string(bytes.Trim(b, `"`))
	if s == "null" {
		*id = 0
		return nil
	}
	return id.parse(s)
}

// UnmarshalXMLAttr reads an XML attribute.
func (id *ID) UnmarshalXMLAttr(a xml.Attr) error { return id.parse(a.Value) }

func (id *ID) parse(s string) error {
	v, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil {
		return fmt.Errorf("account id %.30q is not an integer", s)
	}
	*id = ID(v)
	return nil
}

// Flag is one of Plex's booleans: 1/0 in XML attributes and in the JSON
// of v1 endpoints, true/false elsewhere (null is false). Anything else is
// an error, not a guess: a flag read wrong would grant or refuse access.
type Flag bool

// UnmarshalJSON reads 1/0 or true/false, bare or quoted; null is false.
func (f *Flag) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*f = false
		return nil
	}
	return f.parse(string(bytes.Trim(b, `"`)))
}

// UnmarshalXMLAttr reads an XML attribute: 1/0 or true/false.
func (f *Flag) UnmarshalXMLAttr(a xml.Attr) error { return f.parse(a.Value) }

func (f *Flag) parse(s string) error {
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

// decodeBody decodes a 200 answer into out: as XML when the answer's
// Content-Type says XML and out can take it (see plexXML), as JSON
// otherwise. Content-Type decides, not what was asked for.
func decodeBody(contentType string, body []byte, out any) error {
	if _, ok := out.(interface{ plexXML() }); ok {
		mt, _, _ := mime.ParseMediaType(contentType)
		if strings.HasSuffix(mt, "/xml") || strings.HasSuffix(mt, "+xml") ||
			(mt == "" && bytes.HasPrefix(bytes.TrimSpace(body), []byte("<"))) {
			return xml.Unmarshal(body, out)
		}
	}
	return json.Unmarshal(body, out)
}
