package localblob

import (
	"bytes"
	"errors"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/proofline/proofline/blobstore"
)

// diskFullEnv marks the child process TestUploadDiskFull runs itself in.
const diskFullEnv = "LOCALBLOB_DISKFULL_CHILD"

// TestUploadDiskFull fills the disk under the upload directory: a real
// 96 KiB tmpfs, mounted in a mount namespace of the test's own (a child
// process of this test binary; as root a new mount namespace, otherwise a
// user namespace too, so it needs no privilege where unprivileged user
// namespaces are allowed, as on Debian and Ubuntu). An upload that does not
// fit is refused with 507 and a message saying so, no partial file remains,
// the log names the cause, and once space is freed uploads work again.
func TestUploadDiskFull(t *testing.T) {
	if os.Getenv(diskFullEnv) == "1" {
		diskFullChild(t)
		return
	}
	t.Parallel()
	cmd := exec.Command(os.Args[0], "-test.run=^TestUploadDiskFull$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), diskFullEnv+"=1")
	// The child dies with this test (a mutation run's timeout kills only this one).
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNS, Pdeathsig: syscall.SIGKILL}
	if os.Getuid() != 0 {
		cmd.SysProcAttr.Cloneflags |= syscall.CLONE_NEWUSER
		cmd.SysProcAttr.UidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getuid(), Size: 1}}
		cmd.SysProcAttr.GidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getgid(), Size: 1}}
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("the disk-full run failed (%v):\n%s", err, out)
	}
	if !strings.Contains(string(out), "--- PASS: TestUploadDiskFull") {
		t.Fatalf("the disk-full run did not pass:\n%s", out)
	}
	t.Logf("%s", out)
}

func diskFullChild(t *testing.T) {
	dir := t.TempDir()
	// Keep the mount in this namespace: no propagation to the host.
	if err := syscall.Mount("none", "/", "", syscall.MS_REC|syscall.MS_PRIVATE, ""); err != nil {
		t.Fatalf("make mounts private: %v", err)
	}
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size=96k,mode=0700"); err != nil {
		t.Fatalf("mount a 96 KiB tmpfs: %v", err)
	}
	t.Cleanup(func() { _ = syscall.Unmount(dir, syscall.MNT_DETACH) })

	f := setupIn(t, dir)
	first, second := f.capture(t), f.capture(t)
	big := randomBytes(t, 60<<10)
	if status, body, _ := f.put(t, first.Uploads[blobstore.SideFront].URL, big, putOpts{}); status != http.StatusNoContent {
		t.Fatalf("first upload (fits): %d %q", status, body)
	}
	status, body, hdr := f.put(t, second.Uploads[blobstore.SideFront].URL, big, putOpts{})
	if status != http.StatusInsufficientStorage || !strings.Contains(body, "insufficient storage") || hdr.Get("Retry-After") == "" {
		t.Fatalf("upload past the disk's size: %d %q (Retry-After %q), want 507 insufficient storage", status, body, hdr.Get("Retry-After"))
	}
	if !strings.Contains(f.logs.String(), "disk full") {
		t.Errorf("the log does not say the disk is full:\n%s", f.logs.String())
	}
	// Nothing of the refused upload remains: the first object is the only
	// file.
	var files []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			files = append(files, strings.TrimPrefix(p, dir))
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := "/" + first.ID + "/front"; len(files) != 1 || files[0] != want {
		t.Fatalf("files after the refused upload: %v, want only %s", files, want)
	}
	_, err = f.store.Read(t.Context(), blobstore.Key(second.ID, blobstore.SideFront), 0)
	if !errors.Is(err, blobstore.ErrNotFound) {
		t.Fatalf("the refused upload reads back: %v", err)
	}
	// Freeing space makes uploads work again: the refused one left nothing
	// that still takes space.
	if err := f.store.Delete(t.Context(), blobstore.Key(first.ID, blobstore.SideFront)); err != nil {
		t.Fatal(err)
	}
	if status, body, _ := f.put(t, second.Uploads[blobstore.SideFront].URL, big, putOpts{}); status != http.StatusNoContent {
		t.Fatalf("upload once space was freed: %d %q", status, body)
	}
	got, err := f.store.Read(t.Context(), blobstore.Key(second.ID, blobstore.SideFront), 0)
	if err != nil || !bytes.Equal(got, big) {
		t.Fatalf("read back: %d bytes, %v", len(got), err)
	}
}
