package main

import (
	"encoding/binary"
	"errors"
	"io"
	"os"
	"path"
	"strings"
	"syscall"
)

// Extension names. The OpenSSH ones have OpenSSH's wire formats (its PROTOCOL file); the
// rmount ones are described in PROTOCOL.md.
const (
	extPosixRename = "posix-rename@openssh.com"
	extStatvfs     = "statvfs@openssh.com"
	extFstatvfs    = "fstatvfs@openssh.com"
	extHardlink    = "hardlink@openssh.com"
	extFsync       = "fsync@openssh.com"
	extLsetstat    = "lsetstat@openssh.com"
	extLimits      = "limits@openssh.com"
	extExpandPath  = "expand-path@openssh.com"
	extCopyData    = "copy-data"
	extErrno       = "errno@rmount"
	extAttrs       = "attrs@rmount"
	extSetstat     = "setstat@rmount"
	extReaddir     = "readdir@rmount"
	extTree        = "tree@rmount"
	extListings    = "listings@rmount"
	extReadFiles   = "readfiles@rmount"
	extWatch       = "watch@rmount"
	extUnwatch     = "unwatch@rmount"
	extWatchSync   = "watchsync@rmount"
	extEnd         = "end@rmount"
	extMknod       = "mknod@rmount"
	extPutFile     = "putfile@rmount"
	extBatch       = "batch@rmount"
)

// advertised lists the extensions in VERSION, with their versions.
func advertised(durable bool) [][2]string {
	e := [][2]string{
		{extPosixRename, "1"}, {extStatvfs, "2"}, {extFstatvfs, "2"}, {extHardlink, "1"},
		{extFsync, "1"}, {extLsetstat, "1"}, {extLimits, "1"}, {extExpandPath, "1"},
		{extCopyData, "1"}, {extErrno, "1"}, {extAttrs, "1"}, {extSetstat, "1"},
		{extReaddir, "1"}, {extTree, "1"}, {extListings, "1"}, {extReadFiles, "1"}, {extMknod, "1"},
		{extPutFile, "1"}, {extBatch, "1"},
	}
	if watchSupported {
		e = append(e, [2]string{extWatch, "1"}, [2]string{extUnwatch, "1"}, [2]string{extWatchSync, "1"})
	}
	if durable {
		e = append(e, [2]string{extEnd, "1"})
	}
	return e
}

// maxBatchReply bounds the replies of readdir@rmount, tree@rmount, listings@rmount and readfiles@rmount.
const maxBatchReply = 32 << 20

