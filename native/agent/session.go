package main

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

const (
	defaultSessionBuffer = 1000000
	maxSessionBuffer     = 256 << 20
	// outputGrace is how long a process's output may stay open after it exited (a background
	// child holding the terminal or pipe) before the host stops reading it.
	outputGrace = 500 * time.Millisecond
)

var sessionNameRE = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// ttySpec is the terminal a session asks for.
type ttySpec struct {
	Cols int    `json:"cols"`
	Rows int    `json:"rows"`
	Term string `json:"term"`
}

// procSession is one process the host started, with its output ring and attached clients.
type procSession struct {
	id, name string
	argv     []string
	cwd      string
	created  time.Time
	tty      bool
	pid      int

	input  *os.File // pty master or the write end of stdin; nil once closed
	output *os.File // pty master or the read end of stdout+stderr
	pty    *os.File // pty master, for resize; nil without a tty

	mu       sync.Mutex // protects the fields below; cond waits on it
	cond     *sync.Cond
	ring     *outputRing
	outDone  bool // the output reached EOF (or was cut after outputGrace)
	exited   bool // the process was reaped; exitCode/signal are set
	exitCode int
	signal   string // name of the killing signal, "" when it exited
	removed  bool
	attached map[*attachment]bool
	exitedAt time.Time
}

// attachment is one client stream attached to a session.
type attachment struct {
	stream   *muxStream
	detached bool // protected by the session's mu
}

// sessionInfo is an entry of `list`.
type sessionInfo struct {
	ID       string   `json:"id"`
	Name     string   `json:"name"`
	Argv     []string `json:"argv"`
	Cwd      string   `json:"cwd"`
	Created  string   `json:"created"`
	PID      int      `json:"pid"`
	TTY      bool     `json:"tty"`
	State    string   `json:"state"`
	ExitCode *int     `json:"exitCode,omitempty"`
	Signal   string   `json:"signal,omitempty"`
	Clients  int      `json:"clients"`
	Buffered int      `json:"buffered"`
	Total    uint64   `json:"total"` // output bytes since the start
}

// startRequest is the `start` op.
type startRequest struct {
	Argv   []string
	Cwd    string
	Env    []string
	TTY    *ttySpec
	Name   string
	Buffer int
}

func newSessionID() string {
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		return strconv.FormatInt(time.Now().UnixNano(), 36)
	}
	return hex.EncodeToString(b[:])
}

// newCommand checks argv, cwd and env as `start` and `run` take them and makes the command, run
// directly (never through a shell): argv[0] is looked up on PATH unless it names a path, an empty
// cwd is the home folder, env is added to ours. With a terminal, TERM (default xterm-256color)
// goes in before the request's own variables, which win (a later duplicate overrides in exec).
func newCommand(argv []string, cwd string, env []string, tty *ttySpec) (*exec.Cmd, *hostError) {
	if len(argv) == 0 || argv[0] == "" {
		return nil, errBadRequest("argv must name a command")
	}
	for _, kv := range env {
		if i := strings.IndexByte(kv, '='); i <= 0 || strings.IndexByte(kv, 0) >= 0 {
			return nil, errBadRequest(fmt.Sprintf("env entry %q is not KEY=VALUE", kv))
		}
	}
	if cwd != "" && !filepath.IsAbs(cwd) {
		return nil, errBadRequest(fmt.Sprintf("cwd %q is not an absolute path", cwd))
	}
	if cwd == "" {
		cwd = "/"
		if home, err := os.UserHomeDir(); err == nil {
			cwd = home
		}
	}
	all := os.Environ()
	if tty != nil {
		term := tty.Term
		if term == "" {
			term = "xterm-256color"
		}
		all = append(all, "TERM="+term)
	}
	cmd := &exec.Cmd{Path: argv[0], Args: argv, Dir: cwd, Env: append(all, env...)}
	if !strings.ContainsRune(argv[0], '/') {
		path, err := exec.LookPath(argv[0])
		if err != nil {
			return nil, &hostError{Code: "start-failed", Title: "Command not found",
				Message: err.Error(), Suggestion: "Give the command's full path, or check PATH on the remote."}
		}
		cmd.Path = path
	}
	return cmd, nil
}

