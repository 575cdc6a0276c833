package static

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// errOutside is the answer for a path that exists but resolves, through a
// symlink, to a place outside the root.
var errOutside = errors.New("static: path resolves outside the root")

// tree opens files below one root directory and refuses any path whose
// resolution, symlinks included, leaves it. Symlinks that stay inside are
// followed, relative or absolute.
//
// The kernel enforces the boundary: on Linux openat2(2) with RESOLVE_BENEATH
// resolves the whole path in one system call and fails with EXDEV the moment
// a component (a "..", an absolute or escaping symlink) steps outside, with
// no window for a symlink swapped between a check and the open. Where
// openat2 is unavailable (Linux before 5.6, seccomp filters, other systems)
// os.Root does the same walk in user space. Both refuse absolute symlinks
// even when they point back inside; for those, and only after the kernel
// refused, the real path is computed with filepath.EvalSymlinks and opened
// again below the root if it lies inside.
type tree struct {
	path string // the root as configured
	real string // its real path when opened: where symlink targets must lead
	dev  uint64 // identity of the opened directory, to notice that path
	ino  uint64 // now leads elsewhere (a deploy's "current" symlink flipped)

	dir  *os.File // the root directory, base of openat2
	root *os.Root // non-nil when openat2 is unavailable
}

// openTree opens the directory at path.
func openTree(path string, noOpenat2 bool) (*tree, error) {
	// Absolute, so that the periodic check of where it leads does not
	// depend on the working directory.
	path, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("static: root: %w", err)
	}
	real, err := filepath.EvalSymlinks(path)
	if err != nil {
		return nil, fmt.Errorf("static: root: %w", err)
	}
	dir, err := os.Open(real)
	if err != nil {
		return nil, fmt.Errorf("static: root: %w", err)
	}
	fi, err := dir.Stat()
	if err != nil {
		dir.Close()
		return nil, fmt.Errorf("static: root: %w", err)
	}
	if !fi.IsDir() {
		dir.Close()
		return nil, fmt.Errorf("static: root %s is not a directory", path)
	}
	t := &tree{path: path, real: real, dir: dir}
	t.dev, t.ino = devIno(fi)
	if noOpenat2 || !openat2Works(dir) {
		if t.root, err = os.OpenRoot(real); err != nil {
			dir.Close()
			return nil, fmt.Errorf("static: root: %w", err)
		}
	}
	return t, nil
}

// moved reports whether the configured root path now leads to another
// directory than the one this tree opened.
func (t *tree) moved() bool {
	fi, err := os.Stat(t.path)
	if err != nil {
		return false // keep serving what we have rather than nothing
	}
	dev, ino := devIno(fi)
	return dev != t.dev || ino != t.ino
}

// stat is what the handler needs to know about an open file.
type stat struct {
	id    fileID
	mode  fs.FileMode // type bits only
	mtime int64       // seconds, as Last-Modified and the ETag show it
}

// fileID identifies one version of a file's content: a rewrite, a
// replacement by rename or a touch all change it.
type fileID struct {
	dev, ino uint64
	size     int64
	mtimeNs  int64
}

// open opens rel (cleaned, "" for the root) for reading. The file is opened
// non-blocking, so that a FIFO planted in the root cannot hang the request,
// and switched back to blocking mode once it is known to be a regular file.
// as is the path the file was actually opened as: rel, or the real path
// below the root when rel went through an absolute symlink; the caller opens
// that path next time. Errors: fs.ErrNotExist-like for missing paths,
// errOutside, or the system's error (EACCES, ELOOP...).
func (t *tree) open(rel string) (f *os.File, st stat, as string, err error) {
	f, st, err = t.openOnce(rel)
	if err == nil || !escaped(err) {
		return f, st, rel, err
	}
	// The kernel (or os.Root) refused a step outside. It was a symlink: the
	// path was cleaned before. Decide by where the symlink really leads.
	real, err := filepath.EvalSymlinks(filepath.Join(t.real, rel))
	if err != nil {
		return nil, st, rel, err
	}
	if real != t.real && !strings.HasPrefix(real, t.real+string(filepath.Separator)) {
		return nil, st, rel, errOutside
	}
	as = strings.TrimPrefix(real[len(t.real):], string(filepath.Separator))
	f, st, err = t.openOnce(as)
	if err != nil && escaped(err) {
		err = errOutside // changed under us; refuse rather than loop
	}
	return f, st, as, err
}

func (t *tree) openOnce(rel string) (*os.File, stat, error) {
	if rel == "" {
		rel = "."
	}
	if t.root == nil {
		return openBeneath(t.dir, rel)
	}
	f, err := t.root.OpenFile(rel, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, stat{}, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, stat{}, err
	}
	return f, statOf(fi), nil
}

// escaped reports whether err may be the refusal of a path that leaves the
// root: EXDEV from openat2, or os.Root's "path escapes from parent", which
// carries no errno. Any error without an errno is taken as one, rather than
// matching the text: the caller then decides by the real path, which is
// exact either way.
func escaped(err error) bool {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	if errno, ok := err.(syscall.Errno); ok {
		return errno == syscall.EXDEV
	}
	return err != nil
}

func statOf(fi fs.FileInfo) stat {
	dev, ino := devIno(fi)
	mt := fi.ModTime()
	return stat{
		id:    fileID{dev: dev, ino: ino, size: fi.Size(), mtimeNs: mt.UnixNano()},
		mode:  fi.Mode().Type(),
		mtime: mt.Unix(),
	}
}

// unlinked reports whether the file fi describes has no name left: it was
// deleted, or replaced by a rename.
func unlinked(fi fs.FileInfo) bool {
	st, ok := fi.Sys().(*syscall.Stat_t)
	return ok && st.Nlink == 0
}

func devIno(fi fs.FileInfo) (dev, ino uint64) {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return uint64(st.Dev), uint64(st.Ino)
	}
	return 0, 0
}
