package main

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"
)

// session drives a server over pipes, as a client would.
type session struct {
	t       *testing.T
	in      *io.PipeWriter
	out     *io.PipeReader
	nextID  uint32
	done    chan error
	mu      sync.Mutex
	events  chan []byte
	replies chan []byte
}

func startSession(t *testing.T, opts sftpOptions) *session {
	t.Helper()
	return startServing(t, func(in io.Reader, out io.Writer) error { return serveSFTP(in, out, osFS{}, opts) })
}

// startServing is startSession over any server loop, such as run with its arguments.
func startServing(t *testing.T, serve func(io.Reader, io.Writer) error) *session {
	t.Helper()
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	s := &session{t: t, in: inW, out: outR, done: make(chan error, 1), events: make(chan []byte, 64), replies: make(chan []byte, 64)}
	go func() { s.done <- serve(inR, outW); outW.Close() }()
	go s.readLoop()
	s.send(newPacket(fxpInit, 0).finish()[:0], true)
	t.Cleanup(func() { inW.Close(); <-s.done })
	return s
}

func (s *session) readLoop() {
	for {
		var hdr [4]byte
		if _, err := io.ReadFull(s.out, hdr[:]); err != nil {
			close(s.replies)
			return
		}
		p := make([]byte, binary.BigEndian.Uint32(hdr[:]))
		if _, err := io.ReadFull(s.out, p); err != nil {
			close(s.replies)
			return
		}
		if p[0] == fxpExtendedReply && binary.BigEndian.Uint32(p[1:]) == eventID {
			s.events <- p
			continue
		}
		s.replies <- p
	}
}

// send writes INIT (init=true, p ignored) or a raw packet.
func (s *session) send(p []byte, init bool) {
	if init {
		p = (&writer{b: make([]byte, 4)}).u8(fxpInit).u32(3).finish()
	}
	if _, err := s.in.Write(p); err != nil {
		s.t.Fatal(err)
	}
	if init {
		v := <-s.replies
		if v[0] != fxpVersion {
			s.t.Fatalf("want VERSION, got %d", v[0])
		}
	}
}

// call sends a request built by fill and returns the reply's type and a reader after the id.
// awaitWatch gathers the masks of watch wid's events, by path, until done says enough (or fails
// the test after 3 s).
func (s *session) awaitWatch(wid uint32, done func(seen map[string]uint32) bool) map[string]uint32 {
	seen := map[string]uint32{}
	deadline := time.After(3 * time.Second)
	for !done(seen) {
		select {
		case p := <-s.events:
			r := &reader{b: p[5:]}
			if r.str() != extWatch || r.u32() != wid {
				s.t.Fatal("event for another watch")
			}
			for n := r.u32(); n > 0; n-- {
				m := r.u32()
				seen[r.str()] |= m
			}
		case <-deadline:
			s.t.Fatalf("events so far: %v", seen)
		}
	}
	return seen
}

func (s *session) call(typ byte, fill func(w *writer)) (byte, *reader) {
	s.t.Helper()
	s.nextID++
	w := newPacket(typ, s.nextID)
	fill(w)
	s.send(w.finish(), false)
	select {
	case p := <-s.replies:
		if got := binary.BigEndian.Uint32(p[1:]); got != s.nextID {
			s.t.Fatalf("reply id %d, want %d", got, s.nextID)
		}
		return p[0], &reader{b: p[5:]}
	case <-time.After(5 * time.Second):
		s.t.Fatal("no reply")
	}
	return 0, nil
}

// status asserts a STATUS reply and returns its code and message.
func status(t *testing.T, typ byte, r *reader) (uint32, string) {
	t.Helper()
	if typ != fxpStatus {
		t.Fatalf("want STATUS, got %d", typ)
	}
	return r.u32(), r.str()
}

func TestVersionAdvertisesExtensions(t *testing.T) {
	p := versionPacket(false)
	r := &reader{b: p[5:]}
	if v := r.u32(); v != 3 {
		t.Fatalf("version %d", v)
	}
	got := map[string]string{}
	for len(r.b) > 0 {
		got[r.str()] = r.str()
	}
	for _, name := range []string{extPosixRename, extStatvfs, extFstatvfs, extHardlink, extFsync, extLsetstat, extLimits, extExpandPath, extCopyData, extAttrs, extErrno, extSetstat, extTree, extReadFiles, extMknod, extPutFile, extBatch} {
		if _, ok := got[name]; !ok {
			t.Errorf("%s not advertised", name)
		}
	}
	if got[extStatvfs] != "2" {
		t.Errorf("statvfs version %q, OpenSSH says 2", got[extStatvfs])
	}
	if _, ok := got[extWatch]; ok != (runtime.GOOS == "linux") {
		t.Errorf("watch advertised = %v on %s", ok, runtime.GOOS)
	}
}

