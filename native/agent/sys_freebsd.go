package main

import "syscall"

func namemax(s *syscall.Statfs_t) uint64 { return uint64(s.Namemax) }

// mknodDevice is mknod(2) with the device number in FreeBSD's encoding (its makedev).
func mknodDevice(name string, mode uint32, rdev uint64) error {
	major, minor := linuxMajor(rdev), linuxMinor(rdev)
	dev := (major&0xffffff00)<<32 | (major&0xff)<<8 | (minor&0xff00)<<24 | minor&0xffff00ff
	return syscall.Mknod(name, mode, dev)
}
