package main

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestMain lets the test binary stand in for rmount-agent (connect --start runs os.Executable)
// and for the programs the sessions run (see helperMain).
func TestMain(m *testing.M) {
	if os.Getenv("RMOUNT_AGENT_TEST_HELPER") == "1" {
		os.Exit(helperMain(os.Args[1:]))
	}
	if os.Getenv("RMOUNT_AGENT_AS_MAIN") == "1" {
		main()
	}
	os.Exit(m.Run())
}

// helperMain: "pattern N CODE" writes N bytes of testPattern, then echoes stdin until EOF and
// exits with CODE.
func helperMain(args []string) int {
	if len(args) != 3 || args[0] != "pattern" {
		return 99
	}
	n, _ := strconv.Atoi(args[1])
	code, _ := strconv.Atoi(args[2])
	w := bufio.NewWriterSize(os.Stdout, 64<<10)
	w.Write(testPattern(0, n))
	w.Flush()
	io.Copy(os.Stdout, os.Stdin)
	return code
}

// testPattern is the bytes from..to of an output with no short period.
func testPattern(from, to int) []byte {
	b := make([]byte, 0, to-from)
	for i := from; i < to; i++ {
		b = append(b, byte(i^(i>>8)^(i>>16)))
	}
	return b
}

func helperArgv(n, code int) []string {
	return []string{os.Args[0], "pattern", strconv.Itoa(n), strconv.Itoa(code)}
}

var helperEnv = []string{"RMOUNT_AGENT_TEST_HELPER=1"}

// shortTempDir is a 0700 temp folder with a path short enough for a UNIX socket.
func shortTempDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "rmh")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// startTestHost serves a host in this process on a socket in a fresh private folder.
func startTestHost(t *testing.T) (*host, string) {
	t.Helper()
	path := filepath.Join(shortTempDir(t), "sock", "host.sock")
	ln, unlock, err := listenHostSocket(path)
	if err != nil {
		t.Fatal(err)
	}
	h := newHost(hostOptions{socket: path, retain: time.Hour})
	done := make(chan error, 1)
	go func() { done <- h.serve(ln) }()
	t.Cleanup(func() {
		h.Close()
		<-done
		unlock()
		for _, in := range h.sessions.list() {
			if in.State == "running" {
				syscall.Kill(-in.PID, syscall.SIGKILL)
			}
		}
	})
	return h, path
}

// testClient speaks the mux protocol as the TypeScript side will.
type testClient struct {
	t *testing.T
	m *muxConn

	mu       sync.Mutex
	nextReq  uint32
	pending  map[uint32]chan []byte
	events   map[uint32]*eventQueue
	accepted chan acceptedEvent
}

type acceptedEvent struct {
	Listener uint32 `json:"accepted"`
	Stream   uint32 `json:"stream"`
	Remote   string `json:"remote"`
	st       *muxStream
}

func dialTestHost(t *testing.T, path string) *testClient {
	t.Helper()
	conn, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	return newTestClient(t, conn)
}

func newTestClient(t *testing.T, rw io.ReadWriteCloser) *testClient {
	c := &testClient{t: t, pending: map[uint32]chan []byte{}, events: map[uint32]*eventQueue{}, accepted: make(chan acceptedEvent, 256)}
	c.m = newMuxConn(rw, false, c.onFrame)
	go c.m.serve()
	t.Cleanup(func() { c.m.Close() })
	return c
}

func (c *testClient) onFrame(typ byte, id uint32, payload []byte) {
	switch typ {
	case frameReply:
		c.mu.Lock()
		ch := c.pending[id]
		delete(c.pending, id)
		c.mu.Unlock()
		if ch != nil {
			ch <- payload
		}
	case frameEvent:
		if id == 0 {
			var ev acceptedEvent
			if json.Unmarshal(payload, &ev) == nil && ev.Stream != 0 {
				// Set the stream up before reading the next frame, which may be its DATA.
				st, err := c.m.openStream(ev.Stream, 0)
				if err == nil {
					ev.st = st
					c.accepted <- ev
				}
			}
			return
		}
		c.eventsOf(id).push(payload)
	}
}

// eventsOf is the queue of EVENTs on a stream: unbounded, since the read loop must never block.
func (c *testClient) eventsOf(id uint32) *eventQueue {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.events[id] == nil {
		c.events[id] = &eventQueue{ready: make(chan struct{}, 1)}
	}
	return c.events[id]
}

type eventQueue struct {
	mu    sync.Mutex
	items [][]byte
	ready chan struct{} // has a token while items is not empty
}

