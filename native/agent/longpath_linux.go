//go:build linux

package main

import (
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

const (
	// pathMax is Linux's PATH_MAX: a path this long or longer (its NUL included) is ENAMETOOLONG
	// to every path-taking syscall, whatever the lengths of its components.
	pathMax = 4096
	// nameMax is the longest component (NAME_MAX of every Linux file system the agent serves).
	nameMax = 255
	// pieceMax is the longest string the kernel takes as a path (its NUL makes PATH_MAX).
	pieceMax = pathMax - 1
	// oPath is O_PATH, 0x200000 on every architecture Go builds Linux for; Go's syscall package
	// names it only on some.
	oPath = 0x200000
)

// procFD tells whether /proc/self/fd can stand for a descriptor's folder (it cannot without /proc).
var procFD struct {
	once sync.Once
	ok   bool
}

func haveProcFD() bool {
	procFD.once.Do(func() {
		_, err := os.Stat("/proc/self/fd")
		procFD.ok = err == nil
	})
	return procFD.ok
}

func noRelease() {}

// shortPath returns a name the kernel accepts for p, and a release to call once the operation on
// that name is done. A path shorter than PATH_MAX is p itself. A longer one (the mount sends the
// remote root plus a path that fitted inside the mount) has its leading folders opened in pieces
// shorter than PATH_MAX, each relative to the folder before it and following symlinks as the
// resolution of p would, and becomes /proc/self/fd/N/<last component>: the same file, reached
// through the descriptor N of its folder. Every descriptor but N is closed before it returns;
// release closes N. A component longer than NAME_MAX stays ENAMETOOLONG, as it is to the kernel.
func shortPath(p string) (string, func(), error) {
	if len(p) < pathMax {
		return p, noRelease, nil
	}
	for rest := p; rest != ""; {
		c := rest
		if i := strings.IndexByte(rest, '/'); i >= 0 {
			c, rest = rest[:i], rest[i+1:]
		} else {
			rest = ""
		}
		if len(c) > nameMax {
			return "", noRelease, syscall.ENAMETOOLONG
		}
	}
	if !haveProcFD() {
		return "", noRelease, syscall.ENAMETOOLONG
	}
	end := len(p)
	for end > 0 && p[end-1] == '/' {
		end--
	}
	if end == 0 {
		return "/", noRelease, nil
	}
	start := strings.LastIndexByte(p[:end], '/') + 1
	head, last := p[:start], p[start:end]
	if end < len(p) {
		last += "/" // a trailing slash asks for a folder; keep asking
	}
	dirfd := atFdcwd
	for head != "" {
		n := len(head)
		if n > pieceMax {
			n = strings.LastIndexByte(head[:pieceMax], '/') + 1
		}
		piece := head[:n]
		// Redundant slashes would make the next piece absolute.
		head = strings.TrimLeft(head[n:], "/")
		fd, err := syscall.Openat(dirfd, piece, oPath|syscall.O_DIRECTORY|syscall.O_CLOEXEC, 0)
		if dirfd != atFdcwd {
			syscall.Close(dirfd)
		}
		if err != nil {
			return "", noRelease, err
		}
		dirfd = fd
	}
	if dirfd == atFdcwd {
		return last, noRelease, nil
	}
	return "/proc/self/fd/" + strconv.Itoa(dirfd) + "/" + last, func() { syscall.Close(dirfd) }, nil
}