// startProcSession starts a session's command in its own session and process group.
func startProcSession(req startRequest) (*procSession, *hostError) {
	if req.Buffer == 0 {
		req.Buffer = defaultSessionBuffer
	}
	if req.Buffer < 0 || req.Buffer > maxSessionBuffer {
		return nil, errBadRequest(fmt.Sprintf("buffer must be between 1 and %d bytes", maxSessionBuffer))
	}
	cmd, herr := newCommand(req.Argv, req.Cwd, req.Env, req.TTY)
	if herr != nil {
		return nil, herr
	}
	s := &procSession{id: newSessionID(), name: req.Name, argv: req.Argv, cwd: cmd.Dir, created: time.Now(),
		ring: newOutputRing(req.Buffer), attached: map[*attachment]bool{}}
	s.cond = sync.NewCond(&s.mu)

	var childEnds []*os.File
	if req.TTY != nil {
		if !ptySupported {
			return nil, &hostError{Code: "pty-unsupported", Title: "No terminal on this system",
				Message: "the agent allocates terminals on Linux only", Suggestion: "Start the session without a terminal (-T)."}
		}
		master, slave, err := openPTY()
		if err != nil {
			return nil, &hostError{Code: "pty-failed", Title: "Could not allocate a terminal", Message: err.Error(), Retryable: true}
		}
		cols, rows := req.TTY.Cols, req.TTY.Rows
		if cols <= 0 || rows <= 0 {
			cols, rows = 80, 24
		}
		if err := resizePTY(master, cols, rows); err != nil {
			master.Close()
			slave.Close()
			return nil, &hostError{Code: "pty-failed", Title: "Could not size the terminal", Message: err.Error()}
		}
		cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
		cmd.SysProcAttr = ttyAttr()
		s.tty, s.input, s.output, s.pty = true, master, master, master
		childEnds = []*os.File{slave}
	} else {
		inR, inW, err := os.Pipe()
		if err != nil {
			return nil, &hostError{Code: "start-failed", Title: "Could not start the command", Message: err.Error(), Retryable: true}
		}
		outR, outW, err := os.Pipe()
		if err != nil {
			inR.Close()
			inW.Close()
			return nil, &hostError{Code: "start-failed", Title: "Could not start the command", Message: err.Error(), Retryable: true}
		}
		// One pipe for both: stdout and stderr interleave in the order the process wrote them.
		cmd.Stdin, cmd.Stdout, cmd.Stderr = inR, outW, outW
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
		s.input, s.output = inW, outR
		childEnds = []*os.File{inR, outW}
	}
	err := cmd.Start()
	for _, f := range childEnds {
		f.Close() // the child has its copies; ours would keep the output from ever ending
	}
	if err != nil {
		s.output.Close()
		if s.input != s.output {
			s.input.Close()
		}
		return nil, &hostError{Code: "start-failed", Title: "Could not start the command", Message: err.Error(),
			Suggestion: "Check the command and the folder exist on the remote."}
	}
	s.pid = cmd.Process.Pid
	outputDone := make(chan struct{})
	go s.readOutput(outputDone)
	go s.wait(cmd, outputDone)
	return s, nil
}

// readOutput copies the process's output into the ring and wakes the attached clients.
func (s *procSession) readOutput(done chan struct{}) {
	buf := make([]byte, 32<<10)
	for {
		n, err := s.output.Read(buf)
		if n > 0 {
			s.mu.Lock()
			s.ring.write(buf[:n])
			s.cond.Broadcast()
			s.mu.Unlock()
		}
		if err != nil {
			break // EOF on a pipe; EIO on a pty master once the terminal is gone
		}
	}
	s.mu.Lock()
	s.outDone = true
	s.cond.Broadcast()
	s.mu.Unlock()
	close(done)
}

