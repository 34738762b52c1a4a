// Command rmount-exec is the native fast path of `rmount exec` through a mount: it finds the
// mount in the runtime records, authenticates on the mount daemon's control socket, starts the
// command over the daemon's existing connection and forwards stdin, stdout, stderr, signals and
// window-size changes, then exits with the command's exit code. Path stubs run it instead of
// Node when it is built (build/rmount-exec); anything it cannot do is left to `rmount exec`.
//
//	rmount-exec [--in <mountpoint>] [--cwd DIR] [--map-args] [--rewrite-output] [-t|-T]
//	            [--env K=V]… [--timeout DUR] -- <cmd> [args…]
//
// Wire format: src/control/protocol.ts. Standard library only, Go 1.19.
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Set at build time: -ldflags "-X main.version=…".
var version = "dev"

const (
	exitUsage    = 2
	exitFailure  = 1
	exitTimedOut = 124 // timeout(1)'s code for a command it had to stop
	// After --timeout's SIGTERM, how long before SIGKILL, and before giving up on the remote.
	killAfter   = 5 * time.Second
	giveUpAfter = 10 * time.Second
	// Limit for connecting and authenticating, as the TypeScript client.
	handshakeTimeout = 5 * time.Second
)

const usage = `usage: rmount-exec [--in <mountpoint>] [--cwd DIR] [-t|-T] [--env K=V]... [--timeout DUR]
                   [--map-args] [--rewrite-output] -- <cmd> [args...]
Runs <cmd> on the remote of the mount holding the current folder (or --in), in the matching
remote folder, over the mount daemon's connection. Its exit code is rmount-exec's (a signal is
128+N, --timeout 124). To run on a destination without a mount: rmount exec <dest> -- <cmd>.
`

// failure is an error reported before the command started: one line with its stable code and the fix.
type failure struct {
	code    string
	message string
	fix     string
	exit    int
}

func (f *failure) Error() string {
	line := fmt.Sprintf("rmount: %s [%s]", f.message, f.code)
	if f.fix != "" {
		line += "; " + f.fix
	}
	return line
}

func usageError(message, fix string) *failure {
	return &failure{code: "ERR_USAGE", message: message, fix: fix, exit: exitUsage}
}

// options are the parsed command line.
type options struct {
	in, cwd       string
	hasIn, hasCwd bool
	tty           *bool
	env           map[string]string
	timeout       time.Duration
	hasTimeout    bool
	mapArgs       bool
	rewrite       bool
	argv          []string
	help, version bool
}

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	opts, err := parseArgs(args)
	if err == nil && opts.help {
		fmt.Print(usage)
		return 0
	}
	if err == nil && opts.version {
		fmt.Println("rmount-exec", version)
		return 0
	}
	var code int
	if err == nil {
		code, err = execute(opts)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err.Error())
		var f *failure
		if errors.As(err, &f) {
			return f.exit
		}
		return exitFailure
	}
	return code
}

// parseArgs reads the options before "--" (or before the first word that is not an option).
func parseArgs(args []string) (options, error) {
	o := options{env: map[string]string{}}
	value := func(i *int, name, inline string, hasInline bool) (string, error) {
		if hasInline {
			return inline, nil
		}
		if *i+1 >= len(args) {
			return "", usageError(fmt.Sprintf("option %s needs a value", name), "see rmount-exec --help")
		}
		*i++
		return args[*i], nil
	}
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			o.argv = args[i+1:]
			return o, nil
		}
		if !strings.HasPrefix(a, "-") || a == "-" {
			for _, rest := range args[i+1:] {
				if rest == "--" {
					return o, usageError(fmt.Sprintf("rmount-exec runs through a mount only, not on a destination (%q)", a), "rmount exec <dest> -- <cmd> connects to a destination")
				}
			}
			o.argv = args[i:]
			return o, nil
		}
		name, inline, hasInline := a, "", false
		if strings.HasPrefix(a, "--") {
			if eq := strings.IndexByte(a, '='); eq > 0 {
				name, inline, hasInline = a[:eq], a[eq+1:], true
			}
		}
		var err error
		var v string
		switch name {
		case "--in":
			if v, err = value(&i, name, inline, hasInline); err == nil {
				o.in, o.hasIn = v, true
			}
		case "--cwd":
			if v, err = value(&i, name, inline, hasInline); err == nil {
				o.cwd, o.hasCwd = v, true
			}
		case "--env":
			if v, err = value(&i, name, inline, hasInline); err == nil {
				eq := strings.IndexByte(v, '=')
				if eq <= 0 {
					return o, usageError(fmt.Sprintf("invalid --env %q", v), "use --env NAME=value")
				}
				o.env[v[:eq]] = v[eq+1:]
			}
		case "--timeout":
			if v, err = value(&i, name, inline, hasInline); err == nil {
				o.timeout, err = parseDuration(v)
				o.hasTimeout = true
			}
		case "-t", "--tty":
			t := true
			o.tty = &t
		case "-T", "--no-tty":
			f := false
			o.tty = &f
		case "--map-args":
			o.mapArgs = true
		case "--rewrite-output":
			o.rewrite = true
		case "-h", "--help":
			o.help = true
		case "-V", "--version":
			o.version = true
		default:
			return o, usageError(fmt.Sprintf("unknown option %q", a), "see rmount-exec --help")
		}
		if err != nil {
			return o, err
		}
	}
	return o, nil
}