func TestErrnoNames(t *testing.T) {
	cases := []struct {
		err  error
		name string
		code uint32
	}{
		{&os.PathError{Op: "open", Path: "x", Err: syscall.ENOENT}, "ENOENT", fxNoSuchFile},
		{syscall.EEXIST, "EEXIST", fxFailure},
		{syscall.ENOTEMPTY, "ENOTEMPTY", fxFailure},
		{syscall.EACCES, "EACCES", fxPermissionDenied},
		{syscall.ENAMETOOLONG, "ENAMETOOLONG", fxBadMessage},
		{syscall.EOPNOTSUPP, "ENOTSUP", fxOpUnsupported},
		{errBadHandle, "EBADF", fxNoSuchFile},
		{errors.New("something odd"), "EIO", fxFailure},
		{syscall.Errno(0x7ff), "EIO", fxFailure},
	}
	for _, c := range cases {
		if got := errnoName(c.err); got != c.name {
			t.Errorf("errnoName(%v) = %s, want %s", c.err, got, c.name)
		}
		if got := statusCode(c.name); got != c.code {
			t.Errorf("statusCode(%s) = %d, want %d", c.name, got, c.code)
		}
	}
}

func TestAttrsCarryInodeAndNanoseconds(t *testing.T) {
	st := fileStat{mode: syscall.S_IFREG | 0o644, size: 5, ino: 42, nlink: 2, atime: timespec{-5, 1}, mtime: timespec{1 << 33, 999_999_999}, ctime: timespec{7, 8}}
	w := (&writer{}).attrs(&st)
	r := &reader{b: w.b}
	a := r.attrs()
	if r.err != nil || len(r.b) != 0 || a.size != 5 || a.mode != st.mode {
		t.Fatalf("decoded %+v err %v rest %d", a, r.err, len(r.b))
	}
	// The extended pair, decoded by hand as a client would.
	r = &reader{b: w.b[4+8+8+4+8+4:]}
	if name := r.str(); name != extAttrs {
		t.Fatalf("pair %q", name)
	}
	d := &reader{b: r.bytes()}
	if ino, nlink := d.u64(), d.u64(); ino != 42 || nlink != 2 {
		t.Fatalf("ino %d nlink %d", ino, nlink)
	}
	d.u64()
	d.u64()
	d.u64()
	if sec, nsec := int64(d.u64()), d.u32(); sec != -5 || nsec != 1 {
		t.Fatalf("atime %d.%d", sec, nsec)
	}
	if sec, nsec := int64(d.u64()), d.u32(); sec != 1<<33 || nsec != 999_999_999 {
		t.Fatalf("mtime %d.%d", sec, nsec)
	}
}

func TestReaderStopsAtTruncatedFields(t *testing.T) {
	r := &reader{b: []byte{0, 0, 0, 9, 'a'}}
	if r.str(); r.err == nil {
		t.Fatal("a string longer than the packet was accepted")
	}
	if r.u32() != 0 || r.err == nil {
		t.Fatal("error did not stick")
	}
}

