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
// first one. Safe for concurrent use.
type coalescer struct {
	mu      sync.Mutex
	pending map[string]uint32
	order   []string
	rescan  bool
	// unwatched is sticky for the watch's life: the folder stays unwatched.
	unwatched bool
	timer     *time.Timer
	flush     func([]watchEvent)
}

func newCoalescer(flush func([]watchEvent)) *coalescer {
	return &coalescer{pending: map[string]uint32{}, flush: flush}
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
	if c.timer == nil {
		c.timer = time.AfterFunc(coalesceDelay, c.fire)
	}
}

func (c *coalescer) fire() {
	c.mu.Lock()
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
	c.timer = nil
	c.mu.Unlock()
	for len(events) > 0 {
		n := len(events)
		if n > maxBatch {
			n = maxBatch
		}
		c.flush(events[:n])
		events = events[n:]
	}
}

// stop cancels a pending flush.
func (c *coalescer) stop() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.timer != nil {
		c.timer.Stop()
		c.timer = nil
	}
}
