//go:build !linux

package main

import (
	"errors"
	"os"
	"syscall"
)

const ptySupported = false

var errNoPTY = errors.New("terminals are supported on Linux only")

func openPTY() (master, slave *os.File, err error) { return nil, nil, errNoPTY }

func resizePTY(master *os.File, cols, rows int) error { return errNoPTY }

func ttyAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setsid: true} }
