// Package redisurl reads the Sentinel form of the Redis URLs proofline's
// configuration takes (redis_url, queue_redis_url), for the two Redis
// clients it uses (rueidis for the result store, asynq's go-redis for the
// queues), so both read it the same way:
//
//	redis-sentinel://[user:password@]host:port[,host:port…][/db]?master=<name>[&sentinel_username=…&sentinel_password=…]
//
// The hosts are the Sentinels (at least one; three or more in production).
// master is the name they monitor. The user and password are those of the
// Redis primary and replicas (the data): the servers' user, or the workers'
// user confined to the queue's keys. Sentinels that require a password of
// their own (requirepass, or an ACL user, on the Sentinels) get it from
// sentinel_username and sentinel_password. db is the database number
// (default 0).
//
// Errors never quote the URL: it may hold passwords.
package redisurl

import (
	"errors"
	"net"
	"net/url"
	"strconv"
	"strings"
)

// Scheme is the URL scheme of the Sentinel form.
const Scheme = "redis-sentinel"

// Sentinel is a parsed redis-sentinel:// URL.
type Sentinel struct {
	// Addrs are the Sentinels' host:port.
	Addrs []string
	// Master is the name of the monitored primary.
	Master string
	// Username and Password authenticate to the primary and replicas.
	Username, Password string
	// SentinelUsername and SentinelPassword authenticate to the Sentinels.
	SentinelUsername, SentinelPassword string
	// DB is the database number.
	DB int
}

// IsSentinel reports whether raw is in the Sentinel form.
func IsSentinel(raw string) bool { return strings.HasPrefix(raw, Scheme+"://") }

// ParseSentinel reads a redis-sentinel:// URL.
func ParseSentinel(raw string) (Sentinel, error) {
	var s Sentinel
	u, err := url.Parse(raw)
	if err != nil { // url.Error quotes the URL
		return s, errors.New("not a valid URL")
	}
	if u.Scheme != Scheme {
		return s, errors.New("scheme must be " + Scheme)
	}
	if u.Opaque != "" || u.Fragment != "" {
		return s, errors.New("not a valid URL")
	}
	if u.Host == "" {
		return s, errors.New("sentinel host:port missing")
	}
	for _, a := range strings.Split(u.Host, ",") {
		host, port, err := net.SplitHostPort(a)
		if err != nil || host == "" {
			return s, errors.New("each sentinel must be host:port")
		}
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return s, errors.New("each sentinel must be host:port")
		}
		s.Addrs = append(s.Addrs, net.JoinHostPort(host, port))
	}
	if u.User != nil {
		s.Username = u.User.Username()
		s.Password, _ = u.User.Password()
	}
	switch p := strings.TrimPrefix(u.Path, "/"); {
	case p == "":
	case strings.Contains(p, "/"):
		return s, errors.New("path must be a database number")
	default:
		if s.DB, err = strconv.Atoi(p); err != nil || s.DB < 0 {
			return s, errors.New("path must be a database number")
		}
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return s, errors.New("query malformed")
	}
	for k, v := range q {
		if len(v) != 1 {
			return s, errors.New("a query parameter is given more than once")
		}
		switch k {
		case "master":
			s.Master = v[0]
		case "sentinel_username":
			s.SentinelUsername = v[0]
		case "sentinel_password":
			s.SentinelPassword = v[0]
		default:
			return s, errors.New("unknown query parameter (known: master, sentinel_username, sentinel_password)")
		}
	}
	if s.Master == "" {
		return s, errors.New("master=<name> missing")
	}
	return s, nil
}
