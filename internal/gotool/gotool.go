// Package gotool builds the Go programs tests run as real servers (an S3
// gateway, the Lambda runtime emulator) with `go install pkg@version`, once
// per version, into a cache directory shared by every test package and run:
//
//	$PROOFLINE_TOOL_CACHE (default {os.UserCacheDir}/proofline/bin)/{name}-{version}/{name}
//
// A file lock keeps parallel test packages from building the same tool twice;
// the binary appears under its final name only when the build succeeded.
// These tools are never added to go.mod.
package gotool

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
)

// Dir is the cache directory tools are built into.
func Dir() (string, error) {
	if d := os.Getenv("PROOFLINE_TOOL_CACHE"); d != "" {
		return d, nil
	}
	base, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("gotool: no cache directory: %w", err)
	}
	return filepath.Join(base, "proofline", "bin"), nil
}

// Install returns the path of the binary name built from pkg@version,
// building it first when the cache does not hold it yet. A binary go install
// names otherwise (after the package's last path element) is renamed to name.
func Install(pkg, version, name string) (string, error) {
	if strings.ContainsAny(name+version, "/\\ ") || version == "" || name == "" {
		return "", errors.New("gotool: bad tool name or version")
	}
	dir, err := Dir()
	if err != nil {
		return "", err
	}
	final := filepath.Join(dir, name+"-"+version)
	bin := filepath.Join(final, name)
	if isExecutable(bin) {
		return bin, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("gotool: %w", err)
	}
	lock, err := os.OpenFile(filepath.Join(dir, "."+name+"-"+version+".lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return "", fmt.Errorf("gotool: lock: %w", err)
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return "", fmt.Errorf("gotool: lock: %w", err)
	}
	defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN)
	if isExecutable(bin) { // another process built it while we waited
		return bin, nil
	}
	tmp, err := os.MkdirTemp(dir, "."+name+"-build-")
	if err != nil {
		return "", fmt.Errorf("gotool: %w", err)
	}
	defer os.RemoveAll(tmp)
	goBin, err := exec.LookPath("go")
	if err != nil {
		return "", errors.New("gotool: the go command is not on PATH")
	}
	cmd := exec.Command(goBin, "install", pkg+"@"+version)
	cmd.Env = append(os.Environ(), "GOBIN="+tmp, "GOWORK=off", "GOFLAGS=")
	cmd.Dir = tmp
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	fmt.Fprintf(os.Stderr, "gotool: building %s@%s into %s (once)\n", pkg, version, final)
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("gotool: go install %s@%s: %v\n%s", pkg, version, err, tail(out.String(), 4000))
	}
	// go install names the binary after the package's last element
	// (toxiproxy's is cmd/server): give it the tool's name.
	if built := filepath.Join(tmp, filepath.Base(pkg)); filepath.Base(pkg) != name && isExecutable(built) {
		if err := os.Rename(built, filepath.Join(tmp, name)); err != nil {
			return "", fmt.Errorf("gotool: %w", err)
		}
	}
	_ = os.RemoveAll(final)
	if err := os.Rename(tmp, final); err != nil {
		return "", fmt.Errorf("gotool: %w", err)
	}
	if !isExecutable(bin) {
		return "", fmt.Errorf("gotool: go install %s@%s made no %s", pkg, version, name)
	}
	return bin, nil
}

func isExecutable(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}
