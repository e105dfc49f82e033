package redistest

import (
	"context"
	"strings"
	"testing"
)

func TestStartDumpRestartStop(t *testing.T) {
	s, err := Start()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Stop()
	if want := "redis://" + s.Addr() + "/0"; s.URL() != want {
		t.Fatalf("URL = %q, want %q", s.URL(), want)
	}
	ctx := context.Background()
	c, err := s.Client()
	if err != nil {
		t.Fatal(err)
	}
	p := Prefix(t)
	if err := c.Do(ctx, c.B().Set().Key(p+"a").Value("\x00bin").Build()).Error(); err != nil {
		t.Fatal(err)
	}
	c.Close()
	all, err := s.Dump(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 1 || string(all[p+"a"]) != "\x00bin" {
		t.Fatalf("Dump = %q", all)
	}
	addr := s.Addr()
	if err := s.Restart(); err != nil {
		t.Fatal(err)
	}
	if s.Addr() != addr {
		t.Fatalf("Restart moved from %s to %s", addr, s.Addr())
	}
	if err := s.ping(); err != nil {
		t.Fatalf("PING after Restart: %v", err)
	}
	s.Stop()
	s.Stop() // idempotent
	if err := s.ping(); err == nil {
		t.Fatal("server still answers after Stop")
	}
}

func TestPassword(t *testing.T) {
	s, err := StartWith(Options{Password: "pw-123"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Stop()
	if !strings.Contains(s.URL(), ":pw-123@") {
		t.Fatalf("URL %q lacks the password", s.URL())
	}
	if _, err := s.Dump(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestPrefixIsUnique(t *testing.T) {
	a, b := Prefix(t), Prefix(t)
	if a == b || !strings.HasSuffix(a, ":") || strings.ContainsAny(a, " /") {
		t.Fatalf("prefixes %q, %q", a, b)
	}
}

func TestMissingBinarySaysMakeDeps(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	_, err := Start()
	if err == nil || !strings.Contains(err.Error(), "make deps") {
		t.Fatalf("Start without redis-server: %v; want a hint to run make deps", err)
	}
}
