package main

import (
	"encoding/binary"
	"errors"
	"path"
	"syscall"
)

// listing is one folder's block of a listings@rmount reply, encoded, and what it found below.
type listing struct {
	block   []byte   // string relative-folder, uint32 entry-count, (string name, ATTRS)*
	entries uint32   // the entry-count of block
	dirs    []string // names of the entries that are folders (not symlinks to them)
}

// listings@rmount: string path, uint32 max-depth, uint32 max-entries →
// EXTENDED_REPLY uint32 flags (1: truncated), uint32 folder-count,
// (string relative-folder, uint32 entry-count, (string name, ATTRS)*)*
// Complete listings of path and the folders below it, breadth first, symlinks not followed. A
// folder's block goes out whole or not at all, so a client may cache every listing it gets as
// the folder's full content; unlike tree@rmount, an unreadable folder is left out, not sent empty.
func (s *server) extListings(id uint32, r *reader) ([]byte, error) {
	root, maxDepth, maxEntries := s.resolve(r.str()), r.u32(), r.u32()
	if r.err != nil {
		return nil, r.err
	}
	w := newPacket(fxpExtendedReply, id).u32(0).u32(0)
	// path itself goes out whatever max-entries says: an answer without it would be no answer.
	first, err := s.readListing(root, "", -1, maxBatchReply-len(w.b))
	if errors.Is(err, errNoRoom) {
		return nil, pathError("listings", root, syscall.EOVERFLOW)
	}
	if err != nil {
		return nil, err
	}
	w.b = append(w.b, first.block...)
	folders, entries, truncated := uint32(1), uint64(first.entries), false
	type pending struct {
		rel   string
		depth uint32
	}
	var queue []pending
	enqueue := func(rel string, depth uint32, dirs []string) {
		if maxDepth != 0 && depth >= maxDepth {
			return
		}
		for _, d := range dirs {
			queue = append(queue, pending{path.Join(rel, d), depth + 1})
		}
	}
	enqueue("", 1, first.dirs)
	for len(queue) > 0 {
		cur := queue[0]
		queue = queue[1:]
		room := -1
		if maxEntries != 0 {
			if entries > uint64(maxEntries) {
				truncated = true
				break
			}
			room = int(uint64(maxEntries) - entries)
		}
		l, err := s.readListing(path.Join(root, cur.rel), cur.rel, room, maxBatchReply-len(w.b))
		if errors.Is(err, errNoRoom) {
			// Stopping here, rather than going on with smaller folders, keeps the answer a breadth
			// first prefix: what is left out is everything after the last folder sent.
			truncated = true
			break
		}
		if err != nil {
			continue // unreadable or gone: left out, and what is below it with it
		}
		w.b = append(w.b, l.block...)
		folders++
		entries += uint64(l.entries)
		enqueue(cur.rel, cur.depth, l.dirs)
	}
	if truncated {
		binary.BigEndian.PutUint32(w.b[9:], 1)
	}
	binary.BigEndian.PutUint32(w.b[13:], folders)
	return w.finish(), nil
}

// errNoRoom: a folder's listing does not fit in what is left of a listings@rmount reply.
var errNoRoom = errors.New("no room for the folder's listing")

// readListing reads and encodes the complete listing of dir (lstat attributes), named rel in the
// reply: errNoRoom when it has more than room entries (room < 0: no bound), checked before any
// lstat is spent on them, or takes more than maxBytes. A name whose lstat finds it gone was
// removed meanwhile and is left out; any other lstat failure (a folder readable but not
// searchable) means the listing cannot be complete, and fails it.
func (s *server) readListing(dir, rel string, room, maxBytes int) (listing, error) {
	names, err := s.listDir(dir)
	if err != nil {
		return listing{}, err
	}
	if room >= 0 && len(names) > room {
		return listing{}, errNoRoom
	}
	w := (&writer{}).str(rel).u32(0)
	l := listing{}
	for _, n := range names {
		st, err := s.fs.Lstat(path.Join(dir, n))
		if err != nil && errnoName(err) == "ENOENT" {
			continue
		}
		if err != nil {
			return listing{}, err
		}
		w.str(n).attrs(&st)
		l.entries++
		if st.mode&syscall.S_IFMT == syscall.S_IFDIR {
			l.dirs = append(l.dirs, n)
		}
		if len(w.b) > maxBytes {
			return listing{}, errNoRoom
		}
	}
	binary.BigEndian.PutUint32(w.b[4+len(rel):], l.entries)
	l.block = w.b
	return l, nil
}