var durationRe = regexp.MustCompile(`^(\d+(?:\.\d+)?)(ms|s|m|h)?$`)

// parseDuration reads 500ms, 30s, 2m, 1h or a number of seconds (src/cli/connect.ts).
func parseDuration(text string) (time.Duration, error) {
	m := durationRe.FindStringSubmatch(strings.TrimSpace(text))
	if m == nil {
		return 0, usageError(fmt.Sprintf("invalid timeout %q", text), "use a number of seconds, or 500ms, 30s, 2m, 1h")
	}
	n, _ := strconv.ParseFloat(m[1], 64)
	unit := map[string]float64{"ms": 1, "": 1000, "s": 1000, "m": 60_000, "h": 3_600_000}[m[2]]
	// Math.round, as the TypeScript client.
	ms := int64(n*unit + 0.5)
	return time.Duration(ms) * time.Millisecond, nil
}

// resolvePath is Node's path.resolve(base, p) for an absolute base.
func resolvePath(base, p string) string {
	if filepath.IsAbs(p) {
		return filepath.Clean(p)
	}
	return filepath.Join(base, p)
}

// canonicalPath resolves the symlinks of p's parent, as the kernel spells mountpoints and the
// runtime records hold them (src/mount/mountinfo.ts canonicalMountpoint); p itself is not resolved.
func canonicalPath(p string) string {
	if p == "/" {
		return p
	}
	parent, err := filepath.EvalSymlinks(filepath.Dir(p))
	if err != nil {
		return p
	}
	return filepath.Join(parent, filepath.Base(p))
}

// target is what execute sends: where and what to run, and through which socket.
type target struct {
	rec     record
	mapping mapping
	cwd     string
	argv    []string
}

// plan finds the mount and maps the folder and the arguments, as `rmount exec` does.
func plan(o options, here string, records []record, dir string) (target, error) {
	where := here
	if o.hasIn {
		where = canonicalPath(resolvePath(here, o.in))
	}
	match, ok := findMountFor(records, where)
	if !ok {
		if !o.hasIn {
			return target{}, usageError(fmt.Sprintf("%s is not inside a mount", here), "run it inside a mount, or name one: rmount-exec --in <mountpoint> -- <cmd> (rmount status lists the mounts)")
		}
		return target{}, &failure{code: "ERR_NOT_FOUND", exit: exitFailure,
			message: fmt.Sprintf("%s is not an rmount mount (no record in %s)", where, dir),
			fix:     "rmount status lists the mounts; to run on a destination directly: rmount exec <dest> -- <cmd>"}
	}
	m := mapping{mountpoint: match.mountpoint, remotePath: match.record.RemotePath}
	// The current folder when it is inside this mount (under any spelling of its mountpoint),
	// else the folder named by --in.
	base, inside := toRemotePath(m, here)
	if !inside {
		for _, sp := range spellings(match.record.Mountpoint) {
			if base, inside = toRemotePath(mapping{mountpoint: sp, remotePath: m.remotePath}, here); inside {
				break
			}
		}
	}
	if !inside {
		base, _ = toRemotePath(m, where)
	}
	cwd := base
	if o.hasCwd {
		if strings.HasPrefix(o.cwd, "/") {
			if mapped, ok := toRemotePath(m, o.cwd); ok {
				cwd = mapped
			} else {
				cwd = o.cwd
			}
		} else if mapped, ok := toRemotePath(m, resolvePath(here, o.cwd)); ok {
			cwd = mapped
		} else {
			cwd = posixJoin(base, o.cwd)
		}
	}
	if match.record.Socket == "" {
		return target{}, usageError(fmt.Sprintf("the mount on %s serves no control socket (its daemon predates it)", match.record.Mountpoint),
			fmt.Sprintf("remount it: rmount unmount %s", match.record.Mountpoint))
	}
	argv := o.argv
	if o.mapArgs {
		argv = mapArguments(m, argv)
	}
	return target{rec: match.record, mapping: m, cwd: cwd, argv: argv}, nil
}

