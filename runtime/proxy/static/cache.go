package static

import (
	"io"
	"net/http"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// rep is one representation of a file: the file itself or one of its
// precompressed siblings. It is immutable once built and shared by every
// request that serves it.
type rep struct {
	path  string // path below the root to open it by (see tree.open)
	id    fileID
	mtime int64
	etag  string
	body  []byte    // the whole content when kept in memory, else nil
	of    *openFile // else the file kept open, or nil (open per request)

	// Response header values, built once. Assigning a prebuilt []string to
	// the response's header map costs no allocation. Each has len == cap,
	// so a later Header.Add elsewhere copies it instead of writing into it;
	// nothing may write into these slices in place.
	hETag    []string
	hLastMod []string
	hLength  []string
}

func newRep(path string, st stat, body []byte) *rep {
	etag := `"` + strconv.FormatInt(st.mtime, 16) + "-" + strconv.FormatInt(st.id.size, 16) + `"`
	lm := time.Unix(st.mtime, 0).UTC().Format(http.TimeFormat)
	return &rep{
		path:     path,
		id:       st.id,
		mtime:    st.mtime,
		etag:     etag,
		body:     body,
		hETag:    []string{etag},
		hLastMod: []string{lm},
		hLength:  []string{strconv.FormatInt(st.id.size, 10)},
	}
}

func (r *rep) size() int64 { return r.id.size }

// openFile is a file kept open for the requests that send one
// representation (nginx's open_file_cache): they sendfile from it at
// offsets of their own, so they share it and a request costs no open,
// fstat and close. It closes when the cache and the last request in flight
// have let go of it.
type openFile struct {
	f    *os.File
	refs atomic.Int64 // the cache's reference and one per request
	open *atomic.Int64
}

// acquire takes a request's reference; false when the file is closed
// (its entry left the cache meanwhile).
func (o *openFile) acquire() bool {
	for {
		n := o.refs.Load()
		if n == 0 {
			return false
		}
		if o.refs.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

func (o *openFile) release() {
	if o.refs.Add(-1) == 0 {
		o.f.Close()
		o.open.Add(-1)
	}
}

// entry is what the handler knows about one path below the root: a
// directory, or a regular file with its content type and precompressed
// siblings. Only checked changes after it is built.
type entry struct {
	// checked is the handler clock when the entry was last known to match
	// the disk. Set far in the past to have the next request revalidate.
	checked atomic.Int64

	dir    bool
	ctype  []string // Content-Type, of the file and of its siblings
	file   *rep
	br, gz *rep // precompressed siblings; nil when absent or disabled
	cost   int64
}

// entryOverhead approximates an entry's memory besides file contents, so
// that the cache's byte bound also bounds the number of entries.
const entryOverhead = 512

// stale has the next lookup revalidate e.
func (e *entry) stale() { e.checked.Store(-1 << 62) }

// drop lets go of the files e keeps open; the cache calls it once, when e
// leaves it.
func (e *entry) drop() {
	for _, r := range []*rep{e.file, e.br, e.gz} {
		if r != nil && r.of != nil {
			r.of.release()
		}
	}
}

// cache maps cleaned paths below the root to entries, bounded in bytes.
// Reads are lock-free (sync.Map); eviction drops arbitrary entries, which
// under a bound that fits the working set is rare.
type cache struct {
	m        sync.Map // string → *entry
	bytes    atomic.Int64
	max      int64
	evicting sync.Mutex
}

func (c *cache) get(k string) *entry {
	v, ok := c.m.Load(k)
	if !ok {
		return nil
	}
	return v.(*entry)
}

func (c *cache) put(k string, e *entry) {
	if old, loaded := c.m.Swap(k, e); loaded {
		c.bytes.Add(-old.(*entry).cost)
		old.(*entry).drop()
	}
	if c.bytes.Add(e.cost) > c.max {
		c.evict()
	}
}

func (c *cache) remove(k string, e *entry) {
	if c.m.CompareAndDelete(k, e) {
		c.bytes.Add(-e.cost)
		e.drop()
	}
}

// evict drops entries until the cache is at three quarters of its bound,
// leaving room so that the next insertions do not evict again at once.
func (c *cache) evict() {
	if !c.evicting.TryLock() {
		return // another goroutine is at it
	}
	defer c.evicting.Unlock()
	c.m.Range(func(k, v any) bool {
		c.remove(k.(string), v.(*entry))
		return c.bytes.Load() > c.max/4*3
	})
}

func (c *cache) clear() {
	c.m.Range(func(k, v any) bool {
		c.remove(k.(string), v.(*entry))
		return true
	})
}

// lookup returns the entry for rel, from the cache when it was checked
// against the disk less than h.ttl ago. An older entry is revalidated by
// one request (a stat of the file and its siblings) while concurrent ones
// go on with what is known, as nginx's open_file_cache does.
func (h *Handler) lookup(rel string) (*entry, error) {
	now := h.clock()
	h.checkRoot(now)
	t := h.tree.Load()
	if e := h.cache.get(rel); e != nil {
		last := e.checked.Load()
		if now-last < h.ttl || !e.checked.CompareAndSwap(last, now) {
			return e, nil
		}
		if h.unchanged(t, rel, e) {
			return e, nil
		}
	}
	e, err := h.load(t, rel, now)
	if err != nil {
		if old := h.cache.get(rel); old != nil {
			h.cache.remove(rel, old)
		}
		return nil, err
	}
	h.cache.put(rel, e)
	return e, nil
}

// checkRoot notices, at most once per ttl, that the configured root path
// now leads to another directory (a deploy flipped a "current" symlink)
// and reopens it, as nginx, which resolves the root path on every request,
// would serve the new directory at once.
func (h *Handler) checkRoot(now int64) {
	last := h.rootChecked.Load()
	if now-last < h.ttl || !h.rootChecked.CompareAndSwap(last, now) {
		return
	}
	t := h.tree.Load()
	if !t.moved() {
		return
	}
	nt, err := openTree(h.opts.Root, t.root != nil)
	if err != nil {
		return
	}
	// The old tree is left to the garbage collector: requests in flight
	// may still be opening files through it.
	h.tree.Store(nt)
	h.cache.clear()
}

// load builds the entry for rel from the disk.
func (h *Handler) load(t *tree, rel string, now int64) (*entry, error) {
	f, st, as, err := t.open(rel)
	if err != nil {
		return nil, err
	}
	e := &entry{cost: entryOverhead}
	defer func() {
		if e.file == nil || e.file.of == nil {
			f.Close()
		}
	}()
	e.checked.Store(now)
	switch {
	case st.mode.IsDir():
		e.dir = true
		return e, nil
	case st.mode != 0:
		// A FIFO, socket or device: nginx answers 404 for anything that is
		// not a regular file.
		return nil, os.ErrNotExist
	}
	e.ctype = []string{contentType(rel)}
	e.file = h.newFileRep(f, st, as)
	e.cost += int64(len(e.file.body))
	if !h.opts.NoPrecompressed {
		e.br = h.sibling(t, rel+".br")
		e.gz = h.sibling(t, rel+".gz")
		for _, s := range []*rep{e.br, e.gz} {
			if s != nil {
				e.cost += int64(len(s.body))
			}
		}
	}
	return e, nil
}

// newFileRep builds the representation of an open regular file, reading it
// into memory when it is small enough to keep, else keeping f open while
// the handler's budget of open files allows; then rep.of owns f.
func (h *Handler) newFileRep(f *os.File, st stat, as string) *rep {
	if st.id.size <= h.maxInMemory {
		buf := make([]byte, st.id.size)
		if _, err := io.ReadFull(f, buf); err == nil {
			return newRep(as, st, buf)
		} // else the file shrank under us: serve it from the disk, which re-stats
		return newRep(as, st, nil)
	}
	r := newRep(as, st, nil)
	if h.maxInMemory < 0 || h.closed.Load() {
		return r
	}
	if h.openFiles.Add(1) > h.maxOpen {
		h.openFiles.Add(-1)
		return r
	}
	r.of = &openFile{f: f, open: &h.openFiles}
	r.of.refs.Store(1)
	return r
}

// sibling returns the representation of a precompressed sibling, or nil
// when there is no regular file by that name inside the root.
func (h *Handler) sibling(t *tree, rel string) *rep {
	f, st, as, err := t.open(rel)
	if err != nil {
		return nil
	}
	if st.mode != 0 {
		f.Close()
		return nil
	}
	r := h.newFileRep(f, st, as)
	if r.of == nil {
		f.Close()
	}
	return r
}

// unchanged reports whether the disk still holds what e describes: the same
// file (by device, inode, size and modification time) at the same place,
// and the same siblings.
func (h *Handler) unchanged(t *tree, rel string, e *entry) bool {
	if e.dir {
		f, st, _, err := t.open(rel)
		if err != nil {
			return false
		}
		f.Close()
		return st.mode.IsDir()
	}
	if !sameRep(t, rel, e.file) {
		return false
	}
	if h.opts.NoPrecompressed {
		return true
	}
	return sameRep(t, rel+".br", e.br) && sameRep(t, rel+".gz", e.gz)
}

// sameRep reports whether rel is still the file r was built from, or,
// for r == nil, still not a regular file.
func sameRep(t *tree, rel string, r *rep) bool {
	f, st, as, err := t.open(rel)
	if err != nil {
		return r == nil
	}
	f.Close()
	if st.mode != 0 {
		return r == nil
	}
	return r != nil && as == r.path && st.id == r.id
}
