package main

import "syscall"

func namemax(s *syscall.Statfs_t) uint64 { return uint64(s.Namemax) }
