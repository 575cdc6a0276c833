package logs

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"testing"
)

func TestStoreBuffers(t *testing.T) {
	base := runtime.NumGoroutine()
	dir := filepath.Join(t.TempDir(), "logs")
	s := NewStore(dir, 5)
	blog, err := s.Buffer("blog")
	if err != nil {
		t.Fatal(err)
	}
	again, err := s.Buffer("blog")
	if err != nil || again != blog {
		t.Fatalf("second Buffer(blog) = %p, %v; want the same Buffer %p", again, err, blog)
	}
	for _, name := range []string{SourceEvents, SourceAccess, "api"} {
		if _, err := s.Buffer(name); err != nil {
			t.Fatal(err)
		}
	}
	if got, want := s.Sources(), []string{"access", "api", "blog", "events"}; !slices.Equal(got, want) {
		t.Errorf("Sources = %q, want %q", got, want)
	}
	if blog.Capacity() != 5 || blog.Path() != filepath.Join(dir, "blog.log") || blog.Source() != "blog" {
		t.Errorf("blog Buffer: capacity %d path %q source %q", blog.Capacity(), blog.Path(), blog.Source())
	}
	if b, ok := s.Lookup("api"); !ok || b.Source() != "api" {
		t.Errorf("Lookup(api) = %v, %v", b, ok)
	}
	if _, ok := s.Lookup("nope"); ok {
		t.Error("Lookup(nope) found a Buffer")
	}
	if slices.Contains(s.Sources(), "nope") {
		t.Error("Lookup created a Buffer")
	}

	blog.Append(1, StreamStdout, "before rotation")
	if err := os.Rename(blog.Path(), blog.Path()+".1"); err != nil {
		t.Fatal(err)
	}
	if err := s.ReopenAll(); err != nil {
		t.Fatal(err)
	}
	blog.Append(1, StreamStdout, "after rotation")

	sub := blog.Follow(context.Background(), 0)
	defer sub.Close()
	if err := s.Remove("blog"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := sub.Next(context.Background()); !errors.Is(err, ErrClosed) {
		t.Errorf("Next after Remove = %v, want ErrClosed", err)
	}
	if err := s.Remove("blog"); err != nil {
		t.Errorf("Remove of an unknown source = %v", err)
	}
	if slices.Contains(s.Sources(), "blog") {
		t.Error("removed source still listed")
	}
	if got := fileTexts(t, blog.Path()); !slices.Equal(got, []string{"after rotation"}) {
		t.Errorf("blog.log = %q", got)
	}
	if got := fileTexts(t, blog.Path()+".1"); !slices.Equal(got, []string{"before rotation"}) {
		t.Errorf("blog.log.1 = %q", got)
	}
	newBlog, err := s.Buffer("blog")
	if err != nil {
		t.Fatal(err)
	}
	if newBlog == blog || newBlog.Append(0, StreamStdout, "new").Seq != 1 {
		t.Error("Buffer after Remove is not a new Buffer")
	}

	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if got := fileTexts(t, blog.Path()); !slices.Equal(got, []string{"after rotation", "new"}) {
		t.Errorf("blog.log after Close = %q", got)
	}
	if _, err := s.Buffer("other"); !errors.Is(err, ErrClosed) {
		t.Errorf("Buffer after Close = %v, want ErrClosed", err)
	}
	if err := s.ReopenAll(); !errors.Is(err, ErrClosed) {
		t.Errorf("ReopenAll after Close = %v, want ErrClosed", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close = %v", err)
	}
	checkGoroutines(t, base)
}

func TestStoreWithoutDir(t *testing.T) {
	base := runtime.NumGoroutine()
	s := NewStore("", 0)
	defer s.Close()
	b, err := s.Buffer("blog")
	if err != nil {
		t.Fatal(err)
	}
	if b.Path() != "" || s.Path("blog") != "" || b.Capacity() != DefaultCapacity {
		t.Errorf("path %q capacity %d; want no file, default capacity", b.Path(), b.Capacity())
	}
	if err := s.ReopenAll(); err != nil {
		t.Error(err)
	}
	checkGoroutines(t, base) // no flusher without a file
}

func TestStoreRejectsBadSources(t *testing.T) {
	dir := t.TempDir()
	s := NewStore(dir, 5)
	defer s.Close()
	for _, name := range []string{"", ".", "..", "../etc", "a/b", `a\b`, "a\x00b"} {
		if _, err := s.Buffer(name); err == nil {
			t.Errorf("Buffer(%q) accepted", name)
		}
	}
	if len(s.Sources()) != 0 {
		t.Errorf("Sources = %q, want none", s.Sources())
	}
}

func TestStoreBadDir(t *testing.T) {
	blocker := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(blocker, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	s := NewStore(blocker, 5) // a file where the directory should be
	defer s.Close()
	if _, err := s.Buffer("blog"); err == nil {
		t.Fatal("Buffer under a file: no error")
	}
	if len(s.Sources()) != 0 {
		t.Errorf("failed Buffer listed: %q", s.Sources())
	}
}
