package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"sync"
	"syscall"
	"time"
)

// hostProtocol is the version `hello` reports; it changes when a client must behave differently.
const hostProtocol = 1

// hostError is the error of a REPLY: a stable code plus text for people.
type hostError struct {
	Code       string `json:"code"`
	Title      string `json:"title"`
	Message    string `json:"message"`
	Suggestion string `json:"suggestion,omitempty"`
	Retryable  bool   `json:"retryable"`
}

func (e *hostError) Error() string { return e.Code + ": " + e.Message }

func errBadRequest(msg string) *hostError {
	return &hostError{Code: "bad-request", Title: "Bad request", Message: msg}
}

// hostRequest holds the fields of every op; each op reads the ones it documents.
type hostRequest struct {
	Op             string   `json:"op"`
	Argv           []string `json:"argv"`
	Cwd            string   `json:"cwd"`
	Env            []string `json:"env"`
	TTY            *ttySpec `json:"tty"`
	Name           string   `json:"name"`
	Buffer         int      `json:"buffer"`
	Session        string   `json:"session"`
	Stream         uint32   `json:"stream"`
	Replay         bool     `json:"replay"`
	EOFClosesInput bool     `json:"eofClosesInput"`
	Cols           int      `json:"cols"`
	Rows           int      `json:"rows"`
	Signal         string   `json:"signal"`
	Group          bool     `json:"group"`
	Force          bool     `json:"force"`
	Exited         bool     `json:"exited"`
	Network        string   `json:"network"`
	Address        string   `json:"address"`
	Listener       uint32   `json:"listener"`
	ErrStream      uint32   `json:"errStream"`
}

// hostOptions are the flags of `rmount-agent host`.
type hostOptions struct {
	socket   string
	retain   time.Duration // how long an ended session stays listed
	idleExit time.Duration // exit after this long with no session and no client; 0 never
}

// host owns the sessions and serves clients on a UNIX socket.
type host struct {
	opts     hostOptions
	sessions *sessionTable

	mu      sync.Mutex // protects the fields below
	clients map[*hostClient]bool
	ln      net.Listener
	idle    *time.Timer
	closed  bool
	done    chan struct{}
}

func newHost(opts hostOptions) *host {
	h := &host{opts: opts, clients: map[*hostClient]bool{}, done: make(chan struct{})}
	h.sessions = &sessionTable{byID: map[string]*procSession{}, retain: opts.retain, onIdle: h.checkIdle}
	return h
}

// serve accepts clients until Close (or the idle exit); it returns nil then.
func (h *host) serve(ln net.Listener) error {
	h.mu.Lock()
	h.ln = ln
	h.mu.Unlock()
	h.checkIdle()
	for {
		conn, err := ln.Accept()
		if err != nil {
			select {
			case <-h.done:
				return nil
			default:
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				time.Sleep(10 * time.Millisecond)
				continue
			}
			return err
		}
		c := &hostClient{h: h, listeners: map[uint32]net.Listener{}, attached: map[uint32]*procSession{}, runs: map[uint32]*runProc{}, dialed: map[*muxStream]net.Conn{}}
		c.m = newMuxConn(conn, true, c.onFrame)
		h.mu.Lock()
		h.clients[c] = true
		if h.idle != nil {
			h.idle.Stop()
		}
		h.mu.Unlock()
		go func() {
			c.m.serve()
			c.closeListeners()
			h.mu.Lock()
			delete(h.clients, c)
			h.mu.Unlock()
			h.checkIdle()
		}()
	}
}

// Close stops accepting, drops every client and returns from serve. Sessions' processes are
// left alone: they lose their terminal or pipes and get SIGHUP or SIGPIPE from the kernel.
func (h *host) Close() {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return
	}
	h.closed = true
	close(h.done)
	ln := h.ln
	clients := h.clients
	h.clients = map[*hostClient]bool{}
	h.mu.Unlock()
	if ln != nil {
		ln.Close()
	}
	for c := range clients {
		c.m.Close()
	}
}