// ptyRequest is the exec request's pty member.
type ptyRequest struct {
	Cols int    `json:"cols"`
	Rows int    `json:"rows"`
	Term string `json:"term"`
}

// execRequest is the `exec` envelope's payload.
type execRequest struct {
	Argv []string          `json:"argv"`
	Cwd  string            `json:"cwd"`
	Env  map[string]string `json:"env,omitempty"`
	Pty  *ptyRequest       `json:"pty,omitempty"`
}

type envelope struct {
	Type    string          `json:"type"`
	Payload json.RawMessage `json:"payload,omitempty"`
}

func execute(o options) (int, error) {
	if len(o.argv) == 0 {
		return 0, usageError("exec needs a command", "rmount-exec [--in <mountpoint>] -- <cmd> [args...]")
	}
	here, err := syscall.Getwd() // the physical folder, as Node's process.cwd()
	if err != nil {
		return 0, &failure{code: "ERR_CWD", exit: exitFailure, message: fmt.Sprintf("cannot read the current folder: %v", err), fix: "cd into a folder that exists"}
	}
	dir := runtimeDir(os.LookupEnv)
	t, err := plan(o, here, listRecords(dir), dir)
	if err != nil {
		return 0, err
	}

	req := execRequest{Argv: t.argv, Cwd: t.cwd}
	if len(o.env) > 0 {
		req.Env = o.env
	}
	wantPty := isTerminal(0) && isTerminal(1)
	if o.tty != nil {
		wantPty = *o.tty
	}
	if wantPty {
		cols, rows := windowSize(1)
		if cols == 0 {
			cols = 80
		}
		if rows == 0 {
			rows = 24
		}
		term, ok := os.LookupEnv("TERM")
		if !ok {
			term = "xterm-256color"
		}
		req.Pty = &ptyRequest{Cols: cols, Rows: rows, Term: term}
	}

	conn, br, err := handshake(t.rec, req)
	if err != nil {
		return 0, err
	}
	return attach(conn, br, o, t)
}

// noDaemon explains a control socket nobody answers on.
func noDaemon(rec record, cause error) *failure {
	why := "nobody answers on its control socket " + rec.Socket
	if rec.Pid > 0 && syscall.Kill(rec.Pid, 0) == syscall.ESRCH {
		why = fmt.Sprintf("its daemon (pid %d) is not running", rec.Pid)
	}
	fix := fmt.Sprintf("remount it: rmount unmount %s && rmount mount %s %s", shellWord(rec.Mountpoint), shellWord(rec.Destination), shellWord(rec.Mountpoint))
	if rec.Destination == "" {
		fix = fmt.Sprintf("remount it: rmount unmount %s, then mount it again", shellWord(rec.Mountpoint))
	}
	return &failure{code: "ERR_NO_DAEMON", exit: exitFailure, message: fmt.Sprintf("the mount on %s is stale: %s (%v)", rec.Mountpoint, why, cause), fix: fix}
}

