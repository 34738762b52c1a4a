package main

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"
)

// Frame types of the host's stream multiplexer (PROTOCOL.md, "Process host").
const (
	frameRequest = 1 // stream = request id; payload JSON {"op": …}
	frameReply   = 2 // stream = request id; payload JSON {"ok": …}
	frameData    = 3 // bytes on a stream, at most the sender's window
	frameWindow  = 4 // uint32 credit returned to the peer
	frameEOF     = 5 // the sender sends no more DATA on the stream
	frameClose   = 6 // the sender has forgotten the stream (reset)
	frameEvent   = 7 // JSON on a stream (stream 0: connection events)
)

const (
	muxHeaderLen = 9 // uint32 length, uint8 type, uint32 stream
	// muxWindow is the credit each direction of each stream starts with.
	muxWindow = 256 << 10
	// muxMaxData is the largest DATA payload a sender makes.
	muxMaxData = 32 << 10
	// muxMaxFrame bounds the length field (type + stream + payload).
	muxMaxFrame = 16 << 20
	// muxWriteTimeout drops a peer that has not taken a byte for this long: its read loop never
	// blocks, so it is gone (a hung channel), and it must not hold up what waits on it.
	muxWriteTimeout = time.Minute
)

var (
	errStreamReset = errors.New("stream reset by peer")
	errStreamClose = errors.New("stream closed")
	errMuxClosed   = errors.New("connection closed")
)

// muxConn multiplexes streams with per-stream flow control over one byte stream. It is
// symmetric: the host allocates even stream ids, the client odd ones. REQUEST, REPLY and EVENT
// frames go to onFrame, which runs on the read loop and must not block.
type muxConn struct {
	rw           io.ReadWriteCloser
	onFrame      func(typ byte, id uint32, payload []byte)
	writeTimeout time.Duration // muxWriteTimeout; tests shorten it

	wmu sync.Mutex // serializes writes to rw, so that frames never interleave

	mu      sync.Mutex // protects the fields below
	streams map[uint32]*muxStream
	nextID  uint32
	err     error // set once the connection is gone
	closed  chan struct{}
}

func newMuxConn(rw io.ReadWriteCloser, host bool, onFrame func(byte, uint32, []byte)) *muxConn {
	m := &muxConn{rw: rw, onFrame: onFrame, writeTimeout: muxWriteTimeout, streams: map[uint32]*muxStream{}, closed: make(chan struct{}), nextID: 1}
	if host {
		m.nextID = 2
	}
	return m
}

// writeFrame sends one frame:
//
//	uint32 length (of what follows) | uint8 type | uint32 stream | payload
func (m *muxConn) writeFrame(typ byte, id uint32, payload []byte) error {
	b := make([]byte, muxHeaderLen+len(payload))
	binary.BigEndian.PutUint32(b, uint32(5+len(payload)))
	b[4] = typ
	binary.BigEndian.PutUint32(b[5:], id)
	copy(b[muxHeaderLen:], payload)
	m.wmu.Lock()
	defer m.wmu.Unlock()
	select {
	case <-m.closed:
		return errMuxClosed
	default:
	}
	if dl, ok := m.rw.(interface{ SetWriteDeadline(time.Time) error }); ok {
		dl.SetWriteDeadline(time.Now().Add(m.writeTimeout))
	}
	_, err := m.rw.Write(b)
	if err != nil {
		go m.shutdown(err)
	}
	return err
}

// serve reads frames until the connection ends; then every stream is reset.
func (m *muxConn) serve() error {
	var hdr [muxHeaderLen]byte
	var err error
	for {
		if _, err = io.ReadFull(m.rw, hdr[:]); err != nil {
			break
		}
		n := binary.BigEndian.Uint32(hdr[:])
		if n < 5 || n > muxMaxFrame {
			err = fmt.Errorf("bad frame length %d", n)
			break
		}
		payload := make([]byte, n-5)
		if _, err = io.ReadFull(m.rw, payload); err != nil {
			break
		}
		m.dispatch(hdr[4], binary.BigEndian.Uint32(hdr[5:]), payload)
	}
	m.shutdown(err)
	return err
}

