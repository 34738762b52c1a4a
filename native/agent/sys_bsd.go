//go:build darwin || freebsd

package main

import (
	"os"
	"syscall"
	"time"
)

func fromSys(st *syscall.Stat_t) fileStat {
	return fileStat{
		mode:   uint32(st.Mode),
		size:   uint64(st.Size),
		uid:    st.Uid,
		gid:    st.Gid,
		atime:  timespec{int64(st.Atimespec.Sec), int64(st.Atimespec.Nsec)},
		mtime:  timespec{int64(st.Mtimespec.Sec), int64(st.Mtimespec.Nsec)},
		ctime:  timespec{int64(st.Ctimespec.Sec), int64(st.Ctimespec.Nsec)},
		ino:    uint64(st.Ino),
		nlink:  uint64(st.Nlink),
		dev:    uint64(st.Dev),
		rdev:   uint64(st.Rdev),
		blocks: uint64(st.Blocks),
	}
}

func nowSpec() timespec {
	n := time.Now()
	return timespec{n.Unix(), int64(n.Nanosecond())}
}

func tsToSys(t timespec) syscall.Timespec { return syscall.NsecToTimespec(t.sec*1e9 + t.nsec) }

// Without utimensat in Go's syscall package here, omitted times are read back first.
func setTimesPath(name string, atime, mtime timeSet, follow bool) error {
	if !follow {
		return syscall.ENOTSUP
	}
	cur, err := osFS{}.Stat(name)
	if err != nil {
		return err
	}
	a, m := fillTimes(cur, atime, mtime, nowSpec())
	return syscall.UtimesNano(name, []syscall.Timespec{tsToSys(a), tsToSys(m)})
}

func setTimesFile(f *os.File, atime, mtime timeSet) error {
	cur, err := osFile{f}.Stat()
	if err != nil {
		return err
	}
	a, m := fillTimes(cur, atime, mtime, nowSpec())
	tv := []syscall.Timeval{syscall.NsecToTimeval(a.sec*1e9 + a.nsec), syscall.NsecToTimeval(m.sec*1e9 + m.nsec)}
	return syscall.Futimes(int(f.Fd()), tv)
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
	var flag uint64
	// MNT_RDONLY 0x1, MNT_NOSUID 0x8 on both systems.
	if uint64(s.Flags)&0x1 != 0 {
		flag |= 1
	}
	if uint64(s.Flags)&0x8 != 0 {
		flag |= 2
	}
	return statvfs{
		bsize: uint64(s.Bsize), frsize: uint64(s.Bsize), blocks: uint64(s.Blocks), bfree: uint64(s.Bfree),
		bavail: uint64(s.Bavail), files: uint64(s.Files), ffree: uint64(s.Ffree), favail: uint64(s.Ffree),
		flag: flag, namemax: namemax(s),
	}
}

// makeNode makes each type with its own call: mknod(2) here makes devices, and a socket file
// only where the kernel allows it (else it is bound into being).
func makeNode(name string, mode uint32, rdev uint64) error {
	perm := mode & 0o7777
	switch mode & syscall.S_IFMT {
	case syscall.S_IFIFO:
		return syscall.Mkfifo(name, perm)
	case syscall.S_IFREG:
		fd, err := syscall.Open(name, syscall.O_WRONLY|syscall.O_CREAT|syscall.O_EXCL|syscall.O_CLOEXEC, perm)
		if err != nil {
			return err
		}
		return syscall.Close(fd)
	case syscall.S_IFSOCK:
		err := mknodDevice(name, mode, 0)
		if err != syscall.EINVAL && err != syscall.EPERM && err != syscall.EOPNOTSUPP {
			return err
		}
		return bindSocketFile(name, perm)
	}
	return mknodDevice(name, mode, rdev)
}

// bindSocketFile leaves a socket file at name: bind(2) creates it and it stays after the close.
// bind applies no mode of ours, so a chmod follows.
func bindSocketFile(name string, perm uint32) error {
	syscall.ForkLock.RLock()
	fd, err := syscall.Socket(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
	if err == nil {
		syscall.CloseOnExec(fd)
	}
	syscall.ForkLock.RUnlock()
	if err != nil {
		return err
	}
	err = syscall.Bind(fd, &syscall.SockaddrUnix{Name: name})
	syscall.Close(fd)
	if err != nil {
		return err
	}
	if err := syscall.Chmod(name, perm); err != nil && !modeRefused(err) {
		syscall.Unlink(name)
		return err
	}
	return nil
}

// linuxMajor and linuxMinor split a Linux st_rdev (glibc's makedev), which is what the wire
// carries whatever the agent's system.
func linuxMajor(rdev uint64) uint64 { return rdev>>8&0xfff | rdev>>32&0xfffff000 }
func linuxMinor(rdev uint64) uint64 { return rdev&0xff | rdev>>12&0xffffff00 }

// renameNoReplace has no atomic form here (macOS's renamex_np is not in Go's syscall package).
func renameNoReplace(from, to string) error { return renameChecked(from, to) }