// shellWord quotes s for a sh command line when it needs it.
func shellWord(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789@%+=:,./_-") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// handshake connects, answers the ownership challenge and sends the exec request right behind
// `auth`, so starting a command costs one round trip after the greeting.
func handshake(rec record, req execRequest) (*net.UnixConn, *bufio.Reader, error) {
	c, err := net.DialTimeout("unix", rec.Socket, handshakeTimeout)
	if err != nil {
		switch {
		case errors.Is(err, syscall.ENOENT), errors.Is(err, syscall.ECONNREFUSED):
			return nil, nil, noDaemon(rec, errors.Unwrap(errors.Unwrap(err)))
		case errors.Is(err, syscall.EACCES):
			return nil, nil, &failure{code: "ERR_PERMISSION", exit: exitFailure, message: fmt.Sprintf("the control socket %s belongs to another user", rec.Socket), fix: "run it as the user who mounted " + rec.Mountpoint}
		}
		return nil, nil, &failure{code: "ERR_CONNECTION", exit: exitFailure, message: fmt.Sprintf("control socket %s: %v", rec.Socket, err), fix: "rmount status shows the mounts; remount a stale one"}
	}
	conn := c.(*net.UnixConn)
	fail := func(f *failure) (*net.UnixConn, *bufio.Reader, error) {
		conn.Close()
		return nil, nil, f
	}
	_ = conn.SetDeadline(time.Now().Add(handshakeTimeout))
	br := bufio.NewReaderSize(conn, 256<<10)
	hello, err := readEnvelope(br)
	if err != nil {
		return fail(lineFailure(rec, err))
	}
	var h struct {
		Version   int    `json:"version"`
		Challenge string `json:"challenge"`
		Nonce     string `json:"nonce"`
	}
	if hello.Type != "hello" || json.Unmarshal(hello.Payload, &h) != nil || h.Version != protocolVersion {
		return fail(&failure{code: "ERR_PROTOCOL", exit: exitFailure, message: fmt.Sprintf("the control socket of %s speaks another protocol (%s %.80s)", rec.Mountpoint, hello.Type, hello.Payload), fix: "use the rmount-exec built with this rmount: npm run build:exec-client"})
	}
	// The server checks the owner of this file; when we cannot make it, it refuses us and says so.
	if f, err := os.OpenFile(h.Challenge, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600); err == nil {
		_, _ = f.WriteString(h.Nonce)
		_ = f.Close()
	}
	payload, _ := json.Marshal(req)
	out := append([]byte(`{"type":"auth"}`+"\n"+`{"type":"exec","payload":`), payload...)
	out = append(out, "}\n"...)
	if _, err := conn.Write(out); err != nil {
		return fail(lineFailure(rec, err))
	}
	answer, err := readEnvelope(br)
	if err != nil {
		return fail(lineFailure(rec, err))
	}
	if answer.Type != "ok" {
		var e wireError
		_ = json.Unmarshal(answer.Payload, &e)
		if e.Code == "" {
			e.Code, e.Message = "ERR_PROTOCOL", fmt.Sprintf("unexpected %q answer", answer.Type)
		}
		return fail(&failure{code: e.Code, exit: exitFailure, message: fmt.Sprintf("the mount daemon of %s refused this client: %s", rec.Mountpoint, e.Message), fix: "run it as the user who mounted it, with write access to " + filepath.Dir(rec.Socket)})
	}
	_ = conn.SetDeadline(time.Time{})
	return conn, br, nil
}

func readEnvelope(br *bufio.Reader) (envelope, error) {
	line, err := br.ReadBytes('\n')
	if err != nil {
		return envelope{}, err
	}
	var e envelope
	if err := json.Unmarshal(line, &e); err != nil || e.Type == "" {
		return envelope{}, fmt.Errorf("malformed line %.80q", line)
	}
	return e, nil
}

func lineFailure(rec record, err error) *failure {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return &failure{code: "ERR_TIMEOUT", exit: exitFailure, message: fmt.Sprintf("the mount daemon of %s did not answer on its control socket within %v", rec.Mountpoint, handshakeTimeout), fix: "rmount status shows its health; remount it if it hangs"}
	}
	if errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) {
		return &failure{code: "ERR_CONNECTION", exit: exitFailure, message: fmt.Sprintf("the mount daemon of %s closed the control connection", rec.Mountpoint), fix: "its log is in the runtime folder next to " + rec.Socket}
	}
	return &failure{code: "ERR_PROTOCOL", exit: exitFailure, message: fmt.Sprintf("control socket of %s: %v", rec.Mountpoint, err), fix: "use the rmount-exec built with this rmount: npm run build:exec-client"}
}

// outcome is how the session ended, from the frame reader.
type outcome struct {
	status  *exitStatus
	err     *wireError
	started bool
	closed  bool
}

