package signin

import "net/netip"

// Client is who the budgets count a caller at address a against: a
// itself for IPv4 (an IPv4-mapped IPv6 address is its IPv4), an IPv6
// address by its /64 and without a zone. A /64 is one network (RFC 4291
// section 2.5.1: the interface identifier is the low 64 bits), which a
// household gets whole, so its devices, or one device changing its
// address, count as one. An invalid a stays invalid.
func Client(a netip.Addr) netip.Addr {
	a = a.Unmap().WithZone("")
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.Addr()
	}
	return a
}

// ClientString shows a client as Client counts it, for log lines: an IPv6
// client as its /64 prefix ("2001:db8:1:2::/64"), "" for an invalid one.
func ClientString(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	if a.Is6() {
		return netip.PrefixFrom(a, 64).String()
	}
	return a.String()
}