func TestServerFileRoundTripAndErrnoStatus(t *testing.T) {
	dir := t.TempDir()
	s := startSession(t, sftpOptions{root: dir})
	typ, r := s.call(fxpOpen, func(w *writer) { w.str("f").u32(pflagWrite | pflagCreat | pflagExcl).u32(attrPermissions).u32(0o600) })
	if typ != fxpHandle {
		t.Fatalf("open: %d", typ)
	}
	h := r.bytes()
	h = append([]byte(nil), h...)
	typ, r = s.call(fxpWrite, func(w *writer) { w.bytes(h).u64(3).bytes([]byte("xyz")) })
	if code, _ := status(t, typ, r); code != fxOK {
		t.Fatalf("write %d", code)
	}
	s.call(fxpClose, func(w *writer) { w.bytes(h) })
	data, err := os.ReadFile(filepath.Join(dir, "f"))
	if err != nil || !bytes.Equal(data, []byte("\x00\x00\x00xyz")) {
		t.Fatalf("file %q %v", data, err)
	}
	fi, _ := os.Stat(filepath.Join(dir, "f"))
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v", fi.Mode())
	}
	typ, r = s.call(fxpOpen, func(w *writer) { w.str("f").u32(pflagWrite | pflagCreat | pflagExcl).u32(0) })
	if code, msg := status(t, typ, r); code != fxFailure || msg != "EEXIST" {
		t.Fatalf("exclusive open: %d %q", code, msg)
	}
	os.Mkdir(filepath.Join(dir, "d"), 0o755)
	os.WriteFile(filepath.Join(dir, "d", "x"), nil, 0o644)
	typ, r = s.call(fxpRmdir, func(w *writer) { w.str("d") })
	if _, msg := status(t, typ, r); msg != "ENOTEMPTY" {
		t.Fatalf("rmdir: %q", msg)
	}
	typ, r = s.call(fxpLstat, func(w *writer) { w.str("missing") })
	if code, msg := status(t, typ, r); code != fxNoSuchFile || msg != "ENOENT" {
		t.Fatalf("lstat: %d %q", code, msg)
	}
	typ, r = s.call(fxpRead, func(w *writer) { w.str("nope").u64(0).u32(10) })
	if _, msg := status(t, typ, r); msg != "EBADF" {
		t.Fatalf("read of a bad handle: %q", msg)
	}
	typ, r = s.call(fxpRealpath, func(w *writer) { w.str("d/../f") })
	r.u32()
	if typ != fxpName || r.str() != filepath.Join(dir, "f") {
		t.Fatalf("realpath")
	}
}

// `rmount-agent sftp` runs with umask 0, so new files and folders get exactly the mode sent
// (the client's kernel applied the caller's umask already), set-id and sticky bits included.
func TestSftpCreatesExactModes(t *testing.T) {
	saved := syscall.Umask(0o022)
	t.Cleanup(func() { syscall.Umask(saved) })
	dir := t.TempDir()
	s := startServing(t, func(in io.Reader, out io.Writer) error {
		if code := run([]string{"sftp", "--root", dir}, in, out, io.Discard); code != 0 {
			return fmt.Errorf("rmount-agent sftp exited %d", code)
		}
		return nil
	})
	modeOf := func(name string) uint32 {
		t.Helper()
		st, err := osFS{}.Lstat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		return st.mode & 0o7777
	}
	create := func(name string, pflags uint32, attrs func(w *writer)) (byte, *reader) {
		typ, r := s.call(fxpOpen, func(w *writer) { attrs(w.str(name).u32(pflagWrite | pflagCreat | pflags)) })
		if typ == fxpHandle {
			h := append([]byte(nil), r.bytes()...)
			s.call(fxpClose, func(w *writer) { w.bytes(h) })
		}
		return typ, r
	}
	withMode := func(m uint32) func(w *writer) { return func(w *writer) { w.u32(attrPermissions).u32(m) } }
	noAttrs := func(w *writer) { w.u32(0) }
	mkdir := func(name string, attrs func(w *writer)) {
		t.Helper()
		typ, r := s.call(fxpMkdir, func(w *writer) { attrs(w.str(name)) })
		if code, msg := status(t, typ, r); code != fxOK {
			t.Fatalf("mkdir %s: %d %s", name, code, msg)
		}
	}

	for _, m := range []uint32{0o777, 0o620, 0o4755, 0o2775, 0o1777} {
		for _, excl := range []uint32{pflagExcl, 0} {
			name := fmt.Sprintf("f%o-excl", m)
			if excl == 0 {
				name = fmt.Sprintf("f%o", m)
			}
			if typ, _ := create(name, excl, withMode(m)); typ != fxpHandle {
				t.Fatalf("open %s: reply %d", name, typ)
			}
			if got := modeOf(name); got != m {
				t.Errorf("open %s: mode %o, want %o", name, got, m)
			}
		}
	}
	for _, m := range []uint32{0o777, 0o2775, 0o1777, 0o4755} {
		name := fmt.Sprintf("d%o", m)
		mkdir(name, withMode(m))
		if got := modeOf(name); got != m {
			t.Errorf("mkdir %s: mode %o, want %o", name, got, m)
		}
	}

	// A folder keeps a setgid bit inherited from its parent, as mkdir(2) gives it.
	mkdir("d2775/plain", withMode(0o777))
	mkdir("d2775/sticky", withMode(0o1777))
	if got := modeOf("d2775/plain"); got != 0o2777 {
		t.Errorf("mkdir in a setgid folder: mode %o, want 2777", got)
	}
	if got := modeOf("d2775/sticky"); got != 0o3777 {
		t.Errorf("mkdir with sticky bit in a setgid folder: mode %o, want 3777", got)
	}

	// A file that was there keeps its mode; an exclusive create of it fails.
	if err := os.WriteFile(filepath.Join(dir, "old"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, m := range []uint32{0o777, 0o4755} {
		if typ, _ := create("old", 0, withMode(m)); typ != fxpHandle {
			t.Fatalf("open old with %o: reply %d", m, typ)
		}
		if got := modeOf("old"); got != 0o600 {
			t.Errorf("open create of an existing file with %o: mode %o, want 600", m, got)
		}
	}
	typ, r := create("old", pflagExcl, withMode(0o4755))
	if code, msg := status(t, typ, r); code != fxFailure || msg != "EEXIST" {
		t.Fatalf("exclusive open of an existing file: %d %q", code, msg)
	}

	// Without PERMISSIONS the defaults are masked by the umask the agent started with.
	create("default", 0, noAttrs)
	mkdir("defaultd", noAttrs)
	if f, d := modeOf("default"), modeOf("defaultd"); f != 0o644 || d != 0o755 {
		t.Errorf("defaults: file %o, folder %o; want 644, 755", f, d)
	}
}

func TestServerReadEOFAndAppend(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "f"), []byte("abc"), 0o644)
	s := startSession(t, sftpOptions{root: dir})
	_, r := s.call(fxpOpen, func(w *writer) { w.str("f").u32(pflagRead | pflagWrite | pflagAppend).u32(0) })
	h := append([]byte(nil), r.bytes()...)
	s.call(fxpWrite, func(w *writer) { w.bytes(h).u64(0).bytes([]byte("de")) })
	typ, r := s.call(fxpRead, func(w *writer) { w.bytes(h).u64(1).u32(100) })
	if typ != fxpData || string(r.bytes()) != "bcde" {
		t.Fatalf("read after append")
	}
	typ, r = s.call(fxpRead, func(w *writer) { w.bytes(h).u64(5).u32(100) })
	if code, _ := status(t, typ, r); code != fxEOF {
		t.Fatalf("read at EOF: %d", code)
	}
}

