package main

// Item kinds of batch@rmount.
const (
	batchPut     = 1
	batchMkdir   = 2
	batchSymlink = 3
	batchUnlink  = 4
	batchRmdir   = 5
	batchRename  = 6
	batchLink    = 7
	batchSetstat = 8

	// batchNoReplace is the flag of a rename item that refuses an existing target.
	batchNoReplace = 1 << 0
)

// maxBatchItems bounds the items of one batch@rmount request.
const maxBatchItems = 1024

// batch@rmount: uint32 count, (byte kind, item fields)* →
// EXTENDED_REPLY uint32 count, (uint32 status, string errno-name-or-empty)*
// Many changes in one request: each item is done in order and answers its own status, so one
// failing does not stop the rest. The whole request is decoded before the first item runs: a
// malformed one changes nothing.
func (s *server) extBatch(id uint32, r *reader) ([]byte, error) {
	n := r.u32()
	if r.err != nil {
		return nil, r.err
	}
	if n > maxBatchItems {
		return nil, errBadMessage
	}
	items := make([]func() error, 0, n)
	for i := uint32(0); i < n; i++ {
		item := s.readBatchItem(r)
		if r.err != nil {
			return nil, r.err
		}
		items = append(items, item)
	}
	// Bytes left over mean the client and the agent disagree on some item's layout.
	if len(r.b) != 0 {
		return nil, errBadMessage
	}
	w := newPacket(fxpExtendedReply, id).u32(n)
	for _, item := range items {
		if err := item(); err != nil {
			name := errnoName(err)
			w.u32(statusCode(name)).str(name)
		} else {
			w.u32(fxOK).str("")
		}
	}
	return w.finish(), nil
}

// readBatchItem decodes one item into what carries it out, with the request's own single-op
// code so that an item behaves as that request would. An unknown kind sets r.err.
func (s *server) readBatchItem(r *reader) func() error {
	switch r.u8() {
	case batchPut:
		// the body of putfile@rmount
		a := s.readPut(r)
		return func() error { return s.putFile(a) }
	case batchMkdir:
		// string path, uint32 mode (applied exactly)
		name, mode := s.resolve(r.str()), r.u32()
		return func() error { return s.fs.Mkdir(name, mode&0o7777) }
	case batchSymlink:
		// string target, string path (SYMLINK's order)
		target, name := r.str(), s.resolve(r.str())
		return func() error { return s.fs.Symlink(target, name) }
	case batchUnlink:
		name := s.resolve(r.str())
		return func() error { return s.fs.Unlink(name) }
	case batchRmdir:
		name := s.resolve(r.str())
		return func() error { return s.fs.Rmdir(name) }
	case batchRename:
		// uint32 flags, string from, string to
		flags, from, to := r.u32(), s.resolve(r.str()), s.resolve(r.str())
		return func() error { return s.fs.Rename(from, to, flags&batchNoReplace != 0) }
	case batchLink:
		// string existing, string path (hardlink@openssh.com's order)
		existing, name := s.resolve(r.str()), s.resolve(r.str())
		return func() error { return s.fs.Link(existing, name) }
	case batchSetstat:
		// the body of setstat@rmount
		a := readSetstat(r)
		return func() error { return s.setstat(a) }
	}
	if r.err == nil {
		r.err = errBadMessage
	}
	return nil
}
