package main

import (
	"os"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"
)

// itemStatus is one entry of a batch@rmount reply.
type itemStatus struct {
	code uint32
	msg  string
}

// batchSession serves dir through `rmount-agent sftp` and sends batch@rmount requests whose items
// fill writes. It returns the per-item statuses, or the STATUS of a refused request.
func batchSession(t *testing.T, dir string) func(count uint32, fill func(w *writer)) ([]itemStatus, *itemStatus) {
	t.Helper()
	s := agentServing(t, dir)
	return func(count uint32, fill func(w *writer)) ([]itemStatus, *itemStatus) {
		t.Helper()
		typ, r := s.call(fxpExtended, func(w *writer) { fill(w.str(extBatch).u32(count)) })
		if typ == fxpStatus {
			code, msg := status(t, typ, r)
			return nil, &itemStatus{code, msg}
		}
		if typ != fxpExtendedReply {
			t.Fatalf("want EXTENDED_REPLY, got %d", typ)
		}
		out := make([]itemStatus, r.u32())
		for i := range out {
			out[i] = itemStatus{r.u32(), r.str()}
		}
		if r.err != nil || len(r.b) != 0 {
			t.Fatalf("reply: %v, %d bytes left", r.err, len(r.b))
		}
		return out, nil
	}
}

func putItem(w *writer, name string, a putArgs) {
	w.u8(batchPut).u32(a.flags).str(name).u32(a.mode).u32(a.valid).u32(a.uid).u32(a.gid).
		i64(a.atime.sec).u32(uint32(a.atime.nsec)).i64(a.mtime.sec).u32(uint32(a.mtime.nsec)).str(a.data)
}

func setstatItem(w *writer, flags uint32, name string, valid uint32, mode uint32, atime, mtime timespec) {
	w.u8(batchSetstat).u32(flags).str(name).u32(valid).u64(0).u32(mode).u32(0).u32(0).
		i64(atime.sec).u32(uint32(atime.nsec)).i64(mtime.sec).u32(uint32(mtime.nsec))
}

func TestBatchDoesEveryKindInOrder(t *testing.T) {
	dir := t.TempDir()
	batch := batchSession(t, dir)
	mtime := timespec{1_700_000_000, 123_456_789}
	got, refused := batch(10, func(w *writer) {
		w.u8(batchMkdir).str("d").u32(0o777)
		putItem(w, "d/f", putArgs{mode: 0o640, atime: timespec{1, 0}, mtime: timespec{2, 0}, data: "batched"})
		w.u8(batchSymlink).str("g").str("d/l")
		w.u8(batchRename).u32(0).str("d/f").str("d/g")
		setstatItem(w, 0, "d/g", setMtime, 0, timespec{}, mtime)
		setstatItem(w, setstatNoFollow, "d/l", setAtime|setMtime, 0, timespec{5, 5}, timespec{6, 6})
		w.u8(batchLink).str("d/g").str("d/h")
		w.u8(batchUnlink).str("d/h")
		w.u8(batchMkdir).str("e").u32(0o1750)
		w.u8(batchRmdir).str("e")
	})
	if refused != nil {
		t.Fatalf("refused: %+v", *refused)
	}
	if len(got) != 10 {
		t.Fatalf("%d statuses, want 10", len(got))
	}
	for i, st := range got {
		// Only Linux sets a symlink's own times (utimensat AT_SYMLINK_NOFOLLOW); elsewhere ENOTSUP.
		if i == 5 && runtime.GOOS != "linux" {
			continue
		}
		if st.code != fxOK || st.msg != "" {
			t.Errorf("item %d: %d %q", i, st.code, st.msg)
		}
	}
	if st, err := (osFS{}).Lstat(filepath.Join(dir, "d")); err != nil || st.mode&0o7777 != 0o777 {
		t.Errorf("folder mode %o (%v), want 777 exactly under umask 022", st.mode&0o7777, err)
	}
	g, err := osFS{}.Lstat(filepath.Join(dir, "d/g"))
	if err != nil {
		t.Fatal(err)
	}
	if g.mode&0o7777 != 0o640 || g.size != 7 || g.mtime != mtime || g.atime != (timespec{1, 0}) || g.nlink != 1 {
		t.Errorf("renamed file: mode %o size %d mtime %v atime %v nlink %d", g.mode&0o7777, g.size, g.mtime, g.atime, g.nlink)
	}
	l, err := osFS{}.Lstat(filepath.Join(dir, "d/l"))
	if err != nil || l.mode&syscall.S_IFMT != syscall.S_IFLNK {
		t.Fatalf("symlink: %o %v", l.mode, err)
	}
	if runtime.GOOS == "linux" && l.mtime != (timespec{6, 6}) {
		t.Errorf("symlink mtime %v, want {6 6}", l.mtime)
	}
	for _, gone := range []string{"d/f", "d/h", "e"} {
		if _, err := os.Lstat(filepath.Join(dir, gone)); !os.IsNotExist(err) {
			t.Errorf("%s: %v, want gone", gone, err)
		}
	}
}

