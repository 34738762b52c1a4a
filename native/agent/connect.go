package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"
)

// hostStartWait bounds how long `connect --start` waits for a host it started.
const hostStartWait = 5 * time.Second

// runConnect is `rmount-agent connect`: a stdio bridge to the host's socket, starting the host
// first (with --start) when nothing listens there.
func runConnect(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("connect", flag.ContinueOnError)
	fs.SetOutput(stderr)
	socket := fs.String("socket", "", "the host's UNIX socket (default as for host)")
	start := fs.Bool("start", false, "start a host when none listens")
	retain := fs.String("retain", "", "--retain for a host this starts")
	idle := fs.String("idle-exit", "", "--idle-exit for a host this starts")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *socket == "" {
		*socket = defaultSocketPath()
	}
	conn, err := dialHost(*socket, *start, func() error {
		hostArgs := []string{"host", "--socket", *socket}
		if *retain != "" {
			hostArgs = append(hostArgs, "--retain", *retain)
		}
		if *idle != "" {
			hostArgs = append(hostArgs, "--idle-exit", *idle)
		}
		return startDetached(hostArgs, nil)
	})
	if err != nil {
		fmt.Fprintf(stderr, "rmount-agent connect: %v\n", err)
		return 1
	}
	defer conn.Close()
	go func() {
		io.Copy(conn, stdin)
		conn.CloseWrite() // the host then ends this client, and the copy below ends
	}()
	if _, err := io.Copy(stdout, conn); err != nil {
		fmt.Fprintf(stderr, "rmount-agent connect: %v\n", err)
		return 1
	}
	return 0
}

// dialHost connects to the socket after checking its folder; when nothing listens and start is
// given, it runs start and retries until the socket answers or hostStartWait passes.
func dialHost(path string, startHost bool, start func() error) (*net.UnixConn, error) {
	if err := checkSocketPath(path); err != nil {
		return nil, err
	}
	if err := ensureSocketDir(filepath.Dir(path), startHost); err != nil {
		return nil, err
	}
	conn, err := net.DialUnix("unix", nil, &net.UnixAddr{Name: path, Net: "unix"})
	if err == nil || !startHost || !(errors.Is(err, syscall.ENOENT) || errors.Is(err, syscall.ECONNREFUSED)) {
		return conn, err
	}
	if err := start(); err != nil {
		return nil, fmt.Errorf("starting the host: %w", err)
	}
	deadline := time.Now().Add(hostStartWait)
	for {
		conn, err = net.DialUnix("unix", nil, &net.UnixAddr{Name: path, Net: "unix"})
		if err == nil || time.Now().After(deadline) {
			return conn, err
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// startDetached runs this executable with args (and env added to ours) in a new session and
// process group, with stdio on /dev/null, and does not wait for it: it outlives us.
func startDetached(args []string, env []string) error {
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	null, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer null.Close()
	cmd := exec.Command(exe, args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = null, null, null
	if env != nil {
		cmd.Env = append(os.Environ(), env...)
	}
	cmd.Dir = "/"
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return err
	}
	// Reap it if it ends while we still run (say, another host won the lock); else init will.
	go cmd.Wait()
	return nil
}
