// Package lambdatest runs a Lambda function binary for tests under the AWS
// Lambda Runtime Interface Emulator (aws-lambda-rie), built once per version
// with `go install` into the tool cache (see internal/gotool), never added
// to go.mod.
//
// The emulator listens on 0.0.0.0:8080 unless told otherwise; Start always
// passes --runtime-interface-emulator-address and --runtime-api-address on
// free 127.0.0.1 ports. Know its limits: it accepts only the function name
// "function", ignores the Qualifier, and runs Event invocations
// synchronously (200, not 202), one at a time.
package lambdatest

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"

	"github.com/proofline/proofline/internal/gotool"

	"github.com/proofline/proofline/internal/testproc"
)

// The emulator build the tests use (its module has no tags; this is the
// pseudo-version @latest resolved to when it was pinned).
const (
	Package = "github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie"
	Version = "v0.0.0-20261030222936-bef5c4ba774d"
)

// FunctionName is the only function name the emulator answers to.
const FunctionName = "function"

// Binary returns the path of aws-lambda-rie, building it once if needed.
func Binary() (string, error) { return gotool.Install(Package, Version, "aws-lambda-rie") }

// BuildBootstrap builds the Go main package pkg (an import path or a
// directory) as a Lambda `bootstrap` in dir, the way it is packaged:
// -tags lambda.norpc, with main.version set to version.
func BuildBootstrap(pkg, dir, version string) (string, error) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		return "", errors.New("lambdatest: the go command is not on PATH")
	}
	out := filepath.Join(dir, "bootstrap")
	cmd := exec.Command(goBin, "build", "-tags", "lambda.norpc", "-trimpath",
		"-ldflags", "-X main.version="+version, "-o", out, pkg)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("lambdatest: build %s: %v\n%s", pkg, err, b)
	}
	return out, nil
}

// Options configure an emulator.
type Options struct {
	// Bootstrap is the function binary. Required.
	Bootstrap string
	// Env is the function's environment ("KEY=value"); nothing else of the
	// test process leaks in except PATH.
	Env []string
	// TimeoutSeconds is the function timeout. Default 60.
	TimeoutSeconds int
}

// Emulator is one running aws-lambda-rie with its function.
type Emulator struct {
	port    int
	apiPort int

	mu   sync.Mutex
	cmd  *exec.Cmd
	exit chan struct{}
	out  *testproc.TailBuffer
}

// Start builds (once) and starts the emulator on free loopback ports and
// waits until it accepts connections. The function itself starts with the
// first invoke.
func Start(o Options) (*Emulator, error) {
	bin, err := Binary()
	if err != nil {
		return nil, err
	}
	if o.TimeoutSeconds <= 0 {
		o.TimeoutSeconds = 60
	}
	for attempt := 0; ; attempt++ {
		e := &Emulator{}
		e.port, err = testproc.FreePort()
		if err == nil {
			e.apiPort, err = testproc.FreePort()
		}
		if err == nil {
			err = e.start(bin, o)
		}
		if err == nil {
			return e, nil
		}
		if attempt == 4 {
			return nil, err
		}
	}
}

func (e *Emulator) start(bin string, o Options) error {
	cmd := exec.Command(bin,
		"--runtime-interface-emulator-address", e.Addr(),
		"--runtime-api-address", net.JoinHostPort("127.0.0.1", strconv.Itoa(e.apiPort)),
		"--log-level", "error",
		o.Bootstrap)
	cmd.Dir = filepath.Dir(o.Bootstrap)
	cmd.Env = append([]string{
		"PATH=" + os.Getenv("PATH"),
		"AWS_LAMBDA_FUNCTION_TIMEOUT=" + strconv.Itoa(o.TimeoutSeconds),
	}, o.Env...)
	out := &testproc.TailBuffer{Max: 64 << 10}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("lambdatest: start aws-lambda-rie: %w", err)
	}
	exit := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exit)
	}()
	e.mu.Lock()
	e.cmd, e.exit, e.out = cmd, exit, out
	e.mu.Unlock()
	deadline := time.Now().Add(15 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", e.Addr(), time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		select {
		case <-exit:
			return fmt.Errorf("lambdatest: aws-lambda-rie exited at start:\n%s", out.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			e.Stop()
			return fmt.Errorf("lambdatest: aws-lambda-rie did not listen within 15s:\n%s", out.String())
		}
	}
}

// Addr is the emulator's invoke address (host:port).
func (e *Emulator) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(e.port)) }

// Endpoint is the origin of the emulator's Lambda Invoke API.
func (e *Emulator) Endpoint() string { return "http://" + e.Addr() }

// InvokeURL is the emulator's invoke URL for FunctionName.
func (e *Emulator) InvokeURL() string {
	return e.Endpoint() + "/2015-03-31/functions/" + FunctionName + "/invocations"
}

// Client is an aws-sdk-go-v2 Lambda client pointed at the emulator.
func (e *Emulator) Client(cfg aws.Config) *lambda.Client {
	return lambda.NewFromConfig(cfg, func(o *lambda.Options) {
		o.BaseEndpoint = aws.String(e.Endpoint())
		o.RetryMaxAttempts = 1
	})
}

// Output is the tail of what the emulator and the function printed.
func (e *Emulator) Output() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.out == nil {
		return ""
	}
	return e.out.String()
}

// Stop stops the emulator and its function (their process group).
// Idempotent.
func (e *Emulator) Stop() {
	e.mu.Lock()
	cmd, exit := e.cmd, e.exit
	e.cmd = nil
	e.mu.Unlock()
	if cmd == nil {
		return
	}
	pgid := cmd.Process.Pid
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-exit:
	case <-time.After(10 * time.Second):
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		<-exit
	}
	_ = syscall.Kill(-pgid, syscall.SIGKILL) // the function, if it outlived the emulator
}
