package main

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strings"
	"syscall"
)

var (
	errBadHandle   = errors.New("invalid handle")
	errUnsupported = errors.New("unsupported request")
)

// openHandle is a file or directory opened by OPEN/OPENDIR.
type openHandle struct {
	f      file
	path   string
	dir    bool
	append bool
	// eof is set once READDIR has returned every entry.
	eof bool
}

// handleTable maps handle strings to open files. Only the request loop touches it.
type handleTable struct {
	m    map[string]*openHandle
	next uint32
}

func (t *handleTable) add(h *openHandle) string {
	t.next++
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], t.next)
	id := string(b[:])
	t.m[id] = h
	return id
}

func (t *handleTable) get(id []byte, wantDir bool) (*openHandle, error) {
	h, ok := t.m[string(id)]
	if !ok || h.dir != wantDir {
		return nil, errBadHandle
	}
	return h, nil
}

func (t *handleTable) closeAll() {
	for id, h := range t.m {
		h.f.Close()
		delete(t.m, id)
	}
}

// resolve makes a request path absolute: relative paths are relative to --root (else the cwd).
func (s *server) resolve(p string) string {
	if p == "" {
		p = "."
	}
	if s.opts.root != "" && !strings.HasPrefix(p, "/") {
		return path.Join(s.opts.root, p)
	}
	return p
}

// dispatch runs one request. A nil reply with a nil error means STATUS OK.
func (s *server) dispatch(typ byte, id uint32, r *reader) ([]byte, error) {
	switch typ {
	case fxpOpen:
		return s.opOpen(id, r)
	case fxpClose:
		return nil, s.opClose(r)
	case fxpRead:
		return s.opRead(id, r)
	case fxpWrite:
		return nil, s.opWrite(r)
	case fxpLstat:
		return s.opStat(id, r, false)
	case fxpStat:
		return s.opStat(id, r, true)
	case fxpFstat:
		return s.opFstat(id, r)
	case fxpSetstat:
		return nil, s.opSetstat(r, true)
	case fxpFsetstat:
		return nil, s.opFsetstat(r)
	case fxpOpendir:
		return s.opOpendir(id, r)
	case fxpReaddir:
		return s.opReaddir(id, r)
	case fxpRemove:
		return nil, s.opRemove(r)
	case fxpMkdir:
		return nil, s.opMkdir(r)
	case fxpRmdir:
		return nil, s.opRmdir(r)
	case fxpRealpath:
		return s.opRealpath(id, r)
	case fxpRename:
		return nil, s.opRename(r)
	case fxpReadlink:
		return s.opReadlink(id, r)
	case fxpSymlink:
		return nil, s.opSymlink(r)
	case fxpExtended:
		return s.opExtended(id, r)
	}
	return nil, errUnsupported
}

// OPEN: string filename, uint32 pflags, ATTRS → HANDLE
func (s *server) opOpen(id uint32, r *reader) ([]byte, error) {
	name, pflags, a := s.resolve(r.str()), r.u32(), r.attrs()
	if r.err != nil {
		return nil, r.err
	}
	flag := 0
	switch {
	case pflags&pflagRead != 0 && pflags&pflagWrite != 0:
		flag = os.O_RDWR
	case pflags&pflagWrite != 0:
		flag = os.O_WRONLY
	}
	if pflags&pflagAppend != 0 {
		flag |= os.O_APPEND
	}
	if pflags&pflagCreat != 0 {
		flag |= os.O_CREATE
	}
	if pflags&pflagTrunc != 0 {
		flag |= os.O_TRUNC
	}
	if pflags&pflagExcl != 0 {
		flag |= os.O_EXCL
	}
	perm := 0o666 &^ s.opts.umask
	if a.flags&attrPermissions != 0 {
		perm = a.mode & 0o7777
	}
	f, err := s.fs.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	h := s.handles.add(&openHandle{f: f, path: name, append: pflags&pflagAppend != 0})
	return newPacket(fxpHandle, id).str(h).finish(), nil
}

