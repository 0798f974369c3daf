package plextest

import (
	"encoding/json"
	"encoding/xml"
	"net/http"
	"strings"
	"time"
)

// The bodies below follow the Plex OpenAPI models. Each type serves both
// encodings: JSON field names as in the spec, and XML attributes of the same
// names, with booleans written "1"/"0" in XML as plex.tv does.

// xbool is a bool that is true/false in JSON and 1/0 as an XML attribute.
type xbool bool

func (b xbool) MarshalXMLAttr(name xml.Name) (xml.Attr, error) {
	v := "0"
	if b {
		v = "1"
	}
	return xml.Attr{Name: name, Value: v}, nil
}

// geoData is the GeoData model.
type geoData struct {
	Code                       string `json:"code" xml:"code,attr"`
	ContinentCode              string `json:"continent_code" xml:"continent_code,attr"`
	Country                    string `json:"country" xml:"country,attr"`
	City                       string `json:"city" xml:"city,attr"`
	EuropeanUnionMember        xbool  `json:"european_union_member" xml:"european_union_member,attr"`
	TimeZone                   string `json:"time_zone" xml:"time_zone,attr"`
	PostalCode                 string `json:"postal_code" xml:"postal_code,attr"`
	InPrivacyRestrictedCountry xbool  `json:"in_privacy_restricted_country" xml:"in_privacy_restricted_country,attr"`
	InPrivacyRestrictedRegion  xbool  `json:"in_privacy_restricted_region" xml:"in_privacy_restricted_region,attr"`
	Subdivisions               string `json:"subdivisions" xml:"subdivisions,attr"`
	Coordinates                string `json:"coordinates" xml:"coordinates,attr"`
}

var fakeLocation = geoData{
	Code:          "US",
	ContinentCode: "NA",
	Country:       "United States",
	City:          "Springfield",
	TimeZone:      "America/Chicago",
	PostalCode:    "62701",
	Subdivisions:  "Illinois",
	Coordinates:   "39.8017, -89.6436",
}

// pinBody is the AuthPinContainer model.
type pinBody struct {
	XMLName          xml.Name `json:"-" xml:"pin"`
	ID               int      `json:"id" xml:"id,attr"`
	Code             string   `json:"code" xml:"code,attr"`
	Product          string   `json:"product" xml:"product,attr"`
	Trusted          xbool    `json:"trusted" xml:"trusted,attr"`
	QR               string   `json:"qr" xml:"qr,attr"`
	ClientIdentifier string   `json:"clientIdentifier" xml:"clientIdentifier,attr"`
	Location         geoData  `json:"location" xml:"location"`
	ExpiresIn        int      `json:"expiresIn" xml:"expiresIn,attr"`
	CreatedAt        string   `json:"createdAt" xml:"createdAt,attr"`
	ExpiresAt        string   `json:"expiresAt" xml:"expiresAt,attr"`
	AuthToken        *string  `json:"authToken" xml:"authToken,attr,omitempty"`
	NewRegistration  *bool    `json:"newRegistration" xml:"newRegistration,attr,omitempty"`
}

// pinBody renders p as seen at now. s.mu must be held.
func (s *Server) pinBody(p *pin, now time.Time) pinBody {
	left := int(p.expires.Sub(now) / time.Second)
	if left < 0 {
		left = 0
	}
	b := pinBody{
		ID:               p.id,
		Code:             p.code,
		Product:          p.product,
		QR:               s.URL + "/api/v2/pins/qr/" + p.code,
		ClientIdentifier: p.clientID,
		Location:         fakeLocation,
		ExpiresIn:        left,
		CreatedAt:        isoTime(p.created),
		ExpiresAt:        isoTime(p.expires),
	}
	if p.authToken != "" {
		t := p.authToken
		b.AuthToken = &t
	}
	return b
}

