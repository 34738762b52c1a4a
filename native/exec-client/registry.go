package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
)

// record is the part of a mount daemon's runtime record (src/mount/registry.ts) we need.
type record struct {
	Pid         int    `json:"pid"`
	Destination string `json:"destination"`
	Mountpoint  string `json:"mountpoint"`
	RemotePath  string `json:"remotePath"`
	Socket      string `json:"socket"`
}

// runtimeDir is $RMOUNT_RUNTIME_DIR, else $XDG_RUNTIME_DIR/rmount, else ~/.rmount/run.
func runtimeDir(getenv func(string) (string, bool)) string {
	if dir, ok := getenv("RMOUNT_RUNTIME_DIR"); ok {
		return dir
	}
	if xdg, _ := getenv("XDG_RUNTIME_DIR"); xdg != "" {
		return filepath.Join(xdg, "rmount")
	}
	home, _ := getenv("HOME")
	if home == "" {
		home, _ = os.UserHomeDir()
	}
	return filepath.Join(home, ".rmount", "run")
}

// listRecords reads every record in dir; unreadable or half-written ones are skipped.
func listRecords(dir string) []record {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var out []record
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".json") {
			continue
		}
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			continue
		}
		var r record
		if json.Unmarshal(data, &r) != nil || r.Mountpoint == "" {
			continue
		}
		out = append(out, r)
	}
	return out
}

// spellings are the ways getcwd may show a record's mountpoint: as recorded, and with its
// parent's symlinks resolved. The mount root itself is never stat'ed (a FUSE round trip).
func spellings(mountpoint string) []string {
	out := []string{mountpoint}
	if parent, err := filepath.EvalSymlinks(filepath.Dir(mountpoint)); err == nil {
		resolved := parent + "/" + filepath.Base(mountpoint)
		if parent == "/" {
			resolved = "/" + filepath.Base(mountpoint)
		}
		if resolved != mountpoint {
			out = append(out, resolved)
		}
	}
	return out
}

// mountMatch is a record that holds a path, and the spelling of its mountpoint that matched.
type mountMatch struct {
	record     record
	mountpoint string
}

// findMountFor is the recorded mount whose folder holds absolute local path p; the innermost
// one when mounts nest (src/exec/find-mount.ts).
func findMountFor(records []record, p string) (mountMatch, bool) {
	var best mountMatch
	found := false
	for _, r := range records {
		for _, mp := range spellings(r.Mountpoint) {
			if _, ok := toRemotePath(mapping{mountpoint: mp, remotePath: "/"}, p); !ok {
				continue
			}
			if !found || len(mp) > len(best.mountpoint) {
				best, found = mountMatch{record: r, mountpoint: mp}, true
			}
		}
	}
	return best, found
}
