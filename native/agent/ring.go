package main

// outputRing keeps the last len(data) bytes of a session's output. Positions are offsets in the
// whole output since the start, so that a reader can tell how much it missed. Not safe for
// concurrent use: the session's mutex protects it.
type outputRing struct {
	data  []byte
	total uint64 // bytes ever written
}

func newOutputRing(size int) *outputRing { return &outputRing{data: make([]byte, size)} }

func (r *outputRing) write(p []byte) {
	size := uint64(len(r.data))
	if uint64(len(p)) > size {
		r.total += uint64(len(p)) - size
		p = p[uint64(len(p))-size:]
	}
	at := r.total % size
	n := copy(r.data[at:], p)
	copy(r.data, p[n:])
	r.total += uint64(len(p))
}

// oldest is the position of the first byte still held.
func (r *outputRing) oldest() uint64 {
	if r.total < uint64(len(r.data)) {
		return 0
	}
	return r.total - uint64(len(r.data))
}

// buffered is how many bytes the ring holds.
func (r *outputRing) buffered() int { return int(r.total - r.oldest()) }

// readAt copies bytes from position pos into p. A position that the ring already overwrote is
// moved up to the oldest byte held; skipped says by how much.
func (r *outputRing) readAt(pos uint64, p []byte) (n int, next uint64, skipped uint64) {
	if old := r.oldest(); pos < old {
		skipped = old - pos
		pos = old
	}
	if pos >= r.total {
		return 0, pos, skipped
	}
	avail := r.total - pos
	if uint64(len(p)) > avail {
		p = p[:avail]
	}
	size := uint64(len(r.data))
	at := pos % size
	n = copy(p, r.data[at:])
	if n < len(p) {
		n += copy(p[n:], r.data)
	}
	return n, pos + uint64(n), skipped
}