func (q *eventQueue) push(p []byte) {
	q.mu.Lock()
	q.items = append(q.items, p)
	q.mu.Unlock()
	select {
	case q.ready <- struct{}{}:
	default:
	}
}

func (q *eventQueue) pop(timeout time.Duration) ([]byte, bool) {
	deadline := time.After(timeout)
	for {
		q.mu.Lock()
		if len(q.items) > 0 {
			p := q.items[0]
			q.items = q.items[1:]
			if len(q.items) > 0 {
				select {
				case q.ready <- struct{}{}:
				default:
				}
			}
			q.mu.Unlock()
			return p, true
		}
		q.mu.Unlock()
		select {
		case <-q.ready:
		case <-deadline:
			return nil, false
		}
	}
}

// call sends a request and waits for its reply.
func (c *testClient) call(req map[string]interface{}) (json.RawMessage, *hostError) {
	c.t.Helper()
	b, _ := json.Marshal(req)
	ch := make(chan []byte, 1)
	c.mu.Lock()
	c.nextReq++
	id := c.nextReq
	c.pending[id] = ch
	c.mu.Unlock()
	if err := c.m.writeFrame(frameRequest, id, b); err != nil {
		c.t.Fatal(err)
	}
	var p []byte
	select {
	case p = <-ch:
	case <-time.After(20 * time.Second):
		c.t.Fatalf("no reply to %s", b)
	}
	var r struct {
		OK     bool            `json:"ok"`
		Result json.RawMessage `json:"result"`
		Error  *hostError      `json:"error"`
	}
	if err := json.Unmarshal(p, &r); err != nil {
		c.t.Fatalf("reply %q: %v", p, err)
	}
	if !r.OK {
		if r.Error == nil || r.Error.Code == "" || r.Error.Message == "" {
			c.t.Fatalf("error reply without code or message: %s", p)
		}
		return nil, r.Error
	}
	return r.Result, nil
}

func (c *testClient) must(req map[string]interface{}, into interface{}) {
	c.t.Helper()
	res, herr := c.call(req)
	if herr != nil {
		c.t.Fatalf("%v: %v", req["op"], herr)
	}
	if into != nil {
		if err := json.Unmarshal(res, into); err != nil {
			c.t.Fatal(err)
		}
	}
}

func (c *testClient) wantError(code string, req map[string]interface{}) {
	c.t.Helper()
	if _, herr := c.call(req); herr == nil || herr.Code != code {
		c.t.Fatalf("%v: want error %s, got %v", req, code, herr)
	}
}

func (c *testClient) start(req map[string]interface{}) string {
	c.t.Helper()
	req["op"] = "start"
	var r struct{ ID, Name string }
	c.must(req, &r)
	return r.ID
}

func (c *testClient) attach(session string, replay bool, extra map[string]interface{}) *muxStream {
	c.t.Helper()
	st, err := c.m.newStream()
	if err != nil {
		c.t.Fatal(err)
	}
	req := map[string]interface{}{"op": "attach", "session": session, "stream": st.id, "replay": replay}
	for k, v := range extra {
		req[k] = v
	}
	c.must(req, nil)
	return st
}

func (c *testClient) info(session string) sessionInfo {
	c.t.Helper()
	var all []sessionInfo
	c.must(map[string]interface{}{"op": "list"}, &all)
	for _, in := range all {
		if in.ID == session || in.Name == session {
			return in
		}
	}
	c.t.Fatalf("session %s not listed", session)
	return sessionInfo{}
}

