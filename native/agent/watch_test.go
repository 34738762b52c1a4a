package main

import (
	"sync"
	"testing"
	"time"
)

// A folder that could not be watched marks the rescan, and every later one: the client must not
// rely on the events for that watch again.
func TestCoalescerKeepsUnwatchedOnLaterRescans(t *testing.T) {
	got := make(chan []watchEvent, 4)
	c := newCoalescer(func(ev []watchEvent) { got <- append([]watchEvent(nil), ev...) })
	c.add("", evRescan|evUnwatched)
	if ev := <-got; len(ev) != 1 || ev[0].mask != evRescan|evUnwatched {
		t.Fatalf("first batch %v", ev)
	}
	c.add("a", evModify)
	if ev := <-got; len(ev) != 1 || ev[0] != (watchEvent{evModify, "a"}) {
		t.Fatalf("plain batch %v", ev)
	}
	c.add("", evRescan)
	if ev := <-got; len(ev) != 1 || ev[0].mask != evRescan|evUnwatched {
		t.Fatalf("later rescan %v", ev)
	}
}

// flushNow sends at once, from the caller's goroutine, and sends nothing when nothing waits.
func TestCoalescerFlushNowSendsPendingAtOnce(t *testing.T) {
	var sent [][]watchEvent
	c := newCoalescer(func(ev []watchEvent) { sent = append(sent, append([]watchEvent(nil), ev...)) })
	c.mu.Lock()
	c.delay = time.Hour
	c.mu.Unlock()
	if !c.flushNow() || len(sent) != 0 {
		t.Fatalf("empty flush sent %v", sent)
	}
	c.add("a", evCreate)
	c.add("a", evModify)
	c.flushNow()
	if len(sent) != 1 || len(sent[0]) != 1 || sent[0][0] != (watchEvent{evCreate | evModify, "a"}) {
		t.Fatalf("sent %v", sent)
	}
	c.flushNow()
	if len(sent) != 1 {
		t.Fatalf("second flush sent %v", sent[1:])
	}
	c.stop()
}

// A batch the timer is sending when flushNow comes is part of what flushNow vouches for: it
// returns only after that batch went out.
func TestCoalescerFlushNowWaitsForTheTimersBatch(t *testing.T) {
	entered, gate := make(chan struct{}), make(chan struct{})
	var mu sync.Mutex
	var order []string
	note := func(s string) { mu.Lock(); order = append(order, s); mu.Unlock() }
	c := newCoalescer(func(ev []watchEvent) {
		if ev[0].path == "by-timer" {
			close(entered)
			<-gate
		}
		note("sent " + ev[0].path)
	})
	c.mu.Lock()
	c.delay = time.Millisecond
	c.mu.Unlock()
	c.add("by-timer", evModify)
	<-entered
	done := make(chan struct{})
	go func() { c.flushNow(); note("flushNow returned"); close(done) }()
	time.Sleep(10 * time.Millisecond) // room for flushNow to return too early, if it could
	close(gate)
	<-done
	mu.Lock()
	defer mu.Unlock()
	if len(order) != 2 || order[0] != "sent by-timer" || order[1] != "flushNow returned" {
		t.Fatalf("order %q", order)
	}
}

// A timer that fires after stop sends nothing: the watch is gone.
func TestCoalescerSendsNothingAfterStop(t *testing.T) {
	sent := make(chan []watchEvent, 1)
	c := newCoalescer(func(ev []watchEvent) { sent <- ev })
	c.add("a", evCreate)
	c.stop()
	c.fire()
	if c.flushNow() {
		t.Error("flushNow after stop claims a flush")
	}
	select {
	case ev := <-sent:
		t.Fatalf("sent %v after stop", ev)
	default:
	}
}

// Where there is no inotify, watchsync@rmount is unsupported, not an unknown watch.
func TestWatchSyncUnsupportedWithoutInotify(t *testing.T) {
	if watchSupported {
		t.Skip("inotify is here")
	}
	s := startSession(t, sftpOptions{})
	typ, r := s.call(fxpExtended, func(w *writer) { w.str(extWatchSync).u32(1) })
	if code, _ := status(t, typ, r); code != fxOpUnsupported {
		t.Fatalf("code %d", code)
	}
}