func (m *muxConn) dispatch(typ byte, id uint32, payload []byte) {
	switch typ {
	case frameData, frameWindow, frameEOF, frameClose:
		m.mu.Lock()
		s := m.streams[id]
		m.mu.Unlock()
		if s == nil {
			if typ == frameData {
				// The peer writes to a stream we forgot: tell it (never from the read loop, which
				// must keep reading while the peer may be blocked writing).
				go m.writeFrame(frameClose, id, nil)
			}
			return
		}
		s.receive(typ, payload)
	default:
		if m.onFrame != nil {
			m.onFrame(typ, id, payload)
		}
	}
}

// shutdown closes the connection and resets every stream.
func (m *muxConn) shutdown(err error) {
	if err == nil || err == io.EOF {
		err = errMuxClosed
	}
	m.mu.Lock()
	if m.err != nil {
		m.mu.Unlock()
		return
	}
	m.err = err
	streams := m.streams
	m.streams = map[uint32]*muxStream{}
	close(m.closed)
	m.mu.Unlock()
	m.rw.Close()
	for _, s := range streams {
		s.finish(true, false)
	}
}

// Close ends the connection.
func (m *muxConn) Close() error { m.shutdown(errMuxClosed); return nil }

// newStream allocates a stream id of our own parity and registers it.
func (m *muxConn) newStream() (*muxStream, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.err != nil {
		return nil, m.err
	}
	id := m.nextID
	m.nextID += 2
	s := newMuxStream(m, id)
	m.streams[id] = s
	return s, nil
}

