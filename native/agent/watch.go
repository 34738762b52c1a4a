package main

import (
	"sync"
	"time"
)

const (
	// coalesceDelay is how long changes gather before a batch is sent.
	coalesceDelay = 50 * time.Millisecond
	// maxPending bounds the distinct paths waiting in one batch; beyond it the batch becomes a
	// single rescan.
	maxPending = 4096
	// maxBatch is the most events one packet carries.
	maxBatch = 1000
	// evUnwatched goes with evRescan when a folder could not be watched (out of inotify watches):
	// changes below it are not reported, so a client must not trust its caches to the events.
	evUnwatched = 1 << 30
)

// coalescer gathers events per path (masks OR-ed) and flushes them coalesceDelay after the
// first one, or at once on flushNow. Safe for concurrent use.
type coalescer struct {
	// sending is held from taking a batch to the end of its flush, so that flushNow cannot
	// return while the timer's batch is still on its way: a watchsync answered before those
	// events would claim a barrier that does not hold.
	sending sync.Mutex
	mu      sync.Mutex
	pending map[string]uint32
	order   []string
	rescan  bool
	// unwatched is sticky for the watch's life: the folder stays unwatched.
	unwatched bool
	timer     *time.Timer
	// delay is coalesceDelay; tests stretch it so that only flushNow can have sent a batch.
	delay time.Duration
	// stopped: the watch is gone, and a timer that fires late must not speak for it.
	stopped bool
	flush   func([]watchEvent)
}

func newCoalescer(flush func([]watchEvent)) *coalescer {
	return &coalescer{pending: map[string]uint32{}, delay: coalesceDelay, flush: flush}
}

// add records a change of rel (mask evRescan: everything may have changed).
func (c *coalescer) add(rel string, mask uint32) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if mask&evUnwatched != 0 {
		c.unwatched = true
	}
	if mask&evRescan != 0 || (!c.rescan && len(c.pending) >= maxPending) {
		c.rescan = true
		c.pending = map[string]uint32{}
		c.order = nil
	}
	if !c.rescan {
		if old, ok := c.pending[rel]; ok {
			c.pending[rel] = old | mask
		} else {
			c.pending[rel] = mask
			c.order = append(c.order, rel)
		}
	}
	if c.timer == nil && !c.stopped {
		c.timer = time.AfterFunc(c.delay, c.fire)
	}
}

// flushNow sends what is pending without waiting out the delay; nothing when nothing is. When
// it returns, every change added before the call has been handed to flush, a batch the timer
// was sending meanwhile included. It reports false once stop was called: then nothing was sent,
// nor will be.
func (c *coalescer) flushNow() bool { return c.send() }

func (c *coalescer) fire() { c.send() }

func (c *coalescer) send() bool {
	c.sending.Lock()
	defer c.sending.Unlock()
	c.mu.Lock()
	if c.timer != nil {
		// This pass sends the whole batch, so a timer still to fire would only wake to find
		// nothing (or flush a later batch early); stopping the one that is firing is harmless.
		c.timer.Stop()
		c.timer = nil
	}
	if c.stopped {
		c.mu.Unlock()
		return false
	}
	var events []watchEvent
	if c.rescan {
		mask := uint32(evRescan)
		if c.unwatched {
			mask |= evUnwatched
		}
		events = []watchEvent{{mask, ""}}
	} else {
		events = make([]watchEvent, 0, len(c.order))
		for _, p := range c.order {
			events = append(events, watchEvent{c.pending[p], p})
		}
	}
	c.pending = map[string]uint32{}
	c.order = nil
	c.rescan = false
	c.mu.Unlock()
	for len(events) > 0 {
		n := len(events)
		if n > maxBatch {
			n = maxBatch
		}
		c.flush(events[:n])
		events = events[n:]
	}
	return true
}

// stop cancels a pending flush for good. It does not wait for a batch already being sent: that
// send may be stuck on a client that stopped reading, and closing the watch must not be.
func (c *coalescer) stop() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.stopped = true
	if c.timer != nil {
		c.timer.Stop()
		c.timer = nil
	}
}
