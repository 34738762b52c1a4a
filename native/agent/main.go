// Command rmount-agent serves a remote workspace's files to rmount: SFTP v3 with the OpenSSH
// extensions and rmount's own (complete attributes, batching, watch) on stdin/stdout.
package main

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"runtime"
	"time"
)

// Set at build time: -ldflags "-X main.version=$VERSION -X main.commit=$COMMIT".
var (
	version = "dev"
	commit  = "unknown"
)

func main() {
	log.SetOutput(os.Stderr) // stdout carries SFTP packets; nothing else may write to it
	log.SetPrefix("rmount-agent: ")
	log.SetFlags(0)
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// run is main without the process: it returns the exit code.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	cmd := ""
	if len(args) > 0 {
		cmd = args[0]
	}
	switch cmd {
	case "version", "--version", "-v":
		return runVersion(args[1:], stdout, stderr)
	case "sftp":
		opts, durable, err := parseSFTPFlags(args[1:], stderr)
		if err != nil {
			return 2
		}
		opts.umask = clearUmask()
		if opts.durable {
			return runDurableRelay(opts, durable, stdin, stdout, stderr)
		}
		if err := serveSFTP(stdin, stdout, osFS{}, opts); err != nil && err != io.EOF {
			log.Print(err)
			return 1
		}
		return 0
	case "sftp-keeper":
		return runKeeper(args[1:], stderr)
	case "host":
		return runHost(args[1:], stderr)
	case "connect":
		return runConnect(args[1:], stdin, stdout, stderr)
	default:
		fmt.Fprintf(stderr, "usage: rmount-agent sftp [--root DIR] [--debug] [--durable [--grace DURATION] [--socket-dir DIR]]\n       rmount-agent host [--socket PATH] [--retain DURATION] [--idle-exit DURATION]\n       rmount-agent connect [--socket PATH] [--start]\n       rmount-agent version [--sha256]\n")
		if cmd != "" && cmd != "help" && cmd != "-h" && cmd != "--help" {
			fmt.Fprintf(stderr, "unknown command %q\n", cmd)
		}
		return 2
	}
}

// runVersion prints "rmount-agent VERSION COMMIT OS/ARCH", or with --sha256 the SHA-256 of the
// running executable (what the installer compares with its local copy).
func runVersion(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("version", flag.ContinueOnError)
	fs.SetOutput(stderr)
	sum := fs.Bool("sha256", false, "print the SHA-256 of this executable")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if !*sum {
		fmt.Fprintf(stdout, "rmount-agent %s %s %s/%s\n", version, commit, runtime.GOOS, runtime.GOARCH)
		return 0
	}
	exe, err := os.Executable()
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	f, err := os.Open(exe)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	fmt.Fprintln(stdout, hex.EncodeToString(h.Sum(nil)))
	return 0
}

// sftpOptions are the flags of `rmount-agent sftp`.
type sftpOptions struct {
	// root is the folder relative paths (and realpath ".") resolve against; "" keeps the cwd.
	root  string
	debug bool
	// umask is the umask the agent started with (the process runs with 0): it masks the default
	// modes of OPEN and MKDIR for a client that sends none, as sftp-server's umask would.
	umask uint32
	// durable: the server keeps its handles across connections (sftp-keeper); it offers end@rmount.
	durable bool
}

func parseSFTPFlags(args []string, stderr io.Writer) (sftpOptions, durableFlags, error) {
	var o sftpOptions
	var d durableFlags
	fs := flag.NewFlagSet("sftp", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.root, "root", "", "start folder: relative paths and realpath(\".\") resolve against it")
	fs.BoolVar(&o.debug, "debug", false, "log every request to stderr")
	fs.BoolVar(&o.durable, "durable", false, "keep the session (open files) for --grace after the connection drops; stdin starts with \"rmount-durable 1 ID TOKEN\\n\"")
	fs.DurationVar(&d.grace, "grace", 10*time.Minute, "with --durable: how long the session waits for a new connection")
	fs.StringVar(&d.socketDir, "socket-dir", "", "with --durable: private folder for the session's socket (default the host socket's)")
	err := fs.Parse(args)
	if err == nil && o.durable && d.grace <= 0 {
		fmt.Fprintln(stderr, "--grace must be positive")
		err = errors.New("bad --grace")
	}
	return o, d, err
}