// openStream registers a stream id chosen by the peer (a client's odd id in a request).
func (m *muxConn) openStream(id uint32, peerParity uint32) (*muxStream, error) {
	if id == 0 || id%2 != peerParity {
		return nil, fmt.Errorf("stream %d has the wrong parity", id)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.err != nil {
		return nil, m.err
	}
	if m.streams[id] != nil {
		return nil, fmt.Errorf("stream %d is in use", id)
	}
	s := newMuxStream(m, id)
	m.streams[id] = s
	return s, nil
}

func (m *muxConn) forget(s *muxStream) {
	m.mu.Lock()
	if m.streams[s.id] == s {
		delete(m.streams, s.id)
	}
	m.mu.Unlock()
}

// muxStream is one stream: an io.ReadWriteCloser whose Write blocks only while the peer's
// window is used up and whose Read returns WINDOW credit as the bytes are consumed.
type muxStream struct {
	m  *muxConn
	id uint32

	mu         sync.Mutex // protects the fields below; cond waits on it
	cond       *sync.Cond
	buf        bytes.Buffer // received, not yet read
	unreturned int          // bytes read but whose credit is not yet sent back
	recvEOF    bool
	sentEOF    bool
	reset      bool // CLOSE received (peerReset) or sent
	peerReset  bool
	credit     int // bytes we may still send
	done       chan struct{}
}

func newMuxStream(m *muxConn, id uint32) *muxStream {
	s := &muxStream{m: m, id: id, credit: muxWindow, done: make(chan struct{})}
	s.cond = sync.NewCond(&s.mu)
	return s
}

// Done is closed when the stream is finished: reset by either side, or EOF both ways.
func (s *muxStream) Done() <-chan struct{} { return s.done }

func (s *muxStream) receive(typ byte, payload []byte) {
	s.mu.Lock()
	switch typ {
	case frameData:
		if s.recvEOF || s.buf.Len()+s.unreturned+len(payload) > muxWindow {
			s.mu.Unlock()
			go s.Close() // the peer broke the window or wrote after EOF
			return
		}
		s.buf.Write(payload)
	case frameWindow:
		if len(payload) == 4 {
			s.credit += int(binary.BigEndian.Uint32(payload))
		}
	case frameEOF:
		s.recvEOF = true
		if s.sentEOF {
			s.mu.Unlock()
			s.finish(false, false)
			return
		}
	case frameClose:
		s.mu.Unlock()
		s.finish(true, false)
		return
	}
	s.cond.Broadcast()
	s.mu.Unlock()
}

// finish marks the stream over (reset: by a CLOSE; sendClose: we send the CLOSE).
func (s *muxStream) finish(reset, sendClose bool) {
	s.mu.Lock()
	select {
	case <-s.done:
		s.mu.Unlock()
		return
	default:
	}
	if reset {
		s.reset = true
		s.peerReset = !sendClose
	}
	close(s.done)
	s.cond.Broadcast()
	s.mu.Unlock()
	s.m.forget(s)
	if sendClose {
		s.m.writeFrame(frameClose, s.id, nil)
	}
}

// Read returns received bytes; io.EOF after the peer's EOF, errStreamReset after its CLOSE.
func (s *muxStream) Read(p []byte) (int, error) {
	s.mu.Lock()
	for s.buf.Len() == 0 && !s.recvEOF && !s.reset {
		s.cond.Wait()
	}
	if s.buf.Len() == 0 || (s.reset && !s.peerReset) {
		err := io.EOF
		if s.reset {
			err = errStreamReset
			if !s.peerReset {
				err = errStreamClose
			}
		}
		s.mu.Unlock()
		return 0, err
	}
	n, _ := s.buf.Read(p)
	s.unreturned += n
	var credit int
	// Return credit in batches, but never sit on it when the buffer ran dry.
	if s.unreturned >= muxWindow/4 || s.buf.Len() == 0 {
		credit, s.unreturned = s.unreturned, 0
	}
	live := !s.reset && !s.recvEOF
	s.mu.Unlock()
	if credit > 0 && live {
		var b [4]byte
		binary.BigEndian.PutUint32(b[:], uint32(credit))
		s.m.writeFrame(frameWindow, s.id, b[:])
	}
	return n, nil
}

// Write sends p as DATA, blocking while the peer's window is used up.
func (s *muxStream) Write(p []byte) (int, error) {
	written := 0
	for len(p) > 0 {
		s.mu.Lock()
		for s.credit == 0 && !s.reset && !s.sentEOF {
			s.cond.Wait()
		}
		if s.reset || s.sentEOF {
			err := errStreamClose
			if s.peerReset {
				err = errStreamReset
			}
			s.mu.Unlock()
			return written, err
		}
		n := len(p)
		if n > s.credit {
			n = s.credit
		}
		if n > muxMaxData {
			n = muxMaxData
		}
		s.credit -= n
		s.mu.Unlock()
		if err := s.m.writeFrame(frameData, s.id, p[:n]); err != nil {
			return written, err
		}
		written += n
		p = p[n:]
	}
	return written, nil
}

// Event sends a JSON EVENT on the stream.
func (s *muxStream) Event(payload []byte) error {
	s.mu.Lock()
	over := s.reset || s.sentEOF
	s.mu.Unlock()
	if over {
		return errStreamClose
	}
	return s.m.writeFrame(frameEvent, s.id, payload)
}

// CloseWrite sends EOF: no more DATA from us.
func (s *muxStream) CloseWrite() error {
	s.mu.Lock()
	if s.sentEOF || s.reset {
		s.mu.Unlock()
		return nil
	}
	s.sentEOF = true
	both := s.recvEOF
	s.cond.Broadcast()
	s.mu.Unlock()
	err := s.m.writeFrame(frameEOF, s.id, nil)
	if both {
		s.finish(false, false)
	}
	return err
}

// Close resets the stream (CLOSE) unless it already finished.
func (s *muxStream) Close() error {
	s.finish(true, true)
	return nil
}