// waitInfo polls list until ok accepts the session's entry.
func (c *testClient) waitInfo(session string, ok func(sessionInfo) bool) sessionInfo {
	c.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		in := c.info(session)
		if ok(in) {
			return in
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("session %s never got there: %+v", session, in)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (c *testClient) event(st *muxStream) map[string]interface{} {
	c.t.Helper()
	p, ok := c.eventsOf(st.id).pop(20 * time.Second)
	if !ok {
		c.t.Fatalf("no event on stream %d", st.id)
	}
	var ev map[string]interface{}
	json.Unmarshal(p, &ev)
	return ev
}

// readN reads exactly n bytes from r within 20 s.
func readN(t *testing.T, r io.Reader, n int) []byte {
	t.Helper()
	type res struct {
		b   []byte
		err error
	}
	ch := make(chan res, 1)
	go func() {
		b := make([]byte, n)
		_, err := io.ReadFull(r, b)
		ch <- res{b, err}
	}()
	select {
	case r := <-ch:
		if r.err != nil {
			t.Fatalf("read %d bytes: %v", n, r.err)
		}
		return r.b
	case <-time.After(20 * time.Second):
		t.Fatalf("read %d bytes: timed out", n)
		return nil
	}
}

// readUntil reads from r until the text read contains want.
func readUntil(t *testing.T, r io.Reader, want string) string {
	t.Helper()
	ch := make(chan string, 1)
	go func() {
		var got []byte
		buf := make([]byte, 4096)
		for {
			n, err := r.Read(buf)
			got = append(got, buf[:n]...)
			if bytes.Contains(got, []byte(want)) || err != nil {
				ch <- string(got)
				return
			}
		}
	}()
	select {
	case got := <-ch:
		if !strings.Contains(got, want) {
			t.Fatalf("stream ended before %q; got %q", want, got)
		}
		return got
	case <-time.After(20 * time.Second):
		t.Fatalf("no %q within 20 s", want)
		return ""
	}
}

// readToEnd reads until EOF within 20 s.
func readToEnd(t *testing.T, r io.Reader) ([]byte, error) {
	t.Helper()
	type res struct {
		b   []byte
		err error
	}
	ch := make(chan res, 1)
	go func() { b, err := io.ReadAll(r); ch <- res{b, err} }()
	select {
	case r := <-ch:
		return r.b, r.err
	case <-time.After(20 * time.Second):
		t.Fatal("no EOF within 20 s")
		return nil, nil
	}
}

func TestOutputRingKeepsTheLastBytesAcrossWraps(t *testing.T) {
	r := newOutputRing(10)
	all := testPattern(0, 37)
	for i := 0; i < len(all); i += 7 {
		end := i + 7
		if end > len(all) {
			end = len(all)
		}
		r.write(all[i:end])
	}
	r.write(nil)
	buf := make([]byte, 64)
	n, next, skipped := r.readAt(0, buf)
	if !bytes.Equal(buf[:n], all[27:]) || next != 37 || skipped != 27 || r.buffered() != 10 {
		t.Fatalf("got %v next %d skipped %d", buf[:n], next, skipped)
	}
	r.write(testPattern(100, 125)) // longer than the ring
	n, _, _ = r.readAt(r.oldest(), buf)
	if !bytes.Equal(buf[:n], testPattern(115, 125)) || r.total != 62 {
		t.Fatalf("after a long write: %v total %d", buf[:n], r.total)
	}
}

func TestAttachReplaysExactlyTheLastBufferBytes(t *testing.T) {
	_, path := startTestHost(t)
	c := dialTestHost(t, path)
	const total, size = 3000000, 1000000
	id := c.start(map[string]interface{}{"argv": helperArgv(total, 0), "env": helperEnv, "name": "big"})
	in := c.waitInfo(id, func(in sessionInfo) bool { return in.Total == total })
	if in.Buffered != size || in.State != "running" || in.Name != "big" {
		t.Fatalf("listed %+v", in)
	}
	st := c.attach("big", true, nil)
	if got := readN(t, st, size); !bytes.Equal(got, testPattern(total-size, total)) {
		t.Fatal("replay is not the last buffer-size bytes of the output")
	}
	st.Write([]byte("after\n")) // echoed: the live output follows the replay directly
	if got := readN(t, st, 6); string(got) != "after\n" {
		t.Fatalf("live output %q", got)
	}
}

func TestSessionClientsShareOutputDetachAndExitStatus(t *testing.T) {
	_, path := startTestHost(t)
	c1, c2 := dialTestHost(t, path), dialTestHost(t, path)
	id := c1.start(map[string]interface{}{"argv": helperArgv(100, 7), "env": helperEnv, "buffer": 4096})
	c1.waitInfo(id, func(in sessionInfo) bool { return in.Total == 100 })
	a1 := c1.attach(id, false, map[string]interface{}{"eofClosesInput": true})
	a2 := c2.attach(id, true, nil)
	if got := readN(t, a2, 100); !bytes.Equal(got, testPattern(0, 100)) {
		t.Fatal("replay to the second client differs")
	}
	a1.Write([]byte("one\n"))
	for _, st := range []*muxStream{a1, a2} {
		if got := readN(t, st, 4); string(got) != "one\n" {
			t.Fatalf("stream %d got %q", st.id, got)
		}
	}
	if in := c1.info(id); in.Clients != 2 {
		t.Fatalf("clients %d, want 2", in.Clients)
	}

	c2.must(map[string]interface{}{"op": "detach", "stream": a2.id}, nil)
	if _, err := readToEnd(t, a2); err != errStreamReset {
		t.Fatalf("detached stream ended with %v", err)
	}
	c1.waitInfo(id, func(in sessionInfo) bool { return in.Clients == 1 })
	a2 = c2.attach(id, false, nil)
	a2.Write([]byte("two\n")) // every attached client may type
	for _, st := range []*muxStream{a1, a2} {
		if got := readN(t, st, 4); string(got) != "two\n" {
			t.Fatalf("after re-attach stream %d got %q", st.id, got)
		}
	}

	a1.CloseWrite() // closes the helper's stdin: it exits 7
	for _, pair := range []struct {
		c  *testClient
		st *muxStream
	}{{c1, a1}, {c2, a2}} {
		if ev := pair.c.event(pair.st); ev["exit"] != float64(7) {
			t.Fatalf("exit event %v", ev)
		}
		if rest, err := readToEnd(t, pair.st); err != nil || len(rest) != 0 {
			t.Fatalf("after the exit event: %q %v", rest, err)
		}
	}
	in := c1.info(id)
	if in.State != "exited" || in.ExitCode == nil || *in.ExitCode != 7 {
		t.Fatalf("listed %+v", in)
	}
	c1.wantError("session-exited", map[string]interface{}{"op": "kill", "session": id})
	// An ended session still replays its output, then the exit status.
	a3 := c2.attach(id, true, nil)
	if got := readN(t, a3, 108); !bytes.Equal(got, append(testPattern(0, 100), "one\ntwo\n"...)) {
		t.Fatalf("replay after exit %q", got)
	}
	if ev := c2.event(a3); ev["exit"] != float64(7) {
		t.Fatalf("exit event after exit %v", ev)
	}
	var rm struct{ Removed []string }
	c1.must(map[string]interface{}{"op": "rm", "exited": true}, &rm)
	if len(rm.Removed) != 1 || rm.Removed[0] != id {
		t.Fatalf("rm exited removed %v", rm.Removed)
	}
	c1.wantError("session-not-found", map[string]interface{}{"op": "attach", "session": id, "stream": 101})
}

func TestKillSignalIsKeptAndRmRefusesRunning(t *testing.T) {
	_, path := startTestHost(t)
	c := dialTestHost(t, path)
	id := c.start(map[string]interface{}{"argv": helperArgv(0, 0), "env": helperEnv, "name": "victim"})
	st := c.attach("victim", true, nil)
	c.wantError("name-taken", map[string]interface{}{"op": "start", "argv": []string{"true"}, "name": "victim"})
	c.wantError("session-running", map[string]interface{}{"op": "rm", "session": "victim"})
	c.wantError("bad-request", map[string]interface{}{"op": "kill", "session": "victim", "signal": "NOPE"})
	c.must(map[string]interface{}{"op": "kill", "session": "victim", "signal": "TERM"}, nil)
	if ev := c.event(st); ev["signal"] != "TERM" {
		t.Fatalf("event %v", ev)
	}
	in := c.waitInfo(id, func(in sessionInfo) bool { return in.State != "running" })
	if in.State != "killed" || in.Signal != "TERM" || in.ExitCode != nil {
		t.Fatalf("listed %+v", in)
	}
	c.must(map[string]interface{}{"op": "rm", "session": "victim"}, nil)
	c.wantError("session-not-found", map[string]interface{}{"op": "kill", "session": "victim"})

	id = c.start(map[string]interface{}{"argv": helperArgv(0, 0), "env": helperEnv})
	c.must(map[string]interface{}{"op": "rm", "session": id, "force": true}, nil)
}

func TestHostileNamesAndArgumentsAreSafe(t *testing.T) {
	_, path := startTestHost(t)
	c := dialTestHost(t, path)
	for _, name := range []string{"../x", "a b", "x;rm -rf /", strings.Repeat("n", 65), "é", "$(id)"} {
		c.wantError("bad-request", map[string]interface{}{"op": "start", "argv": []string{"true"}, "name": name})
	}
	dir := shortTempDir(t)
	marker := filepath.Join(dir, "pwned")
	// Arguments reach the program as they are: no shell ever sees them.
	id := c.start(map[string]interface{}{"argv": []string{"echo", "$(touch " + marker + ")", "; touch " + marker}})
	st := c.attach(id, true, nil)
	if out := readUntil(t, st, "\n"); out != "$(touch "+marker+") ; touch "+marker+"\n" {
		t.Fatalf("echo printed %q", out)
	}
	if _, err := os.Stat(marker); !os.IsNotExist(err) {
		t.Fatal("an argument ran as shell code")
	}
	c.wantError("start-failed", map[string]interface{}{"op": "start", "argv": []string{"no-such-command-rmount"}})
	c.wantError("bad-request", map[string]interface{}{"op": "start", "argv": []string{}})
	c.wantError("bad-request", map[string]interface{}{"op": "nope"})
}

func TestTTYSessionHasTheRequestedSizeAndResizes(t *testing.T) {
	if !ptySupported {
		t.Skip("terminals are Linux-only")
	}
	_, path := startTestHost(t)
	c := dialTestHost(t, path)
	id := c.start(map[string]interface{}{
		"argv": []string{"sh", "-c", `stty size; read x; stty size; echo "term=$TERM"; read y; exit 3`},
		"tty":  map[string]interface{}{"cols": 100, "rows": 30, "term": "vt100"},
	})
	st := c.attach(id, true, nil)
	readUntil(t, st, "30 100")
	c.must(map[string]interface{}{"op": "resize", "session": id, "cols": 120, "rows": 40}, nil)
	st.Write([]byte("\n"))
	readUntil(t, st, "term=vt100")
	st.Write([]byte("\n"))
	if ev := c.event(st); ev["exit"] != float64(3) {
		t.Fatalf("exit event %v", ev)
	}
	var all []byte
	c2 := dialTestHost(t, path)
	st2 := c2.attach(id, true, nil)
	all, _ = readToEnd(t, st2)
	if !strings.Contains(string(all), "40 120") {
		t.Fatalf("after resize the output is %q", all)
	}
	if in := c.info(id); !in.TTY || in.State != "exited" || *in.ExitCode != 3 {
		t.Fatalf("listed %+v", in)
	}
}

func TestPTYUnsupportedElsewhere(t *testing.T) {
	if ptySupported {
		t.Skip("this system has terminals; the refusal is tested where it has none")
	}
	_, path := startTestHost(t)
	c := dialTestHost(t, path)
	c.wantError("pty-unsupported", map[string]interface{}{"op": "start", "argv": []string{"true"}, "tty": map[string]int{"cols": 80, "rows": 24}})
}

// echoServer echoes every connection until EOF, then half-closes.
func echoServer(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				io.Copy(conn, conn)
				conn.(*net.TCPConn).CloseWrite()
				conn.Close()
			}()
		}
	}()
	return ln.Addr().String()
}

