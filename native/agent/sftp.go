package main

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log"
	"os"
	"sync"
)

// Packet types of SFTP v3 (draft-ietf-secsh-filexfer-02).
const (
	fxpInit          = 1
	fxpVersion       = 2
	fxpOpen          = 3
	fxpClose         = 4
	fxpRead          = 5
	fxpWrite         = 6
	fxpLstat         = 7
	fxpFstat         = 8
	fxpSetstat       = 9
	fxpFsetstat      = 10
	fxpOpendir       = 11
	fxpReaddir       = 12
	fxpRemove        = 13
	fxpMkdir         = 14
	fxpRmdir         = 15
	fxpRealpath      = 16
	fxpStat          = 17
	fxpRename        = 18
	fxpReadlink      = 19
	fxpSymlink       = 20
	fxpStatus        = 101
	fxpHandle        = 102
	fxpData          = 103
	fxpName          = 104
	fxpAttrs         = 105
	fxpExtended      = 200
	fxpExtendedReply = 201
)

// Status codes.
const (
	fxOK               = 0
	fxEOF              = 1
	fxNoSuchFile       = 2
	fxPermissionDenied = 3
	fxFailure          = 4
	fxBadMessage       = 5
	fxOpUnsupported    = 8
)

// ATTRS flag bits.
const (
	attrSize        = 0x00000001
	attrUIDGID      = 0x00000002
	attrPermissions = 0x00000004
	attrACModTime   = 0x00000008
	attrExtended    = 0x80000000
)

// SSH_FXP_OPEN pflags.
const (
	pflagRead   = 0x01
	pflagWrite  = 0x02
	pflagAppend = 0x04
	pflagCreat  = 0x08
	pflagTrunc  = 0x10
	pflagExcl   = 0x20
)

const (
	// maxPacket is the largest request accepted (and advertised in limits@openssh.com).
	maxPacket = 1<<20 + 1024
	// maxIO is the largest read answered and write accepted in one request.
	maxIO = 1 << 20
	// eventID is the request id of unsolicited EXTENDED_REPLY packets (watch events); a client
	// never uses it for a request.
	eventID = 0xFFFFFFFF
)

// errBadMessage is a request whose fields run past its end.
var errBadMessage = errors.New("bad message")

// reader decodes the fields of one packet; the first error sticks and later reads return zeros.
type reader struct {
	b   []byte
	err error
}

func (r *reader) u8() byte {
	if r.err != nil || len(r.b) < 1 {
		r.err = errBadMessage
		return 0
	}
	v := r.b[0]
	r.b = r.b[1:]
	return v
}

func (r *reader) u32() uint32 {
	if r.err != nil || len(r.b) < 4 {
		r.err = errBadMessage
		return 0
	}
	v := binary.BigEndian.Uint32(r.b)
	r.b = r.b[4:]
	return v
}

func (r *reader) u64() uint64 {
	if r.err != nil || len(r.b) < 8 {
		r.err = errBadMessage
		return 0
	}
	v := binary.BigEndian.Uint64(r.b)
	r.b = r.b[8:]
	return v
}

// bytes returns a `string` field; the slice aliases the packet.
func (r *reader) bytes() []byte {
	n := r.u32()
	if r.err != nil || uint32(len(r.b)) < n {
		r.err = errBadMessage
		return nil
	}
	v := r.b[:n:n]
	r.b = r.b[n:]
	return v
}

func (r *reader) str() string { return string(r.bytes()) }

// attrs decodes an ATTRS structure.
func (r *reader) attrs() fileAttrs {
	var a fileAttrs
	a.flags = r.u32()
	if a.flags&attrSize != 0 {
		a.size = r.u64()
	}
	if a.flags&attrUIDGID != 0 {
		a.uid, a.gid = r.u32(), r.u32()
	}
	if a.flags&attrPermissions != 0 {
		a.mode = r.u32()
	}
	if a.flags&attrACModTime != 0 {
		a.atime.sec, a.mtime.sec = int64(r.u32()), int64(r.u32())
	}
	if a.flags&attrExtended != 0 {
		n := r.u32()
		for i := uint32(0); i < n && r.err == nil; i++ {
			r.bytes()
			r.bytes()
		}
	}
	return a
}

