//go:build unix

package main

import "syscall"

// clearUmask sets the umask to 0 and returns the one the agent started with. Every mode rmount
// sends has been through the caller's umask already (the kernel applies it before FUSE passes the
// mode on), and the agent only serves files, so its own umask would only take bits away again.
func clearUmask() uint32 { return uint32(syscall.Umask(0)) }