// userBody is the UserPlexAccount model.
type userBody struct {
	XMLName                 xml.Name     `json:"-" xml:"user"`
	ID                      int          `json:"id" xml:"id,attr"`
	UUID                    string       `json:"uuid" xml:"uuid,attr"`
	Username                string       `json:"username" xml:"username,attr"`
	Title                   string       `json:"title" xml:"title,attr"`
	Email                   string       `json:"email" xml:"email,attr"`
	FriendlyName            string       `json:"friendlyName" xml:"friendlyName,attr"`
	Locale                  *string      `json:"locale" xml:"locale,attr,omitempty"`
	Confirmed               xbool        `json:"confirmed" xml:"confirmed,attr"`
	JoinedAt                int64        `json:"joinedAt" xml:"joinedAt,attr"`
	EmailOnlyAuth           xbool        `json:"emailOnlyAuth" xml:"emailOnlyAuth,attr"`
	HasPassword             xbool        `json:"hasPassword" xml:"hasPassword,attr"`
	Protected               xbool        `json:"protected" xml:"protected,attr"`
	Thumb                   string       `json:"thumb" xml:"thumb,attr"`
	AuthToken               string       `json:"authToken" xml:"authToken,attr"`
	MailingListStatus       string       `json:"mailingListStatus" xml:"mailingListStatus,attr"`
	MailingListActive       xbool        `json:"mailingListActive" xml:"mailingListActive,attr"`
	ScrobbleTypes           string       `json:"scrobbleTypes" xml:"scrobbleTypes,attr"`
	Country                 string       `json:"country" xml:"country,attr"`
	SubscriptionDescription *string      `json:"subscriptionDescription" xml:"subscriptionDescription,attr,omitempty"`
	Restricted              xbool        `json:"restricted" xml:"restricted,attr"`
	Anonymous               xbool        `json:"anonymous" xml:"anonymous,attr"`
	Home                    xbool        `json:"home" xml:"home,attr"`
	Guest                   xbool        `json:"guest" xml:"guest,attr"`
	HomeSize                int          `json:"homeSize" xml:"homeSize,attr"`
	HomeAdmin               xbool        `json:"homeAdmin" xml:"homeAdmin,attr"`
	MaxHomeSize             int          `json:"maxHomeSize" xml:"maxHomeSize,attr"`
	RememberExpiresAt       int64        `json:"rememberExpiresAt" xml:"rememberExpiresAt,attr"`
	AdsConsent              *bool        `json:"adsConsent" xml:"adsConsent,attr,omitempty"`
	AdsConsentSetAt         *int64       `json:"adsConsentSetAt" xml:"adsConsentSetAt,attr,omitempty"`
	AdsConsentReminderAt    *int64       `json:"adsConsentReminderAt" xml:"adsConsentReminderAt,attr,omitempty"`
	ExperimentalFeatures    xbool        `json:"experimentalFeatures" xml:"experimentalFeatures,attr"`
	TwoFactorEnabled        xbool        `json:"twoFactorEnabled" xml:"twoFactorEnabled,attr"`
	BackupCodesCreated      xbool        `json:"backupCodesCreated" xml:"backupCodesCreated,attr"`
	AttributionPartner      *string      `json:"attributionPartner" xml:"attributionPartner,attr,omitempty"`
	Subscription            subscription `json:"subscription" xml:"subscription"`
	Profile                 userProfile  `json:"profile" xml:"profile"`
	Entitlements            []string     `json:"entitlements" xml:"-"`
	Roles                   []string     `json:"roles" xml:"-"`
	Services                []any        `json:"services" xml:"-"`
}

type subscription struct {
	Active         xbool    `json:"active" xml:"active,attr"`
	SubscribedAt   *string  `json:"subscribedAt" xml:"subscribedAt,attr,omitempty"`
	Status         string   `json:"status" xml:"status,attr"`
	PaymentService *string  `json:"paymentService" xml:"paymentService,attr,omitempty"`
	Plan           *string  `json:"plan" xml:"plan,attr,omitempty"`
	Features       []string `json:"features" xml:"-"`
}

type userProfile struct {
	AutoSelectAudio              xbool   `json:"autoSelectAudio" xml:"autoSelectAudio,attr"`
	DefaultAudioLanguage         *string `json:"defaultAudioLanguage" xml:"defaultAudioLanguage,attr,omitempty"`
	DefaultSubtitleLanguage      *string `json:"defaultSubtitleLanguage" xml:"defaultSubtitleLanguage,attr,omitempty"`
	AutoSelectSubtitle           int     `json:"autoSelectSubtitle" xml:"autoSelectSubtitle,attr"`
	DefaultSubtitleAccessibility int     `json:"defaultSubtitleAccessibility" xml:"defaultSubtitleAccessibility,attr"`
	DefaultSubtitleForced        int     `json:"defaultSubtitleForced" xml:"defaultSubtitleForced,attr"`
	WatchedIndicator             int     `json:"watchedIndicator" xml:"watchedIndicator,attr"`
	MediaReviewsVisibility       int     `json:"mediaReviewsVisibility" xml:"mediaReviewsVisibility,attr"`
}

