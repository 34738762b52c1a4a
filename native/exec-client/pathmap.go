package main

import (
	"path"
	"regexp"
	"strings"
)

// mapping holds the two roots of one mount: mountpoint/sub is remotePath/sub.
// A port of src/exec/path-map.ts; keep the two in step (test/exec-client/parity.test.ts checks it).
type mapping struct {
	mountpoint string
	remotePath string
}

// posixJoin joins like Node's path.posix.join: the non-empty parts joined with "/", then
// normalised, keeping a trailing slash; "." when nothing is left.
func posixJoin(parts ...string) string {
	var kept []string
	for _, p := range parts {
		if p != "" {
			kept = append(kept, p)
		}
	}
	joined := strings.Join(kept, "/")
	if joined == "" {
		return "."
	}
	return posixNormalize(joined)
}

// posixNormalize is Node's path.posix.normalize.
func posixNormalize(p string) string {
	if p == "" {
		return "."
	}
	trailing := strings.HasSuffix(p, "/")
	out := path.Clean(p)
	if !strings.HasPrefix(p, "/") {
		// Node keeps leading ".." of a relative path, as Clean does; a relative result of "." with a
		// trailing slash is "./" in Node.
		if out == "." && trailing {
			return "./"
		}
	}
	if trailing && out != "/" {
		out += "/"
	}
	return out
}

// toRemotePath is the remote path for absolute local p, or ok=false when p is not under the mount.
func toRemotePath(m mapping, p string) (string, bool) {
	if p == m.mountpoint {
		return m.remotePath, true
	}
	prefix := m.mountpoint + "/"
	if m.mountpoint == "/" {
		prefix = "/"
	}
	if !strings.HasPrefix(p, prefix) {
		return "", false
	}
	return posixJoin(m.remotePath, p[len(prefix):]), true
}

// toLocalPath is the local path for absolute remote p, or ok=false when it is not under the mounted folder.
func toLocalPath(m mapping, p string) (string, bool) {
	return toRemotePath(mapping{mountpoint: m.remotePath, remotePath: m.mountpoint}, p)
}

var (
	longOptionPath  = regexp.MustCompile(`(?s)^(--?[A-Za-z0-9][A-Za-z0-9_.-]*=)(/.*)$`)
	shortOptionPath = regexp.MustCompile(`(?s)^(-[A-Za-z])(/.*)$`)
)

// mapArguments maps the arguments naming local paths under the mount to remote paths: an
// absolute path, or the value of --opt=/path and -I/path. Relative paths stay as they are.
func mapArguments(m mapping, argv []string) []string {
	out := make([]string, len(argv))
	for i, arg := range argv {
		out[i] = mapArgument(m, arg)
	}
	return out
}

func mapArgument(m mapping, arg string) string {
	if strings.HasPrefix(arg, "/") {
		if mapped, ok := toRemotePath(m, arg); ok {
			return mapped
		}
		return arg
	}
	for _, re := range []*regexp.Regexp{longOptionPath, shortOptionPath} {
		if g := re.FindStringSubmatch(arg); g != nil {
			if mapped, ok := toRemotePath(m, g[2]); ok {
				return g[1] + mapped
			}
			return arg
		}
	}
	return arg
}

// isWordByte is JavaScript's \w (without the u flag): [A-Za-z0-9_].
func isWordByte(b byte) bool {
	return b == '_' || (b >= '0' && b <= '9') || (b >= 'A' && b <= 'Z') || (b >= 'a' && b <= 'z')
}

// rewriteRemotePaths replaces the remote root with the local mountpoint wherever it starts a
// path in text (raw bytes): not preceded by a path byte ([\w./-]) and followed by the end, "/",
// or a byte that is not [\w.-]. A remote root of "/" is never rewritten.
func rewriteRemotePaths(m mapping, text []byte) []byte {
	from, to := m.remotePath, m.mountpoint
	if from == "/" || from == "" {
		return text
	}
	var out []byte
	last := 0
	for i := 0; i+len(from) <= len(text); {
		j := indexFrom(text, from, i)
		if j < 0 {
			break
		}
		end := j + len(from)
		okBefore := j == 0 || !(isWordByte(text[j-1]) || text[j-1] == '.' || text[j-1] == '/' || text[j-1] == '-')
		okAfter := end == len(text) || !(isWordByte(text[end]) || text[end] == '.' || text[end] == '-')
		if okBefore && okAfter {
			out = append(out, text[last:j]...)
			out = append(out, to...)
			last = end
			i = end
		} else {
			i = j + 1
		}
	}
	if out == nil {
		return text
	}
	return append(out, text[last:]...)
}

func indexFrom(text []byte, sub string, from int) int {
	k := strings.Index(string(text[from:]), sub)
	if k < 0 {
		return -1
	}
	return from + k
}

// maxHeld is the longest stretch held back waiting for a newline before it is rewritten anyway.
const maxHeld = 64 * 1024

// rewriter rewrites remote paths line by line (src/exec/rewrite-stream.ts): a partial line is
// held until its newline, the end, or maxHeld bytes.
type rewriter struct {
	m    mapping
	held []byte
}

// push returns the bytes ready to be written for chunk.
func (r *rewriter) push(chunk []byte) []byte {
	text := append(r.held, chunk...)
	nl := lastNewline(text)
	var out []byte
	if nl >= 0 {
		out = text[:nl+1]
		r.held = append([]byte(nil), text[nl+1:]...)
	} else {
		out = nil
		r.held = text
	}
	if len(r.held) > maxHeld {
		out = append(append([]byte(nil), out...), r.held...)
		r.held = nil
	}
	if len(out) == 0 {
		return nil
	}
	return rewriteRemotePaths(r.m, out)
}

// flush returns what is still held, rewritten.
func (r *rewriter) flush() []byte {
	held := r.held
	r.held = nil
	if len(held) == 0 {
		return nil
	}
	return rewriteRemotePaths(r.m, held)
}

func lastNewline(b []byte) int {
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] == '\n' {
			return i
		}
	}
	return -1
}
