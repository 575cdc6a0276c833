package proxy

import (
	"bufio"
	"fmt"
	"io"
	"path/filepath"
	"testing"
	"time"

	"github.com/stackctl/stackctl/internal/peertest"
)

// dripApp answers without a Content-Length, so uWSGI's response ends at
// the close: /whole at once, /drip a line every 300 ms.
const dripApp = `
import time

def application(env, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    if env["PATH_INFO"] == "/drip":
        def gen():
            for i in range(3):
                yield b"line %d\n" % i
                time.sleep(0.3)
        return gen()
    return [b"whole body\n"]
`

// A response that ends at the close is passed on with a Content-Length,
// in one write, when it has all arrived by the time its head is read; one
// still arriving streams, each part as it comes.
func TestCloseDelimitedResponses(t *testing.T) {
	dir := peertest.Dir(t)
	writeFile(t, dir, "app/drip.py", dripApp)
	sock := filepath.Join(dir, "uwsgi.sock")
	peertest.StartUWSGI(t, filepath.Join(dir, "app"), "drip:application", sock, 1)
	pdir := shortDir(t)
	tp := startProxy(t, pdir, parseConfig(t, pdir, fmt.Sprintf(`
run_dir = "{{DIR}}/run"
[proxy]
listen = ["127.0.0.1:0"]
[[proxy.route]]
upstream = "uw"
[[upstream]]
name = "uw"
servers = ["uwsgi://unix:%s"]
`, sock)), nil)

	c := newClient()
	withLength := 0
	for range 20 {
		resp, err := c.Get(tp.url("/whole"))
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || string(b) != "whole body\n" {
			t.Fatalf("/whole: %q, %v", b, err)
		}
		if resp.ContentLength == int64(len(b)) && len(resp.TransferEncoding) == 0 {
			withLength++
		}
	}
	// Whether the close has arrived when the head is read is up to the
	// scheduler; uWSGI sends head, body and close back to back.
	if withLength == 0 {
		t.Error("no response of 20 went with a Content-Length")
	}

	start := time.Now()
	resp, err := c.Get(tp.url("/drip"))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	first, err := br.ReadString('\n')
	firstAt := time.Since(start)
	if err != nil || first != "line 0\n" {
		t.Fatalf("first line %q, %v", first, err)
	}
	rest, _ := io.ReadAll(br)
	total := time.Since(start)
	if string(rest) != "line 1\nline 2\n" {
		t.Fatalf("rest %q", rest)
	}
	if resp.ContentLength != -1 || total-firstAt < 450*time.Millisecond {
		t.Errorf("not streamed: Content-Length %d, first line after %s, the end after %s", resp.ContentLength, firstAt, total)
	}
}