// deviceBody is the PlexDevice model.
type deviceBody struct {
	XMLName                xml.Name     `json:"-" xml:"Device"`
	Name                   string       `json:"name" xml:"name,attr"`
	Product                string       `json:"product" xml:"product,attr"`
	ProductVersion         string       `json:"productVersion" xml:"productVersion,attr"`
	Platform               *string      `json:"platform" xml:"platform,attr,omitempty"`
	PlatformVersion        *string      `json:"platformVersion" xml:"platformVersion,attr,omitempty"`
	Device                 *string      `json:"device" xml:"device,attr,omitempty"`
	ClientIdentifier       string       `json:"clientIdentifier" xml:"clientIdentifier,attr"`
	CreatedAt              string       `json:"createdAt" xml:"createdAt,attr"`
	LastSeenAt             string       `json:"lastSeenAt" xml:"lastSeenAt,attr"`
	Provides               string       `json:"provides" xml:"provides,attr"`
	OwnerID                *int         `json:"ownerId" xml:"ownerId,attr,omitempty"`
	SourceTitle            *string      `json:"sourceTitle" xml:"sourceTitle,attr,omitempty"`
	PublicAddress          string       `json:"publicAddress" xml:"publicAddress,attr"`
	AccessToken            string       `json:"accessToken" xml:"accessToken,attr"`
	Owned                  xbool        `json:"owned" xml:"owned,attr"`
	Home                   xbool        `json:"home" xml:"home,attr"`
	Synced                 xbool        `json:"synced" xml:"synced,attr"`
	Relay                  xbool        `json:"relay" xml:"relay,attr"`
	Presence               xbool        `json:"presence" xml:"presence,attr"`
	HTTPSRequired          xbool        `json:"httpsRequired" xml:"httpsRequired,attr"`
	PublicAddressMatches   xbool        `json:"publicAddressMatches" xml:"publicAddressMatches,attr"`
	DNSRebindingProtection xbool        `json:"dnsRebindingProtection" xml:"dnsRebindingProtection,attr"`
	NATLoopbackSupported   xbool        `json:"natLoopbackSupported" xml:"natLoopbackSupported,attr"`
	Connections            []connection `json:"connections" xml:"Connection"`
}

type connection struct {
	Protocol string `json:"protocol" xml:"protocol,attr"`
	Address  string `json:"address" xml:"address,attr"`
	Port     int    `json:"port" xml:"port,attr"`
	URI      string `json:"uri" xml:"uri,attr"`
	Local    xbool  `json:"local" xml:"local,attr"`
	Relay    xbool  `json:"relay" xml:"relay,attr"`
	IPv6     xbool  `json:"IPv6" xml:"IPv6,attr"`
}

// resourcesXML is the XML form of the /api/v2/resources answer.
type resourcesXML struct {
	XMLName xml.Name     `xml:"MediaContainer"`
	Size    int          `xml:"size,attr"`
	Devices []deviceBody `xml:"Device"`
}

// errorsBody is plex.tv's error answer.
type errorsBody struct {
	XMLName xml.Name    `json:"-" xml:"errors"`
	Errors  []errorItem `json:"errors" xml:"error"`
}

type errorItem struct {
	Code    int    `json:"code" xml:"code,attr"`
	Message string `json:"message" xml:"message,attr"`
	Status  int    `json:"status" xml:"status,attr"`
}

// plex.tv error codes used by the fake.
const (
	codeBadRequest   = 1000 // X-Plex-Client-Identifier is missing
	codeUnauthorized = 1001 // User could not be authenticated
	codeNotFound     = 1020 // Code not found or expired
)

func isoTime(t time.Time) string { return t.UTC().Format(time.RFC3339) }

func ptr[T any](v T) *T { return &v }

// wantsJSON reports whether the client asked for JSON; plex.tv answers XML
// otherwise.
func wantsJSON(r *http.Request) bool {
	for _, v := range r.Header.Values("Accept") {
		if strings.Contains(strings.ToLower(v), "application/json") {
			return true
		}
	}
	return false
}

// respond writes v as JSON or, when the client did not ask for JSON, x as
// XML (v itself when x is nil).
func respond(w http.ResponseWriter, r *http.Request, status int, v, x any) {
	var body []byte
	var err error
	if wantsJSON(r) {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		body, err = json.Marshal(v)
	} else {
		if x == nil {
			x = v
		}
		w.Header().Set("Content-Type", "application/xml; charset=utf-8")
		body, err = xml.Marshal(x)
		body = append([]byte(xml.Header), body...)
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(status)
	w.Write(append(body, '\n'))
}

// writeError writes plex.tv's errors body.
func writeError(w http.ResponseWriter, r *http.Request, status, code int, message string) {
	respond(w, r, status, errorsBody{Errors: []errorItem{{Code: code, Message: message, Status: status}}}, nil)
}
