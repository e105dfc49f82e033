// Package toxitest runs Shopify's Toxiproxy on loopback for fault tests:
// TCP proxies between proofline's processes and what they talk to (Redis,
// the servers), with network faults switched on and off while a test runs.
//
// toxiproxy-server v2.5.0 is built once with `go install` into the tool
// cache (see internal/gotool); the tests drive it with its own Go client.
// Its API and every proxy listen on 127.0.0.1 only.
package toxitest

import (
	"errors"
	"fmt"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2/client"

	"github.com/proofline/proofline/internal/gotool"
	"github.com/proofline/proofline/internal/testproc"
)

// The Toxiproxy build the tests use.
const (
	Package = "github.com/Shopify/toxiproxy/v2/cmd/server"
	Version = "v2.5.0"
)

// Binary returns the path of toxiproxy-server, building it once if needed.
func Binary() (string, error) { return gotool.Install(Package, Version, "toxiproxy-server") }

// Server is one running toxiproxy-server.
type Server struct {
	proc   *testproc.Process
	api    string
	client *toxiproxy.Client
}

// Start builds (once) and starts toxiproxy-server on a free loopback port.
func Start() (*Server, error) {
	bin, err := Binary()
	if err != nil {
		return nil, err
	}
	for attempt := 0; ; attempt++ {
		port, err := testproc.FreePort()
		if err != nil {
			return nil, err
		}
		s, err := start(bin, port)
		if err == nil || attempt == 4 {
			return s, err
		}
	}
}

func start(bin string, port int) (*Server, error) {
	cmd := exec.Command(bin, "-host", "127.0.0.1", "-port", strconv.Itoa(port), "-seed", "1")
	proc, err := testproc.Start(cmd, 16<<10)
	if err != nil {
		return nil, fmt.Errorf("toxitest: start: %w", err)
	}
	s := &Server{proc: proc, api: "127.0.0.1:" + strconv.Itoa(port)}
	s.client = toxiproxy.NewClient(s.api)
	hc := &http.Client{Timeout: time.Second}
	err = proc.WaitReady(30*time.Second, 20*time.Millisecond, func() error {
		resp, err := hc.Get("http://" + s.api + "/version")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return fmt.Errorf("status %d", resp.StatusCode)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("toxitest: toxiproxy-server %w", err)
	}
	return s, nil
}

// Stop stops the server (and with it every proxy).
func (s *Server) Stop() { s.proc.Stop(5 * time.Second) }

// Log is the tail of the server's output.
func (s *Server) Log() string { return s.proc.Out.String() }

// Proxy is one TCP proxy: clients dial Addr and reach the upstream.
type Proxy struct {
	Name string
	// Addr is the proxy's listen address (127.0.0.1:port).
	Addr string
	p    *toxiproxy.Proxy
}

// Proxy creates a proxy named name to upstream (host:port) on a free
// loopback port.
func (s *Server) Proxy(name, upstream string) (*Proxy, error) {
	for attempt := 0; ; attempt++ {
		port, err := testproc.FreePort()
		if err != nil {
			return nil, err
		}
		addr := "127.0.0.1:" + strconv.Itoa(port)
		p, err := s.client.CreateProxy(name, addr, upstream)
		if err == nil {
			return &Proxy{Name: name, Addr: addr, p: p}, nil
		}
		if attempt == 4 {
			return nil, fmt.Errorf("toxitest: proxy %s: %w", name, err)
		}
	}
}

// Fault is one network fault, applied to proxies and healed again.
type Fault struct {
	// Name is a short label for logs and the README table.
	Name string
	// toxics are added in both directions; partition disables the proxy.
	toxics    []toxic
	partition bool
}

type toxic struct {
	typ   string
	attrs toxiproxy.Attributes
}

// Latency delays every chunk of data in both directions by ms ± jitter ms.
func Latency(ms, jitter int) Fault {
	return Fault{Name: fmt.Sprintf("latency %d±%d ms", ms, jitter), toxics: []toxic{{"latency", toxiproxy.Attributes{"latency": ms, "jitter": jitter}}}}
}

// Bandwidth limits each connection to kbps KB/s in each direction.
func Bandwidth(kbps int) Fault {
	return Fault{Name: fmt.Sprintf("bandwidth %d KB/s", kbps), toxics: []toxic{{"bandwidth", toxiproxy.Attributes{"rate": kbps}}}}
}

// ResetPeer resets every connection (TCP RST) ms after it starts carrying
// data (0: at once) while the fault lasts.
func ResetPeer(ms int) Fault {
	return Fault{Name: fmt.Sprintf("reset_peer after %d ms", ms), toxics: []toxic{{"reset_peer", toxiproxy.Attributes{"timeout": ms}}}}
}

// Timeout black-holes every connection: data is dropped, and the
// connection is closed after ms (0: never).
func Timeout(ms int) Fault {
	return Fault{Name: fmt.Sprintf("timeout (black hole) %d ms", ms), toxics: []toxic{{"timeout", toxiproxy.Attributes{"timeout": ms}}}}
}

// Partition cuts the link: the proxy stops listening and closes every
// connection until the fault heals.
func Partition() Fault { return Fault{Name: "partition", partition: true} }

// Apply switches f on for p.
func (p *Proxy) Apply(f Fault) error {
	if f.partition {
		return p.p.Disable()
	}
	for i, t := range f.toxics {
		for _, stream := range []string{"downstream", "upstream"} {
			name := fmt.Sprintf("%s-%d-%s", t.typ, i, stream)
			err := retry("already exists", func() error {
				_, err := p.p.AddToxic(name, t.typ, stream, 1, t.attrs)
				return err
			})
			if err != nil {
				return fmt.Errorf("toxitest: %s on %s: %w", name, p.Name, err)
			}
		}
	}
	return nil
}

// Heal switches f off for p.
func (p *Proxy) Heal(f Fault) error {
	if f.partition {
		return p.p.Enable()
	}
	var errs []error
	for i, t := range f.toxics {
		for _, stream := range []string{"downstream", "upstream"} {
			name := fmt.Sprintf("%s-%d-%s", t.typ, i, stream)
			if err := retry("not found", func() error { return p.p.RemoveToxic(name) }); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// retry runs op up to three times: the API's connection can drop under a
// loaded machine (EOF) after the proxy did the work. A retry that finds the
// work done (its error contains done) counts as success.
func retry(done string, op func() error) error {
	var err error
	for attempt := range 3 {
		if err = op(); err == nil {
			return nil
		}
		if attempt > 0 && strings.Contains(err.Error(), done) {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return err
}
