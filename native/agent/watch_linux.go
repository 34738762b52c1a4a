//go:build linux

package main

import (
	"errors"
	"log"
	"os"
	"path"
	"sync"
	"syscall"
	"time"
	"unsafe"
)

const watchSupported = true

// inotifyMask is what every watched folder reports.
const inotifyMask = syscall.IN_CREATE | syscall.IN_DELETE | syscall.IN_MODIFY | syscall.IN_ATTRIB |
	syscall.IN_MOVED_FROM | syscall.IN_MOVED_TO | syscall.IN_CLOSE_WRITE | syscall.IN_DELETE_SELF |
	syscall.IN_MOVE_SELF | syscall.IN_ONLYDIR | syscall.IN_DONT_FOLLOW

// watchSet holds the watches of one session.
type watchSet struct {
	mu    sync.Mutex
	next  uint32
	roots map[uint32]*rootWatch
	send  func(uint32, []watchEvent)
}

func newWatchSet(send func(uint32, []watchEvent)) *watchSet {
	return &watchSet{roots: map[uint32]*rootWatch{}, send: send}
}

// rootWatch is one subscribed folder: its own inotify instance with a watch on every folder
// below it. wds is touched only by the reader goroutine (and by start, before it runs).
type rootWatch struct {
	root string
	f    *os.File
	fd   int
	wds  map[int32]string
	c    *coalescer

	mu sync.Mutex
	// syncs wait for the reader's next barrier pass; closed: the reader has ended, so no pass
	// will come.
	syncs  []*syncWaiter
	closed bool
}

// syncWaiter is one watchsync request; err is set before done is closed.
type syncWaiter struct {
	done chan struct{}
	err  error
}

// syncTimeout bounds a watchsync: a pass normally takes milliseconds, but its events go out on
// the connection, and a client that stopped reading must not hold the request forever.
const syncTimeout = 10 * time.Second

func (ws *watchSet) add(root string) (uint32, error) {
	fd, err := syscall.InotifyInit1(syscall.IN_NONBLOCK | syscall.IN_CLOEXEC)
	if err != nil {
		return 0, pathError("inotify_init1", root, err)
	}
	ws.mu.Lock()
	ws.next++
	id := ws.next
	ws.mu.Unlock()
	rw := &rootWatch{root: root, fd: fd, wds: map[int32]string{}}
	rw.c = newCoalescer(func(ev []watchEvent) { ws.send(id, ev) })
	if err := rw.addTree("", false); err != nil {
		syscall.Close(fd)
		return 0, err
	}
	// Non-blocking, so the runtime poller owns it and Close wakes the reader.
	rw.f = os.NewFile(uintptr(fd), "inotify")
	ws.mu.Lock()
	ws.roots[id] = rw
	ws.mu.Unlock()
	go rw.readLoop()
	return id, nil
}

func (ws *watchSet) remove(id uint32) error {
	ws.mu.Lock()
	rw, ok := ws.roots[id]
	delete(ws.roots, id)
	ws.mu.Unlock()
	if !ok {
		return errBadHandle
	}
	rw.c.stop()
	return rw.f.Close()
}

// sync returns once every event queued for watch id when it was called has been handled and
// its batch handed to send.
func (ws *watchSet) sync(id uint32) error {
	ws.mu.Lock()
	rw, ok := ws.roots[id]
	ws.mu.Unlock()
	if !ok {
		return errBadHandle
	}
	return rw.sync(syncTimeout)
}

// sync asks the reader for a barrier pass rather than reading the instance itself: with two
// readers, one could hold a batch it has not handled yet while the other reports the queue
// empty.
func (rw *rootWatch) sync(timeout time.Duration) error {
	w := &syncWaiter{done: make(chan struct{})}
	rw.mu.Lock()
	if rw.closed {
		rw.mu.Unlock()
		return errBadHandle
	}
	rw.syncs = append(rw.syncs, w)
	rw.mu.Unlock()
	// A deadline already past wakes the reader out of its Read (the poller owns the fd). It
	// fails only once the file is closed, and then the ending reader fails w.
	rw.f.SetReadDeadline(time.Now())
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-w.done:
		return w.err
	case <-t.C:
		return pathError("watchsync", rw.root, syscall.ETIMEDOUT)
	}
}

