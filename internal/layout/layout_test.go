// Package layout holds the test that keeps stackctl's layers apart: the
// runtime never knows a screen, and the console only knows the control API.
package layout

import (
	"encoding/json"
	"io"
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/stackctl/stackctl"

type pkg struct {
	ImportPath string
	Deps       []string
}

func listDeps(t *testing.T) []pkg {
	t.Helper()
	cmd := exec.Command("go", "list", "-e", "-json", module+"/...")
	cmd.Dir = "../.."
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	var pkgs []pkg
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for {
		var p pkg
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, p)
	}
	return pkgs
}

// forbidden lists, per package prefix, the packages it must never depend
// on (directly or not) and why.
var forbidden = []struct {
	from, to, why string
}{
	{"runtime/", "ui", "the runtime knows no screen"},
	{"runtime/", "themes", "the runtime knows no screen"},
	{"runtime/", "github.com/charmbracelet/", "the runtime knows no screen"},
	{"ui", "runtime/uwsgi", "the console is a client of the control API only"},
	{"ui", "runtime/appserver", "the console is a client of the control API only"},
	{"ui", "runtime/proxy", "the console is a client of the control API only"},
	{"ui", "runtime/stack", "the console is a client of the control API only"},
	{"themes", "runtime/", "themes are looks, nothing else"},
}

func TestLayers(t *testing.T) {
	pkgs := listDeps(t)
	if len(pkgs) < 5 {
		t.Fatalf("go list found only %d packages", len(pkgs))
	}
	for _, p := range pkgs {
		rel := strings.TrimPrefix(strings.TrimPrefix(p.ImportPath, module), "/")
		for _, f := range forbidden {
			if !strings.HasPrefix(rel, f.from) {
				continue
			}
			for _, d := range p.Deps {
				target := f.to
				if !strings.Contains(target, ".") {
					target = module + "/" + f.to
				}
				if d == target || strings.HasPrefix(d, target+"/") || (strings.HasSuffix(target, "/") && strings.HasPrefix(d, target)) {
					t.Errorf("%s depends on %s: %s", p.ImportPath, d, f.why)
				}
			}
		}
	}
}
