// Package cookieheader reads and edits the Cookie request header without
// net/http's parsing, which allocates every cookie of every request: find a
// cookie's value, every value of one name, strip one cookie before the
// request goes on. It is pure: functions of the header map only.
package cookieheader

import "strings"

// Find returns the value of the first cookie name in the request
// headers (h["Cookie"], canonical key), or "". Only an exact name matches,
// not one it is a prefix of; one pair of enclosing double quotes is
// removed from the value. It scans the raw header instead of r.Cookie,
// which parses and allocates every cookie on every request, and allocates
// nothing. Find returns the first of Values.
func Find(h map[string][]string, name string) string {
	for _, line := range h["Cookie"] {
		if v, _, ok := nextCookie(line, name); ok {
			return v
		}
	}
	return ""
}

// Spot is where Locate found a cookie in a request's Cookie header, so
// that Cut removes it without reading the header again. The zero Spot
// knows nothing: Cut then is Strip.
type Spot struct {
	lines      []string // the header's lines, as Locate read them
	start, end int      // the cookie's part in lines[0]; -1: not there
	known      bool     // one line in the form browsers send, holding the cookie at most once
}

// Locate is Find, also saying where the cookie is (see Cut). The value is
// Find's in every case.
func Locate(h map[string][]string, name string) (string, Spot) {
	lines := h["Cookie"]
	if len(lines) == 1 {
		line := lines[0]
		if start, end, ok := locateCanonical(line, name); ok {
			at := Spot{lines: lines, start: start, end: end, known: true}
			if start < 0 {
				return "", at
			}
			// A canonical part has no padding for nextCookie's TrimSpace to
			// remove, so this is the value nextCookie reads.
			v := line[start+len(name)+1 : end]
			if len(v) > 1 && v[0] == '"' && v[len(v)-1] == '"' {
				v = v[1 : len(v)-1]
			}
			return v, at
		}
	}
	return Find(h, name), Spot{}
}

// Cut is Strip(h, name) for a header Locate read with the same name and
// nobody changed since; it reads neither the header map nor the line
// again where Locate could tell how to cut it.
func (at Spot) Cut(h map[string][]string, name string) {
	if at.known {
		if at.start < 0 {
			return
		}
		if kept, ok := cutCanonical(at.lines[0], at.start, at.end); ok {
			if kept == "" {
				delete(h, "Cookie")
			} else {
				at.lines[0] = kept
			}
			return
		}
	}
	Strip(h, name)
}

// Values returns the value of every cookie name in the request
// headers, in the order sent, each as Find reads it. A browser holding cookies of one name with
// different Domain attributes sends them all, the oldest first
// (RFC 6265 section 5.4).
func Values(h map[string][]string, name string) []string {
	var vs []string
	for _, line := range h["Cookie"] {
		for {
			v, rest, ok := nextCookie(line, name)
			if !ok {
				break
			}
			vs = append(vs, v)
			line = rest
		}
	}
	return vs
}

// nextCookie finds the first cookie name in one Cookie line and returns
// its value and what follows it in the line.
func nextCookie(line, name string) (value, rest string, ok bool) {
	for len(line) > 0 {
		var part string
		if i := strings.IndexByte(line, ';'); i >= 0 {
			part, line = line[:i], line[i+1:]
		} else {
			part, line = line, ""
		}
		part = strings.TrimSpace(part)
		if len(part) > len(name) && part[len(name)] == '=' && part[:len(name)] == name {
			v := part[len(name)+1:]
			if len(v) > 1 && v[0] == '"' && v[len(v)-1] == '"' {
				v = v[1 : len(v)-1]
			}
			return v, line, true
		}
	}
	return "", "", false
}

// Strip removes every cookie name from the Cookie header, keeping the
// others in order, so the next handler never sees the session cookie;
// afterwards Find(h, name) is "". When the removal leaves no cookie, the
// Cookie header is deleted. h is changed in place; a line in the form
// browsers send is cut without allocating.
func Strip(h map[string][]string, name string) {
	if lines := h["Cookie"]; len(lines) == 1 {
		if kept, ok := stripCanonical(lines[0], name); ok {
			if kept == "" {
				delete(h, "Cookie")
			} else {
				lines[0] = kept
			}
			return
		}
	}
	stripParts(h, name)
}

// stripParts is Strip for any Cookie header: it splits every
// line into its parts and joins those it keeps with "; ".
func stripParts(h map[string][]string, name string) {
	lines := h["Cookie"]
	if len(lines) == 0 {
		return
	}
	var kept []string
	changed := false
	for _, line := range lines {
		var b strings.Builder
		rest := line
		for len(rest) > 0 {
			var part string
			if i := strings.IndexByte(rest, ';'); i >= 0 {
				part, rest = rest[:i], rest[i+1:]
			} else {
				part, rest = rest, ""
			}
			part = strings.TrimSpace(part)
			if part == "" {
				continue
			}
			if len(part) > len(name) && part[len(name)] == '=' && part[:len(name)] == name {
				changed = true
				continue
			}
			if b.Len() > 0 {
				b.WriteString("; ")
			}
			b.WriteString(part)
		}
		if b.Len() > 0 {
			kept = append(kept, b.String())
		}
	}
	if !changed {
		return
	}
	if len(kept) == 0 {
		delete(h, "Cookie")
		return
	}
	h["Cookie"] = kept
}

// stripCanonical is Strip for one line without allocating, in the
// cases where the result is a substring of the line: the line is in the
// form browsers send ("a=1; b=2": parts joined by "; ", none empty or
// padded) and holds the cookie once, first or last, or not at all. ok is
// false otherwise, and Strip takes the general way.
func stripCanonical(line, name string) (kept string, ok bool) {
	start, end, ok := locateCanonical(line, name)
	if !ok {
		return "", false
	}
	return cutCanonical(line, start, end)
}

// locateCanonical finds, in a line in the form browsers send, where the
// cookie's part starts and ends (-1, -1: not there). ok is false when the
// line is in another form or holds the cookie more than once.
func locateCanonical(line, name string) (start, end int, ok bool) {
	start, end = -1, -1 // where the cookie's part is
	for pos := 0; ; {
		part := line[pos:]
		i := strings.IndexByte(part, ';')
		if i >= 0 {
			part = part[:i]
		}
		// Bytes outside printable ASCII at either end could be space that
		// TrimSpace would remove.
		if part == "" || part[0] <= ' ' || part[0] >= 0x7f || part[len(part)-1] <= ' ' || part[len(part)-1] >= 0x7f {
			return -1, -1, false
		}
		if len(part) > len(name) && part[len(name)] == '=' && part[:len(name)] == name {
			if start >= 0 {
				return -1, -1, false
			}
			start, end = pos, pos+len(part)
		}
		if i < 0 {
			break
		}
		pos += i + 1
		if pos >= len(line) || line[pos] != ' ' {
			return -1, -1, false
		}
		pos++
	}
	return start, end, true
}

// cutCanonical is the line locateCanonical read without the part from
// start to end: a substring of it, or ok false when the part is neither
// first nor last (joining the rest would allocate).
func cutCanonical(line string, start, end int) (kept string, ok bool) {
	switch {
	case start < 0:
		return line, true
	case start == 0 && end == len(line):
		return "", true
	case start == 0:
		return line[end+2:], true
	case end == len(line):
		return line[:start-2], true
	}
	return "", false
}

// ValidName reports whether name is an RFC 6265 token.
func ValidName(name string) bool {
	if name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte("()<>@,;:\\\"/[]?={}", c) >= 0 {
			return false
		}
	}
	return true
}
