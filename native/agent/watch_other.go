//go:build !linux

package main

// Watching needs inotify; elsewhere watch@rmount is not advertised.
const watchSupported = false

type watchSet struct{}

func newWatchSet(func(uint32, []watchEvent)) *watchSet { return &watchSet{} }
func (*watchSet) add(string) (uint32, error)           { return 0, errUnsupported }
func (*watchSet) remove(uint32) error                  { return errBadHandle }
func (*watchSet) closeAll()                            {}
func (*watchSet) sync(uint32) error                    { return errUnsupported }
