package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"
)

// deepTree is a folder tree whose leaves lie past PATH_MAX: a base folder padded to 200 bytes
// and, below it, 20 levels of 200-byte names, then two leaf folders x and y.
type deepTree struct {
	base  string
	trunk []string // the levels below base
}

func newDeepTree(t *testing.T) deepTree {
	t.Helper()
	dir := t.TempDir()
	base := filepath.Join(dir, strings.Repeat("b", 199-len(dir)))
	if err := os.Mkdir(base, 0o755); err != nil {
		t.Fatal(err)
	}
	d := deepTree{base: base}
	for i := 0; i < 20; i++ {
		d.trunk = append(d.trunk, fmt.Sprintf("%02d", i)+strings.Repeat("c", 198))
	}
	return d
}

// path is the absolute path of the trunk's end joined with more.
func (d deepTree) path(more ...string) string {
	return strings.Join(append(append([]string{d.base}, d.trunk...), more...), "/")
}

// inside runs check in the folder trunk/sub, reached by chdir in steps as a program would, so
// that check sees the tree through short relative paths only.
func (d deepTree) inside(t *testing.T, sub string, check func()) {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	defer os.Chdir(wd)
	for _, c := range append(append([]string{d.base}, d.trunk...), sub) {
		if c == "" {
			continue
		}
		if err := os.Chdir(c); err != nil {
			t.Fatal(err)
		}
	}
	check()
}

// attrsIno decodes ATTRS and the inode number from its attrs@rmount pair.
func attrsIno(t *testing.T, r *reader) (fileAttrs, uint64) {
	t.Helper()
	a := fileAttrs{flags: r.u32()}
	a.size = r.u64()
	a.uid, a.gid = r.u32(), r.u32()
	a.mode = r.u32()
	a.atime.sec, a.mtime.sec = int64(r.u32()), int64(r.u32())
	if r.u32() != 1 || r.str() != extAttrs {
		t.Fatal("ATTRS without attrs@rmount")
	}
	d := &reader{b: r.bytes()}
	return a, d.u64()
}

func localIno(t *testing.T, name string) (uint64, uint32) {
	t.Helper()
	var st syscall.Stat_t
	if err := syscall.Lstat(name, &st); err != nil {
		t.Fatal(err)
	}
	return uint64(st.Ino), uint32(st.Mode)
}

// fdsUnder counts this process's descriptors open on something under dir (other tests' leftovers
// may close theirs meanwhile, so the total would not do). The kernel cannot name a folder past
// PATH_MAX: such a descriptor is counted too.
func fdsUnder(t *testing.T, dir string) int {
	t.Helper()
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, fd := range fds {
		target, err := os.Readlink("/proc/self/fd/" + fd.Name())
		if errors.Is(err, syscall.ENAMETOOLONG) || err == nil && strings.HasPrefix(target, dir) {
			n++
		}
	}
	return n
}

