//go:build linux

package main

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// eventLog records what a watchSet sends, in the order it is sent.
type eventLog struct {
	mu   sync.Mutex
	seen map[string]uint32
	n    int
}

func (l *eventLog) send(_ uint32, events []watchEvent) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, e := range events {
		l.seen[e.path] |= e.mask
		l.n++
	}
}

// snapshot is what had been sent by the time of the call.
func (l *eventLog) snapshot() (map[string]uint32, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	m := make(map[string]uint32, len(l.seen))
	for k, v := range l.seen {
		m[k] = v
	}
	return m, l.n
}

// startSyncWatch watches a new temporary folder with the coalesce delay stretched to an hour, so
// that whatever has been sent by the time a sync returns was sent by that sync.
func startSyncWatch(t *testing.T) (dir string, ws *watchSet, id uint32, log *eventLog) {
	t.Helper()
	dir = t.TempDir()
	log = &eventLog{seen: map[string]uint32{}}
	ws = newWatchSet(log.send)
	id, err := ws.add(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ws.closeAll)
	ws.mu.Lock()
	c := ws.roots[id].c
	ws.mu.Unlock()
	c.mu.Lock()
	c.delay = 1 << 62
	c.mu.Unlock()
	return dir, ws, id, log
}

func TestWatchSyncDeliversQueuedChangesFirst(t *testing.T) {
	dir, ws, id, log := startSyncWatch(t)
	if err := os.WriteFile(filepath.Join(dir, "a.txt"), []byte("one"), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(filepath.Join(dir, "a.txt"), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("two")
	f.Close()
	if err := os.Mkdir(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	// Made before the reader can have watched sub: the barrier's own addTree must report it.
	if err := os.WriteFile(filepath.Join(dir, "sub", "b.txt"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := ws.sync(id); err != nil {
		t.Fatal(err)
	}
	seen, _ := log.snapshot()
	if seen["a.txt"]&(evCreate|evModify) != evCreate|evModify || seen["sub"]&evCreate == 0 || seen["sub/b.txt"]&evCreate == 0 {
		t.Fatalf("sent before the sync returned: %v", seen)
	}
	// sub is watched now: a change inside it is the next sync's.
	if err := os.WriteFile(filepath.Join(dir, "sub", "c.txt"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := ws.sync(id); err != nil {
		t.Fatal(err)
	}
	if seen, _ := log.snapshot(); seen["sub/c.txt"]&evCreate == 0 {
		t.Fatalf("sent before the second sync returned: %v", seen)
	}
}

func TestWatchSyncWithNothingPendingSendsNothing(t *testing.T) {
	_, ws, id, log := startSyncWatch(t)
	for i := 0; i < 3; i++ {
		if err := ws.sync(id); err != nil {
			t.Fatal(err)
		}
	}
	if seen, n := log.snapshot(); n != 0 {
		t.Fatalf("sent %v", seen)
	}
}

func TestWatchSyncOfUnknownOrRemovedWatchFails(t *testing.T) {
	_, ws, id, _ := startSyncWatch(t)
	if err := ws.sync(id + 1); err != errBadHandle {
		t.Fatalf("unknown id: %v", err)
	}
	ws.mu.Lock()
	rw := ws.roots[id]
	ws.mu.Unlock()
	// A sync that runs while the watch is being removed (its coalescer already stopped) was
	// sent nothing, so it must not claim a barrier.
	rw.c.stop()
	if err := rw.sync(1 << 62); err != errBadHandle {
		t.Fatalf("sync of a stopped watch: %v", err)
	}
	// A sync registered but not yet woken the reader when the watch goes: the ending reader
	// must let it go.
	early := &syncWaiter{done: make(chan struct{})}
	rw.mu.Lock()
	rw.syncs = append(rw.syncs, early)
	rw.mu.Unlock()
	if err := ws.remove(id); err != nil {
		t.Fatal(err)
	}
	select {
	case <-early.done:
		if early.err != errBadHandle {
			t.Fatalf("waiting sync: %v", early.err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a sync waiting on a removed watch was left hanging")
	}
	if err := ws.sync(id); err != errBadHandle {
		t.Fatalf("removed id: %v", err)
	}
	// A sync that found the watch just before its removal must not wait for a reader that is
	// gone (nor out its timeout).
	if err := rw.sync(1 << 62); err != errBadHandle {
		t.Fatalf("sync of a closed instance: %v", err)
	}
}

func TestWatchSyncConcurrentSyncsAllReturn(t *testing.T) {
	dir, ws, id, log := startSyncWatch(t)
	const n = 8
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			name := fmt.Sprintf("f%d", i)
			for round := 0; round < 5; round++ {
				if err := os.WriteFile(filepath.Join(dir, name), []byte{byte(round)}, 0o644); err != nil {
					errs <- err
					return
				}
				if err := ws.sync(id); err != nil {
					errs <- err
					return
				}
				if seen, _ := log.snapshot(); seen[name]&evCreate == 0 {
					errs <- fmt.Errorf("%s not sent before its sync returned: %v", name, seen)
					return
				}
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// Through the protocol: the events come out before the STATUS, on the same stream.
func TestWatchSyncOverSFTP(t *testing.T) {
	dir := t.TempDir()
	s := startSession(t, sftpOptions{})
	typ, r := s.call(fxpExtended, func(w *writer) { w.str(extWatch).str(dir) })
	if typ != fxpExtendedReply {
		t.Fatalf("watch: %d", typ)
	}
	wid := r.u32()
	// pending takes the events read ahead of the last reply: the session's reader queues an
	// event before it reads the next packet.
	pending := func() map[string]uint32 {
		seen := map[string]uint32{}
		for {
			select {
			case p := <-s.events:
				r := &reader{b: p[5:]}
				if r.str() != extWatch || r.u32() != wid {
					t.Fatal("event for another watch")
				}
				for n := r.u32(); n > 0; n-- {
					m := r.u32()
					seen[r.str()] |= m
				}
			default:
				return seen
			}
		}
	}
	sync := func() {
		t.Helper()
		typ, r := s.call(fxpExtended, func(w *writer) { w.str(extWatchSync).u32(wid) })
		if code, msg := status(t, typ, r); code != fxOK {
			t.Fatalf("watchsync: %d %s", code, msg)
		}
	}
	sync()
	if seen := pending(); len(seen) != 0 {
		t.Fatalf("sync with nothing pending sent %v", seen)
	}
	os.WriteFile(filepath.Join(dir, "a.txt"), []byte("x"), 0o644)
	os.Mkdir(filepath.Join(dir, "sub"), 0o755)
	os.WriteFile(filepath.Join(dir, "sub", "b.txt"), []byte("y"), 0o644)
	sync()
	if seen := pending(); seen["a.txt"]&evCreate == 0 || seen["sub"]&evCreate == 0 || seen["sub/b.txt"]&evCreate == 0 {
		t.Fatalf("events before the STATUS: %v", seen)
	}

	// An unknown watch fails as unwatch@rmount does.
	typ, r = s.call(fxpExtended, func(w *writer) { w.str(extUnwatch).u32(wid + 1) })
	unwatchCode, unwatchMsg := status(t, typ, r)
	typ, r = s.call(fxpExtended, func(w *writer) { w.str(extWatchSync).u32(wid + 1) })
	if code, msg := status(t, typ, r); code == fxOK || code != unwatchCode || msg != unwatchMsg {
		t.Fatalf("unknown watch: %d %q, unwatch says %d %q", code, msg, unwatchCode, unwatchMsg)
	}
}

func TestWatchSyncIsAdvertisedWithWatch(t *testing.T) {
	r := &reader{b: versionPacket(false)[5:]}
	r.u32()
	got := map[string]string{}
	for len(r.b) > 0 {
		got[r.str()] = r.str()
	}
	if got[extWatchSync] != "1" || got[extWatch] != "1" {
		t.Fatalf("advertised %v", got)
	}
}
