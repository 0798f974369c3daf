package plextest

import (
	"encoding/json"
	"encoding/xml"
	"net/http"
	"slices"
	"strconv"
)

// GET /api/users: the people the token's account shares its servers with,
// as the Plex OpenAPI description (path /users, operation get-users) and
// the clients that read it (Overseerr's server/api/plextv.ts, Tautulli,
// python-plexapi's MyPlexAccount.users()) describe it. Every account with a
// share of a server the token's account owns is one User, with one Server
// child per such server; home="1" for a Plex Home member, pending="1" on a
// Server child for an invitation not accepted yet. The owner itself, and
// accounts that only claim a server (ClaimServer), are not listed.

// ibool is a bool written 1/0 both in JSON (the spec's integer enums) and
// as an XML attribute.
type ibool bool

func (b ibool) MarshalJSON() ([]byte, error) {
	if b {
		return []byte("1"), nil
	}
	return []byte("0"), nil
}

func (b ibool) MarshalXMLAttr(name xml.Name) (xml.Attr, error) {
	return xbool(b).MarshalXMLAttr(name)
}

// usersBody is the MediaContainer of the answer.
type usersBody struct {
	XMLName      xml.Name `json:"-" xml:"MediaContainer"`
	FriendlyName string   `json:"friendlyName" xml:"friendlyName,attr"`
	Identifier   string   `json:"identifier" xml:"identifier,attr"`
	// MachineIdentifier is in the spec's JSON form only; the XML answers
	// clients have published do not carry it.
	MachineIdentifier string       `json:"machineIdentifier" xml:"-"`
	TotalSize         int          `json:"totalSize" xml:"totalSize,attr"`
	Size              int          `json:"size" xml:"size,attr"`
	Users             []sharedUser `json:"User" xml:"User"`
}

// usersJSON wraps the container as the JSON form does.
type usersJSON struct {
	MediaContainer usersBody `json:"MediaContainer"`
}

type sharedUser struct {
	ID                        int            `json:"id" xml:"id,attr"`
	Title                     string         `json:"title" xml:"title,attr"`
	Username                  string         `json:"username" xml:"username,attr"`
	Email                     string         `json:"email" xml:"email,attr"`
	RecommendationsPlaylistID string         `json:"recommendationsPlaylistId" xml:"recommendationsPlaylistId,attr"`
	Thumb                     string         `json:"thumb" xml:"thumb,attr"`
	Protected                 ibool          `json:"protected" xml:"protected,attr"`
	Home                      ibool          `json:"home" xml:"home,attr"`
	AllowTuners               ibool          `json:"allowTuners" xml:"allowTuners,attr"`
	AllowSync                 ibool          `json:"allowSync" xml:"allowSync,attr"`
	AllowCameraUpload         ibool          `json:"allowCameraUpload" xml:"allowCameraUpload,attr"`
	AllowChannels             ibool          `json:"allowChannels" xml:"allowChannels,attr"`
	AllowSubtitleAdmin        ibool          `json:"allowSubtitleAdmin" xml:"allowSubtitleAdmin,attr"`
	FilterAll                 string         `json:"filterAll" xml:"filterAll,attr"`
	FilterMovies              string         `json:"filterMovies" xml:"filterMovies,attr"`
	FilterMusic               string         `json:"filterMusic" xml:"filterMusic,attr"`
	FilterPhotos              string         `json:"filterPhotos" xml:"filterPhotos,attr"`
	FilterTelevision          string         `json:"filterTelevision" xml:"filterTelevision,attr"`
	Restricted                ibool          `json:"restricted" xml:"restricted,attr"`
	Servers                   []sharedServer `json:"Server" xml:"Server"`
}

type sharedServer struct {
	ID                int    `json:"id" xml:"id,attr"`
	ServerID          int    `json:"serverId" xml:"serverId,attr"`
	MachineIdentifier string `json:"machineIdentifier" xml:"machineIdentifier,attr"`
	Name              string `json:"name" xml:"name,attr"`
	LastSeenAt        int64  `json:"lastSeenAt" xml:"lastSeenAt,attr"`
	NumLibraries      int    `json:"numLibraries" xml:"numLibraries,attr"`
	AllLibraries      ibool  `json:"allLibraries" xml:"allLibraries,attr"`
	// Owned is about the server, seen from the list's owner: always 1 here.
	Owned   ibool `json:"owned" xml:"owned,attr"`
	Pending ibool `json:"pending" xml:"pending,attr"`
}

// GET /api/users
func (s *Server) getUsers(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	a := s.authenticate(r)
	if a == nil {
		s.mu.Unlock()
		writeUnauthorized(w, r)
		return
	}
	body := s.usersBody(a)
	asJSON := s.usersJSON && wantsJSON(r)
	s.mu.Unlock()

	var out []byte
	var err error
	if asJSON {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		out, err = json.Marshal(usersJSON{MediaContainer: body})
	} else {
		w.Header().Set("Content-Type", "application/xml; charset=utf-8")
		out, err = xml.Marshal(body)
		out = append([]byte(xml.Header), out...)
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	w.Write(append(out, '\n'))
}

// usersBody lists the shares of every server a owns. s.mu must be held.
func (s *Server) usersBody(a *account) usersBody {
	byName := map[string]*sharedUser{}
	body := usersBody{FriendlyName: "myPlex", Identifier: "com.plexapp.plugins.myplex", Users: []sharedUser{}}
	for i, m := range s.serverList {
		if sh := m.shares[a.Username]; sh == nil || sh.tier != Owner || sh.claimed {
			continue
		}
		if body.MachineIdentifier == "" {
			body.MachineIdentifier = m.machineID
		}
		for username, sh := range m.shares {
			if username == a.Username || sh.tier == Owner {
				continue // the owner, and accounts that only claim the server
			}
			u := s.accounts[username]
			su := byName[username]
			if su == nil {
				su = &sharedUser{
					ID:        u.ID,
					Title:     u.Title,
					Username:  u.Username,
					Email:     u.Email,
					Thumb:     "https://plex.tv/users/" + u.UUID + "/avatar?c=" + strconv.FormatInt(u.joined.Unix(), 10),
					AllowSync: true,
				}
				byName[username] = su
			}
			if sh.tier == Home && !sh.pending {
				su.Home = true
			}
			su.Servers = append(su.Servers, sharedServer{
				ID:                907759180 + i*100000 + u.ID,
				ServerID:          9999999 - i,
				MachineIdentifier: m.machineID,
				Name:              m.name,
				LastSeenAt:        m.created.Unix(),
				NumLibraries:      3,
				AllLibraries:      true,
				Owned:             true,
				Pending:           ibool(sh.pending),
			})
		}
	}
	for _, su := range byName {
		body.Users = append(body.Users, *su)
	}
	slices.SortFunc(body.Users, func(x, y sharedUser) int { return x.ID - y.ID })
	body.Size, body.TotalSize = len(body.Users), len(body.Users)
	return body
}
