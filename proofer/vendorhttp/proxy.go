package vendorhttp

import (
	"errors"
	"net"
	"net/netip"
	"net/url"
	"strings"
)

// ProxyFunc reads http_proxy, https_proxy and no_proxy from environ (the
// lower-case name wins over the upper-case one, as curl and Ruby do) and
// returns the proxy chooser for request URLs. Unlike Go's
// http.ProxyFromEnvironment it reads the environment it is given rather than
// the process's (cached once per process), and it does not exempt loopback
// hosts by itself: list them in no_proxy to go direct.
//
// A proxy value without a scheme means http://. no_proxy is a comma- or
// space-separated list of host names (a name also matches its subdomains; a
// leading dot or "*." is allowed), IP addresses, CIDR blocks, any of them
// with ":port", or "*" for everything.
func ProxyFunc(environ []string) (func(*url.URL) (*url.URL, error), error) {
	env := map[string]string{}
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok {
			env[k] = v
		}
	}
	get := func(name string) (string, string) {
		if v, ok := env[name]; ok && strings.TrimSpace(v) != "" {
			return name, strings.TrimSpace(v)
		}
		up := strings.ToUpper(name)
		return up, strings.TrimSpace(env[up])
	}
	parse := func(name, v string) (*url.URL, error) {
		if v == "" {
			return nil, nil
		}
		if !strings.Contains(v, "://") {
			v = "http://" + v
		}
		u, err := url.Parse(v)
		if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https" && u.Scheme != "socks5") {
			return nil, errors.New("vendorhttp: " + name + " is not a proxy URL")
		}
		return u, nil
	}
	hn, hv := get("http_proxy")
	httpProxy, err := parse(hn, hv)
	if err != nil {
		return nil, err
	}
	sn, sv := get("https_proxy")
	httpsProxy, err := parse(sn, sv)
	if err != nil {
		return nil, err
	}
	_, nv := get("no_proxy")
	np := parseNoProxy(nv)
	return func(u *url.URL) (*url.URL, error) {
		var p *url.URL
		switch u.Scheme {
		case "https":
			p = httpsProxy
		case "http":
			p = httpProxy
		}
		if p == nil || np.matches(u) {
			return nil, nil
		}
		return p, nil
	}, nil
}

type noProxy struct {
	all      bool
	entries  []npEntry
	prefixes []netip.Prefix
}

type npEntry struct {
	host string // lower case, no leading dot
	ip   netip.Addr
	port string
}

func parseNoProxy(s string) noProxy {
	var np noProxy
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' }) {
		f = strings.ToLower(strings.TrimSpace(f))
		if f == "" {
			continue
		}
		if f == "*" {
			np.all = true
			continue
		}
		if p, err := netip.ParsePrefix(f); err == nil {
			np.prefixes = append(np.prefixes, p.Masked())
			continue
		}
		host, port := f, ""
		if h, p, err := net.SplitHostPort(f); err == nil {
			host, port = h, p
		}
		host = strings.TrimPrefix(strings.TrimPrefix(host, "*"), ".")
		host = strings.Trim(host, "[]")
		e := npEntry{host: host, port: port}
		if ip, err := netip.ParseAddr(host); err == nil {
			e.ip = ip.Unmap()
		}
		np.entries = append(np.entries, e)
	}
	return np
}

func (np noProxy) matches(u *url.URL) bool {
	if np.all {
		return true
	}
	host := strings.ToLower(u.Hostname())
	port := u.Port()
	if port == "" {
		switch u.Scheme {
		case "https":
			port = "443"
		case "http":
			port = "80"
		}
	}
	ip, ipErr := netip.ParseAddr(host)
	if ipErr == nil {
		ip = ip.Unmap()
		for _, p := range np.prefixes {
			if p.Contains(ip) {
				return true
			}
		}
	}
	for _, e := range np.entries {
		if e.port != "" && e.port != port {
			continue
		}
		if e.ip.IsValid() {
			if ipErr == nil && e.ip == ip {
				return true
			}
			continue
		}
		if host == e.host || strings.HasSuffix(host, "."+e.host) {
			return true
		}
	}
	return false
}
