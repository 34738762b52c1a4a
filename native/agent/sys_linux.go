//go:build linux

package main

import (
	"math"
	"os"
	"runtime"
	"syscall"
	"unsafe"
)

const (
	utimeNow         = (1 << 30) - 1
	utimeOmit        = (1 << 30) - 2
	atSymlinkNofollw = 0x100
	atFdcwd          = -100
)

func fromSys(st *syscall.Stat_t) fileStat {
	return fileStat{
		mode:   uint32(st.Mode),
		size:   uint64(st.Size),
		uid:    st.Uid,
		gid:    st.Gid,
		atime:  timespec{int64(st.Atim.Sec), int64(st.Atim.Nsec)},
		mtime:  timespec{int64(st.Mtim.Sec), int64(st.Mtim.Nsec)},
		ctime:  timespec{int64(st.Ctim.Sec), int64(st.Ctim.Nsec)},
		ino:    uint64(st.Ino),
		nlink:  uint64(st.Nlink),
		dev:    uint64(st.Dev),
		rdev:   uint64(st.Rdev),
		blocks: uint64(st.Blocks),
	}
}

func toUtimens(s timeSet) syscall.Timespec {
	switch {
	case s.omit:
		return syscall.Timespec{Nsec: utimeOmit}
	case s.now:
		return syscall.Timespec{Nsec: utimeNow}
	}
	return syscall.NsecToTimespec(s.t.sec*1e9 + s.t.nsec)
}

// utimensat(2) with UTIME_OMIT/UTIME_NOW; path nil means the file descriptor itself.
func utimensat(dirfd int, path *byte, atime, mtime timeSet, flags int) error {
	ts := [2]syscall.Timespec{toUtimens(atime), toUtimens(mtime)}
	_, _, e := syscall.Syscall6(syscall.SYS_UTIMENSAT, uintptr(dirfd), uintptr(unsafe.Pointer(path)), uintptr(unsafe.Pointer(&ts[0])), uintptr(flags), 0, 0)
	if e != 0 {
		return e
	}
	return nil
}

func setTimesPath(name string, atime, mtime timeSet, follow bool) error {
	p, err := syscall.BytePtrFromString(name)
	if err != nil {
		return err
	}
	flags := 0
	if !follow {
		flags = atSymlinkNofollw
	}
	return utimensat(atFdcwd, p, atime, mtime, flags)
}

func setTimesFile(f *os.File, atime, mtime timeSet) error {
	return utimensat(int(f.Fd()), nil, atime, mtime, 0)
}

func statvfsPath(name string) (statvfs, error) {
	var s syscall.Statfs_t
	if err := syscall.Statfs(name, &s); err != nil {
		return statvfs{}, err
	}
	return fromStatfs(&s), nil
}

func statvfsFile(f *os.File) (statvfs, error) {
	var s syscall.Statfs_t
	if err := syscall.Fstatfs(int(f.Fd()), &s); err != nil {
		return statvfs{}, err
	}
	return fromStatfs(&s), nil
}

func fromStatfs(s *syscall.Statfs_t) statvfs {
	frsize := uint64(s.Frsize)
	if frsize == 0 {
		frsize = uint64(s.Bsize)
	}
	// Linux's f_flags uses the statvfs ST_* bits: ST_RDONLY 1, ST_NOSUID 2.
	return statvfs{
		bsize: uint64(s.Bsize), frsize: frsize, blocks: uint64(s.Blocks), bfree: uint64(s.Bfree),
		bavail: uint64(s.Bavail), files: uint64(s.Files), ffree: uint64(s.Ffree), favail: uint64(s.Ffree),
		fsid: uint64(uint32(s.Fsid.X__val[0]))<<32 | uint64(uint32(s.Fsid.X__val[1])), flag: uint64(s.Flags) & 3,
		namemax: uint64(s.Namelen),
	}
}

// makeNode is mknod(2), which on Linux makes socket files and regular files as well. The kernel
// takes a 32-bit device number; glibc refuses a larger one with EINVAL, and so does the agent.
func makeNode(name string, mode uint32, rdev uint64) error {
	if rdev > math.MaxUint32 {
		return syscall.EINVAL
	}
	return syscall.Mknod(name, mode, int(rdev))
}

// sysRenameat2 is renameat2's number (0: unknown); Go 1.19's syscall package names it only on
// some architectures.
var sysRenameat2 = map[string]uintptr{
	"amd64": 316, "386": 353, "arm": 382, "arm64": 276, "riscv64": 276, "loong64": 276,
	"ppc64": 357, "ppc64le": 357, "s390x": 347, "mips": 4351, "mipsle": 4351, "mips64": 5311, "mips64le": 5311,
}[runtime.GOARCH]

const renameNoreplace = 1

// renameNoReplace is renameat2 with RENAME_NOREPLACE. Where that is missing (ENOSYS before Linux
// 3.15, EINVAL from a file system without it, EPERM from a seccomp filter that predates it) the
// check-then-rename fallback runs, which answers a genuine EINVAL or EPERM the same way again.
func renameNoReplace(from, to string) error {
	if sysRenameat2 == 0 {
		return renameChecked(from, to)
	}
	f, err := syscall.BytePtrFromString(from)
	if err != nil {
		return err
	}
	t, err := syscall.BytePtrFromString(to)
	if err != nil {
		return err
	}
	dirfd := atFdcwd
	_, _, e := syscall.Syscall6(sysRenameat2, uintptr(dirfd), uintptr(unsafe.Pointer(f)), uintptr(dirfd), uintptr(unsafe.Pointer(t)), renameNoreplace, 0)
	switch e {
	case 0:
		return nil
	case syscall.ENOSYS, syscall.EINVAL, syscall.EPERM:
		return renameChecked(from, to)
	}
	return e
}
