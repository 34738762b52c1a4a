package main

import (
	"os"
	"os/user"
	"strconv"
	"time"
)

// Name caches for longName; only the request loop uses them.
var (
	userNames  = map[uint32]string{}
	groupNames = map[uint32]string{}
)

func userName(uid uint32) string {
	if n, ok := userNames[uid]; ok {
		return n
	}
	n := strconv.FormatUint(uint64(uid), 10)
	if u, err := user.LookupId(n); err == nil {
		n = u.Username
	}
	userNames[uid] = n
	return n
}

func groupName(gid uint32) string {
	if n, ok := groupNames[gid]; ok {
		return n
	}
	n := strconv.FormatUint(uint64(gid), 10)
	if g, err := user.LookupGroupId(n); err == nil {
		n = g.Name
	}
	groupNames[gid] = n
	return n
}

// lsTime formats a modification time as ls(1) does: the time of day within six months, else
// the year.
func lsTime(sec int64) string {
	t := time.Unix(sec, 0)
	if d := time.Since(t); d < 182*24*time.Hour && d > -182*24*time.Hour {
		return t.Format("Jan _2 15:04")
	}
	return t.Format("Jan _2  2006")
}

// homeOf is the home folder of name, or of the current user when name is "".
func homeOf(name string) (string, error) {
	if name == "" {
		if h := os.Getenv("HOME"); h != "" {
			return h, nil
		}
		u, err := user.Current()
		if err != nil {
			return "", err
		}
		return u.HomeDir, nil
	}
	u, err := user.Lookup(name)
	if err != nil {
		return "", pathError("getpwnam", name, os.ErrNotExist)
	}
	return u.HomeDir, nil
}