// writer encodes one packet; the uint32 length prefix is reserved first and filled by finish.
type writer struct{ b []byte }

func newPacket(typ byte, id uint32) *writer {
	w := &writer{b: make([]byte, 4, 64)}
	w.u8(typ)
	if typ != fxpVersion {
		w.u32(id)
	}
	return w
}

func (w *writer) u8(v byte) *writer { w.b = append(w.b, v); return w }
func (w *writer) u32(v uint32) *writer {
	w.b = binary.BigEndian.AppendUint32(w.b, v)
	return w
}
func (w *writer) u64(v uint64) *writer {
	w.b = binary.BigEndian.AppendUint64(w.b, v)
	return w
}
func (w *writer) i64(v int64) *writer { return w.u64(uint64(v)) }
func (w *writer) bytes(v []byte) *writer {
	w.u32(uint32(len(v)))
	w.b = append(w.b, v...)
	return w
}
func (w *writer) str(v string) *writer {
	w.u32(uint32(len(v)))
	w.b = append(w.b, v...)
	return w
}

// attrs encodes ATTRS: size, uid/gid, mode, times in whole seconds and, with st set, the
// "attrs@rmount" extended pair (see PROTOCOL.md) with inode, link count and nanosecond times.
func (w *writer) attrs(st *fileStat) *writer {
	if st == nil {
		return w.u32(0)
	}
	w.u32(attrSize | attrUIDGID | attrPermissions | attrACModTime | attrExtended)
	w.u64(st.size).u32(st.uid).u32(st.gid).u32(st.mode)
	w.u32(uint32(st.atime.sec)).u32(uint32(st.mtime.sec))
	w.u32(1).str(extAttrs)
	// string data: uint32 length then 76 bytes.
	w.u32(5*8 + 3*12)
	w.u64(st.ino).u64(st.nlink).u64(st.dev).u64(st.rdev).u64(st.blocks)
	w.i64(st.atime.sec).u32(uint32(st.atime.nsec))
	w.i64(st.mtime.sec).u32(uint32(st.mtime.nsec))
	w.i64(st.ctime.sec).u32(uint32(st.ctime.nsec))
	return w
}

func (w *writer) finish() []byte {
	binary.BigEndian.PutUint32(w.b, uint32(len(w.b)-4))
	return w.b
}

// timespec is a time with nanoseconds.
type timespec struct {
	sec  int64
	nsec int64
}

// fileAttrs is a decoded ATTRS structure of a request.
type fileAttrs struct {
	flags    uint32
	size     uint64
	uid, gid uint32
	mode     uint32
	atime    timespec
	mtime    timespec
}

// output serialises packets onto stdout: replies from the request loop and watch events from
// their goroutine. Protected by mu.
type output struct {
	mu  sync.Mutex
	w   *bufio.Writer
	err error
}

// send writes a packet; flush says whether to push it out now (false while more requests are
// already buffered, so that a burst of replies leaves as one write).
func (o *output) send(p []byte, flush bool) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.err != nil {
		return o.err
	}
	if _, err := o.w.Write(p); err != nil {
		o.err = err
		return err
	}
	if flush {
		o.err = o.w.Flush()
	}
	return o.err
}

// serveSFTP runs the SFTP server over in/out until in ends (io.EOF) or the stream breaks.
// Requests are answered in order, one at a time.
func serveSFTP(in io.Reader, out io.Writer, fsys fileSystem, opts sftpOptions) error {
	s := newServer(fsys, opts)
	defer s.shutdown()
	return s.serve(in, out)
}