// checkIdle arms the idle-exit timer when the host has no session and no client.
func (h *host) checkIdle() {
	if h.opts.idleExit <= 0 {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed || len(h.clients) > 0 || h.sessions.count() > 0 {
		return
	}
	if h.idle != nil {
		h.idle.Stop()
	}
	h.idle = time.AfterFunc(h.opts.idleExit, func() {
		h.mu.Lock()
		idle := len(h.clients) == 0 && h.sessions.count() == 0
		h.mu.Unlock()
		if idle {
			log.Printf("host: idle for %v, exiting", h.opts.idleExit)
			h.Close()
		}
	})
}

// hostClient is one connected client: its mux, and what dies with it (listeners, streams).
type hostClient struct {
	h *host
	m *muxConn

	mu           sync.Mutex // protects the fields below
	listeners    map[uint32]net.Listener
	nextListener uint32
	attached     map[uint32]*procSession // stream id → session, for detach
	runs         map[uint32]*runProc     // stream id → running `run`, for kill and resize
	dialed       map[*muxStream]net.Conn // dialed, waiting for the reply to go out
}

// onFrame runs on the read loop: it decodes a request, registers the stream the request names
// (so that DATA right behind it finds it) and hands the work to a goroutine.
func (c *hostClient) onFrame(typ byte, id uint32, payload []byte) {
	if typ != frameRequest {
		return // the host expects no REPLY or EVENT from a client
	}
	var req hostRequest
	if err := json.Unmarshal(payload, &req); err != nil {
		go c.reply(id, nil, errBadRequest("request is not JSON: "+err.Error()))
		return
	}
	if req.Op == "run" {
		c.openRun(id, &req)
		return
	}
	var st *muxStream
	if req.Op == "attach" || req.Op == "dial" {
		var err error
		if st, err = c.m.openStream(req.Stream, 1); err != nil {
			go c.reply(id, nil, errBadRequest(err.Error()+" (a client's streams are odd and unused)"))
			return
		}
	}
	go func() {
		result, herr := c.handle(&req, st)
		if herr != nil && st != nil {
			st.finish(true, false) // the client forgets the stream on the error reply
		}
		c.reply(id, result, herr)
		if herr == nil && st != nil {
			c.started(&req, st)
		}
	}()
}

// reply sends {"ok":true,"result":…} or {"ok":false,"error":…}.
func (c *hostClient) reply(id uint32, result interface{}, herr *hostError) {
	var b []byte
	var err error
	if herr != nil {
		b, err = json.Marshal(struct {
			OK    bool       `json:"ok"`
			Error *hostError `json:"error"`
		}{false, herr})
	} else {
		b, err = json.Marshal(struct {
			OK     bool        `json:"ok"`
			Result interface{} `json:"result"`
		}{true, result})
	}
	if err != nil {
		b = []byte(`{"ok":false,"error":{"code":"internal","title":"Internal error","message":"reply not encodable","retryable":false}}`)
	}
	c.m.writeFrame(frameReply, id, b)
}

// handle runs one op. Ops that own a stream start moving bytes in started, after the reply.
func (c *hostClient) handle(req *hostRequest, st *muxStream) (interface{}, *hostError) {
	h := c.h
	switch req.Op {
	case "hello":
		host, _ := os.Hostname()
		return map[string]interface{}{"protocol": hostProtocol, "version": version, "os": runtime.GOOS,
			"arch": runtime.GOARCH, "pid": os.Getpid(), "hostname": host, "pty": ptySupported, "ports": portsSupported}, nil
	case "start":
		if req.Name != "" && !sessionNameRE.MatchString(req.Name) {
			return nil, errBadRequest("a session name is 1 to 64 of A-Z a-z 0-9 . _ -")
		}
		if req.Name != "" {
			if _, herr := h.sessions.find(req.Name); herr == nil {
				return nil, &hostError{Code: "name-taken", Title: "Name already taken",
					Message: fmt.Sprintf("a session named %q exists", req.Name), Suggestion: "Pick another name, or remove the old session with rm."}
			}
		}
		s, herr := startProcSession(startRequest{Argv: req.Argv, Cwd: req.Cwd, Env: req.Env, TTY: req.TTY, Name: req.Name, Buffer: req.Buffer})
		if herr != nil {
			return nil, herr
		}
		if herr := h.sessions.add(s); herr != nil {
			syscall.Kill(-s.pid, syscall.SIGKILL) // lost a race for the name
			return nil, herr
		}
		return map[string]string{"id": s.id, "name": s.name}, nil
	case "list":
		return h.sessions.list(), nil
	case "attach":
		s, herr := h.sessions.find(req.Session)
		if herr != nil {
			return nil, herr
		}
		c.mu.Lock()
		c.attached[st.id] = s
		c.mu.Unlock()
		return s.info(), nil
	case "detach":
		c.mu.Lock()
		s := c.attached[req.Stream]
		c.mu.Unlock()
		if s == nil {
			return nil, &hostError{Code: "not-attached", Title: "Not attached", Message: fmt.Sprintf("stream %d is not attached to a session", req.Stream)}
		}
		c.m.mu.Lock()
		ast := c.m.streams[req.Stream]
		c.m.mu.Unlock()
		if ast != nil {
			s.detachStream(ast)
		}
		return nil, nil
	case "resize":
		if p := c.runFor(req); p != nil {
			return nil, p.resize(req.Cols, req.Rows)
		}
		s, herr := h.sessions.find(req.Session)
		if herr != nil {
			return nil, herr
		}
		return nil, s.resize(req.Cols, req.Rows)
	case "kill":
		sig, ok := parseSignal(req.Signal)
		if !ok {
			return nil, errBadRequest(fmt.Sprintf("unknown signal %q", req.Signal))
		}
		if p := c.runFor(req); p != nil {
			return nil, p.signal(sig)
		}
		s, herr := h.sessions.find(req.Session)
		if herr != nil {
			return nil, herr
		}
		return nil, s.kill(sig, req.Group)
	case "rm":
		return c.remove(req)
	case "dial":
		return nil, c.dial(req, st)
	case "listen":
		return c.listen(req)
	case "unlisten":
		c.mu.Lock()
		ln := c.listeners[req.Listener]
		delete(c.listeners, req.Listener)
		c.mu.Unlock()
		if ln == nil {
			return nil, &hostError{Code: "listener-not-found", Title: "No such listener", Message: fmt.Sprintf("listener %d is not open on this connection", req.Listener)}
		}
		ln.Close()
		return nil, nil
	case "ports":
		ports, err := listeningPorts()
		if err != nil {
			return nil, &hostError{Code: "ports-failed", Title: "Could not read the listening ports", Message: err.Error(), Retryable: true}
		}
		if ports == nil {
			ports = []listeningPort{}
		}
		return map[string]interface{}{"supported": portsSupported, "ports": ports}, nil
	default:
		return nil, errBadRequest(fmt.Sprintf("unknown op %q", req.Op))
	}
}

// runFor is the `run` a kill or resize names by its stream (no session given), if any.
func (c *hostClient) runFor(req *hostRequest) *runProc {
	if req.Session != "" || req.Stream == 0 {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.runs[req.Stream]
}

// openRun registers a `run`'s streams on the read loop (so that stdin right behind the request
// finds them) and starts the command on its own goroutine.
func (c *hostClient) openRun(id uint32, req *hostRequest) {
	st, err := c.m.openStream(req.Stream, 1)
	if err != nil {
		go c.reply(id, nil, errBadRequest(err.Error()+" (a client's streams are odd and unused)"))
		return
	}
	var errSt *muxStream
	if req.ErrStream != 0 {
		if errSt, err = c.m.openStream(req.ErrStream, 1); err != nil {
			st.finish(true, false)
			go c.reply(id, nil, errBadRequest(err.Error()+" (a client's streams are odd and unused)"))
			return
		}
	}
	go func() {
		p, herr := startRun(req)
		if herr != nil {
			st.finish(true, false)
			if errSt != nil {
				errSt.finish(true, false)
			}
			c.reply(id, nil, herr)
			return
		}
		c.mu.Lock()
		c.runs[st.id] = p
		c.mu.Unlock()
		c.reply(id, map[string]int{"pid": p.pid}, nil)
		p.serve(st, errSt)
		c.mu.Lock()
		delete(c.runs, st.id)
		c.mu.Unlock()
	}()
}

// started begins the byte traffic of an op whose reply went out.
func (c *hostClient) started(req *hostRequest, st *muxStream) {
	switch req.Op {
	case "attach":
		c.mu.Lock()
		s := c.attached[st.id]
		c.mu.Unlock()
		s.attach(st, req.Replay, req.EOFClosesInput)
		go func() {
			<-st.Done()
			c.mu.Lock()
			delete(c.attached, st.id)
			c.mu.Unlock()
		}()
	case "dial":
		c.mu.Lock()
		conn := c.dialed[st]
		delete(c.dialed, st)
		c.mu.Unlock()
		go pipeConn(conn, st)
	}
}

// remove is `rm`: one session (a running one only with force), or every ended one.
func (c *hostClient) remove(req *hostRequest) (interface{}, *hostError) {
	t := c.h.sessions
	if req.Exited {
		removed := []string{}
		for _, in := range t.list() {
			if in.State == "running" {
				continue
			}
			if s, herr := t.find(in.ID); herr == nil {
				t.remove(s)
				removed = append(removed, in.ID)
			}
		}
		return map[string]interface{}{"removed": removed}, nil
	}
	s, herr := t.find(req.Session)
	if herr != nil {
		return nil, herr
	}
	if s.running() {
		if !req.Force {
			return nil, &hostError{Code: "session-running", Title: "Session still running",
				Message: fmt.Sprintf("session %s (%s) is running", s.id, s.name), Suggestion: "Kill it first, or remove it with force."}
		}
		syscall.Kill(-s.pid, syscall.SIGKILL)
		deadline := time.Now().Add(5 * time.Second)
		for s.running() && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		if s.running() {
			return nil, &hostError{Code: "kill-failed", Title: "Session did not end", Message: "KILL did not end the process within 5 s", Retryable: true}
		}
	}
	t.remove(s)
	return map[string]interface{}{"removed": []string{s.id}}, nil
}

func (c *hostClient) closeListeners() {
	c.mu.Lock()
	all := c.listeners
	c.listeners = map[uint32]net.Listener{}
	c.mu.Unlock()
	for _, ln := range all {
		ln.Close()
	}
}

// runHost is `rmount-agent host`.
func runHost(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("host", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o hostOptions
	fs.StringVar(&o.socket, "socket", "", "UNIX socket to serve (default $XDG_RUNTIME_DIR/rmount-agent/host.sock or /tmp/rmount-agent-UID/host.sock)")
	fs.DurationVar(&o.retain, "retain", time.Hour, "how long an ended session stays listed (0: until rm)")
	fs.DurationVar(&o.idleExit, "idle-exit", 10*time.Minute, "exit after this long with no session and no client (0: never)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if o.socket == "" {
		o.socket = defaultSocketPath()
	}
	ln, unlock, err := listenHostSocket(o.socket)
	if err != nil {
		fmt.Fprintf(stderr, "rmount-agent host: %v\n", err)
		return 1
	}
	defer unlock()
	h := newHost(o)
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	// Caught, not ignored: an ignored signal stays ignored in every process a session starts
	// (their pipelines would never die of SIGPIPE, nor a session of `kill -s HUP`); a caught
	// one is back to its default in a new process.
	quiet := make(chan os.Signal, 1)
	signal.Notify(quiet, syscall.SIGHUP, syscall.SIGPIPE)
	go func() {
		for range quiet {
		}
	}()
	go func() {
		<-sigs
		h.Close()
	}()
	err = h.serve(ln)
	h.sessions.hangUpAll()
	if err != nil {
		fmt.Fprintf(stderr, "rmount-agent host: %v\n", err)
		return 1
	}
	return 0
}

// listenHostSocket checks (or creates) the socket's private folder, takes the host lock next to
// the socket so that only one host serves it, replaces a stale socket and listens.
func listenHostSocket(path string) (net.Listener, func(), error) {
	if err := checkSocketPath(path); err != nil {
		return nil, nil, err
	}
	if err := ensureSocketDir(filepath.Dir(path), true); err != nil {
		return nil, nil, err
	}
	lock, err := os.OpenFile(path+".lock", os.O_RDWR|os.O_CREATE|syscall.O_NOFOLLOW, 0o600)
	if err != nil {
		return nil, nil, err
	}
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		lock.Close()
		return nil, nil, &sockDirError{code: "host-running", msg: "another host serves " + path}
	}
	if err := os.Remove(path); err != nil && !os.IsNotExist(err) {
		lock.Close()
		return nil, nil, err
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		lock.Close()
		return nil, nil, err
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(true)
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		lock.Close()
		return nil, nil, err
	}
	return ln, func() { ln.Close(); lock.Close() }, nil
}
