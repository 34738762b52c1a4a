//go:build linux

package main

import (
	"log"
	"os"
	"path"
	"sync"
	"syscall"
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
}

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
	buf := make([]byte, 64<<10)
	for {
		n, err := rw.f.Read(buf)
		if err != nil {
			return // closed by remove, or the instance broke
		}
		for off := 0; off+syscall.SizeofInotifyEvent <= n; {
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
