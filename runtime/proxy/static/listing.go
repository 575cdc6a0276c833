package static

import (
	"bytes"
	"cmp"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// listed is one line of a directory listing.
type listed struct {
	name  string
	dir   bool
	size  int64
	mtime time.Time
}

// list writes an HTML listing of the directory rel, like nginx's autoindex:
// directories first, then files, each sorted by name; dotfiles left out;
// sizes in bytes. Symlinks are shown as what they lead to, and left out
// when that is outside the root or nothing; so are entries that cannot be
// opened.
//
// It returns false, having written nothing, when the directory is gone.
func (h *Handler) list(w http.ResponseWriter, r *http.Request, rel string) bool {
	t := h.tree.Load()
	d, _, _, err := t.open(rel)
	if err != nil {
		return failed(w, r, err)
	}
	des, err := d.ReadDir(-1)
	d.Close()
	if err != nil {
		writeError(w, r, http.StatusInternalServerError)
		return true
	}
	items := make([]listed, 0, len(des))
	for _, de := range des {
		name := de.Name()
		if strings.HasPrefix(name, ".") {
			continue
		}
		// Each entry is opened like a request would open it: symlinks are
		// judged by where they lead, and nothing is stat'ed by a path
		// relative to the process's working directory (which is what the
		// entries' Info of a directory opened by a relative name would do).
		p := name
		if rel != "" {
			p = rel + "/" + name
		}
		f, st, _, err := t.open(p)
		if err != nil {
			continue
		}
		f.Close()
		if st.mode != 0 && !st.mode.IsDir() {
			continue
		}
		it := listed{name: name, dir: st.mode.IsDir(), size: st.id.size, mtime: time.Unix(0, st.id.mtimeNs)}
		items = append(items, it)
	}
	slices.SortFunc(items, func(a, b listed) int {
		if a.dir != b.dir {
			if a.dir {
				return -1
			}
			return 1
		}
		return cmp.Compare(a.name, b.name)
	})

	title := html.EscapeString(r.URL.Path)
	var b bytes.Buffer
	fmt.Fprintf(&b, "<!DOCTYPE html>\n<html>\n<head><meta charset=\"utf-8\"><title>Index of %s</title></head>\n<body>\n<h1>Index of %s</h1><hr><pre><a href=\"../\">../</a>\n", title, title)
	for _, it := range items {
		// "./" keeps a name with a colon from reading as a URL scheme.
		href, shown, size := "./"+url.PathEscape(it.name), it.name, "-"
		if it.dir {
			href, shown = href+"/", shown+"/"
		} else {
			size = strconv.FormatInt(it.size, 10)
		}
		pad := max(1, 51-len([]rune(shown)))
		fmt.Fprintf(&b, "<a href=\"%s\">%s</a>%s%s %20s\n", html.EscapeString(href), html.EscapeString(shown),
			strings.Repeat(" ", pad), it.mtime.UTC().Format("02-Jan-2006 15:04"), size)
	}
	b.WriteString("</pre><hr></body>\n</html>\n")

	hdr := w.Header()
	hdr["Content-Type"] = hTextHTML
	hdr["Content-Length"] = []string{strconv.Itoa(b.Len())}
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		w.Write(b.Bytes())
	}
	return true
}