// echoThrough dials addr through the host and moves n random bytes there and back.
func echoThrough(t *testing.T, c *testClient, addr string, n int) {
	t.Helper()
	st, _ := c.m.newStream()
	c.must(map[string]interface{}{"op": "dial", "stream": st.id, "network": "tcp", "address": addr}, nil)
	data := make([]byte, n)
	rand.Read(data)
	sent := sha256.Sum256(data)
	go func() {
		st.Write(data)
		st.CloseWrite()
	}()
	back, err := readToEnd(t, st)
	if err != nil || len(back) != n || sha256.Sum256(back) != sent {
		t.Fatalf("echo of %d bytes came back as %d bytes (%v), checksum equal %v", n, len(back), err, sha256.Sum256(back) == sent)
	}
}

func TestDialMovesOneMebibyteBothWays(t *testing.T) {
	_, path := startTestHost(t)
	c := dialTestHost(t, path)
	echoThrough(t, c, echoServer(t), 1<<20)

	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	closed := ln.Addr().String()
	ln.Close()
	st, _ := c.m.newStream()
	_, herr := c.call(map[string]interface{}{"op": "dial", "stream": st.id, "network": "tcp", "address": closed})
	if herr == nil || herr.Code != "dial-failed" || !strings.Contains(herr.Message, "refused") {
		t.Fatalf("dial to a closed port: %v", herr)
	}
	c.wantError("bad-request", map[string]interface{}{"op": "dial", "stream": 2, "network": "tcp", "address": closed})

	// A UNIX socket on the remote: the connection's EOF reaches the client and back.
	sock := filepath.Join(shortTempDir(t), "echo.sock")
	uln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer uln.Close()
	go func() {
		conn, err := uln.Accept()
		if err == nil {
			io.Copy(conn, conn)
			conn.(*net.UnixConn).CloseWrite()
		}
	}()
	ust, _ := c.m.newStream()
	c.must(map[string]interface{}{"op": "dial", "stream": ust.id, "network": "unix", "address": sock}, nil)
	ust.Write([]byte("over unix"))
	ust.CloseWrite()
	if got, err := readToEnd(t, ust); string(got) != "over unix" || err != nil {
		t.Fatalf("unix echo %q %v", got, err)
	}
	c.wantError("bad-request", map[string]interface{}{"op": "dial", "stream": 1001, "network": "udp", "address": closed})
}

