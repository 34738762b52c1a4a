package main

import (
	"os"
	"path/filepath"
	"testing"
)

type putArgs struct {
	flags, mode, valid, uid, gid uint32
	atime, mtime                 timespec
	data                         string
}

// putSession serves dir through `rmount-agent sftp` and sends putfile@rmount requests.
func putSession(t *testing.T, dir string) func(name string, a putArgs) (uint32, string) {
	t.Helper()
	s := agentServing(t, dir)
	return func(name string, a putArgs) (uint32, string) {
		t.Helper()
		typ, r := s.call(fxpExtended, func(w *writer) {
			w.str(extPutFile).u32(a.flags).str(name).u32(a.mode).u32(a.valid).u32(a.uid).u32(a.gid).
				u64(uint64(a.atime.sec)).u32(uint32(a.atime.nsec)).u64(uint64(a.mtime.sec)).u32(uint32(a.mtime.nsec)).str(a.data)
		})
		return status(t, typ, r)
	}
}

func TestPutFileWritesContentModeTimesAndOwnerInOneRequest(t *testing.T) {
	dir := t.TempDir()
	put := putSession(t, dir)
	a := putArgs{mode: 0o6750, valid: setUID | setGID, uid: 0, gid: 0, atime: timespec{1000, 5}, mtime: timespec{2000, 123456789}, data: "hello, put"}
	if code, msg := put("f", a); code != fxOK {
		t.Fatalf("putfile: %d %s", code, msg)
	}
	// Before the content is read: a read would move the atime (relatime).
	st, err := osFS{}.Lstat(filepath.Join(dir, "f"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(dir, "f"))
	if err != nil || string(got) != a.data {
		t.Fatalf("content %q, %v", got, err)
	}
	if st.mode&0o7777 != 0o6750 {
		t.Errorf("mode %o, want 6750 (exact, set-id bits kept after the chown)", st.mode&0o7777)
	}
	if st.mtime != a.mtime || st.atime != a.atime {
		t.Errorf("times %v %v, want %v %v", st.atime, st.mtime, a.atime, a.mtime)
	}
	// Put again in place, shorter, with fsync: truncated and replaced.
	if code, msg := put("f", putArgs{flags: putSync, mode: 0o644, mtime: timespec{3000, 0}, data: "x"}); code != fxOK {
		t.Fatalf("second putfile: %d %s", code, msg)
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "f")); string(got) != "x" {
		t.Errorf("after the second put: %q", got)
	}
}

func TestPutFileExclusiveRefusesAnExistingName(t *testing.T) {
	dir := t.TempDir()
	put := putSession(t, dir)
	if err := os.WriteFile(filepath.Join(dir, "there"), []byte("theirs"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, msg := put("there", putArgs{flags: putExclusive, mode: 0o644, data: "ours"})
	if code == fxOK {
		t.Fatalf("exclusive putfile over an existing name succeeded")
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "there")); string(got) != "theirs" {
		t.Errorf("the existing file changed: %q (%d %s)", got, code, msg)
	}
	if code, _ := put("missing-dir/f", putArgs{mode: 0o644, data: "x"}); code == fxOK {
		t.Errorf("putfile into a missing folder succeeded")
	}
}
