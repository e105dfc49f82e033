package config

import (
	"net"
	"strconv"
)

// DefaultMetricsAddr is metrics_addr's default: loopback, so that only the
// machine itself (a local Prometheus agent, or a sidecar) can scrape it.
const DefaultMetricsAddr = "127.0.0.1:9091"

// MetricsOff is the metrics_addr value that serves no metrics.
const MetricsOff = "off"

func validMetricsAddr(addr string) error {
	if addr == MetricsOff {
		return nil
	}
	host, port, err := net.SplitHostPort(addr)
	if err == nil {
		var n int
		n, err = strconv.Atoi(port)
		if err == nil && (n < 0 || n > 65535 || len(host) > 253) {
			err = strconv.ErrRange
		}
	}
	if err != nil {
		return &Error{Key: "metrics_addr", Msg: `must be host:port (e.g. 127.0.0.1:9091) or "off"`}
	}
	return nil
}