// wait reaps the process and records how it ended.
func (s *procSession) wait(cmd *exec.Cmd, outputDone chan struct{}) {
	err := cmd.Wait()
	select {
	case <-outputDone:
	case <-time.After(outputGrace):
	}
	s.output.Close() // ends readOutput if a background child still holds the output open
	<-outputDone
	code, sig := 255, ""
	if ps := cmd.ProcessState; ps != nil {
		if st, ok := ps.Sys().(syscall.WaitStatus); ok && st.Signaled() {
			sig = signalName(st.Signal())
		} else {
			code = ps.ExitCode()
		}
	} else if err != nil {
		log.Printf("session %s: wait: %v", s.id, err)
	}
	s.mu.Lock()
	s.exited, s.exitCode, s.signal, s.exitedAt = true, code, sig, time.Now()
	if s.input != nil && s.input != s.output {
		s.input.Close()
	}
	s.input = nil
	s.cond.Broadcast()
	s.mu.Unlock()
}

// info describes the session for `list`.
func (s *procSession) info() sessionInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	in := sessionInfo{ID: s.id, Name: s.name, Argv: s.argv, Cwd: s.cwd, Created: s.created.UTC().Format(time.RFC3339),
		PID: s.pid, TTY: s.tty, State: "running", Clients: len(s.attached), Buffered: s.ring.buffered(), Total: s.ring.total}
	switch {
	case s.exited && s.signal != "":
		in.State, in.Signal = "killed", s.signal
	case s.exited:
		code := s.exitCode
		in.State, in.ExitCode = "exited", &code
	}
	return in
}

func (s *procSession) running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return !s.exited
}

// attach sends the ring (when replay) and then the live output on st, and copies what the
// client writes on st to the process's input. An exited session still replays, then ends.
func (s *procSession) attach(st *muxStream, replay, eofClosesInput bool) {
	a := &attachment{stream: st}
	s.mu.Lock()
	pos := s.ring.total
	if replay {
		pos = s.ring.oldest()
	}
	s.attached[a] = true
	s.mu.Unlock()
	go s.pump(a, pos)
	go s.feed(a, eofClosesInput)
}

// pump sends output from position pos until the client detaches or the session ends.
func (s *procSession) pump(a *attachment, pos uint64) {
	buf := make([]byte, muxMaxData)
	for {
		s.mu.Lock()
		for !a.detached && pos >= s.ring.total && !(s.outDone && s.exited) {
			s.cond.Wait()
		}
		if a.detached {
			s.mu.Unlock()
			return
		}
		n, next, skipped := s.ring.readAt(pos, buf)
		pos = next
		if n == 0 { // drained, and the process is gone
			ev := exitEvent(s.exitCode, s.signal)
			s.mu.Unlock()
			a.stream.Event(ev)
			a.stream.CloseWrite()
			return
		}
		s.mu.Unlock()
		if skipped > 0 {
			// The client fell behind by more than the ring holds: say how much it lost.
			a.stream.Event([]byte(fmt.Sprintf(`{"dropped":%d}`, skipped)))
		}
		if _, err := a.stream.Write(buf[:n]); err != nil {
			s.detach(a)
			return
		}
	}
}

// feed copies the client's DATA to the process's input; the attachment ends with the stream.
func (s *procSession) feed(a *attachment, eofClosesInput bool) {
	buf := make([]byte, muxMaxData)
	for {
		n, err := a.stream.Read(buf)
		if n > 0 {
			s.mu.Lock()
			in := s.input
			s.mu.Unlock()
			if in != nil {
				in.Write(buf[:n]) // an error means the process is gone; its exit ends the attachment
			}
		}
		if err != nil {
			if err == io.EOF && eofClosesInput && !s.tty {
				s.mu.Lock()
				if s.input != nil {
					s.input.Close()
					s.input = nil
				}
				s.mu.Unlock()
			}
			break
		}
	}
	<-a.stream.Done()
	s.detach(a)
}