func TestStalledStreamDoesNotStallOthers(t *testing.T) {
	_, path := startTestHost(t)
	c := dialTestHost(t, path)
	// A server that floods every connection: our stream to it is never read.
	flood, _ := net.Listen("tcp", "127.0.0.1:0")
	defer flood.Close()
	go func() {
		conn, err := flood.Accept()
		if err != nil {
			return
		}
		chunk := make([]byte, 64<<10)
		for {
			if _, err := conn.Write(chunk); err != nil {
				return
			}
		}
	}()
	stalled, _ := c.m.newStream()
	c.must(map[string]interface{}{"op": "dial", "stream": stalled.id, "network": "tcp", "address": flood.Addr().String()}, nil)
	// Wait until the host has filled the stalled stream's whole window.
	deadline := time.Now().Add(10 * time.Second)
	for {
		stalled.mu.Lock()
		full := stalled.buf.Len() == muxWindow
		stalled.mu.Unlock()
		if full {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the stalled stream never filled its window")
		}
		time.Sleep(10 * time.Millisecond)
	}
	done := make(chan struct{})
	go func() {
		echoThrough(t, c, echoServer(t), 10<<20)
		close(done)
	}()
	c.must(map[string]interface{}{"op": "list"}, nil) // requests still get replies
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		t.Fatal("10 MiB did not pass beside a stalled stream")
	}
	stalled.mu.Lock()
	held := stalled.buf.Len()
	stalled.mu.Unlock()
	if held != muxWindow {
		t.Fatalf("the stalled stream holds %d bytes, more than its window", held)
	}
}

