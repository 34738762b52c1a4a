package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// agentServing serves dir through `rmount-agent sftp`, which runs with umask 0, under a test umask
// of 022 (so a mode that comes out exact was not just left alone by the umask).
func agentServing(t *testing.T, dir string) *session {
	t.Helper()
	saved := syscall.Umask(0o022)
	t.Cleanup(func() { syscall.Umask(saved) })
	return startServing(t, func(in io.Reader, out io.Writer) error {
		if code := run([]string{"sftp", "--root", dir}, in, out, io.Discard); code != 0 {
			return fmt.Errorf("rmount-agent sftp exited %d", code)
		}
		return nil
	})
}

// mknodSession sends mknod@rmount requests to the agent serving dir.
func mknodSession(t *testing.T, dir string) func(name string, mode uint32, rdev uint64) (uint32, string) {
	t.Helper()
	s := agentServing(t, dir)
	return func(name string, mode uint32, rdev uint64) (uint32, string) {
		t.Helper()
		typ, r := s.call(fxpExtended, func(w *writer) { w.str(extMknod).str(name).u32(mode).u64(rdev) })
		return status(t, typ, r)
	}
}

func TestMknodMakesFifoSocketAndRegularFile(t *testing.T) {
	dir := t.TempDir()
	mknod := mknodSession(t, dir)
	cases := []struct {
		name string
		mode uint32
	}{
		{"fifo", syscall.S_IFIFO | 0o640},
		{"fifo-wide", syscall.S_IFIFO | 0o666},
		{"fifo-setgid", syscall.S_IFIFO | 0o2640},
		{"sock", syscall.S_IFSOCK | 0o600},
		{"file", syscall.S_IFREG | 0o604},
	}
	for _, c := range cases {
		if code, msg := mknod(c.name, c.mode, 0); code != fxOK {
			t.Fatalf("mknod %s: %d %s", c.name, code, msg)
		}
		st, err := osFS{}.Lstat(filepath.Join(dir, c.name))
		if err != nil {
			t.Fatal(err)
		}
		if st.mode != c.mode {
			t.Errorf("%s: mode %o, want %o", c.name, st.mode, c.mode)
		}
	}
	if st, _ := (osFS{}).Lstat(filepath.Join(dir, "file")); st.size != 0 || st.nlink != 1 {
		t.Errorf("regular file: size %d nlink %d", st.size, st.nlink)
	}
}

func TestMknodCharacterDevice(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("making a device needs root")
	}
	dir := t.TempDir()
	mknod := mknodSession(t, dir)
	const null = 1<<8 | 3 // makedev(1, 3): /dev/null
	code, msg := mknod("null", syscall.S_IFCHR|0o666, null)
	if msg == "EPERM" {
		t.Skip("root here lacks CAP_MKNOD")
	}
	if code != fxOK {
		t.Fatalf("mknod: %d %s", code, msg)
	}
	st, err := osFS{}.Lstat(filepath.Join(dir, "null"))
	if err != nil {
		t.Fatal(err)
	}
	if st.mode != syscall.S_IFCHR|0o666 || st.rdev != null {
		t.Fatalf("mode %o rdev %#x", st.mode, st.rdev)
	}
}

func TestMknodFailures(t *testing.T) {
	dir := t.TempDir()
	mknod := mknodSession(t, dir)
	if code, msg := mknod("p", syscall.S_IFIFO|0o600, 0); code != fxOK {
		t.Fatalf("mknod: %d %s", code, msg)
	}
	if code, msg := mknod("p", syscall.S_IFIFO|0o600, 0); code != fxFailure || msg != "EEXIST" {
		t.Errorf("mknod of an existing name: %d %q", code, msg)
	}
	if _, msg := mknod("missing/p", syscall.S_IFIFO|0o600, 0); msg != "ENOENT" {
		t.Errorf("mknod in a missing folder: %q", msg)
	}
	for _, mode := range []uint32{syscall.S_IFDIR | 0o755, syscall.S_IFLNK | 0o777, 0o644} {
		if code, msg := mknod("bad", mode, 0); code != fxBadMessage || msg != "EINVAL" {
			t.Errorf("mknod with mode %o: %d %q", mode, code, msg)
		}
	}
	if _, err := os.Lstat(filepath.Join(dir, "bad")); !os.IsNotExist(err) {
		t.Errorf("a refused mknod left %v", err)
	}
}