// detach stops sending output to a and resets its stream (if it is still open).
func (s *procSession) detach(a *attachment) bool {
	s.mu.Lock()
	was := s.attached[a]
	delete(s.attached, a)
	a.detached = true
	s.cond.Broadcast()
	s.mu.Unlock()
	// Not inline: sending the CLOSE may wait on that client's connection, and whoever detaches
	// (rm by another client, the retention) must not.
	go a.stream.Close()
	return was
}

// detachStream detaches the attachment on st; false when st is not attached here.
func (s *procSession) detachStream(st *muxStream) bool {
	s.mu.Lock()
	var found *attachment
	for a := range s.attached {
		if a.stream == st {
			found = a
		}
	}
	s.mu.Unlock()
	return found != nil && s.detach(found)
}

// detachAll ends every attachment (the session is being removed).
func (s *procSession) detachAll() {
	s.mu.Lock()
	all := make([]*attachment, 0, len(s.attached))
	for a := range s.attached {
		all = append(all, a)
	}
	s.mu.Unlock()
	for _, a := range all {
		s.detach(a)
	}
}

func (s *procSession) resize(cols, rows int) *hostError {
	if !s.tty {
		return &hostError{Code: "no-tty", Title: "Session has no terminal", Message: "session " + s.id + " was started without a terminal"}
	}
	if cols <= 0 || rows <= 0 || cols > 0xFFFF || rows > 0xFFFF {
		return errBadRequest("cols and rows must be between 1 and 65535")
	}
	if !s.running() {
		return errSessionExited(s)
	}
	if err := resizePTY(s.pty, cols, rows); err != nil {
		return &hostError{Code: "pty-failed", Title: "Could not resize the terminal", Message: err.Error()}
	}
	return nil
}

// kill sends sig to the process (group: to its whole process group).
func (s *procSession) kill(sig syscall.Signal, group bool) *hostError {
	if !s.running() {
		return errSessionExited(s)
	}
	pid := s.pid
	if group {
		pid = -pid // the process leads its own session and group (Setsid)
	}
	if err := syscall.Kill(pid, sig); err != nil {
		return &hostError{Code: "kill-failed", Title: "Could not signal the session", Message: err.Error()}
	}
	return nil
}

func exitEvent(code int, sig string) []byte {
	if sig != "" {
		b, _ := json.Marshal(map[string]string{"signal": sig})
		return b
	}
	return []byte(fmt.Sprintf(`{"exit":%d}`, code))
}

// Signal names on the wire are the POSIX names without "SIG".
var signalNames = map[string]syscall.Signal{
	"HUP": syscall.SIGHUP, "INT": syscall.SIGINT, "QUIT": syscall.SIGQUIT, "KILL": syscall.SIGKILL,
	"TERM": syscall.SIGTERM, "USR1": syscall.SIGUSR1, "USR2": syscall.SIGUSR2, "STOP": syscall.SIGSTOP,
	"CONT": syscall.SIGCONT, "WINCH": syscall.SIGWINCH, "ALRM": syscall.SIGALRM, "PIPE": syscall.SIGPIPE,
	"ABRT": syscall.SIGABRT, "SEGV": syscall.SIGSEGV, "TSTP": syscall.SIGTSTP,
}

// parseSignal accepts "TERM", "SIGTERM" or a number; "" is TERM.
func parseSignal(name string) (syscall.Signal, bool) {
	if name == "" {
		return syscall.SIGTERM, true
	}
	if n, err := strconv.Atoi(name); err == nil && n > 0 && n < 128 {
		return syscall.Signal(n), true
	}
	sig, ok := signalNames[strings.TrimPrefix(strings.ToUpper(name), "SIG")]
	return sig, ok
}