func (ws *watchSet) closeAll() {
	ws.mu.Lock()
	ids := make([]uint32, 0, len(ws.roots))
	for id := range ws.roots {
		ids = append(ids, id)
	}
	ws.mu.Unlock()
	for _, id := range ids {
		ws.remove(id)
	}
}

// addTree watches rel and every folder below it. With report, entries found are reported as
// created: they may have appeared before the watch existed.
func (rw *rootWatch) addTree(rel string, report bool) error {
	abs := path.Join(rw.root, rel)
	wd, entries, err := rw.watchFolder(abs)
	if err != nil {
		if rel == "" {
			return pathError("inotify_add_watch", abs, err)
		}
		if err == syscall.ENOSPC {
			log.Printf("watch %s: out of inotify watches (fs.inotify.max_user_watches); changes below it are not reported", abs)
			rw.c.add("", evRescan|evUnwatched)
		}
		return nil
	}
	rw.wds[int32(wd)] = rel
	for _, e := range entries {
		child := path.Join(rel, e.Name())
		if report {
			rw.c.add(child, evCreate)
		}
		if e.IsDir() {
			rw.addTree(child, report)
		}
	}
	return nil
}

// watchFolder adds the watch of one folder and lists it (nothing when it cannot be read). What
// shortPath opened for a long path is closed before the caller goes deeper.
func (rw *rootWatch) watchFolder(abs string) (wd int, entries []os.DirEntry, err error) {
	p, release, err := shortPath(abs)
	if err != nil {
		return 0, nil, err
	}
	defer release()
	if wd, err = syscall.InotifyAddWatch(rw.fd, p, inotifyMask); err != nil {
		return 0, nil, err
	}
	if dir, err := os.Open(p); err == nil {
		entries, _ = dir.ReadDir(-1)
		dir.Close()
	}
	return wd, entries, nil
}

// dropTree forgets the watches of rel and below (the folder moved away).
func (rw *rootWatch) dropTree(rel string) {
	for wd, p := range rw.wds {
		if p == rel || (len(p) > len(rel) && p[:len(rel)+1] == rel+"/") {
			syscall.InotifyRmWatch(rw.fd, uint32(wd))
			delete(rw.wds, wd)
		}
	}
}

func (rw *rootWatch) readLoop() {
	defer rw.end()
	buf := make([]byte, 64<<10)
	for {
		n, err := rw.f.Read(buf)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			if rw.barrier(buf) != nil {
				return
			}
			continue
		}
		if err != nil {
			return // closed by remove, or the instance broke
		}
		rw.handleEvents(buf[:n])
	}
}

// end fails the syncs still waiting: the reader is gone, so no barrier pass will answer them.
func (rw *rootWatch) end() {
	rw.mu.Lock()
	rw.closed = true
	waiting := rw.syncs
	rw.syncs = nil
	rw.mu.Unlock()
	for _, w := range waiting {
		w.err = errBadHandle
		close(w.done)
	}
}

// barrier answers the syncs that woke the reader: it handles what the instance has queued, sends
// the coalesced batch at once, and only then lets them go.
func (rw *rootWatch) barrier(buf []byte) error {
	var waiting []*syncWaiter
	for {
		// The deadline is cleared before the list is taken: a sync that registers after the
		// take sets it again, so the next Read wakes for it rather than blocking.
		err := rw.f.SetReadDeadline(time.Time{})
		if err == nil {
			rw.mu.Lock()
			waiting = append(waiting, rw.syncs...)
			rw.syncs = nil
			rw.mu.Unlock()
			err = rw.drain(buf)
		}
		if errors.Is(err, os.ErrDeadlineExceeded) {
			continue // a sync arrived between the clear and the drain
		}
		if err != nil {
			for _, w := range waiting {
				w.err = errBadHandle
				close(w.done)
			}
			return err
		}
		break
	}
	var err error
	if !rw.c.flushNow() {
		err = errBadHandle // being removed: its events are dropped, so no barrier holds
	}
	for _, w := range waiting {
		w.err = err
		close(w.done)
	}
	return nil
}

