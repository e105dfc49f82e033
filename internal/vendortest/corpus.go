package vendortest

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// WriteCorpusFile writes data as a Go fuzz corpus entry ([]byte) named name
// under dir (testdata/fuzz/<FuzzTarget>).
func WriteCorpusFile(t testing.TB, dir, name string, data []byte) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	content := "go test fuzz v1\n[]byte(" + strconv.Quote(string(data)) + ")\n"
	if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// Fetch posts body to the server's path (with Basic credentials when user
// is set) and returns the response body: how fixtures are harvested from the
// test servers for seed corpora.
func Fetch(t testing.TB, client *http.Client, url string, header http.Header, body []byte) []byte {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header = header.Clone()
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(fmt.Errorf("read fixture: %w", err))
	}
	return b
}
