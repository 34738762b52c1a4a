package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
)

// sockDirError is a refusal to use a socket or its folder; code is stable.
type sockDirError struct {
	code string
	msg  string
}

func (e *sockDirError) Error() string { return e.msg }

// defaultSocketPath is $XDG_RUNTIME_DIR/rmount-agent/host.sock when that folder is ours, else
// /tmp/rmount-agent-UID/host.sock.
func defaultSocketPath() string {
	if dir := os.Getenv("XDG_RUNTIME_DIR"); filepath.IsAbs(dir) {
		p := filepath.Join(dir, "rmount-agent", "host.sock")
		if fi, err := os.Stat(dir); err == nil && fi.IsDir() && ownedByMe(fi) && fi.Mode().Perm()&0o077 == 0 && len(p) <= maxSocketPath {
			return p
		}
	}
	return filepath.Join("/tmp", "rmount-agent-"+strconv.Itoa(os.Getuid()), "host.sock")
}

// maxSocketPath is the longest socket path every supported system binds (sun_path is 104 bytes
// on the BSDs and macOS, 108 on Linux, both with a terminating NUL).
const maxSocketPath = 103

func checkSocketPath(path string) error {
	if !filepath.IsAbs(path) {
		return &sockDirError{code: "socket-path", msg: fmt.Sprintf("socket path %s is not absolute", path)}
	}
	if len(path) > maxSocketPath {
		return &sockDirError{code: "socket-path", msg: fmt.Sprintf("socket path %s is %d bytes long; at most %d work", path, len(path), maxSocketPath)}
	}
	return nil
}

func ownedByMe(fi os.FileInfo) bool {
	st, ok := fi.Sys().(*syscall.Stat_t)
	return ok && int(st.Uid) == os.Getuid()
}

// ensureSocketDir makes sure dir is a private folder of ours (created 0700 when create is set
// and it is missing): never a symlink, never someone else's, no group or other bits. A socket in
// a folder someone else controls could be swapped for theirs.
func ensureSocketDir(dir string, create bool) error {
	fi, err := os.Lstat(dir)
	if os.IsNotExist(err) && create {
		if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
			return err
		}
		if err := os.Mkdir(dir, 0o700); err == nil {
			os.Chmod(dir, 0o700) // whatever the umask took away
		} else if !os.IsExist(err) {
			return err
		}
		fi, err = os.Lstat(dir)
	}
	if err != nil {
		return err
	}
	switch {
	case fi.Mode()&os.ModeSymlink != 0:
		return &sockDirError{code: "socket-dir-symlink", msg: fmt.Sprintf("refusing socket folder %s: it is a symbolic link", dir)}
	case !fi.IsDir():
		return &sockDirError{code: "socket-dir-not-dir", msg: fmt.Sprintf("refusing socket folder %s: it is not a folder", dir)}
	case !ownedByMe(fi):
		return &sockDirError{code: "socket-dir-owner", msg: fmt.Sprintf("refusing socket folder %s: it belongs to someone else (we are uid %d)", dir, os.Getuid())}
	case fi.Mode().Perm()&0o077 != 0:
		return &sockDirError{code: "socket-dir-mode", msg: fmt.Sprintf("refusing socket folder %s: mode %04o lets others in (want 0700)", dir, fi.Mode().Perm())}
	}
	return nil
}
