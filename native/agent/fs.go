package main

import (
	"errors"
	"io"
	"os"
	"syscall"
)

// fileStat is everything the agent reports about a file (lstat or stat semantics).
type fileStat struct {
	mode   uint32 // st_mode, type bits included
	size   uint64
	uid    uint32
	gid    uint32
	atime  timespec
	mtime  timespec
	ctime  timespec
	ino    uint64
	nlink  uint64
	dev    uint64
	rdev   uint64
	blocks uint64
}

// statvfs is the statvfs@openssh.com reply.
type statvfs struct {
	bsize, frsize, blocks, bfree, bavail, files, ffree, favail, fsid, flag, namemax uint64
}

// timeSet is a time to set: omit leaves it alone, now asks for the current time.
type timeSet struct {
	omit bool
	now  bool
	t    timespec
}

// fileSystem is what the server does to files; osFS is the real one, tests substitute others.
type fileSystem interface {
	OpenFile(name string, flag int, perm uint32) (file, error)
	Stat(name string) (fileStat, error)
	Lstat(name string) (fileStat, error)
	Mkdir(name string, perm uint32) error
	// Unlink removes a non-directory.
	Unlink(name string) error
	Rmdir(name string) error
	// Rename is rename(2): an existing target is replaced, unless noReplace: then it is EEXIST,
	// atomically where the system has RENAME_NOREPLACE.
	Rename(from, to string, noReplace bool) error
	Link(existing, name string) error
	Symlink(target, name string) error
	// Mknod makes a FIFO, socket file, device or empty regular file: mode carries the S_IFMT type
	// and the permission bits, rdev the Linux st_rdev of a device.
	Mknod(name string, mode uint32, rdev uint64) error
	Readlink(name string) (string, error)
	Chmod(name string, mode uint32, follow bool) error
	Chown(name string, uid, gid int, follow bool) error
	Truncate(name string, size int64) error
	SetTimes(name string, atime, mtime timeSet, follow bool) error
	Statvfs(name string) (statvfs, error)
	// Home is the home folder of user ("" = the current user).
	Home(user string) (string, error)
	Getwd() (string, error)
}

// file is an open file or directory.
type file interface {
	io.ReaderAt
	io.WriterAt
	io.Writer
	io.Closer
	Stat() (fileStat, error)
	Sync() error
	Truncate(size int64) error
	Chmod(mode uint32) error
	Chown(uid, gid int) error
	SetTimes(atime, mtime timeSet) error
	Readdirnames(n int) ([]string, error)
	Statvfs() (statvfs, error)
}

// osFS is the operating system's file system. Every path may be longer than PATH_MAX where
// shortPath can reach it (Linux); each method releases what shortPath opened before it returns.
type osFS struct{}

// osFile wraps *os.File with the calls os.File lacks (nanosecond times, statvfs, raw stat).
type osFile struct{ *os.File }

// short runs call with a name the kernel accepts for name (see shortPath); a failure to reach
// name's folder is reported as op's. call reports its own failures under name.
func short(op, name string, call func(p string) error) error {
	p, release, err := shortPath(name)
	if err != nil {
		return pathError(op, name, err)
	}
	defer release()
	return call(p)
}

// named reports a failure the os package met on an alias of name (see shortPath) under name.
func named(err error, name string) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		pe.Path = name
	}
	return err
}

func (osFS) OpenFile(name string, flag int, perm uint32) (f file, err error) {
	err = short("open", name, func(p string) error {
		f, err = openFile(p, flag, perm)
		return named(err, name)
	})
	return f, err
}

func openFile(name string, flag int, perm uint32) (file, error) {
	mode := os.FileMode(perm&0o777) | modeExtraBits(perm)
	if flag&os.O_CREATE != 0 && perm&0o7000 != 0 {
		return createExact(name, flag, perm, mode)
	}
	f, err := os.OpenFile(name, flag, mode)
	if err != nil {
		return nil, err
	}
	return osFile{f}, nil
}

// createExact creates with set-id or sticky bits, which a kernel may drop from a new file even
// under umask 0 (Linux drops setgid when the file's group is not one of the caller's).
// An exclusive create tells whether the file is ours, and only then is its mode set; a file
// that was there keeps its mode, as open(2) leaves it.
func createExact(name string, flag int, perm uint32, mode os.FileMode) (file, error) {
	f, err := os.OpenFile(name, flag|os.O_EXCL, mode)
	if err != nil {
		if flag&os.O_EXCL != 0 || !errors.Is(err, syscall.EEXIST) {
			return nil, err
		}
		if f, err = os.OpenFile(name, flag, mode); err != nil {
			return nil, err
		}
		return osFile{f}, nil
	}
	of := osFile{f}
	st, err := of.Stat()
	if err == nil && st.mode&0o7777 != perm&0o7777 {
		err = of.Chmod(perm)
	}
	if err != nil && !modeRefused(err) {
		f.Close()
		return nil, err
	}
	return of, nil
}