// drain reads and handles the events queued now, and no more: a process that keeps changing
// files must not hold a barrier up forever, and what it queues later is read as usual. It goes
// through the file's raw conn rather than reading rw.fd bare, because the conn holds the fd
// open: a remove closing it meanwhile must not let the number be reused under the read.
func (rw *rootWatch) drain(buf []byte) error {
	rc, err := rw.f.SyscallConn()
	if err != nil {
		return err
	}
	var readErr error
	err = rc.Read(func(fd uintptr) bool {
		var queued int32
		// FIONREAD (TIOCINQ on Linux): the bytes of every event queued, as read returns them.
		if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, fd, syscall.TIOCINQ, uintptr(unsafe.Pointer(&queued))); e != 0 {
			readErr = e
			return true
		}
		for left := int(queued); left > 0; {
			n, err := syscall.Read(int(fd), buf)
			if err == syscall.EINTR {
				continue
			}
			if err == syscall.EAGAIN {
				break
			}
			if err != nil {
				readErr = err
				break
			}
			rw.handleEvents(buf[:n])
			left -= n
		}
		return true
	})
	if err != nil {
		return err
	}
	return readErr
}

// handleEvents handles the inotify events of one read.
func (rw *rootWatch) handleEvents(buf []byte) {
	for off := 0; off+syscall.SizeofInotifyEvent <= len(buf); {
		ev := (*syscall.InotifyEvent)(unsafe.Pointer(&buf[off]))
		name := ""
		if ev.Len > 0 {
			raw := buf[off+syscall.SizeofInotifyEvent : off+syscall.SizeofInotifyEvent+int(ev.Len)]
			for i, b := range raw {
				if b == 0 {
					raw = raw[:i]
					break
				}
			}
			name = string(raw)
		}
		rw.handle(ev.Wd, ev.Mask, name)
		off += syscall.SizeofInotifyEvent + int(ev.Len)
	}
}

func (rw *rootWatch) handle(wd int32, mask uint32, name string) {
	if mask&syscall.IN_Q_OVERFLOW != 0 {
		rw.c.add("", evRescan)
		return
	}
	dir, ok := rw.wds[wd]
	if !ok {
		return
	}
	if mask&syscall.IN_IGNORED != 0 {
		delete(rw.wds, wd)
		return
	}
	rel := dir
	if name != "" {
		rel = path.Join(dir, name)
	}
	var m uint32
	if mask&(syscall.IN_CREATE|syscall.IN_MOVED_TO) != 0 {
		m |= evCreate
	}
	if mask&(syscall.IN_DELETE|syscall.IN_MOVED_FROM|syscall.IN_DELETE_SELF) != 0 {
		m |= evRemove
	}
	if mask&(syscall.IN_MOVED_FROM|syscall.IN_MOVED_TO|syscall.IN_MOVE_SELF) != 0 {
		m |= evRename
	}
	if mask&(syscall.IN_MODIFY|syscall.IN_CLOSE_WRITE) != 0 {
		m |= evModify
	}
	if mask&syscall.IN_ATTRIB != 0 {
		m |= evAttrib
	}
	// A folder's own DELETE_SELF/MOVE_SELF is reported by its parent too; only the root's counts.
	if name == "" && mask&(syscall.IN_DELETE_SELF|syscall.IN_MOVE_SELF) != 0 && dir != "" {
		return
	}
	if m == 0 {
		return
	}
	rw.c.add(rel, m)
	if mask&syscall.IN_ISDIR != 0 && name != "" {
		if mask&syscall.IN_MOVED_FROM != 0 {
			rw.dropTree(rel)
		}
		if mask&(syscall.IN_CREATE|syscall.IN_MOVED_TO) != 0 {
			rw.addTree(rel, true)
		}
	}
}