func TestServerReaddirCarriesFullAttrs(t *testing.T) {
	dir := t.TempDir()
	for i := 0; i < 250; i++ {
		os.WriteFile(filepath.Join(dir, "f"+string(rune('a'+i%26))+string(rune('0'+i/26))), nil, 0o644)
	}
	s := startSession(t, sftpOptions{})
	_, r := s.call(fxpOpendir, func(w *writer) { w.str(dir) })
	h := append([]byte(nil), r.bytes()...)
	total := 0
	for {
		typ, r := s.call(fxpReaddir, func(w *writer) { w.bytes(h) })
		if typ == fxpStatus {
			if code, _ := status(t, typ, r); code != fxEOF {
				t.Fatalf("readdir status %d", code)
			}
			break
		}
		n := int(r.u32())
		for i := 0; i < n; i++ {
			r.str()
			r.str()
			if a := r.attrs(); a.flags&attrExtended == 0 {
				t.Fatal("readdir entry without attrs@rmount")
			}
		}
		total += n
	}
	if total != 250 {
		t.Fatalf("listed %d of 250", total)
	}
	typ, r := s.call(fxpExtended, func(w *writer) { w.str(extReaddir).str(dir) })
	if typ != fxpExtendedReply || r.u32() != 250 {
		t.Fatal("readdir@rmount")
	}
}

func TestTreeAndReadFiles(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "a", "b"), 0o755)
	os.WriteFile(filepath.Join(dir, "a", "b", "c.txt"), []byte("hello"), 0o644)
	os.WriteFile(filepath.Join(dir, "top.txt"), []byte("0123456789"), 0o644)
	s := startSession(t, sftpOptions{root: dir})
	typ, r := s.call(fxpExtended, func(w *writer) { w.str(extTree).str(".").u32(0).u32(0) })
	if typ != fxpExtendedReply {
		t.Fatalf("tree: %d", typ)
	}
	flags, n := r.u32(), r.u32()
	paths := map[string]bool{}
	for i := uint32(0); i < n; i++ {
		paths[r.str()] = true
		r.attrs()
	}
	if flags != 0 || len(paths) != 4 || !paths["a/b/c.txt"] || !paths["top.txt"] {
		t.Fatalf("tree flags %d paths %v", flags, paths)
	}
	_, r = s.call(fxpExtended, func(w *writer) { w.str(extTree).str(".").u32(0).u32(2) })
	if flags, n := r.u32(), r.u32(); flags != 1 || n != 2 {
		t.Fatalf("truncated tree: flags %d n %d", flags, n)
	}
	_, r = s.call(fxpExtended, func(w *writer) { w.str(extReadFiles).u32(4).u32(3).str("top.txt").str("missing").str("a") })
	if r.u32() != 3 {
		t.Fatal("readfiles count")
	}
	if e := r.str(); e != "" {
		t.Fatalf("top.txt: %s", e)
	}
	if a := r.attrs(); a.size != 10 {
		t.Fatalf("size %d", a.size)
	}
	if d := string(r.bytes()); d != "0123" {
		t.Fatalf("data %q", d)
	}
	if e := r.str(); e != "ENOENT" {
		t.Fatalf("missing: %q", e)
	}
	r.attrs()
	r.bytes()
	if e := r.str(); e != "EISDIR" {
		t.Fatalf("folder: %q", e)
	}
}