// modeRefused is a chmod failure of a file system without Unix modes (vfat): what was just
// created stands, as plain open(2) or mkdir(2) left it.
func modeRefused(err error) bool {
	return errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.ENOTSUP) || errors.Is(err, syscall.EOPNOTSUPP)
}

// modeExtraBits carries setuid/setgid/sticky into os.FileMode, which keeps them apart.
func modeExtraBits(perm uint32) os.FileMode {
	var m os.FileMode
	if perm&0o4000 != 0 {
		m |= os.ModeSetuid
	}
	if perm&0o2000 != 0 {
		m |= os.ModeSetgid
	}
	if perm&0o1000 != 0 {
		m |= os.ModeSticky
	}
	return m
}

func (osFS) Stat(name string) (st fileStat, err error) {
	err = short("stat", name, func(p string) error {
		st, err = statAs("stat", p, name, syscall.Stat)
		return err
	})
	return st, err
}

func (osFS) Lstat(name string) (st fileStat, err error) {
	err = short("lstat", name, func(p string) error {
		st, err = statAs("lstat", p, name, syscall.Lstat)
		return err
	})
	return st, err
}

// statAs is stat or lstat of p, reported as name's.
func statAs(op, p, name string, call func(string, *syscall.Stat_t) error) (fileStat, error) {
	var st syscall.Stat_t
	if err := call(p, &st); err != nil {
		return fileStat{}, pathError(op, name, err)
	}
	return fromSys(&st), nil
}

// Mkdir creates a folder with mode perm exactly. mkdir(2) ignores set-id bits (Linux keeps the
// sticky bit, and a setgid bit inherited from the parent), so with any of them requested a chmod
// follows; an inherited setgid bit stays, as mkdir(2) gives it.
func (osFS) Mkdir(name string, perm uint32) error {
	return short("mkdir", name, func(p string) error {
		if err := syscall.Mkdir(p, perm&0o7777); err != nil {
			return pathError("mkdir", name, err)
		}
		if perm&0o7000 == 0 {
			return nil
		}
		st, err := statAs("lstat", p, name, syscall.Lstat)
		if err != nil {
			return err
		}
		return chmodNew(p, name, st, perm&0o7777|st.mode&0o2000)
	})
}

// chmodNew gives a node just made (whose lstat is st) the mode want, unless the file system has
// no Unix modes.
func chmodNew(p, name string, st fileStat, want uint32) error {
	if st.mode&0o7777 == want {
		return nil
	}
	if err := syscall.Chmod(p, want); err != nil && !modeRefused(err) {
		return pathError("chmod", name, err)
	}
	return nil
}

func (osFS) Unlink(name string) error {
	return short("unlink", name, func(p string) error { return wrap("unlink", name, syscall.Unlink(p)) })
}

func (osFS) Rmdir(name string) error {
	return short("rmdir", name, func(p string) error { return wrap("rmdir", name, syscall.Rmdir(p)) })
}

// Rename calls rename(2) directly: os.Rename refuses to replace a directory.
func (osFS) Rename(from, to string, noReplace bool) error {
	return short("rename", from, func(f string) error {
		return short("rename", to, func(t string) error {
			if noReplace {
				return wrap("rename", from, renameNoReplace(f, t))
			}
			return wrap("rename", from, syscall.Rename(f, t))
		})
	})
}

// renameChecked refuses an existing target, then renames: the fallback where RENAME_NOREPLACE is
// missing, so someone making the target in between loses it.
func renameChecked(from, to string) error {
	var st syscall.Stat_t
	if err := syscall.Lstat(to, &st); err == nil {
		return syscall.EEXIST
	}
	return syscall.Rename(from, to)
}

func (osFS) Link(existing, name string) error {
	return short("link", existing, func(e string) error {
		return short("link", name, func(n string) error { return wrap("link", name, syscall.Link(e, n)) })
	})
}

// Symlink stores target as it is; only the link's own path may be long.
func (osFS) Symlink(target, name string) error {
	return short("symlink", name, func(p string) error { return wrap("symlink", name, syscall.Symlink(target, p)) })
}

