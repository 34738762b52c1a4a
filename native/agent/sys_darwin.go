package main

import "syscall"

func namemax(*syscall.Statfs_t) uint64 { return 255 }

// mknodDevice is mknod(2) with the device number in macOS's encoding: major << 24 | minor.
func mknodDevice(name string, mode uint32, rdev uint64) error {
	major, minor := linuxMajor(rdev), linuxMinor(rdev)
	if major > 0xff || minor > 0xffffff {
		return syscall.EINVAL
	}
	return syscall.Mknod(name, mode, int(major<<24|minor))
}