func TestLongPathsWork(t *testing.T) {
	d := newDeepTree(t)
	s := startSession(t, sftpOptions{})
	ok := func(what string, typ byte, r *reader) {
		t.Helper()
		if code, msg := status(t, typ, r); code != fxOK {
			t.Fatalf("%s: %d %s", what, code, msg)
		}
	}
	for i := range d.trunk {
		p := strings.Join(append([]string{d.base}, d.trunk[:i+1]...), "/")
		typ, r := s.call(fxpMkdir, func(w *writer) { w.str(p).u32(attrPermissions).u32(0o755) })
		ok("mkdir level "+fmt.Sprint(i), typ, r)
	}
	x, y := d.path("x"), d.path("y")
	if len(x) < 4200 {
		t.Fatalf("the deep folder is only %d bytes", len(x))
	}
	for _, p := range []string{x, y} {
		typ, r := s.call(fxpMkdir, func(w *writer) { w.str(p).u32(0) })
		ok("mkdir "+p[len(p)-1:], typ, r)
	}

	// Create, write, read back.
	typ, r := s.call(fxpOpen, func(w *writer) {
		w.str(x + "/file").u32(pflagWrite | pflagCreat | pflagExcl).u32(attrPermissions).u32(0o644)
	})
	if typ != fxpHandle {
		t.Fatalf("create: %d %v", typ, r.u32())
	}
	h := append([]byte(nil), r.bytes()...)
	typ, r = s.call(fxpWrite, func(w *writer) { w.bytes(h).u64(0).bytes([]byte("hello")) })
	ok("write", typ, r)
	typ, r = s.call(fxpClose, func(w *writer) { w.bytes(h) })
	ok("close", typ, r)
	typ, r = s.call(fxpOpen, func(w *writer) { w.str(x + "/file").u32(pflagRead).u32(0) })
	if typ != fxpHandle {
		t.Fatalf("open: %d", typ)
	}
	h = append([]byte(nil), r.bytes()...)
	typ, r = s.call(fxpRead, func(w *writer) { w.bytes(h).u64(0).u32(100) })
	if typ != fxpData || string(r.bytes()) != "hello" {
		t.Fatalf("read: %d", typ)
	}
	s.call(fxpClose, func(w *writer) { w.bytes(h) })

	// stat and lstat agree with what a relative lstat sees.
	for _, op := range []byte{fxpStat, fxpLstat} {
		typ, r = s.call(op, func(w *writer) { w.str(x + "/file") })
		if typ != fxpAttrs {
			t.Fatalf("stat %d: reply %d", op, typ)
		}
		a, ino := attrsIno(t, r)
		d.inside(t, "x", func() {
			if lino, mode := localIno(t, "file"); lino != ino || mode != a.mode || a.size != 5 {
				t.Fatalf("stat %d: ino %d mode %o size %d; relative lstat ino %d mode %o", op, ino, a.mode, a.size, lino, mode)
			}
		})
	}

	// Renames within the deep folder and across to the other one.
	typ, r = s.call(fxpRename, func(w *writer) { w.str(x + "/file").str(x + "/file2") })
	ok("rename within", typ, r)
	typ, r = s.call(fxpExtended, func(w *writer) { w.str(extPosixRename).str(x + "/file2").str(y + "/file3") })
	ok("posix-rename across", typ, r)
	typ, r = s.call(fxpExtended, func(w *writer) { w.str(extHardlink).str(y + "/file3").str(x + "/hard") })
	ok("hardlink", typ, r)
	d.inside(t, "y", func() {
		if data, err := os.ReadFile("file3"); err != nil || string(data) != "hello" {
			t.Fatalf("renamed file: %q %v", data, err)
		}
		if _, err := os.Lstat("../x/file"); !os.IsNotExist(err) {
			t.Fatalf("the old name is still there: %v", err)
		}
		a, _ := localIno(t, "file3")
		if b, _ := localIno(t, "../x/hard"); a != b {
			t.Fatal("hard link to another inode")
		}
	})

	// Symlink, readlink, FIFO, setstat, statvfs, realpath.
	typ, r = s.call(fxpSymlink, func(w *writer) { w.str("../y/file3").str(x + "/link") })
	ok("symlink", typ, r)
	typ, r = s.call(fxpReadlink, func(w *writer) { w.str(x + "/link") })
	if r.u32(); typ != fxpName || r.str() != "../y/file3" {
		t.Fatalf("readlink: %d", typ)
	}
	typ, r = s.call(fxpStat, func(w *writer) { w.str(x + "/link") })
	if a := r.attrs(); typ != fxpAttrs || a.size != 5 {
		t.Fatalf("stat through the link: %d size %d", typ, a.size)
	}
	typ, r = s.call(fxpExtended, func(w *writer) { w.str(extMknod).str(x + "/fifo").u32(syscall.S_IFIFO | 0o640).u64(0) })
	ok("mknod", typ, r)
	typ, r = s.call(fxpSetstat, func(w *writer) { w.str(y + "/file3").u32(attrPermissions).u32(0o600) })
	ok("setstat", typ, r)
	typ, r = s.call(fxpExtended, func(w *writer) {
		w.str(extSetstat).u32(setstatNoFollow).str(x + "/link").u32(setMtime).u64(0).u32(0).u32(0).u32(0).i64(0).u32(0).i64(1_000_000_000).u32(7)
	})
	ok("setstat@rmount", typ, r)
	d.inside(t, "x", func() {
		if target, err := os.Readlink("link"); err != nil || target != "../y/file3" {
			t.Fatalf("relative readlink: %q %v", target, err)
		}
		if _, mode := localIno(t, "fifo"); mode != syscall.S_IFIFO|0o640 {
			t.Fatalf("fifo mode %o", mode)
		}
		if _, mode := localIno(t, "../y/file3"); mode != syscall.S_IFREG|0o600 {
			t.Fatalf("setstat mode %o", mode)
		}
		var st syscall.Stat_t
		if syscall.Lstat("link", &st); st.Mtim.Sec != 1_000_000_000 || st.Mtim.Nsec != 7 {
			t.Fatalf("link mtime %v", st.Mtim)
		}
	})
	typ, _ = s.call(fxpExtended, func(w *writer) { w.str(extStatvfs).str(x) })
	if typ != fxpExtendedReply {
		t.Fatalf("statvfs: %d", typ)
	}
	typ, r = s.call(fxpRealpath, func(w *writer) { w.str(x + "/../x/./fifo") })
	if r.u32(); typ != fxpName || r.str() != x+"/fifo" {
		t.Fatalf("realpath: %d", typ)
	}

	// Listings: readdir@rmount, OPENDIR/READDIR, tree@rmount, readfiles@rmount.
	var local []string
	d.inside(t, "x", func() {
		entries, err := os.ReadDir(".")
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			local = append(local, e.Name())
		}
	})
	sort.Strings(local)
	names := func(r *reader, withLong bool) []string {
		var got []string
		for n := r.u32(); n > 0; n-- {
			got = append(got, r.str())
			if withLong {
				r.str()
			}
			r.attrs()
		}
		sort.Strings(got)
		return got
	}
	typ, r = s.call(fxpExtended, func(w *writer) { w.str(extReaddir).str(x) })
	if got := names(r, false); typ != fxpExtendedReply || strings.Join(got, ",") != strings.Join(local, ",") {
		t.Fatalf("readdir@rmount %v, relative listing %v", got, local)
	}
	typ, r = s.call(fxpOpendir, func(w *writer) { w.str(x) })
	if typ != fxpHandle {
		t.Fatalf("opendir: %d", typ)
	}
	h = append([]byte(nil), r.bytes()...)
	typ, r = s.call(fxpReaddir, func(w *writer) { w.bytes(h) })
	if got := names(r, true); typ != fxpName || strings.Join(got, ",") != strings.Join(local, ",") {
		t.Fatalf("READDIR %v, relative listing %v", got, local)
	}
	s.call(fxpClose, func(w *writer) { w.bytes(h) })
	typ, r = s.call(fxpExtended, func(w *writer) { w.str(extTree).str(d.path()).u32(0).u32(0) })
	if r.u32(); typ != fxpExtendedReply || r.u32() != 2+uint32(len(local))+1 {
		t.Fatalf("tree: %d", typ)
	}
	typ, r = s.call(fxpExtended, func(w *writer) { w.str(extReadFiles).u32(100).u32(1).str(x + "/link") })
	if r.u32(); typ != fxpExtendedReply || r.str() != "" {
		t.Fatalf("readfiles: %d", typ)
	}
	if r.attrs(); string(r.bytes()) != "hello" {
		t.Fatal("readfiles data")
	}

	// Removal.
	for _, name := range []string{x + "/link", x + "/fifo", x + "/hard", y + "/file3"} {
		typ, r = s.call(fxpRemove, func(w *writer) { w.str(name) })
		ok("remove "+name[len(x):], typ, r)
	}
	for _, name := range []string{x, y} {
		typ, r = s.call(fxpRmdir, func(w *writer) { w.str(name) })
		ok("rmdir", typ, r)
	}
	d.inside(t, "", func() {
		if entries, err := os.ReadDir("."); err != nil || len(entries) != 0 {
			t.Fatalf("left behind: %v %v", entries, err)
		}
	})
}