// EXTENDED: string extended-request, request-specific data
func (s *server) opExtended(id uint32, r *reader) ([]byte, error) {
	name := r.str()
	if r.err != nil {
		return nil, r.err
	}
	switch name {
	case extPosixRename:
		from, to := s.resolve(r.str()), s.resolve(r.str())
		if r.err != nil {
			return nil, r.err
		}
		return nil, s.fs.Rename(from, to, false)
	case extHardlink:
		from, to := s.resolve(r.str()), s.resolve(r.str())
		if r.err != nil {
			return nil, r.err
		}
		return nil, s.fs.Link(from, to)
	case extStatvfs:
		p := s.resolve(r.str())
		if r.err != nil {
			return nil, r.err
		}
		v, err := s.fs.Statvfs(p)
		if err != nil {
			return nil, err
		}
		return statvfsReply(id, v), nil
	case extFstatvfs:
		h, ok := s.handles.m[string(r.bytes())]
		if r.err != nil {
			return nil, r.err
		}
		if !ok {
			return nil, errBadHandle
		}
		v, err := h.f.Statvfs()
		if err != nil {
			return nil, err
		}
		return statvfsReply(id, v), nil
	case extFsync:
		h, err := s.handles.get(r.bytes(), false)
		if err != nil {
			return nil, err
		}
		return nil, h.f.Sync()
	case extLsetstat:
		return nil, s.opSetstat(r, false)
	case extLimits:
		// uint64 max-packet-length, max-read-length, max-write-length, max-open-handles
		return newPacket(fxpExtendedReply, id).u64(maxPacket).u64(maxIO).u64(maxIO).u64(0).finish(), nil
	case extExpandPath:
		return s.extExpandPath(id, r)
	case extCopyData:
		return nil, s.extCopyData(r)
	case extSetstat:
		return nil, s.extSetstat(r)
	case extReaddir:
		return s.extReaddir(id, r)
	case extTree:
		return s.extTree(id, r)
	case extListings:
		return s.extListings(id, r)
	case extReadFiles:
		return s.extReadFiles(id, r)
	case extMknod:
		return nil, s.extMknod(r)
	case extPutFile:
		return nil, s.extPutFile(r)
	case extBatch:
		return s.extBatch(id, r)
	case extWatch:
		return s.extWatch(id, r)
	case extUnwatch:
		wid := r.u32()
		if r.err != nil {
			return nil, r.err
		}
		if s.watches == nil {
			return nil, errBadHandle
		}
		return nil, s.watches.remove(wid)
	case extWatchSync:
		return nil, s.extWatchSync(r)
	case extEnd:
		if !s.opts.durable {
			return nil, errUnsupported
		}
		s.ending = true
		return nil, nil
	}
	return nil, errUnsupported
}

// statvfs@openssh.com reply: 11 × uint64 (bsize, frsize, blocks, bfree, bavail, files, ffree,
// favail, fsid, flag, namemax).
func statvfsReply(id uint32, v statvfs) []byte {
	w := newPacket(fxpExtendedReply, id)
	for _, x := range []uint64{v.bsize, v.frsize, v.blocks, v.bfree, v.bavail, v.files, v.ffree, v.favail, v.fsid, v.flag, v.namemax} {
		w.u64(x)
	}
	return w.finish()
}

// expand-path@openssh.com: string path → NAME; "~" and "~user" prefixes become home folders,
// then the result is canonical as REALPATH's.
func (s *server) extExpandPath(id uint32, r *reader) ([]byte, error) {
	p := r.str()
	if r.err != nil {
		return nil, r.err
	}
	if strings.HasPrefix(p, "~") {
		user, rest := p[1:], ""
		if i := strings.IndexByte(user, '/'); i >= 0 {
			user, rest = user[:i], user[i+1:]
		}
		home, err := s.fs.Home(user)
		if err != nil {
			return nil, err
		}
		p = path.Join(home, rest)
	}
	abs, err := s.canonical(p)
	if err != nil {
		return nil, err
	}
	return nameReply(id, abs), nil
}

