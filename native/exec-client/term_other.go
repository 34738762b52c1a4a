//go:build !linux

package main

import "errors"

// Terminals are handled on Linux only; elsewhere rmount-exec never asks for a pty by itself.
func isTerminal(fd int) bool         { return false }
func windowSize(fd int) (int, int)   { return 0, 0 }
func makeRaw(fd int) (func(), error) { return nil, errors.New("raw mode is supported on Linux only") }
