package main

import (
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
)

// listingsReply is a decoded listings@rmount reply: folder → its sorted entry names, in order.
type listingsReply struct {
	truncated bool
	order     []string
	names     map[string][]string
	attrs     map[string]fileAttrs // by "folder/name"
}

// listings sends listings@rmount for p and decodes the reply; a STATUS comes back as its message.
func listings(t *testing.T, s *session, p string, maxDepth, maxEntries uint32) (listingsReply, string) {
	t.Helper()
	typ, r := s.call(fxpExtended, func(w *writer) { w.str(extListings).str(p).u32(maxDepth).u32(maxEntries) })
	if typ == fxpStatus {
		_, msg := status(t, typ, r)
		return listingsReply{}, msg
	}
	if typ != fxpExtendedReply {
		t.Fatalf("listings: reply type %d", typ)
	}
	out := listingsReply{names: map[string][]string{}, attrs: map[string]fileAttrs{}}
	out.truncated = r.u32()&1 != 0
	for folders := r.u32(); folders > 0; folders-- {
		rel := r.str()
		names := []string{}
		for n := r.u32(); n > 0; n-- {
			name := r.str()
			names = append(names, name)
			out.attrs[rel+"/"+name] = r.attrs()
		}
		sort.Strings(names)
		out.order = append(out.order, rel)
		out.names[rel] = names
	}
	if r.err != nil || len(r.b) != 0 {
		t.Fatalf("listings reply: %v, %d bytes left", r.err, len(r.b))
	}
	return out, ""
}

