package signin

import (
	"net/netip"
	"testing"
)

func TestClientCountsIPv6ByItsSlash64AndShowsItSo(t *testing.T) {
	for _, c := range []struct {
		addr, client, shown string
	}{
		{"203.0.113.7", "203.0.113.7", "203.0.113.7"},
		{"::ffff:203.0.113.7", "203.0.113.7", "203.0.113.7"},
		{"2001:db8:1:2:aaaa:bbbb:cccc:dddd", "2001:db8:1:2::", "2001:db8:1:2::/64"},
		{"2001:db8:1:2::1", "2001:db8:1:2::", "2001:db8:1:2::/64"},
		{"fe80::1%eth0", "fe80::", "fe80::/64"},
	} {
		got := Client(netip.MustParseAddr(c.addr))
		if got.String() != c.client || ClientString(got) != c.shown {
			t.Errorf("%s: counted as %s, shown %q; want %s, %q", c.addr, got, ClientString(got), c.client, c.shown)
		}
	}
	if got := Client(netip.Addr{}); got.IsValid() || ClientString(got) != "" {
		t.Errorf("an invalid address: counted as %v, shown %q; want invalid, \"\"", got, ClientString(got))
	}
}