// attach runs the started session with our stdin, stdout and stderr, signals and window size.
func attach(conn *net.UnixConn, br *bufio.Reader, o options, t target) (int, error) {
	frames := &frameReader{r: br}
	// The first control frame says whether the command started.
	pty := false
	for {
		ch, payload, err := frames.next()
		if err != nil {
			return 0, lineFailure(t.rec, err)
		}
		if ch != chanControl {
			continue
		}
		var msg controlMessage
		if json.Unmarshal(payload, &msg) != nil {
			continue
		}
		if msg.Error != nil {
			return 0, &failure{code: msg.Error.Code, exit: exitFailure, message: msg.Error.Message, fix: "rmount status shows the mount's health"}
		}
		if msg.Exit != nil {
			return msg.Exit.exitCode(), nil
		}
		if msg.Started != nil {
			pty = msg.Started.Pty
			break
		}
	}

	restore := func() {}
	if pty && isTerminal(0) {
		if r, err := makeRaw(0); err == nil {
			restore = r
		}
	}

	var wmu sync.Mutex
	write := func(b []byte) error {
		wmu.Lock()
		defer wmu.Unlock()
		_, err := conn.Write(b)
		return err
	}
	// Control frames go out in order from one goroutine, so a stdin write blocked by a full
	// socket never blocks the main loop.
	control := make(chan []byte, 64)
	go func() {
		for b := range control {
			_ = write(b)
		}
	}()
	sendControl := func(v interface{}) {
		select {
		case control <- encodeControl(v):
		default:
		}
	}

	signals := make(chan os.Signal, 8)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT)
	if pty {
		signal.Notify(signals, syscall.SIGWINCH)
	}

	// stdin → stdin frames; a blocking write is the backpressure. End of input is an empty frame.
	go func() {
		buf := make([]byte, 256<<10)
		for {
			n, err := os.Stdin.Read(buf)
			if n > 0 {
				if writeStdin(writerFunc(write), buf[:n]) != nil {
					return
				}
			}
			if err != nil {
				_ = write(encodeFrame(chanStdin, nil))
				return
			}
		}
	}()

	var stdoutRw, stderrRw *rewriter
	if o.rewrite {
		stdoutRw, stderrRw = &rewriter{m: t.mapping}, &rewriter{m: t.mapping}
	}
	done := make(chan outcome, 1)
	go func() {
		for {
			ch, payload, err := frames.next()
			if err != nil {
				done <- outcome{started: true, closed: true}
				return
			}
			switch ch {
			case chanStdout:
				emit(os.Stdout, stdoutRw, payload)
			case chanStderr:
				emit(os.Stderr, stderrRw, payload)
			case chanControl:
				var msg controlMessage
				if json.Unmarshal(payload, &msg) != nil {
					continue
				}
				if msg.Exit != nil {
					done <- outcome{status: msg.Exit, started: true}
					return
				}
				if msg.Error != nil {
					done <- outcome{err: msg.Error, started: true}
					return
				}
			}
		}
	}()

	var timeoutC, killC, giveUpC <-chan time.Time
	if o.hasTimeout {
		timeoutC = time.After(o.timeout)
	}
	timedOut := false
	for {
		select {
		case s := <-signals:
			if s == syscall.SIGWINCH {
				if cols, rows := windowSize(1); cols > 0 && rows > 0 {
					sendControl(map[string]interface{}{"resize": map[string]int{"cols": cols, "rows": rows}})
				}
				continue
			}
			sendControl(map[string]string{"signal": signalName(s)})
		case <-timeoutC:
			timedOut = true
			sendControl(map[string]string{"signal": "SIGTERM"})
			killC = time.After(killAfter)
			giveUpC = time.After(giveUpAfter)
		case <-killC:
			sendControl(map[string]string{"signal": "SIGKILL"})
		case <-giveUpC:
			restore()
			return exitTimedOut, nil
		case r := <-done:
			for _, p := range []struct {
				rw  *rewriter
				out *os.File
			}{{stdoutRw, os.Stdout}, {stderrRw, os.Stderr}} {
				if p.rw != nil {
					_, _ = p.out.Write(p.rw.flush())
				}
			}
			restore()
			if timedOut {
				return exitTimedOut, nil
			}
			if r.err != nil {
				fmt.Fprintf(os.Stderr, "rmount: %s [%s]\n", r.err.Message, r.err.Code)
				return 255, nil
			}
			if r.closed {
				fmt.Fprintf(os.Stderr, "rmount: the mount daemon of %s closed the control connection before the command ended [ERR_CONNECTION]\n", t.rec.Mountpoint)
				return 255, nil
			}
			return r.status.exitCode(), nil
		}
	}
}

func emit(out *os.File, rw *rewriter, payload []byte) {
	if rw != nil {
		payload = rw.push(payload)
	}
	if len(payload) > 0 {
		// A broken stdout ends us with SIGPIPE, as it would a local command.
		_, _ = out.Write(payload)
	}
}

func signalName(s os.Signal) string {
	switch s {
	case syscall.SIGINT:
		return "SIGINT"
	case syscall.SIGTERM:
		return "SIGTERM"
	case syscall.SIGHUP:
		return "SIGHUP"
	case syscall.SIGQUIT:
		return "SIGQUIT"
	}
	return "SIGTERM"
}

type writerFunc func([]byte) error

func (w writerFunc) Write(b []byte) (int, error) {
	if err := w(b); err != nil {
		return 0, err
	}
	return len(b), nil
}
