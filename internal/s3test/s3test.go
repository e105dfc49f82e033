// Package s3test runs a real S3-compatible server for tests: versitygw
// (Apache-2.0) with its POSIX backend in a temporary directory, on a free
// 127.0.0.1 port, with static test credentials and a default CORS origin (so
// a browser may upload). It is built once per version with `go install` into
// the tool cache (see internal/gotool); nothing is added to go.mod.
//
// Start one server per test package (Main) and give each test its own bucket
// (NewBucket), so tests run in parallel.
package s3test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/proofline/proofline/internal/gotool"

	"github.com/proofline/proofline/internal/testproc"
)

// The versitygw build the tests use.
const (
	Package = "github.com/versity/versitygw/cmd/versitygw"
	Version = "v1.8.0"
)

// Static test credentials and region of every server.
const (
	AccessKey = "prooflinetestaccess"
	SecretKey = "prooflinetestsecret0123456789abcdef"
	Region    = "us-west-2"
)

const (
	startTimeout = 30 * time.Second
	stopTimeout  = 10 * time.Second
)

// Server is one running versitygw.
type Server struct {
	bin  string
	dir  string
	port int

	mu   sync.Mutex
	proc *testproc.Process
}

// Binary returns the path of versitygw, building it once if needed.
func Binary() (string, error) { return gotool.Install(Package, Version, "versitygw") }

// Start builds (once) and starts versitygw on a free loopback port and waits
// until it answers.
func Start() (*Server, error) {
	bin, err := Binary()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "s3test-")
	if err != nil {
		return nil, fmt.Errorf("s3test: %w", err)
	}
	s := &Server{bin: bin, dir: dir}
	for attempt := 0; ; attempt++ {
		s.port, err = testproc.FreePort()
		if err == nil {
			err = s.start()
		}
		if err == nil {
			return s, nil
		}
		if attempt == 4 {
			os.RemoveAll(dir)
			return nil, err
		}
	}
}

func (s *Server) start() error {
	cmd := exec.Command(s.bin,
		"--port", s.Addr(),
		"--access", AccessKey,
		"--secret", SecretKey,
		"--region", Region,
		"--cors-allow-origin", "*",
		"--quiet",
		"posix", "--sidecar", filepath.Join(s.dir, "meta"), s.Dir(),
	)
	for _, d := range []string{s.Dir(), filepath.Join(s.dir, "meta")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return fmt.Errorf("s3test: %w", err)
		}
	}
	// The test process's AWS settings must not leak into the server.
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + s.dir}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	proc, err := testproc.Start(cmd, 8<<10)
	if err != nil {
		return fmt.Errorf("s3test: start versitygw: %w", err)
	}
	s.mu.Lock()
	s.proc = proc
	s.mu.Unlock()
	c := &http.Client{Timeout: time.Second}
	ready := func() error {
		resp, err := c.Get(s.Endpoint() + "/")
		if err == nil {
			resp.Body.Close() // any S3 answer (403 without credentials) means it is up
		}
		return err
	}
	if err := proc.WaitReady(startTimeout, 20*time.Millisecond, ready); err != nil {
		return fmt.Errorf("s3test: versitygw on port %d %w", s.port, err)
	}
	return nil
}

// Addr is the server's host:port.
func (s *Server) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)) }

// Endpoint is the server's origin, e.g. http://127.0.0.1:41234.
func (s *Server) Endpoint() string { return "http://" + s.Addr() }

// Dir is the directory holding the buckets (one sub-directory each).
func (s *Server) Dir() string { return filepath.Join(s.dir, "root") }

// Config is an aws.Config with the test credentials and region.
func (s *Server) Config() aws.Config {
	return aws.Config{
		Region:      Region,
		Credentials: credentials.NewStaticCredentialsProvider(AccessKey, SecretKey, ""),
	}
}

// Client is an S3 client for the server (path-style).
func (s *Server) Client() *s3.Client {
	return s3.NewFromConfig(s.Config(), func(o *s3.Options) {
		o.BaseEndpoint = aws.String(s.Endpoint())
		o.UsePathStyle = true
	})
}

// NewBucket creates a bucket no other test uses and returns its name.
func (s *Server) NewBucket(t testing.TB) string {
	t.Helper()
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "test-" + hex.EncodeToString(b[:])
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := s.Client().CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		t.Fatalf("s3test: create bucket: %v", err)
	}
	return name
}

// Stop stops the server and removes its directories. Idempotent.
func (s *Server) Stop() {
	s.stop()
	os.RemoveAll(s.dir)
}

func (s *Server) stop() {
	s.mu.Lock()
	proc := s.proc
	s.proc = nil
	s.mu.Unlock()
	proc.Stop(stopTimeout)
}

// Output is the tail of the server's output, for failure messages.
func (s *Server) Output() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc == nil {
		return ""
	}
	return s.proc.Out.String()
}

// Main starts one server for a test package, stores it in *srv, runs the
// tests and stops the server. It never skips: a server that cannot start
// fails the package.
func Main(m *testing.M, srv **Server) int {
	s, err := Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	*srv = s
	defer s.Stop()
	return m.Run()
}