// makeTree creates the files and folders (a trailing slash) under dir.
func makeTree(t *testing.T, dir string, paths ...string) {
	t.Helper()
	for _, p := range paths {
		full := filepath.Join(dir, p)
		if strings.HasSuffix(p, "/") {
			if err := os.MkdirAll(full, 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(p), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestListingsIsAdvertised(t *testing.T) {
	for _, e := range advertised(false) {
		if e[0] == extListings && e[1] == "1" {
			return
		}
	}
	t.Fatal("listings@rmount 1 is not advertised")
}

func TestListingsGivesEveryFolderBreadthFirstWithLstatAttributes(t *testing.T) {
	dir := t.TempDir()
	makeTree(t, dir, "top.txt", "a/b/c.txt", "a/a.txt", "z/", "a/b/d/")
	if err := os.Symlink("a", filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	s := startSession(t, sftpOptions{root: dir})
	got, msg := listings(t, s, ".", 0, 0)
	if msg != "" {
		t.Fatalf("listings failed: %s", msg)
	}
	want := map[string][]string{
		"":      {"a", "link", "top.txt", "z"},
		"a":     {"a.txt", "b"},
		"z":     {},
		"a/b":   {"c.txt", "d"},
		"a/b/d": {},
	}
	if got.truncated || !reflect.DeepEqual(got.names, want) {
		t.Fatalf("truncated %v, folders %v", got.truncated, got.names)
	}
	if got.order[0] != "" || len(got.order) != 5 || got.order[3] != "a/b" || got.order[4] != "a/b/d" {
		t.Fatalf("not breadth first: %v", got.order)
	}
	// The symlink is reported as one (lstat) and not followed.
	if a := got.attrs["/link"]; a.mode&0o170000 != 0o120000 {
		t.Fatalf("link mode %o", a.mode)
	}
	if a := got.attrs["a/b/c.txt"]; a.size != uint64(len("a/b/c.txt")) {
		t.Fatalf("c.txt size %d", a.size)
	}
}

func TestListingsStopsAtMaxDepth(t *testing.T) {
	dir := t.TempDir()
	makeTree(t, dir, "a/b/c/d.txt", "x.txt")
	s := startSession(t, sftpOptions{root: dir})
	got, _ := listings(t, s, ".", 1, 0)
	if got.truncated || !reflect.DeepEqual(got.order, []string{""}) {
		t.Fatalf("depth 1: truncated %v, folders %v", got.truncated, got.order)
	}
	got, _ = listings(t, s, "a", 2, 0)
	if got.truncated || !reflect.DeepEqual(got.order, []string{"", "b"}) {
		t.Fatalf("depth 2 from a: truncated %v, folders %v", got.truncated, got.order)
	}
}

func TestListingsCutsAtAFolderBoundaryPastMaxEntries(t *testing.T) {
	dir := t.TempDir()
	// Breadth first: "" (2 entries), a (2), a/b (3): one folder a level, so the order is known.
	makeTree(t, dir, "x", "a/1", "a/b/1", "a/b/2", "a/b/3")
	s := startSession(t, sftpOptions{root: dir})
	got, _ := listings(t, s, ".", 0, 5)
	if !got.truncated || !reflect.DeepEqual(got.order, []string{"", "a"}) {
		t.Fatalf("max 5: truncated %v, folders %v", got.truncated, got.order)
	}
	// Exactly enough for every folder: nothing is left out.
	got, _ = listings(t, s, ".", 0, 7)
	if got.truncated || !reflect.DeepEqual(got.order, []string{"", "a", "a/b"}) {
		t.Fatalf("max 7: truncated %v, folders %v", got.truncated, got.order)
	}
	// path itself is sent whole even past the bound, and the rest is cut.
	got, _ = listings(t, s, "a/b", 0, 1)
	if got.truncated || !reflect.DeepEqual(got.names[""], []string{"1", "2", "3"}) {
		t.Fatalf("max 1 on a/b: truncated %v, folders %v", got.truncated, got.names)
	}
	got, _ = listings(t, s, ".", 0, 1)
	if !got.truncated || !reflect.DeepEqual(got.order, []string{""}) {
		t.Fatalf("max 1: truncated %v, folders %v", got.truncated, got.order)
	}
}

func TestListingsLeavesOutAnUnreadableFolderWithWhatIsBelowIt(t *testing.T) {
	if os.Getuid() == 0 {
		t.Skip("root reads a folder of mode 000")
	}
	dir := t.TempDir()
	makeTree(t, dir, "open/f", "shut/inner/g", "shut/h")
	shut := filepath.Join(dir, "shut")
	if err := os.Chmod(shut, 0); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(shut, 0o755) })
	s := startSession(t, sftpOptions{root: dir})
	got, msg := listings(t, s, ".", 0, 0)
	if msg != "" {
		t.Fatalf("listings failed: %s", msg)
	}
	if got.truncated || !reflect.DeepEqual(got.order, []string{"", "open"}) {
		t.Fatalf("truncated %v, folders %v", got.truncated, got.order)
	}
	if !reflect.DeepEqual(got.names[""], []string{"open", "shut"}) {
		t.Fatalf("top listing %v", got.names[""])
	}
	// Readable but not searchable: the names are there, their attributes are not.
	if err := os.Chmod(shut, 0o444); err != nil {
		t.Fatal(err)
	}
	got, _ = listings(t, s, ".", 0, 0)
	if !reflect.DeepEqual(got.order, []string{"", "open"}) {
		t.Fatalf("r-- folder: folders %v", got.order)
	}
	if _, msg := listings(t, s, "shut", 0, 0); msg != "EACCES" {
		t.Fatalf("listings of an r-- path: %q, want EACCES", msg)
	}
}

func TestListingsOfAMissingPathOrAFileFails(t *testing.T) {
	dir := t.TempDir()
	makeTree(t, dir, "f")
	s := startSession(t, sftpOptions{root: dir})
	if _, msg := listings(t, s, "nope", 0, 0); msg != "ENOENT" {
		t.Fatalf("missing path: %q", msg)
	}
	if _, msg := listings(t, s, "f", 0, 0); msg != "ENOTDIR" {
		t.Fatalf("file: %q", msg)
	}
}
