package enrich

import (
	"net/netip"
	"strings"
)

// TruncateIP returns the network of an IP address with the host part zeroed: an IPv4 address to
// its /24 ("203.0.113.7" → "203.0.113.0"), an IPv6 address to its /48 ("2001:db8:85a3:8d3:…" →
// "2001:db8:85a3::"). An IPv4-mapped IPv6 address is treated as the IPv4 address. A zone is
// dropped. Anything that is not an IP address gives "".
func TruncateIP(s string) string {
	s = strings.TrimSpace(s)
	if zone := strings.IndexByte(s, '%'); zone >= 0 {
		s = s[:zone]
	}
	addr, err := netip.ParseAddr(s)
	if err != nil {
		return ""
	}
	addr = addr.Unmap()
	bits := 48
	if addr.Is4() {
		bits = 24
	}
	p, err := addr.Prefix(bits)
	if err != nil {
		return ""
	}
	return p.Addr().String()
}
