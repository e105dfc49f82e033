package toxitest_test

import (
	"bufio"
	"errors"
	"io"
	"net"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/proofline/proofline/internal/toxitest"
)

var srv *toxitest.Server

func TestMain(m *testing.M) {
	s, err := toxitest.Start()
	if err != nil {
		println(err.Error())
		os.Exit(1)
	}
	srv = s
	code := m.Run()
	s.Stop()
	os.Exit(code)
}

// echo is a line echo server on loopback.
func echo(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); _, _ = io.Copy(c, c) }()
		}
	}()
	return l.Addr().String()
}

// roundTrip sends one line through addr and reads it back within 2 s.
func roundTrip(addr string) error {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.Write([]byte("ping\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if line != "ping\n" {
		return errors.New("echo garbled: " + line)
	}
	return nil
}

// TestFaults: each fault breaks a round trip the way its name says, and
// the link works again once it heals.
func TestFaults(t *testing.T) {
	for i, tc := range []struct {
		fault toxitest.Fault
		check func(error) bool
	}{
		{toxitest.Partition(), func(err error) bool { return errors.Is(err, syscall.ECONNREFUSED) }},
		{toxitest.ResetPeer(0), func(err error) bool { return errors.Is(err, syscall.ECONNRESET) || errors.Is(err, io.EOF) }},
		{toxitest.Timeout(0), func(err error) bool { var ne net.Error; return errors.As(err, &ne) && ne.Timeout() }},
		{toxitest.Latency(3000, 0), func(err error) bool { var ne net.Error; return errors.As(err, &ne) && ne.Timeout() }},
	} {
		t.Run(tc.fault.Name, func(t *testing.T) {
			p, err := srv.Proxy("t"+string(rune('a'+i)), echo(t))
			if err != nil {
				t.Fatal(err)
			}
			if err := roundTrip(p.Addr); err != nil {
				t.Fatalf("before the fault: %v", err)
			}
			if err := p.Apply(tc.fault); err != nil {
				t.Fatal(err)
			}
			if err := roundTrip(p.Addr); !tc.check(err) {
				t.Fatalf("during the fault: %v", err)
			}
			if err := p.Heal(tc.fault); err != nil {
				t.Fatal(err)
			}
			if err := roundTrip(p.Addr); err != nil {
				t.Fatalf("after healing: %v", err)
			}
		})
	}
}