// CLOSE: string handle → STATUS
func (s *server) opClose(r *reader) error {
	hid := r.bytes()
	if r.err != nil {
		return r.err
	}
	h, ok := s.handles.m[string(hid)]
	if !ok {
		return errBadHandle
	}
	delete(s.handles.m, string(hid))
	return h.f.Close()
}

// READ: string handle, uint64 offset, uint32 len → DATA | STATUS EOF
func (s *server) opRead(id uint32, r *reader) ([]byte, error) {
	hid, off, n := r.bytes(), r.u64(), r.u32()
	if r.err != nil {
		return nil, r.err
	}
	h, err := s.handles.get(hid, false)
	if err != nil {
		return nil, err
	}
	if n > maxIO {
		n = maxIO
	}
	// The DATA packet is built in place: header, then the bytes read straight into it.
	p := make([]byte, 13+int(n))
	got, err := h.f.ReadAt(p[13:], int64(off))
	if got == 0 {
		if err == nil || err == io.EOF {
			return nil, io.EOF
		}
		return nil, err
	}
	p = p[:13+got]
	binary.BigEndian.PutUint32(p, uint32(len(p)-4))
	p[4] = fxpData
	binary.BigEndian.PutUint32(p[5:], id)
	binary.BigEndian.PutUint32(p[9:], uint32(got))
	return p, nil
}

// WRITE: string handle, uint64 offset, string data → STATUS
func (s *server) opWrite(r *reader) error {
	hid, off, data := r.bytes(), r.u64(), r.bytes()
	if r.err != nil {
		return r.err
	}
	h, err := s.handles.get(hid, false)
	if err != nil {
		return err
	}
	// O_APPEND ignores the offset (and Go's WriteAt refuses append-mode files).
	if h.append {
		_, err = h.f.Write(data)
	} else {
		_, err = h.f.WriteAt(data, int64(off))
	}
	return err
}

// LSTAT/STAT: string path → ATTRS
func (s *server) opStat(id uint32, r *reader, follow bool) ([]byte, error) {
	name := s.resolve(r.str())
	if r.err != nil {
		return nil, r.err
	}
	var st fileStat
	var err error
	if follow {
		st, err = s.fs.Stat(name)
	} else {
		st, err = s.fs.Lstat(name)
	}
	if err != nil {
		return nil, err
	}
	return newPacket(fxpAttrs, id).attrs(&st).finish(), nil
}

// FSTAT: string handle → ATTRS
func (s *server) opFstat(id uint32, r *reader) ([]byte, error) {
	hid := r.bytes()
	if r.err != nil {
		return nil, r.err
	}
	h, ok := s.handles.m[string(hid)]
	if !ok {
		return nil, errBadHandle
	}
	st, err := h.f.Stat()
	if err != nil {
		return nil, err
	}
	return newPacket(fxpAttrs, id).attrs(&st).finish(), nil
}

// SETSTAT: string path, ATTRS → STATUS. Applied in OpenSSH's order: size, mode, times, owner.
func (s *server) opSetstat(r *reader, follow bool) error {
	name, a := s.resolve(r.str()), r.attrs()
	if r.err != nil {
		return r.err
	}
	if a.flags&attrSize != 0 {
		if !follow {
			return errUnsupported
		}
		if err := s.fs.Truncate(name, int64(a.size)); err != nil {
			return err
		}
	}
	if a.flags&attrPermissions != 0 {
		if err := s.fs.Chmod(name, a.mode, follow); err != nil {
			return err
		}
	}
	if a.flags&attrACModTime != 0 {
		if err := s.fs.SetTimes(name, timeSet{t: a.atime}, timeSet{t: a.mtime}, follow); err != nil {
			return err
		}
	}
	if a.flags&attrUIDGID != 0 {
		if err := s.fs.Chown(name, int(a.uid), int(a.gid), follow); err != nil {
			return err
		}
	}
	return nil
}