func TestBatchItemFailuresDoNotStopTheRest(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "full/x"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "there"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("there", filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	batch := batchSession(t, dir)
	got, refused := batch(7, func(w *writer) {
		w.u8(batchRmdir).str("full")
		w.u8(batchMkdir).str("a").u32(0o755)
		w.u8(batchUnlink).str("missing")
		w.u8(batchRename).u32(batchNoReplace).str("a").str("there")
		w.u8(batchRename).u32(batchNoReplace).str("a").str("b")
		setstatItem(w, setstatNoFollow, "link", setMode, 0o600, timespec{}, timespec{})
		putItem(w, "there", putArgs{flags: putExclusive, mode: 0o644, data: "x"})
	})
	if refused != nil {
		t.Fatalf("refused: %+v", *refused)
	}
	want := []itemStatus{
		{fxFailure, "ENOTEMPTY"},
		{fxOK, ""},
		{fxNoSuchFile, "ENOENT"},
		{fxFailure, "EEXIST"},
		{fxOK, ""},
		// No lchmod on Linux: the single setstat@rmount answers the same.
		{fxOpUnsupported, "ENOTSUP"},
		{fxFailure, "EEXIST"},
	}
	if len(got) != len(want) {
		t.Fatalf("statuses %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("item %d: %+v, want %+v", i, got[i], want[i])
		}
	}
	if st, err := os.Stat(filepath.Join(dir, "b")); err != nil || !st.IsDir() {
		t.Errorf("b: %v, want the folder renamed after the failures", err)
	}
	if st, err := os.Lstat(filepath.Join(dir, "there")); err != nil || !st.Mode().IsRegular() || st.Size() != 0 {
		t.Errorf("there: %v %v, want the file untouched", st, err)
	}
}

func TestBatchMalformedRequestIsRefusedAndChangesNothing(t *testing.T) {
	dir := t.TempDir()
	batch := batchSession(t, dir)
	cases := []struct {
		name  string
		count uint32
		fill  func(w *writer)
	}{
		{"truncated item", 2, func(w *writer) { w.u8(batchMkdir).str("made").u32(0o755).u8(batchRename).u32(0).str("made") }},
		{"unknown kind", 2, func(w *writer) { w.u8(batchMkdir).str("made").u32(0o755).u8(99).str("x") }},
		{"count past the items", 3, func(w *writer) { w.u8(batchMkdir).str("made").u32(0o755) }},
		{"bytes past the items", 1, func(w *writer) { w.u8(batchMkdir).str("made").u32(0o755).u8(batchUnlink) }},
		{"too many items", maxBatchItems + 1, func(w *writer) {
			for i := 0; i <= maxBatchItems; i++ {
				w.u8(batchUnlink).str("made")
			}
		}},
	}
	for _, c := range cases {
		got, refused := batch(c.count, c.fill)
		if refused == nil || refused.code != fxBadMessage || refused.msg != "EINVAL" {
			t.Errorf("%s: statuses %v, refusal %v; want BAD_MESSAGE EINVAL", c.name, got, refused)
		}
		if _, err := os.Lstat(filepath.Join(dir, "made")); !os.IsNotExist(err) {
			t.Fatalf("%s: an item ran (%v)", c.name, err)
		}
	}
	if got, refused := batch(0, func(*writer) {}); refused != nil || len(got) != 0 {
		t.Errorf("empty batch: %v %v", got, refused)
	}
}

func TestRenameNoReplaceRefusesAnExistingTarget(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	for _, p := range []string{a, b} {
		if err := os.WriteFile(p, []byte(p), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := (osFS{}).Rename(a, b, true); errnoName(err) != "EEXIST" {
		t.Fatalf("rename onto an existing name: %v", err)
	}
	if got, _ := os.ReadFile(b); string(got) != b {
		t.Fatalf("target replaced: %q", got)
	}
	if err := (osFS{}).Rename(a, filepath.Join(dir, "c"), true); err != nil {
		t.Fatal(err)
	}
}
