package main

import (
	"os"
	"strconv"
	"syscall"
	"unsafe"
)

const ptySupported = true

// openPTY opens a pseudo-terminal pair without cgo: /dev/ptmx, unlock, look up the pts number.
// The master stays non-blocking (it is read through the runtime's poller, so Close interrupts a
// Read); the slave goes to the child.
func openPTY() (master, slave *os.File, err error) {
	master, err = os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return nil, nil, err
	}
	var n uint32
	err = ptyIoctl(master, syscall.TIOCSPTLCK, unsafe.Pointer(new(int32)))
	if err == nil {
		err = ptyIoctl(master, syscall.TIOCGPTN, unsafe.Pointer(&n))
	}
	if err == nil {
		slave, err = os.OpenFile("/dev/pts/"+strconv.FormatUint(uint64(n), 10), os.O_RDWR|syscall.O_NOCTTY|syscall.O_CLOEXEC, 0)
	}
	if err != nil {
		master.Close()
		return nil, nil, err
	}
	return master, slave, nil
}

// resizePTY sets the terminal size (the kernel then sends SIGWINCH to the foreground group).
func resizePTY(master *os.File, cols, rows int) error {
	ws := struct{ row, col, xpixel, ypixel uint16 }{uint16(rows), uint16(cols), 0, 0}
	return ptyIoctl(master, syscall.TIOCSWINSZ, unsafe.Pointer(&ws))
}

// ptyIoctl runs an ioctl through the raw fd without putting the file in blocking mode (as Fd would).
func ptyIoctl(f *os.File, req uintptr, arg unsafe.Pointer) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var errno syscall.Errno
	if err := rc.Control(func(fd uintptr) {
		_, _, errno = syscall.Syscall(syscall.SYS_IOCTL, fd, req, uintptr(arg))
	}); err != nil {
		return err
	}
	if errno != 0 {
		return os.NewSyscallError("ioctl", errno)
	}
	return nil
}

// ttyAttr makes the child the leader of a new session whose controlling terminal is its fd 0.
func ttyAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
}
