package main

import (
	"path/filepath"
	"time"

	"github.com/fsnotify/fsnotify"
)

// fileWatch signals changes of one file. It watches the file's directory,
// because editors replace files by renaming a new one over them.
type fileWatch struct {
	w       *fsnotify.Watcher
	changed chan struct{}
	done    chan struct{}
}

func watchFile(path string) (*fileWatch, error) {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, err
	}
	if err := w.Add(filepath.Dir(path)); err != nil {
		w.Close()
		return nil, err
	}
	fw := &fileWatch{w: w, changed: make(chan struct{}, 1), done: make(chan struct{})}
	go fw.run(filepath.Clean(path))
	return fw, nil
}

// run debounces: an editor's save is several events; one reload follows
// 200 ms after the last.
func (fw *fileWatch) run(path string) {
	defer close(fw.done)
	var timer <-chan time.Time
	for {
		select {
		case ev, ok := <-fw.w.Events:
			if !ok {
				return
			}
			if filepath.Clean(ev.Name) == path && ev.Op&(fsnotify.Write|fsnotify.Create|fsnotify.Rename) != 0 {
				timer = time.After(200 * time.Millisecond)
			}
		case _, ok := <-fw.w.Errors:
			if !ok {
				return
			}
		case <-timer:
			timer = nil
			select {
			case fw.changed <- struct{}{}:
			default:
			}
		}
	}
}

func (fw *fileWatch) Close() error {
	err := fw.w.Close()
	<-fw.done
	return err
}