// serve answers the requests read from in on out until in ends or the stream breaks. The
// server's handles outlive it (a durable session serves several connections in turn, never two
// at once); the watches it started report to out, so they end with it.
func (s *server) serve(in io.Reader, out io.Writer) error {
	s.out = &output{w: bufio.NewWriterSize(out, 256<<10)}
	defer s.closeWatches()
	br := bufio.NewReaderSize(in, 256<<10)
	var hdr [4]byte
	for {
		if _, err := io.ReadFull(br, hdr[:]); err != nil {
			if err == io.ErrUnexpectedEOF {
				return fmt.Errorf("input ended inside a packet header")
			}
			return err
		}
		n := binary.BigEndian.Uint32(hdr[:])
		if n < 1 || n > maxPacket {
			return fmt.Errorf("packet length %d out of range", n)
		}
		p := s.packetBuffer(int(n))
		if _, err := io.ReadFull(br, p); err != nil {
			return fmt.Errorf("input ended inside a packet: %w", err)
		}
		reply := s.handle(p)
		if reply == nil {
			continue
		}
		if err := s.out.send(reply, br.Buffered() == 0); err != nil {
			return err
		}
	}
}

// server is the state of one SFTP session.
type server struct {
	fs      fileSystem
	opts    sftpOptions
	out     *output
	inited  bool
	handles handleTable
	watches *watchSet
	buf     []byte
	// ending is set by end@rmount: the client is done with a durable session for good.
	ending bool
}

func newServer(fsys fileSystem, opts sftpOptions) *server {
	s := &server{fs: fsys, opts: opts}
	s.handles.m = map[string]*openHandle{}
	return s
}

// packetBuffer returns a buffer of n bytes, reused between requests (a request's fields never
// outlive its handling).
func (s *server) packetBuffer(n int) []byte {
	if cap(s.buf) < n {
		s.buf = make([]byte, n)
	}
	return s.buf[:n]
}

func (s *server) shutdown() {
	s.closeWatches()
	s.handles.closeAll()
}

func (s *server) closeWatches() {
	if s.watches != nil {
		s.watches.closeAll()
		s.watches = nil
	}
}

// handle decodes one packet and returns the encoded reply (nil: none).
func (s *server) handle(p []byte) []byte {
	typ := p[0]
	r := &reader{b: p[1:]}
	if typ == fxpInit {
		r.u32()
		s.inited = true
		return versionPacket(s.opts.durable)
	}
	id := r.u32()
	if r.err != nil {
		return statusPacket(0, fxBadMessage, "EINVAL")
	}
	if s.opts.debug {
		log.Printf("request %d type %d (%d bytes)", id, typ, len(p))
	}
	reply, err := s.dispatch(typ, id, r)
	if err != nil {
		return errorPacket(id, err)
	}
	if reply == nil {
		return statusPacket(id, fxOK, "")
	}
	return reply
}

// versionPacket is the VERSION reply: version 3 and every extension with its version.
func versionPacket(durable bool) []byte {
	w := newPacket(fxpVersion, 0).u32(3)
	for _, e := range advertised(durable) {
		w.str(e[0]).str(e[1])
	}
	return w.finish()
}

// statusPacket encodes STATUS: uint32 code, string message, string language tag.
func statusPacket(id uint32, code uint32, msg string) []byte {
	return newPacket(fxpStatus, id).u32(code).str(msg).str("").finish()
}

// errorPacket turns a failure into STATUS: the code a v3 client expects (as OpenSSH chooses
// it) and, as the message, the exact errno name.
func errorPacket(id uint32, err error) []byte {
	if err == io.EOF {
		return statusPacket(id, fxEOF, "EOF")
	}
	name := errnoName(err)
	return statusPacket(id, statusCode(name), name)
}

// fileOnly reports a name for use in error messages without the os package's wrapping.
func pathError(op, path string, err error) error {
	return &os.PathError{Op: op, Path: path, Err: err}
}
