package peertest

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func helloDir(t *testing.T) string {
	d := Dir(t)
	os.WriteFile(filepath.Join(d, "hello.py"), []byte("def application(e, sr):\n    sr('200 OK', [('Content-Type','text/plain')])\n    return [b'Hello, World!']\n"), 0o644)
	os.WriteFile(filepath.Join(d, "f.txt"), []byte("static"), 0o644)
	return d
}

func TestNginxUWSGI(t *testing.T) {
	app := helloDir(t)
	u := StartUWSGI(t, app, "hello", filepath.Join(app, "u.sock"), 1)
	n := StartNginx(t, `server { listen 127.0.0.1:{{PORT}}; location / { include /etc/nginx/uwsgi_params; uwsgi_pass unix:`+u.Socket+`; } }`)
	if code, body := get(t, "http://"+n.Addr+"/"); code != 200 || body != "Hello, World!" {
		t.Fatalf("nginx -> uwsgi: %d %q", code, body)
	}
}

func TestApacheStatic(t *testing.T) {
	app := helloDir(t)
	a := StartApache(t, "DocumentRoot "+app+"\n<Directory "+app+">\nRequire all granted\n</Directory>\n")
	if code, body := get(t, "http://"+a.Addr+"/f.txt"); code != 200 || body != "static" {
		t.Fatalf("apache static: %d %q", code, body)
	}
}

func TestGunicorn(t *testing.T) {
	app := helloDir(t)
	g := StartGunicorn(t, app, "hello:application", 1)
	if code, body := get(t, "http://"+g.Addr+"/"); code != 200 || !strings.Contains(body, "Hello") {
		t.Fatalf("gunicorn: %d %q", code, body)
	}
}