func (osFS) Readlink(name string) (target string, err error) {
	err = short("readlink", name, func(p string) error {
		target, err = os.Readlink(p)
		return named(err, name)
	})
	return target, err
}

// Mknod gives the new node the permission bits exactly, as Mkdir does: the kernel may leave
// set-id bits out of mknod(2)'s mode, so with any of them requested a chmod follows.
func (osFS) Mknod(name string, mode uint32, rdev uint64) error {
	switch mode & syscall.S_IFMT {
	case syscall.S_IFIFO, syscall.S_IFCHR, syscall.S_IFBLK, syscall.S_IFSOCK, syscall.S_IFREG:
	default:
		return pathError("mknod", name, syscall.EINVAL)
	}
	perm := mode & 0o7777
	return short("mknod", name, func(p string) error {
		if err := makeNode(p, mode&syscall.S_IFMT|perm, rdev); err != nil {
			return pathError("mknod", name, err)
		}
		if perm&0o7000 == 0 {
			return nil
		}
		st, err := statAs("lstat", p, name, syscall.Lstat)
		if err != nil {
			return err
		}
		return chmodNew(p, name, st, perm)
	})
}

func (osFS) Chmod(name string, mode uint32, follow bool) error {
	return short("chmod", name, func(p string) error {
		if !follow {
			st, err := statAs("lstat", p, name, syscall.Lstat)
			if err != nil {
				return err
			}
			if st.mode&syscall.S_IFMT == syscall.S_IFLNK {
				// Linux has no lchmod; a symlink's mode means nothing there anyway.
				return pathError("lchmod", name, syscall.ENOTSUP)
			}
		}
		return wrap("chmod", name, syscall.Chmod(p, mode&0o7777))
	})
}

func (osFS) Chown(name string, uid, gid int, follow bool) error {
	return short("chown", name, func(p string) error {
		if follow {
			return wrap("chown", name, syscall.Chown(p, uid, gid))
		}
		return wrap("lchown", name, syscall.Lchown(p, uid, gid))
	})
}

func (osFS) Truncate(name string, size int64) error {
	return short("truncate", name, func(p string) error { return wrap("truncate", name, syscall.Truncate(p, size)) })
}

func (osFS) SetTimes(name string, atime, mtime timeSet, follow bool) error {
	return short("utimensat", name, func(p string) error {
		return wrap("utimensat", name, setTimesPath(p, atime, mtime, follow))
	})
}

func (osFS) Statvfs(name string) (v statvfs, err error) {
	err = short("statvfs", name, func(p string) error {
		v, err = statvfsPath(p)
		return wrap("statvfs", name, err)
	})
	return v, err
}

func (osFS) Home(user string) (string, error) { return homeOf(user) }
func (osFS) Getwd() (string, error)           { return os.Getwd() }

func (f osFile) Stat() (fileStat, error) {
	var st syscall.Stat_t
	if err := syscall.Fstat(int(f.Fd()), &st); err != nil {
		return fileStat{}, pathError("fstat", f.Name(), err)
	}
	return fromSys(&st), nil
}
func (f osFile) Chmod(mode uint32) error {
	return wrap("fchmod", f.Name(), syscall.Fchmod(int(f.Fd()), mode&0o7777))
}
func (f osFile) Chown(uid, gid int) error {
	return wrap("fchown", f.Name(), syscall.Fchown(int(f.Fd()), uid, gid))
}
func (f osFile) SetTimes(atime, mtime timeSet) error {
	return wrap("futimens", f.Name(), setTimesFile(f.File, atime, mtime))
}
func (f osFile) Statvfs() (statvfs, error) {
	v, err := statvfsFile(f.File)
	return v, wrap("fstatvfs", f.Name(), err)
}

// wrap returns nil for nil and a PathError otherwise.
func wrap(op, path string, err error) error {
	if err == nil {
		return nil
	}
	return pathError(op, path, err)
}

// fillTimes resolves omitted and "now" times against the current ones, for systems without
// utimensat's UTIME_OMIT/UTIME_NOW.
func fillTimes(cur fileStat, atime, mtime timeSet, now timespec) (timespec, timespec) {
	pick := func(s timeSet, old timespec) timespec {
		switch {
		case s.omit:
			return old
		case s.now:
			return now
		}
		return s.t
	}
	return pick(atime, cur.atime), pick(mtime, cur.mtime)
}