// copy-data: string read-handle, uint64 read-offset, uint64 read-length (0: to EOF),
// string write-handle, uint64 write-offset → STATUS
func (s *server) extCopyData(r *reader) error {
	rh, roff, n, wh, woff := r.bytes(), r.u64(), r.u64(), r.bytes(), r.u64()
	if r.err != nil {
		return r.err
	}
	src, err := s.handles.get(rh, false)
	if err != nil {
		return err
	}
	dst, err := s.handles.get(wh, false)
	if err != nil {
		return err
	}
	buf := make([]byte, 256<<10)
	for n == 0 || n > 0 {
		want := uint64(len(buf))
		if n != 0 && n < want {
			want = n
		}
		got, err := src.f.ReadAt(buf[:want], int64(roff))
		if got > 0 {
			if _, werr := dst.f.WriteAt(buf[:got], int64(woff)); werr != nil {
				return werr
			}
			roff += uint64(got)
			woff += uint64(got)
			if n != 0 {
				n -= uint64(got)
				if n == 0 {
					return nil
				}
			}
		}
		if err == io.EOF || (err == nil && got == 0) {
			return nil
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// Field bits of setstat@rmount.
const (
	setSize     = 1 << 0
	setMode     = 1 << 1
	setUID      = 1 << 2
	setGID      = 1 << 3
	setAtime    = 1 << 4
	setMtime    = 1 << 5
	setAtimeNow = 1 << 6
	setMtimeNow = 1 << 7

	setstatNoFollow = 1 << 0
	setstatHandle   = 1 << 1
)

// setstatRequest is the body of setstat@rmount; target aliases the request packet.
type setstatRequest struct {
	flags, valid   uint32
	target         []byte
	size           uint64
	mode, uid, gid uint32
	atime, mtime   timespec
}

// readSetstat decodes uint32 flags, string path-or-handle, uint32 valid, uint64 size, uint32 mode,
// uint32 uid, uint32 gid, int64 atime-sec, uint32 atime-nsec, int64 mtime-sec, uint32 mtime-nsec.
func readSetstat(r *reader) setstatRequest {
	var a setstatRequest
	a.flags, a.target, a.valid = r.u32(), r.bytes(), r.u32()
	a.size, a.mode, a.uid, a.gid = r.u64(), r.u32(), r.u32(), r.u32()
	a.atime = timespec{int64(r.u64()), int64(r.u32())}
	a.mtime = timespec{int64(r.u64()), int64(r.u32())}
	return a
}

// setstat@rmount: a setstatRequest → STATUS. Each field applies only when its bit is in valid; a
// time left out stays as it is.
func (s *server) extSetstat(r *reader) error {
	a := readSetstat(r)
	if r.err != nil {
		return r.err
	}
	return s.setstat(a)
}

// setstat applies a setstat@rmount body (also a batch@rmount item).
func (s *server) setstat(a setstatRequest) error {
	if a.atime.nsec >= 1e9 || a.mtime.nsec >= 1e9 {
		return pathError("setstat", string(a.target), syscall.EINVAL)
	}
	valid := a.valid
	atime := timeSet{omit: valid&(setAtime|setAtimeNow) == 0, now: valid&setAtimeNow != 0, t: a.atime}
	mtime := timeSet{omit: valid&(setMtime|setMtimeNow) == 0, now: valid&setMtimeNow != 0, t: a.mtime}
	u, g := -1, -1
	if valid&setUID != 0 {
		u = int(a.uid)
	}
	if valid&setGID != 0 {
		g = int(a.gid)
	}
	times := valid&(setAtime|setMtime|setAtimeNow|setMtimeNow) != 0
	if a.flags&setstatHandle != 0 {
		h, ok := s.handles.m[string(a.target)]
		if !ok {
			return errBadHandle
		}
		if valid&setSize != 0 {
			if err := h.f.Truncate(int64(a.size)); err != nil {
				return err
			}
		}
		if valid&setMode != 0 {
			if err := h.f.Chmod(a.mode); err != nil {
				return err
			}
		}
		if u != -1 || g != -1 {
			if err := h.f.Chown(u, g); err != nil {
				return err
			}
		}
		if times {
			return h.f.SetTimes(atime, mtime)
		}
		return nil
	}
	name := s.resolve(string(a.target))
	follow := a.flags&setstatNoFollow == 0
	if valid&setSize != 0 {
		if err := s.fs.Truncate(name, int64(a.size)); err != nil {
			return err
		}
	}
	if valid&setMode != 0 {
		if err := s.fs.Chmod(name, a.mode, follow); err != nil {
			return err
		}
	}
	if u != -1 || g != -1 {
		if err := s.fs.Chown(name, u, g, follow); err != nil {
			return err
		}
	}
	if times {
		return s.fs.SetTimes(name, atime, mtime, follow)
	}
	return nil
}

// mknod@rmount: string path, uint32 mode, uint64 rdev → STATUS. mode is the S_IFMT type (FIFO,
// character or block device, socket, regular file) and the permission bits, applied exactly.
func (s *server) extMknod(r *reader) error {
	name, mode, rdev := s.resolve(r.str()), r.u32(), r.u64()
	if r.err != nil {
		return r.err
	}
	return s.fs.Mknod(name, mode, rdev)
}

// Flags of putfile@rmount.
const (
	putExclusive      = 1 << 0
	putSync           = 1 << 1
	putOwnerIfAllowed = 1 << 2
)

// putRequest is the body of putfile@rmount; data aliases the request packet.
type putRequest struct {
	flags, mode, valid, uid, gid uint32
	name                         string
	atime, mtime                 timespec
	data                         []byte
}

// readPut decodes uint32 flags, string path, uint32 mode, uint32 valid, uint32 uid, uint32 gid,
// int64 atime-sec, uint32 atime-nsec, int64 mtime-sec, uint32 mtime-nsec, string data.
func (s *server) readPut(r *reader) putRequest {
	var a putRequest
	a.flags, a.name = r.u32(), s.resolve(r.str())
	a.mode, a.valid, a.uid, a.gid = r.u32(), r.u32(), r.u32(), r.u32()
	a.atime = timespec{int64(r.u64()), int64(r.u32())}
	a.mtime = timespec{int64(r.u64()), int64(r.u32())}
	a.data = r.bytes()
	return a
}

// putfile@rmount: a putRequest → STATUS. One request for what SFTP needs OPEN, WRITE, FSETSTAT
// and CLOSE for: a whole small file, with its exact mode, its times and (setUID/setGID in valid)
// its owner, fsync'ed when asked.
func (s *server) extPutFile(r *reader) error {
	a := s.readPut(r)
	if r.err != nil {
		return r.err
	}
	return s.putFile(a)
}

// putFile carries out a putfile@rmount body (also a batch@rmount item).
func (s *server) putFile(a putRequest) error {
	if a.atime.nsec >= 1e9 || a.mtime.nsec >= 1e9 {
		return pathError("putfile", a.name, syscall.EINVAL)
	}
	flag := os.O_WRONLY | os.O_CREATE | os.O_TRUNC
	if a.flags&putExclusive != 0 {
		flag |= os.O_EXCL
	}
	f, err := s.fs.OpenFile(a.name, flag, a.mode&0o7777)
	if err != nil {
		return err
	}
	if err := putContent(f, a.data, a.mode&0o7777, a.valid, a.uid, a.gid, a.flags); err != nil {
		f.Close()
		return err
	}
	if err := f.SetTimes(timeSet{t: a.atime}, timeSet{t: a.mtime}); err != nil {
		f.Close()
		return err
	}
	if a.flags&putSync != 0 {
		if err := f.Sync(); err != nil {
			f.Close()
			return err
		}
	}
	return f.Close()
}

// putContent writes data at 0 and sets the mode and owner of a file putfile@rmount opened.
func putContent(f file, data []byte, mode, valid, uid, gid, flags uint32) error {
	if _, err := f.WriteAt(data, 0); err != nil {
		return err
	}
	// After the write: a chmod first would be undone by the kernel clearing set-id bits on write.
	if err := f.Chmod(mode); err != nil {
		return err
	}
	if valid&(setUID|setGID) == 0 {
		return nil
	}
	u, g := -1, -1
	if valid&setUID != 0 {
		u = int(uid)
	}
	if valid&setGID != 0 {
		g = int(gid)
	}
	err := f.Chown(u, g)
	if err != nil && flags&putOwnerIfAllowed != 0 && errors.Is(err, syscall.EPERM) {
		return nil
	}
	if err == nil && mode&0o6000 != 0 {
		// chown clears set-id bits: set them again.
		return f.Chmod(mode)
	}
	return err
}

// readdir@rmount: string path → EXTENDED_REPLY uint32 count, (string name, ATTRS)*
// Every entry but "." and ".." in one answer (lstat attributes).
func (s *server) extReaddir(id uint32, r *reader) ([]byte, error) {
	dir := s.resolve(r.str())
	if r.err != nil {
		return nil, r.err
	}
	names, err := s.listDir(dir)
	if err != nil {
		return nil, err
	}
	w := newPacket(fxpExtendedReply, id).u32(0)
	count := uint32(0)
	for _, n := range names {
		st, err := s.fs.Lstat(path.Join(dir, n))
		if err != nil {
			continue
		}
		w.str(n).attrs(&st)
		count++
		if len(w.b) > maxBatchReply {
			return nil, pathError("readdir", dir, syscall.EOVERFLOW)
		}
	}
	binary.BigEndian.PutUint32(w.b[9:], count)
	return w.finish(), nil
}

// listDir returns the names in dir; ENOTDIR when it is not a directory.
func (s *server) listDir(dir string) ([]string, error) {
	st, err := s.fs.Stat(dir)
	if err != nil {
		return nil, err
	}
	if st.mode&syscall.S_IFMT != syscall.S_IFDIR {
		return nil, pathError("readdir", dir, syscall.ENOTDIR)
	}
	f, err := s.fs.OpenFile(dir, os.O_RDONLY, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var all []string
	for {
		names, err := f.Readdirnames(1024)
		all = append(all, names...)
		if err == io.EOF || (err == nil && len(names) == 0) {
			return all, nil
		}
		if err != nil {
			return nil, err
		}
	}
}

// tree@rmount: string path, uint32 max-depth, uint32 max-entries →
// EXTENDED_REPLY uint32 flags (1: truncated), uint32 count, (string relative-path, ATTRS)*
// The subtree breadth first, symlinks not followed; unreadable folders are listed without
// their contents.
func (s *server) extTree(id uint32, r *reader) ([]byte, error) {
	root, maxDepth, maxEntries := s.resolve(r.str()), r.u32(), r.u32()
	if r.err != nil {
		return nil, r.err
	}
	if _, err := s.listDir(root); err != nil {
		return nil, err
	}
	w := newPacket(fxpExtendedReply, id).u32(0).u32(0)
	count, truncated := uint32(0), false
	type level struct {
		rel   string
		depth uint32
	}
	queue := []level{{"", 1}}
	for len(queue) > 0 && !truncated {
		cur := queue[0]
		queue = queue[1:]
		names, err := s.listDir(path.Join(root, cur.rel))
		if err != nil {
			continue
		}
		for _, n := range names {
			rel := n
			if cur.rel != "" {
				rel = cur.rel + "/" + n
			}
			st, err := s.fs.Lstat(path.Join(root, rel))
			if err != nil {
				continue
			}
			if (maxEntries != 0 && count >= maxEntries) || len(w.b) > maxBatchReply {
				truncated = true
				break
			}
			w.str(rel).attrs(&st)
			count++
			if st.mode&syscall.S_IFMT == syscall.S_IFDIR && (maxDepth == 0 || cur.depth < maxDepth) {
				queue = append(queue, level{rel, cur.depth + 1})
			}
		}
	}
	if truncated {
		binary.BigEndian.PutUint32(w.b[9:], 1)
	}
	binary.BigEndian.PutUint32(w.b[13:], count)
	return w.finish(), nil
}

// readfiles@rmount: uint32 max-bytes-per-file, uint32 count, string path* →
// EXTENDED_REPLY uint32 count, (string errno-name or "", ATTRS, string data)*
// The first max-bytes of each file (stat attributes tell the whole size); a failure for one
// file is reported in its entry and does not fail the request.
func (s *server) extReadFiles(id uint32, r *reader) ([]byte, error) {
	maxBytes, n := r.u32(), r.u32()
	if r.err != nil {
		return nil, r.err
	}
	if maxBytes > maxIO {
		maxBytes = maxIO
	}
	w := newPacket(fxpExtendedReply, id).u32(n)
	buf := make([]byte, maxBytes)
	for i := uint32(0); i < n; i++ {
		p := s.resolve(r.str())
		if r.err != nil {
			return nil, r.err
		}
		st, data, err := s.readSmall(p, buf)
		if err != nil {
			w.str(errnoName(err)).attrs(nil).str("")
			continue
		}
		w.str("").attrs(&st).bytes(data)
		if len(w.b) > maxBatchReply {
			return nil, pathError("readfiles", p, syscall.EOVERFLOW)
		}
	}
	return w.finish(), nil
}

func (s *server) readSmall(p string, buf []byte) (fileStat, []byte, error) {
	f, err := s.fs.OpenFile(p, os.O_RDONLY, 0)
	if err != nil {
		return fileStat{}, nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return fileStat{}, nil, err
	}
	if st.mode&syscall.S_IFMT == syscall.S_IFDIR {
		return fileStat{}, nil, pathError("read", p, syscall.EISDIR)
	}
	got := 0
	for got < len(buf) {
		k, err := f.ReadAt(buf[got:], int64(got))
		got += k
		if err == io.EOF || (err == nil && k == 0) {
			break
		}
		if err != nil {
			return fileStat{}, nil, err
		}
	}
	return st, buf[:got], nil
}

// watch@rmount: string path → EXTENDED_REPLY uint32 watch-id. Events follow as EXTENDED_REPLY
// packets with request id 0xFFFFFFFF (PROTOCOL.md).
func (s *server) extWatch(id uint32, r *reader) ([]byte, error) {
	p := s.resolve(r.str())
	if r.err != nil {
		return nil, r.err
	}
	if !watchSupported {
		return nil, errUnsupported
	}
	st, err := s.fs.Stat(p)
	if err != nil {
		return nil, err
	}
	if st.mode&syscall.S_IFMT != syscall.S_IFDIR {
		return nil, pathError("watch", p, syscall.ENOTDIR)
	}
	if s.watches == nil {
		// Events go to the connection that asked for them, never to a later one of a durable
		// session (which subscribes again itself).
		out := s.out
		s.watches = newWatchSet(func(wid uint32, events []watchEvent) { sendEvents(out, wid, events) })
	}
	wid, err := s.watches.add(p)
	if err != nil {
		return nil, err
	}
	return newPacket(fxpExtendedReply, id).u32(wid).finish(), nil
}

// watchsync@rmount: uint32 watch-id → STATUS, sent after the events of every change the watch's
// inotify instance had queued when the request was handled (PROTOCOL.md).
//
// It holds up this connection's later requests (the server answers one at a time, in order)
// until the watch's reader has made one pass over its queue. That is milliseconds, and a client
// asks for it where it wants the events before anything else anyway.
func (s *server) extWatchSync(r *reader) error {
	wid := r.u32()
	if r.err != nil {
		return r.err
	}
	if !watchSupported {
		return errUnsupported
	}
	if s.watches == nil {
		return errBadHandle
	}
	return s.watches.sync(wid)
}

// Event bits of a watch event.
const (
	evCreate = 1 << 0
	evRemove = 1 << 1
	evModify = 1 << 2
	evAttrib = 1 << 3
	evRename = 1 << 4
	// evRescan: events were lost; everything under the watched folder may have changed.
	evRescan = 1 << 31
)

// watchEvent is one coalesced change: path relative to the watched folder ("" = the folder).
type watchEvent struct {
	mask uint32
	path string
}

// sendEvents pushes one batch: EXTENDED_REPLY id 0xFFFFFFFF, string "watch@rmount",
// uint32 watch-id, uint32 count, (uint32 mask, string path)*
func sendEvents(out *output, wid uint32, events []watchEvent) {
	w := newPacket(fxpExtendedReply, eventID).str(extWatch).u32(wid).u32(uint32(len(events)))
	for _, e := range events {
		w.u32(e.mask).str(e.path)
	}
	out.send(w.finish(), true)
}