func signalName(sig syscall.Signal) string {
	for name, s := range signalNames {
		if s == sig {
			return name
		}
	}
	return strconv.Itoa(int(sig))
}

// sessionTable holds the host's sessions; ids and names are unique among those not removed.
type sessionTable struct {
	mu     sync.Mutex
	byID   map[string]*procSession
	retain time.Duration
	onIdle func() // called after a session is removed
}

func (t *sessionTable) add(s *procSession) *hostError {
	t.mu.Lock()
	defer t.mu.Unlock()
	if s.name == "" {
		s.name = s.id
	}
	for _, o := range t.byID {
		if o.name == s.name || o.id == s.name {
			return &hostError{Code: "name-taken", Title: "Name already taken",
				Message:    fmt.Sprintf("a session named %q exists (%s)", s.name, o.id),
				Suggestion: "Pick another name, or remove the old session with rm."}
		}
	}
	t.byID[s.id] = s
	go t.expireLater(s)
	return nil
}

// expireLater removes s once it has been over for the retention time.
func (t *sessionTable) expireLater(s *procSession) {
	s.mu.Lock()
	for !s.exited {
		s.cond.Wait()
	}
	s.mu.Unlock()
	if t.retain <= 0 {
		return
	}
	time.Sleep(t.retain)
	t.remove(s)
}

// find resolves an id, or else a name.
func (t *sessionTable) find(ref string) (*procSession, *hostError) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if s := t.byID[ref]; s != nil {
		return s, nil
	}
	for _, s := range t.byID {
		if s.name == ref {
			return s, nil
		}
	}
	names := make([]string, 0, len(t.byID))
	for _, s := range t.byID {
		names = append(names, s.name)
	}
	sort.Strings(names)
	sugg := "There are no sessions; start one."
	if len(names) > 0 {
		sugg = "Sessions here: " + strings.Join(names, ", ") + "."
	}
	return nil, &hostError{Code: "session-not-found", Title: "No such session",
		Message: fmt.Sprintf("no session has the id or name %q", ref), Suggestion: sugg}
}

func (t *sessionTable) list() []sessionInfo {
	t.mu.Lock()
	all := make([]*procSession, 0, len(t.byID))
	for _, s := range t.byID {
		all = append(all, s)
	}
	t.mu.Unlock()
	out := make([]sessionInfo, 0, len(all))
	for _, s := range all {
		out = append(out, s.info())
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Created != out[j].Created {
			return out[i].Created < out[j].Created
		}
		return out[i].ID < out[j].ID
	})
	return out
}

// remove forgets s and ends its attachments; the process must be over.
func (t *sessionTable) remove(s *procSession) {
	t.mu.Lock()
	if t.byID[s.id] != s {
		t.mu.Unlock()
		return
	}
	delete(t.byID, s.id)
	t.mu.Unlock()
	s.mu.Lock()
	s.removed = true
	s.mu.Unlock()
	s.detachAll()
	if t.onIdle != nil {
		t.onIdle()
	}
}

func (t *sessionTable) count() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.byID)
}

// hangUpAll sends HUP to the process group of every running session, as a terminal that
// closes would: the host is exiting and nobody could reach them any more.
func (t *sessionTable) hangUpAll() {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, s := range t.byID {
		if s.running() {
			syscall.Kill(-s.pid, syscall.SIGHUP)
		}
	}
}

func errSessionExited(s *procSession) *hostError {
	in := s.info()
	status := "killed by " + in.Signal
	if in.ExitCode != nil {
		status = fmt.Sprintf("exited with %d", *in.ExitCode)
	}
	return &hostError{Code: "session-exited", Title: "Session already ended",
		Message: fmt.Sprintf("session %s (%s) %s", in.ID, in.Name, status), Suggestion: "Remove it with rm, or attach to read its output."}
}