func TestListenAnnouncesAcceptedConnections(t *testing.T) {
	_, path := startTestHost(t)
	c := dialTestHost(t, path)
	var r struct {
		Listener uint32
		Address  string
	}
	c.must(map[string]interface{}{"op": "listen", "network": "tcp", "address": "127.0.0.1:0"}, &r)
	conn, err := net.Dial("tcp", r.Address)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var ev acceptedEvent
	select {
	case ev = <-c.accepted:
	case <-time.After(10 * time.Second):
		t.Fatal("no accepted event")
	}
	if ev.Listener != r.Listener || ev.Stream%2 != 0 || ev.Remote != conn.LocalAddr().String() {
		t.Fatalf("event %+v", ev)
	}
	conn.Write([]byte("ping"))
	if got := readN(t, ev.st, 4); string(got) != "ping" {
		t.Fatalf("stream got %q", got)
	}
	ev.st.Write([]byte("pong"))
	ev.st.CloseWrite()
	if got, _ := io.ReadAll(conn); string(got) != "pong" {
		t.Fatalf("connection got %q", got)
	}
	c.must(map[string]interface{}{"op": "unlisten", "listener": r.Listener}, nil)
	if _, err := net.Dial("tcp", r.Address); err == nil {
		t.Fatal("the listener still accepts after unlisten")
	}
	c.wantError("listener-not-found", map[string]interface{}{"op": "unlisten", "listener": r.Listener})
}

func TestPortsListsListeningTCP(t *testing.T) {
	_, path := startTestHost(t)
	c := dialTestHost(t, path)
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).Port
	var r struct {
		Supported bool
		Ports     []listeningPort
	}
	c.must(map[string]interface{}{"op": "ports"}, &r)
	if r.Supported != (runtime.GOOS == "linux") {
		t.Fatalf("supported %v on %s", r.Supported, runtime.GOOS)
	}
	if !r.Supported {
		return
	}
	for _, p := range r.Ports {
		if p.Port == port && p.Address == "127.0.0.1" && p.Family == "tcp4" {
			return
		}
	}
	t.Fatalf("port %d not in %+v", port, r.Ports)
}

func TestSocketFolderMustBePrivate(t *testing.T) {
	base := shortTempDir(t)
	open := filepath.Join(base, "open")
	os.Mkdir(open, 0o700)
	os.Chmod(open, 0o777)
	link := filepath.Join(base, "link")
	private := filepath.Join(base, "private")
	os.Mkdir(private, 0o700)
	os.Symlink(private, link)
	cases := map[string]string{open: "socket-dir-mode", link: "socket-dir-symlink"}
	if os.Getuid() == 0 {
		other := filepath.Join(base, "other")
		os.Mkdir(other, 0o700)
		if err := os.Chown(other, 65534, 65534); err != nil {
			t.Fatal(err)
		}
		cases[other] = "socket-dir-owner"
	} else {
		cases["/"] = "socket-dir-owner" // root's, and we are not root
	}
	for dir, code := range cases {
		err := ensureSocketDir(dir, true)
		if se, ok := err.(*sockDirError); !ok || se.code != code {
			t.Errorf("%s: want %s, got %v", dir, code, err)
		}
		var stderr bytes.Buffer
		if rc := run([]string{"host", "--socket", filepath.Join(dir, "h.sock")}, nil, io.Discard, &stderr); rc != 1 || !strings.Contains(stderr.String(), "refusing socket folder") {
			t.Errorf("host in %s: exit %d, %q", dir, rc, stderr.String())
		}
		if _, err := os.Lstat(filepath.Join(dir, "h.sock")); !os.IsNotExist(err) {
			t.Errorf("host wrote into %s", dir)
		}
	}
	fresh := filepath.Join(base, "fresh", "sock")
	if err := ensureSocketDir(fresh, true); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(fresh); fi.Mode().Perm() != 0o700 {
		t.Fatalf("created with mode %v", fi.Mode())
	}
}