// FSETSTAT: string handle, ATTRS → STATUS
func (s *server) opFsetstat(r *reader) error {
	hid, a := r.bytes(), r.attrs()
	if r.err != nil {
		return r.err
	}
	h, ok := s.handles.m[string(hid)]
	if !ok {
		return errBadHandle
	}
	if a.flags&attrSize != 0 {
		if err := h.f.Truncate(int64(a.size)); err != nil {
			return err
		}
	}
	if a.flags&attrPermissions != 0 {
		if err := h.f.Chmod(a.mode); err != nil {
			return err
		}
	}
	if a.flags&attrACModTime != 0 {
		if err := h.f.SetTimes(timeSet{t: a.atime}, timeSet{t: a.mtime}); err != nil {
			return err
		}
	}
	if a.flags&attrUIDGID != 0 {
		if err := h.f.Chown(int(a.uid), int(a.gid)); err != nil {
			return err
		}
	}
	return nil
}

// OPENDIR: string path → HANDLE
func (s *server) opOpendir(id uint32, r *reader) ([]byte, error) {
	name := s.resolve(r.str())
	if r.err != nil {
		return nil, r.err
	}
	st, err := s.fs.Stat(name)
	if err != nil {
		return nil, err
	}
	if st.mode&syscall.S_IFMT != syscall.S_IFDIR {
		return nil, pathError("opendir", name, syscall.ENOTDIR)
	}
	f, err := s.fs.OpenFile(name, os.O_RDONLY, 0)
	if err != nil {
		return nil, err
	}
	h := s.handles.add(&openHandle{f: f, path: name, dir: true})
	return newPacket(fxpHandle, id).str(h).finish(), nil
}

// readdirBatch is how many names one READDIR answer carries (as OpenSSH's sftp-server).
const readdirBatch = 100

// READDIR: string handle → NAME uint32 count, (string filename, string longname, ATTRS)* | STATUS EOF
func (s *server) opReaddir(id uint32, r *reader) ([]byte, error) {
	hid := r.bytes()
	if r.err != nil {
		return nil, r.err
	}
	h, err := s.handles.get(hid, true)
	if err != nil {
		return nil, err
	}
	for !h.eof {
		names, err := h.f.Readdirnames(readdirBatch)
		if err == io.EOF || (err == nil && len(names) == 0) {
			h.eof = true
			break
		}
		if err != nil && len(names) == 0 {
			return nil, err
		}
		w := newPacket(fxpName, id).u32(0)
		count := uint32(0)
		for _, n := range names {
			st, err := s.fs.Lstat(path.Join(h.path, n))
			if err != nil {
				continue // removed since it was listed
			}
			w.str(n).str(longName(n, &st)).attrs(&st)
			count++
		}
		if count == 0 {
			continue
		}
		binary.BigEndian.PutUint32(w.b[9:], count)
		return w.finish(), nil
	}
	return nil, io.EOF
}

// REMOVE: string filename → STATUS
func (s *server) opRemove(r *reader) error {
	name := s.resolve(r.str())
	if r.err != nil {
		return r.err
	}
	return s.fs.Unlink(name)
}

// MKDIR: string path, ATTRS → STATUS
func (s *server) opMkdir(r *reader) error {
	name, a := s.resolve(r.str()), r.attrs()
	if r.err != nil {
		return r.err
	}
	perm := 0o777 &^ s.opts.umask
	if a.flags&attrPermissions != 0 {
		perm = a.mode & 0o7777
	}
	return s.fs.Mkdir(name, perm)
}

// RMDIR: string path → STATUS
func (s *server) opRmdir(r *reader) error {
	name := s.resolve(r.str())
	if r.err != nil {
		return r.err
	}
	return s.fs.Rmdir(name)
}

// REALPATH: string path → NAME with one entry (attributes empty, as OpenSSH sends them).
func (s *server) opRealpath(id uint32, r *reader) ([]byte, error) {
	p := r.str()
	if r.err != nil {
		return nil, r.err
	}
	abs, err := s.canonical(p)
	if err != nil {
		return nil, err
	}
	return nameReply(id, abs), nil
}

