package stack

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/stackctl/stackctl/runtime/stats"
)

// touchScanLimit bounds how many files a directory in touch_reload may hold:
// the scan runs every second.
const touchScanLimit = 5000

// fingerprint summarises the watched paths: the newest modification time
// and the number of files, so touching, editing, adding or removing a file
// all change it. A missing path counts as such (creating it is a change).
type fingerprint struct {
	newest time.Time
	files  int
	which  string // the newest file, to say what changed
}

func scan(paths []string) fingerprint {
	var fp fingerprint
	note := func(p string, t time.Time) {
		fp.files++
		if t.After(fp.newest) {
			fp.newest, fp.which = t, p
		}
	}
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			continue
		}
		if !st.IsDir() {
			note(p, st.ModTime())
			continue
		}
		n := 0
		filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
			if err != nil || n >= touchScanLimit {
				return filepath.SkipDir
			}
			if d.IsDir() && path != p && (strings.HasPrefix(d.Name(), ".") || d.Name() == "__pycache__") {
				return filepath.SkipDir
			}
			if !d.IsDir() && strings.HasSuffix(d.Name(), ".py") {
				if info, err := d.Info(); err == nil {
					n++
					note(path, info.ModTime())
				}
			}
			return nil
		})
	}
	return fp
}

// watchTouch chain-reloads apps whose touch_reload paths change; it runs
// until the stack stops.
func (s *Stack) watchTouch() {
	defer s.wg.Done()
	last := map[string]fingerprint{}
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
		}
		for _, a := range s.Config().Apps {
			if len(a.TouchReload) == 0 {
				delete(last, a.Name)
				continue
			}
			fp := scan(a.TouchReload)
			prev, seen := last[a.Name]
			last[a.Name] = fp
			if !seen || fp == prev {
				continue
			}
			what := fp.which
			if what == "" || fp.newest.Equal(prev.newest) {
				what = "a watched file was added or removed"
			}
			s.Record(stats.Event{Kind: "app.touch_reload", Source: a.Name, Message: fmt.Sprintf("touch_reload: %s changed; chain-reloading %s", what, a.Name)})
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
			if _, err := s.ReloadApp(ctx, a.Name); err != nil {
				s.Record(stats.Event{Kind: "command.failed", Source: a.Name, Message: "touch_reload: " + err.Error()})
			}
			cancel()
		}
	}
}