func TestSecondHostOnTheSameSocketRefuses(t *testing.T) {
	_, path := startTestHost(t)
	var stderr bytes.Buffer
	if rc := run([]string{"host", "--socket", path}, nil, io.Discard, &stderr); rc != 1 || !strings.Contains(stderr.String(), "another host") {
		t.Fatalf("exit %d, %q", rc, stderr.String())
	}
	dialTestHost(t, path).must(map[string]interface{}{"op": "hello"}, nil) // the first one still serves
}

func TestConnectStartStartsAHost(t *testing.T) {
	t.Setenv("RMOUNT_AGENT_AS_MAIN", "1") // the started "host" is this test binary running main
	path := filepath.Join(shortTempDir(t), "s", "host.sock")
	connect := func() (*testClient, chan int, io.Closer) {
		inR, inW := io.Pipe()
		outR, outW := io.Pipe()
		rc := make(chan int, 1)
		go func() {
			var stderr bytes.Buffer
			code := run([]string{"connect", "--socket", path, "--start", "--idle-exit", "1m"}, inR, outW, &stderr)
			if code != 0 {
				t.Logf("connect: %s", stderr.String())
			}
			outW.Close()
			rc <- code
		}()
		return newTestClient(t, struct {
			io.Reader
			io.Writer
			io.Closer
		}{outR, inW, inW}), rc, inW
	}
	c, rc, stdin := connect()
	var hello struct {
		PID      int
		Protocol int
	}
	c.must(map[string]interface{}{"op": "hello"}, &hello)
	if hello.PID == os.Getpid() || hello.PID == 0 || hello.Protocol != hostProtocol {
		t.Fatalf("hello %+v", hello)
	}
	t.Cleanup(func() { syscall.Kill(hello.PID, syscall.SIGTERM) })
	id := c.start(map[string]interface{}{"argv": helperArgv(10, 0), "env": helperEnv})
	stdin.Close()
	select {
	case code := <-rc:
		if code != 0 {
			t.Fatalf("connect exited %d", code)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("connect did not end with its stdin")
	}
	// The session lives in the host, not in the client that started it.
	c2, _, stdin2 := connect()
	defer stdin2.Close()
	var again struct{ PID int }
	c2.must(map[string]interface{}{"op": "hello"}, &again)
	if again.PID != hello.PID {
		t.Fatalf("a second host started (%d, first %d)", again.PID, hello.PID)
	}
	c2.waitInfo(id, func(in sessionInfo) bool { return in.Total == 10 })
	c2.must(map[string]interface{}{"op": "rm", "session": id, "force": true}, nil)
}

func TestMuxRejectsWrongParityAndReusedStreams(t *testing.T) {
	a, b := net.Pipe()
	m := newMuxConn(a, true, nil)
	defer m.Close()
	defer b.Close()
	if _, err := m.openStream(2, 1); err == nil {
		t.Fatal("a client stream with an even id was accepted")
	}
	if _, err := m.openStream(3, 1); err != nil {
		t.Fatal(err)
	}
	if _, err := m.openStream(3, 1); err == nil {
		t.Fatal("a stream id in use was accepted again")
	}
	if s, _ := m.newStream(); s.id%2 != 0 {
		t.Fatalf("host allocated odd id %d", s.id)
	}
}

func TestHostExitsWhenIdleAndKeepsEndedSessionsForTheRetention(t *testing.T) {
	path := filepath.Join(shortTempDir(t), "s", "host.sock")
	ln, unlock, err := listenHostSocket(path)
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	h := newHost(hostOptions{socket: path, retain: 300 * time.Millisecond, idleExit: 200 * time.Millisecond})
	done := make(chan error, 1)
	go func() { done <- h.serve(ln) }()
	c := dialTestHost(t, path)
	id := c.start(map[string]interface{}{"argv": []string{"true"}})
	c.waitInfo(id, func(in sessionInfo) bool { return in.State == "exited" })
	c.m.Close()
	select {
	case <-done:
		t.Fatal("the host exited while it kept an ended session")
	case <-time.After(250 * time.Millisecond):
	}
	if h.sessions.count() != 1 {
		t.Fatal("the ended session went before the retention time")
	}
	select {
	case err := <-done: // retention (300 ms) then idle (200 ms)
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the idle host did not exit")
	}
	if h.sessions.count() != 0 {
		t.Fatal("the ended session outlived the retention time")
	}
}

func TestStartChecksCwdAndEnv(t *testing.T) {
	_, path := startTestHost(t)
	c := dialTestHost(t, path)
	c.wantError("bad-request", map[string]interface{}{"op": "start", "argv": []string{"true"}, "cwd": "relative/dir"})
	c.wantError("bad-request", map[string]interface{}{"op": "start", "argv": []string{"true"}, "env": []string{"NOEQUALS"}})
	c.wantError("start-failed", map[string]interface{}{"op": "start", "argv": []string{"true"}, "cwd": "/no/such/folder"})
	dir := shortTempDir(t)
	id := c.start(map[string]interface{}{"argv": []string{"sh", "-c", `echo "$PWD $RMOUNT_X" >&2`}, "cwd": dir, "env": []string{"RMOUNT_X=y z"}})
	// stderr goes to the ring like stdout when there is no terminal
	if out, _ := readToEnd(t, c.attach(id, true, nil)); string(out) != dir+" y z\n" {
		t.Fatalf("output %q", out)
	}
}

func TestDefaultSocketPath(t *testing.T) {
	t.Setenv("XDG_RUNTIME_DIR", "")
	if got, want := defaultSocketPath(), fmt.Sprintf("/tmp/rmount-agent-%d/host.sock", os.Getuid()); got != want {
		t.Fatalf("got %s, want %s", got, want)
	}
	dir := shortTempDir(t)
	t.Setenv("XDG_RUNTIME_DIR", dir)
	if got := defaultSocketPath(); got != filepath.Join(dir, "rmount-agent", "host.sock") {
		t.Fatalf("with XDG_RUNTIME_DIR: %s", got)
	}
	os.Chmod(dir, 0o755) // not private: not usable
	if got := defaultSocketPath(); !strings.HasPrefix(got, "/tmp/rmount-agent-") {
		t.Fatalf("with a shared XDG_RUNTIME_DIR: %s", got)
	}
	if err := checkSocketPath("/" + strings.Repeat("x", 200)); err == nil {
		t.Fatal("an over-long socket path was accepted")
	}
}

func TestSlowClientSkipsAheadWithADroppedEvent(t *testing.T) {
	_, path := startTestHost(t)
	c := dialTestHost(t, path)
	const size, sent = 4096, 1 << 20
	id := c.start(map[string]interface{}{"argv": helperArgv(0, 0), "env": helperEnv, "buffer": size})
	st := c.attach(id, false, map[string]interface{}{"eofClosesInput": true})
	input := testPattern(0, sent)
	go func() {
		st.Write(input)
		st.CloseWrite()
	}()
	// Nobody reads while the helper echoes it all: the process never waits for the client.
	c.waitInfo(id, func(in sessionInfo) bool { return in.State == "exited" && in.Total == sent })
	got, err := readToEnd(t, st)
	if err != nil {
		t.Fatal(err)
	}
	var dropped float64
	for ev := c.event(st); ev["exit"] == nil; ev = c.event(st) {
		dropped += ev["dropped"].(float64)
	}
	// At most a window reached the stream before the output outran the ring.
	if len(got) > muxWindow+size || len(got)+int(dropped) != sent || !bytes.Equal(got[len(got)-size:], input[sent-size:]) {
		t.Fatalf("got %d bytes and dropped %v of %d", len(got), dropped, sent)
	}
}

func TestMuxDropsAPeerThatStopsReading(t *testing.T) {
	a, b := net.Pipe() // synchronous: a write waits for the peer to read
	defer b.Close()
	m := newMuxConn(a, true, nil)
	m.writeTimeout = 50 * time.Millisecond
	st, _ := m.newStream()
	start := time.Now()
	if _, err := st.Write([]byte("x")); err == nil {
		t.Fatal("a write to a peer that never reads succeeded")
	}
	select {
	case <-m.closed:
	case <-time.After(5 * time.Second):
		t.Fatal("the connection stayed up")
	}
	if _, err := st.Read(make([]byte, 1)); err != errStreamReset || time.Since(start) > 5*time.Second {
		t.Fatalf("stream after the drop: %v", err)
	}
}
