package main

// A durable SFTP session outlives the connection it was started over, so a dropped link costs
// neither open handles nor files that were unlinked or renamed while open (in the spirit of
// SMB3's durable handles).
//
// `rmount-agent sftp --durable` is a relay: it reads "rmount-durable 1 ID TOKEN" from stdin,
// connects to the session's keeper at SOCKDIR/sftp-ID.sock (starting one, detached, when none
// listens), proves itself with the token, prints "rmount-durable new|resumed INSTANCE" and then
// hands its stdin and stdout to the keeper over the socket (SCM_RIGHTS), so that the SFTP bytes
// go between the keeper and sshd (or docker) with no process copying them in between; the relay
// only waits until the keeper is done with them. Where its stdio are not files (tests), it copies
// bytes both ways instead. The keeper (`rmount-agent sftp-keeper`) holds the SFTP server: its
// handle table stays while no connection is attached, for the grace period, and then it exits and
// removes its socket. A new connection with the token replaces an attached one (the old link may
// not have noticed yet that it is dead). INSTANCE names the keeper process: handles of one
// instance are valid on every later connection that reports the same instance, never on another.

import (
	"bufio"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
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

// durablePreamble starts the line the client writes before any SFTP byte.
const durablePreamble = "rmount-durable 1 "

// After the keeper's answer the relay sends one byte: modeFDs with its stdin and stdout attached
// as SCM_RIGHTS, or modeCopy and then the bytes themselves.
const (
	modeFDs  = 'F'
	modeCopy = 'C'
)

// tokenEnv hands the token to a keeper this relay starts; the keeper clears it at once.
const tokenEnv = "RMOUNT_AGENT_TOKEN"

// handshakeWait bounds how long a keeper waits for a connection's token line.
const handshakeWait = 10 * time.Second

var (
	durableID    = regexp.MustCompile(`^[0-9A-Za-z_-]{8,64}$`)
	durableToken = regexp.MustCompile(`^[0-9a-f]{32,128}$`)
)

// durableFlags are the flags of `sftp --durable` beyond the server's own.
type durableFlags struct {
	grace     time.Duration
	socketDir string
}

// readLine reads up to '\n' (not included) from r, at most max bytes.
func readLine(r *bufio.Reader, max int) (string, error) {
	var b []byte
	for len(b) <= max {
		c, err := r.ReadByte()
		if err != nil {
			if err == io.EOF && len(b) > 0 {
				err = io.ErrUnexpectedEOF
			}
			return "", err
		}
		if c == '\n' {
			return string(b), nil
		}
		b = append(b, c)
	}
	return "", fmt.Errorf("line longer than %d bytes", max)
}

// runDurableRelay is `rmount-agent sftp --durable`.
func runDurableRelay(o sftpOptions, d durableFlags, stdin io.Reader, stdout, stderr io.Writer) int {
	fail := func(format string, args ...interface{}) int {
		fmt.Fprintf(stderr, "rmount-agent sftp --durable: "+format+"\n", args...)
		return 1
	}
	inFile, inIsFile := stdin.(*os.File)
	outFile, outIsFile := stdout.(*os.File)
	handOver := inIsFile && outIsFile
	var in *bufio.Reader
	var line string
	var err error
	if handOver {
		// Nothing past the line may be read here: the keeper reads the rest from the same fd.
		line, err = readLineUnbuffered(inFile, 512)
	} else {
		in = bufio.NewReaderSize(stdin, 256<<10)
		line, err = readLine(in, 512)
	}
	if err != nil {
		return fail("reading the session line: %v", err)
	}
	if !strings.HasPrefix(line, durablePreamble) {
		return fail("the first line must be %q followed by ID and TOKEN", durablePreamble)
	}
	fields := strings.Fields(strings.TrimPrefix(line, durablePreamble))
	if len(fields) != 2 || !durableID.MatchString(fields[0]) || !durableToken.MatchString(fields[1]) {
		return fail("the session line needs ID (8-64 of [0-9A-Za-z_-]) and TOKEN (32-128 lower-case hex digits)")
	}
	id, token := fields[0], fields[1]
	dir := d.socketDir
	if dir == "" {
		dir = filepath.Dir(defaultSocketPath())
	}
	// "sftp2-": keepers that take the relay's stdio by SCM_RIGHTS; one of an older build listening
	// at "sftp-" would take the mode byte for SFTP, so the two never meet.
	sock := filepath.Join(dir, "sftp2-"+id+".sock")
	conn, err := dialHost(sock, true, func() error {
		args := []string{"sftp-keeper", "--socket", sock, "--grace", d.grace.String(), "--umask", strconv.FormatUint(uint64(o.umask), 8)}
		if o.root != "" {
			args = append(args, "--root", o.root)
		}
		return startDetached(args, []string{tokenEnv + "=" + token})
	})
	if err != nil {
		return fail("%v", err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, token+"\n"); err != nil {
		return fail("%v", err)
	}
	from := bufio.NewReaderSize(conn, 256<<10)
	conn.SetReadDeadline(time.Now().Add(handshakeWait))
	reply, err := readLine(from, 256)
	conn.SetReadDeadline(time.Time{})
	if err != nil {
		return fail("the session keeper did not answer: %v", err)
	}
	state := strings.Fields(reply)
	if len(state) != 2 || (state[0] != "new" && state[0] != "resumed") {
		return fail("the session keeper refused: %s", reply)
	}
	if _, err := fmt.Fprintf(stdout, "rmount-durable %s %s\n", state[0], state[1]); err != nil {
		return 1
	}
	if handOver {
		rights := syscall.UnixRights(int(inFile.Fd()), int(outFile.Fd()))
		if _, _, err := conn.WriteMsgUnix([]byte{modeFDs}, rights, nil); err != nil {
			return fail("handing the connection to the keeper: %v", err)
		}
		// The keeper closes the socket once it is done with our stdio; until then we hold them
		// too, so sshd sees the session end only when both are done.
		io.Copy(io.Discard, from)
		return 0
	}
	if _, err := conn.Write([]byte{modeCopy}); err != nil {
		return fail("%v", err)
	}
	go func() {
		io.Copy(conn, in)
		conn.CloseWrite() // the keeper then detaches this connection, and the copy below ends
	}()
	io.Copy(stdout, from)
	return 0
}

// readLineUnbuffered reads up to '\n' (not included) one byte at a time, at most max bytes.
func readLineUnbuffered(r io.Reader, max int) (string, error) {
	var b []byte
	var c [1]byte
	for len(b) <= max {
		if _, err := io.ReadFull(r, c[:]); err != nil {
			if err == io.EOF && len(b) > 0 {
				err = io.ErrUnexpectedEOF
			}
			return "", err
		}
		if c[0] == '\n' {
			return string(b), nil
		}
		b = append(b, c[0])
	}
	return "", fmt.Errorf("line longer than %d bytes", max)
}

// keeper holds one durable session's server between connections.
type keeper struct {
	srv      *server
	token    []byte
	instance string
	grace    time.Duration

	mu sync.Mutex
	// cur is the attached connection (nil while none is): only it may run srv.serve.
	cur *durableConn
	// resumable is set once a connection attached: later ones resume.
	resumable bool
	// timer ends the session when it fires while none is attached; set only while cur is nil.
	timer    *time.Timer
	finished bool
	done     chan struct{}
}

type durableConn struct {
	conn net.Conn
	done chan struct{}
	mu   sync.Mutex
	// stdio are the relay's stdin and stdout once it handed them over; closed with conn.
	stdio []*os.File
}

// close ends the connection's serve: its socket, and the relay's stdio if it handed them over.
func (d *durableConn) close() {
	d.conn.Close()
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, f := range d.stdio {
		f.Close()
	}
}

func newKeeper(srv *server, token string, grace time.Duration) *keeper {
	var b [12]byte
	rand.Read(b[:])
	return &keeper{srv: srv, token: []byte(token), instance: hex.EncodeToString(b[:]), grace: grace, done: make(chan struct{})}
}

// run accepts connections on ln until the session ends (grace period over, end@rmount, or
// stop), then closes every handle.
func (k *keeper) run(ln net.Listener) {
	k.mu.Lock()
	k.timer = time.AfterFunc(k.grace, k.expire)
	k.mu.Unlock()
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go k.attach(conn)
		}
	}()
	<-k.done
	ln.Close()
	k.mu.Lock()
	cur := k.cur
	k.mu.Unlock()
	if cur != nil {
		cur.close()
		<-cur.done
	}
	k.srv.shutdown()
}

