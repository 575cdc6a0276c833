package proxy

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// openCount is how many of this process's descriptors refer to path.
func openCount(t *testing.T, path string) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("no /proc/self/fd:", err)
	}
	n := 0
	for _, e := range ents {
		if target, err := os.Readlink(filepath.Join("/proc/self/fd", e.Name())); err == nil && target == path {
			n++
		}
	}
	return n
}

// A static route keeps large files open between requests (sendfile from a
// shared descriptor); a reload that replaces the route table and closing
// the proxy let go of them.
func TestStaticOpenFilesReleased(t *testing.T) {
	dir := shortDir(t)
	big := writeFile(t, dir, "public/big.bin", strings.Repeat("x", 256<<10))
	text := `
[proxy]
listen = ["127.0.0.1:0"]
access_log = "off"
[[proxy.route]]
path = "/"
static = "{{DIR}}/public"
`
	cfg := parseConfig(t, dir, text)
	tp := startProxy(t, dir, cfg, nil)
	get := func() {
		t.Helper()
		resp, err := http.Get(tp.url("/big.bin"))
		if err != nil {
			t.Fatal(err)
		}
		n, _ := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || n != 256<<10 {
			t.Fatalf("GET /big.bin: %d, %d bytes", resp.StatusCode, n)
		}
	}
	for range 3 {
		get()
	}
	if n := openCount(t, big); n != 1 {
		t.Fatalf("after 3 requests %d descriptors of the file are open, want 1 (kept, shared)", n)
	}
	if err := tp.Apply(parseConfig(t, dir, text+"index = [\"home.html\"]\n")); err != nil {
		t.Fatal(err)
	}
	if n := openCount(t, big); n != 0 {
		t.Fatalf("after a reload %d descriptors of the file are open, want 0", n)
	}
	get()
	if n := openCount(t, big); n != 1 {
		t.Fatalf("the new table keeps %d descriptors, want 1", n)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := tp.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if n := openCount(t, big); n != 0 {
		t.Fatalf("after Close %d descriptors of the file are open", n)
	}
}
