package main

import "testing"

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