func TestLongPathsLimits(t *testing.T) {
	d := newDeepTree(t)
	s := startSession(t, sftpOptions{})
	for i := range d.trunk {
		p := strings.Join(append([]string{d.base}, d.trunk[:i+1]...), "/")
		if typ, r := s.call(fxpMkdir, func(w *writer) { w.str(p).u32(0) }); typ != fxpStatus || r.u32() != fxOK {
			t.Fatalf("mkdir level %d", i)
		}
	}
	long := strings.Repeat("n", 256)
	for _, p := range []string{d.path(long), d.base + "/" + long} {
		typ, r := s.call(fxpMkdir, func(w *writer) { w.str(p).u32(0) })
		if code, msg := status(t, typ, r); code != fxBadMessage || msg != "ENAMETOOLONG" {
			t.Errorf("mkdir of a 256-byte name in a %d-byte path: %d %s", len(p), code, msg)
		}
	}
	typ, r := s.call(fxpLstat, func(w *writer) { w.str(d.path("missing", "deeper")) })
	if _, msg := status(t, typ, r); msg != "ENOENT" {
		t.Errorf("lstat below a missing folder: %s", msg)
	}

	// Symlinks and ".." on the way down resolve as they would in one path.
	first := d.base + "/" + d.trunk[0]
	if err := os.Symlink(".", first+"/self"); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(first, first+"/abs"); err != nil {
		t.Fatal(err)
	}
	rest := strings.Join(d.trunk[1:], "/")
	typ, r = s.call(fxpLstat, func(w *writer) { w.str(d.path()) })
	_, want := attrsIno(t, r)
	for _, p := range []string{
		first + "/self/" + rest,
		first + "/abs/" + rest,
		first + "/" + d.trunk[1] + "/../" + rest,
		d.path() + "/",
		d.path() + "//.",
	} {
		typ, r = s.call(fxpLstat, func(w *writer) { w.str(p) })
		if typ != fxpAttrs {
			code, msg := status(t, typ, r)
			t.Fatalf("lstat of %d bytes: %d %s", len(p), code, msg)
		}
		if _, ino := attrsIno(t, r); ino != want || len(p) < pathMax {
			t.Errorf("lstat of %d bytes: inode %d, want %d", len(p), ino, want)
		}
	}
	typ, r = s.call(fxpLstat, func(w *writer) { w.str(first + "/self/" + rest + "/") })
	if typ != fxpAttrs {
		t.Fatal("a trailing slash after a folder")
	}
	if err := os.WriteFile(first+"/plain", nil, 0o644); err != nil {
		t.Fatal(err)
	}
	typ, r = s.call(fxpLstat, func(w *writer) { w.str(first + "/plain/" + rest) })
	if _, msg := status(t, typ, r); msg != "ENOTDIR" {
		t.Errorf("lstat through a file: %s", msg)
	}

	// Each request closes what it opened on the way down.
	for i := 0; i < 200; i++ {
		s.call(fxpLstat, func(w *writer) { w.str(d.path()) })
		s.call(fxpLstat, func(w *writer) { w.str(d.path("missing", "deeper")) })
		s.call(fxpExtended, func(w *writer) { w.str(extPosixRename).str(d.path("a")).str(d.path("b")) })
	}
	if n := fdsUnder(t, d.base); n != 0 {
		t.Fatalf("%d descriptors left open in the tree after 600 long-path requests", n)
	}
}

func TestLongPathWatch(t *testing.T) {
	d := newDeepTree(t)
	s := startSession(t, sftpOptions{})
	for i := range d.trunk {
		p := strings.Join(append([]string{d.base}, d.trunk[:i+1]...), "/")
		s.call(fxpMkdir, func(w *writer) { w.str(p).u32(0) })
	}
	for _, p := range []string{d.path("x"), d.path("x", "sub")} {
		s.call(fxpMkdir, func(w *writer) { w.str(p).u32(0) })
	}
	typ, r := s.call(fxpExtended, func(w *writer) { w.str(extWatch).str(d.path("x")) })
	if typ != fxpExtendedReply {
		code, msg := status(t, typ, r)
		t.Fatalf("watch: %d %s", code, msg)
	}
	wid := r.u32()
	d.inside(t, "x", func() {
		os.Mkdir("sub/new", 0o755)
		time.Sleep(20 * time.Millisecond)
		os.WriteFile("sub/new/late", nil, 0o644)
	})
	s.awaitWatch(wid, func(seen map[string]uint32) bool { return seen["sub/new/late"]&evCreate != 0 })
	s.call(fxpExtended, func(w *writer) { w.str(extUnwatch).u32(wid) })
}
