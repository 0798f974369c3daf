package cookieheader

import "strings"

// StripMatching removes from the Cookie header every cookie whose name
// drop accepts, and returns the names removed (once each, in the order
// first seen), or nil when none was. The cookies kept are rewritten
// "name=value; name=value"; a header left empty is deleted. h is changed in
// place.
func StripMatching(h map[string][]string, drop func(string) bool) []string {
	var names []string
	lines := h["Cookie"]
	if len(lines) == 0 {
		return nil
	}
	var kept []string
	for _, line := range lines {
		var parts []string
		for _, part := range strings.Split(line, ";") {
			part = strings.TrimSpace(part)
			if part == "" {
				continue
			}
			name, _, _ := strings.Cut(part, "=")
			if drop(name) {
				if !contains(names, name) {
					names = append(names, name)
				}
				continue
			}
			parts = append(parts, part)
		}
		if len(parts) > 0 {
			kept = append(kept, strings.Join(parts, "; "))
		}
	}
	if names == nil {
		return nil
	}
	if len(kept) == 0 {
		delete(h, "Cookie")
	} else {
		h["Cookie"] = kept
	}
	return names
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