func nameReply(id uint32, p string) []byte {
	return newPacket(fxpName, id).u32(1).str(p).str(p).attrs(nil).finish()
}

// canonical resolves p to an absolute path without "." and ".." and with symlinks followed; the
// last component need not exist (as OpenSSH's sftp_realpath).
func (s *server) canonical(p string) (string, error) {
	p = s.resolve(p)
	if !strings.HasPrefix(p, "/") {
		wd, err := s.fs.Getwd()
		if err != nil {
			return "", err
		}
		p = path.Join(wd, p)
	}
	out := "/"
	parts := strings.Split(p, "/")
	for hops := 0; len(parts) > 0; {
		c := parts[0]
		parts = parts[1:]
		if c == "" || c == "." {
			continue
		}
		if c == ".." {
			out = path.Dir(out)
			continue
		}
		next := path.Join(out, c)
		st, err := s.fs.Lstat(next)
		if err != nil {
			if len(parts) == 0 && errnoName(err) == "ENOENT" {
				return next, nil
			}
			return "", err
		}
		if st.mode&syscall.S_IFMT != syscall.S_IFLNK {
			out = next
			continue
		}
		if hops++; hops > 40 {
			return "", pathError("realpath", p, syscall.ELOOP)
		}
		target, err := s.fs.Readlink(next)
		if err != nil {
			return "", err
		}
		if strings.HasPrefix(target, "/") {
			out = "/"
		}
		parts = append(strings.Split(target, "/"), parts...)
	}
	return out, nil
}

// RENAME: string oldpath, string newpath → STATUS. v3 never replaces an existing target.
func (s *server) opRename(r *reader) error {
	from, to := s.resolve(r.str()), s.resolve(r.str())
	if r.err != nil {
		return r.err
	}
	return s.fs.Rename(from, to, true)
}

// READLINK: string path → NAME with one entry
func (s *server) opReadlink(id uint32, r *reader) ([]byte, error) {
	name := s.resolve(r.str())
	if r.err != nil {
		return nil, r.err
	}
	target, err := s.fs.Readlink(name)
	if err != nil {
		return nil, err
	}
	return nameReply(id, target), nil
}

// SYMLINK: string targetpath, string linkpath → STATUS (OpenSSH's order; see its PROTOCOL file).
func (s *server) opSymlink(r *reader) error {
	target, link := r.str(), s.resolve(r.str())
	if r.err != nil {
		return r.err
	}
	return s.fs.Symlink(target, link)
}

// longName is the `ls -l` line READDIR carries, which OpenSSH's `sftp ls -l` prints as it is.
func longName(name string, st *fileStat) string {
	return fmt.Sprintf("%s %3d %-8s %-8s %8d %s %s", modeString(st.mode), st.nlink,
		userName(st.uid), groupName(st.gid), st.size, lsTime(st.mtime.sec), name)
}

func modeString(m uint32) string {
	b := []byte("?rwxrwxrwx")
	switch m & syscall.S_IFMT {
	case syscall.S_IFREG:
		b[0] = '-'
	case syscall.S_IFDIR:
		b[0] = 'd'
	case syscall.S_IFLNK:
		b[0] = 'l'
	case syscall.S_IFCHR:
		b[0] = 'c'
	case syscall.S_IFBLK:
		b[0] = 'b'
	case syscall.S_IFIFO:
		b[0] = 'p'
	case syscall.S_IFSOCK:
		b[0] = 's'
	}
	for i := 0; i < 9; i++ {
		if m&(1<<uint(8-i)) == 0 {
			b[1+i] = '-'
		}
	}
	special := func(bit uint32, i int, on, onNoX byte) {
		if m&bit == 0 {
			return
		}
		if b[i] == '-' {
			b[i] = onNoX
		} else {
			b[i] = on
		}
	}
	special(0o4000, 3, 's', 'S')
	special(0o2000, 6, 's', 'S')
	special(0o1000, 9, 't', 'T')
	return string(b)
}
