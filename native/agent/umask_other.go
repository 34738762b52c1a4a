//go:build !unix

package main

// Windows has no umask: modes are not masked there in the first place.
func clearUmask() uint32 { return 0 }