func TestSetstatNanosecondsWithOmit(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "f")
	os.WriteFile(f, nil, 0o644)
	s := startSession(t, sftpOptions{})
	set := func(valid uint32, at, mt timespec) {
		typ, r := s.call(fxpExtended, func(w *writer) {
			w.str(extSetstat).u32(0).str(f).u32(valid).u64(0).u32(0).u32(0).u32(0).i64(at.sec).u32(uint32(at.nsec)).i64(mt.sec).u32(uint32(mt.nsec))
		})
		if code, msg := status(t, typ, r); code != fxOK {
			t.Fatalf("setstat@rmount: %d %s", code, msg)
		}
	}
	set(setAtime|setMtime, timespec{1_000_000_000, 123_456_789}, timespec{1_100_000_000, 987_654_321})
	set(setMtime, timespec{0, 0}, timespec{1_200_000_000, 5})
	st, _ := osFS{}.Stat(f)
	if st.atime != (timespec{1_000_000_000, 123_456_789}) || st.mtime != (timespec{1_200_000_000, 5}) {
		t.Fatalf("atime %v mtime %v", st.atime, st.mtime)
	}
}

func TestCoalescerMergesAndOverflows(t *testing.T) {
	got := make(chan []watchEvent, 4)
	c := newCoalescer(func(ev []watchEvent) { got <- append([]watchEvent(nil), ev...) })
	c.add("a", evCreate)
	c.add("a", evModify)
	c.add("b", evRemove)
	ev := <-got
	if len(ev) != 2 || ev[0] != (watchEvent{evCreate | evModify, "a"}) || ev[1] != (watchEvent{evRemove, "b"}) {
		t.Fatalf("batch %v", ev)
	}
	for i := 0; i <= maxPending; i++ {
		c.add(string(rune(i)), evModify)
	}
	ev = <-got
	if len(ev) != 1 || ev[0].mask != evRescan {
		t.Fatalf("overflow batch %v", ev)
	}
}

func TestWatchReportsChangesRecursively(t *testing.T) {
	if !watchSupported {
		t.Skip("no inotify on " + runtime.GOOS)
	}
	dir := t.TempDir()
	os.Mkdir(filepath.Join(dir, "sub"), 0o755)
	s := startSession(t, sftpOptions{})
	typ, r := s.call(fxpExtended, func(w *writer) { w.str(extWatch).str(dir) })
	if typ != fxpExtendedReply {
		t.Fatalf("watch: %d", typ)
	}
	wid := r.u32()
	os.WriteFile(filepath.Join(dir, "sub", "new.txt"), []byte("x"), 0o644)
	os.Mkdir(filepath.Join(dir, "sub", "deeper"), 0o755)
	time.Sleep(20 * time.Millisecond)
	os.WriteFile(filepath.Join(dir, "sub", "deeper", "late.txt"), nil, 0o644)
	seen := s.awaitWatch(wid, func(seen map[string]uint32) bool {
		return seen["sub/deeper/late.txt"] != 0 && seen["sub/new.txt"] != 0
	})
	if seen["sub/new.txt"]&evCreate == 0 || seen["sub/deeper/late.txt"]&evCreate == 0 {
		t.Fatalf("events %v", seen)
	}
	typ, r = s.call(fxpExtended, func(w *writer) { w.str(extUnwatch).u32(wid) })
	if code, _ := status(t, typ, r); code != fxOK {
		t.Fatal("unwatch")
	}
}

func TestRunVersionAndUsage(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run([]string{"version"}, nil, &out, &errOut); code != 0 || !bytes.HasPrefix(out.Bytes(), []byte("rmount-agent ")) {
		t.Fatalf("version: %d %q", code, out.String())
	}
	if code := run([]string{"bogus"}, nil, &out, &errOut); code != 2 {
		t.Fatalf("unknown command exit %d", code)
	}
}