// stop ends the session now.
func (k *keeper) stop() {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.finish()
}

// finish is stop with k.mu held.
func (k *keeper) finish() {
	if !k.finished {
		k.finished = true
		close(k.done)
	}
}

func (k *keeper) expire() {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.cur == nil {
		k.finish()
	}
}

// attach checks a connection's token, replaces the attached connection with it and serves it.
func (k *keeper) attach(conn net.Conn) {
	conn.SetDeadline(time.Now().Add(handshakeWait))
	in := bufio.NewReaderSize(conn, 256<<10)
	line, err := readLine(in, 256)
	if err != nil || subtle.ConstantTimeCompare([]byte(line), k.token) != 1 {
		io.WriteString(conn, "refused: wrong token\n")
		conn.Close()
		return
	}
	conn.SetDeadline(time.Time{})
	a := &durableConn{conn: conn, done: make(chan struct{})}
	defer close(a.done)
	defer a.close()
	k.mu.Lock()
	if k.finished {
		k.mu.Unlock()
		io.WriteString(conn, "refused: the session has ended\n")
		return
	}
	old := k.cur
	k.cur = a
	if k.timer != nil {
		k.timer.Stop()
		k.timer = nil
	}
	state := "new"
	if k.resumable {
		state = "resumed"
	}
	k.resumable = true
	k.mu.Unlock()
	if old != nil {
		old.close() // its serve returns; the server is ours once it has
		<-old.done
	}
	k.mu.Lock()
	superseded := k.cur != a
	k.mu.Unlock()
	if superseded {
		return
	}
	if _, err := fmt.Fprintf(conn, "%s %s\n", state, k.instance); err == nil {
		var err error
		switch mode, r, w := a.receiveMode(); mode {
		case modeFDs:
			err = k.srv.serve(r, w)
		case modeCopy:
			err = k.srv.serve(in, conn)
		}
		if err != nil && err != io.EOF && !errors.Is(err, net.ErrClosed) && !errors.Is(err, os.ErrClosed) && k.srv.opts.debug {
			log.Printf("connection ended: %v", err)
		}
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.srv.ending {
		k.finish()
	}
	if k.cur == a {
		k.cur = nil
		if !k.finished {
			k.timer = time.AfterFunc(k.grace, k.expire)
		}
	}
}

// receiveMode reads the relay's mode byte, with its stdin and stdout for modeFDs; 0 for anything
// else. The token line was read through a buffer, but the relay sends the mode only after our
// answer, so the buffer holds nothing of it (and the SCM_RIGHTS must come with a recvmsg).
func (d *durableConn) receiveMode() (byte, *os.File, *os.File) {
	uc, ok := d.conn.(*net.UnixConn)
	if !ok {
		return 0, nil, nil
	}
	b := make([]byte, 1)
	oob := make([]byte, syscall.CmsgSpace(2*4))
	uc.SetReadDeadline(time.Now().Add(handshakeWait))
	n, oobn, _, _, err := uc.ReadMsgUnix(b, oob)
	uc.SetReadDeadline(time.Time{})
	if err != nil || n != 1 {
		return 0, nil, nil
	}
	var fds []int
	if msgs, err := syscall.ParseSocketControlMessage(oob[:oobn]); err == nil {
		for _, m := range msgs {
			if got, err := syscall.ParseUnixRights(&m); err == nil {
				fds = append(fds, got...)
			}
		}
	}
	if b[0] != modeFDs || len(fds) != 2 {
		for _, fd := range fds {
			syscall.Close(fd)
		}
		if b[0] == modeCopy {
			return modeCopy, nil, nil
		}
		return 0, nil, nil
	}
	files := make([]*os.File, 2)
	for i, fd := range fds {
		// Non-blocking, so that closing the file (a newer connection supersedes this one) ends a
		// read in progress.
		syscall.SetNonblock(fd, true)
		files[i] = os.NewFile(uintptr(fd), []string{"relay stdin", "relay stdout"}[i])
	}
	d.mu.Lock()
	d.stdio = files
	d.mu.Unlock()
	return modeFDs, files[0], files[1]
}

// runKeeper is `rmount-agent sftp-keeper`, started by a relay; the token comes in $RMOUNT_AGENT_TOKEN.
func runKeeper(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("sftp-keeper", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o sftpOptions
	socket := fs.String("socket", "", "the session's UNIX socket")
	grace := fs.Duration("grace", 10*time.Minute, "how long the session waits for a new connection")
	umask := fs.String("umask", "022", "the umask the relay started with (octal)")
	fs.StringVar(&o.root, "root", "", "as for sftp")
	fs.BoolVar(&o.debug, "debug", false, "as for sftp")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	token := os.Getenv(tokenEnv)
	os.Unsetenv(tokenEnv)
	m, err := strconv.ParseUint(*umask, 8, 32)
	if *socket == "" || !durableToken.MatchString(token) || err != nil || *grace <= 0 {
		fmt.Fprintln(stderr, "rmount-agent sftp-keeper: needs --socket, a positive --grace, an octal --umask and the token in $"+tokenEnv)
		return 2
	}
	clearUmask()
	o.umask = uint32(m)
	o.durable = true
	ln, unlock, err := listenHostSocket(*socket)
	if err != nil {
		fmt.Fprintf(stderr, "rmount-agent sftp-keeper: %v\n", err)
		return 1
	}
	k := newKeeper(newServer(osFS{}, o), token, *grace)
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	signal.Ignore(syscall.SIGHUP, syscall.SIGPIPE)
	go func() {
		<-sigs
		k.stop()
	}()
	k.run(ln)
	// Nothing is left behind: the socket went with the listener, the lock file goes now (a
	// relay racing this exit starts a new keeper, which takes a new lock).
	os.Remove(*socket + ".lock")
	unlock()
	return 0
}
