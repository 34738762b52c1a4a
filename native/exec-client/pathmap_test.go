package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

var mnt = mapping{mountpoint: "/home/me/src", remotePath: "/srv/app"}

func TestToRemotePath(t *testing.T) {
	cases := []struct {
		m        mapping
		in, want string
		ok       bool
	}{
		{mnt, "/home/me/src", "/srv/app", true},
		{mnt, "/home/me/src/", "/srv/app", true},
		{mnt, "/home/me/src/a/", "/srv/app/a/", true},
		{mnt, "/home/me/src/a/b.c", "/srv/app/a/b.c", true},
		{mnt, "/home/me/src/a/../../x", "/srv/x", true},
		{mnt, "/home/me/srcx/a", "", false},
		{mnt, "/home/me", "", false},
		{mapping{"/", "/r"}, "/a", "/r/a", true},
		{mapping{"/m", "/"}, "/m/a", "/a", true},
	}
	for _, c := range cases {
		got, ok := toRemotePath(c.m, c.in)
		if got != c.want || ok != c.ok {
			t.Errorf("toRemotePath(%v, %q) = %q %v, want %q %v", c.m, c.in, got, ok, c.want, c.ok)
		}
	}
	if got, ok := toLocalPath(mnt, "/srv/app/x"); got != "/home/me/src/x" || !ok {
		t.Errorf("toLocalPath: %q %v", got, ok)
	}
}

func TestMapArguments(t *testing.T) {
	in := []string{"/home/me/src/a.c", "--file=/home/me/src/a.c", "-I/home/me/src/inc", "lib/a.c", "/etc/hostname", "--x=/etc/y", "-I/etc", "-Ifoo", "x\n/home/me/src/a", "--o=/home/me/src/a\nb", "-", "--=/home/me/src"}
	want := []string{"/srv/app/a.c", "--file=/srv/app/a.c", "-I/srv/app/inc", "lib/a.c", "/etc/hostname", "--x=/etc/y", "-I/etc", "-Ifoo", "x\n/home/me/src/a", "--o=/srv/app/a\nb", "-", "--=/home/me/src"}
	if got := mapArguments(mnt, in); !reflect.DeepEqual(got, want) {
		t.Errorf("mapArguments:\n got %q\nwant %q", got, want)
	}
}

func TestRewriteRemotePaths(t *testing.T) {
	cases := map[string]string{
		"/srv/app/main.go:12: x\n":  "/home/me/src/main.go:12: x\n",
		"at /srv/app\n":             "at /home/me/src\n",
		"/x/srv/app/a":              "/x/srv/app/a",
		"/srv/apple":                "/srv/apple",
		"/srv/app.bak":              "/srv/app.bak",
		"(/srv/app/a) '/srv/app'":   "(/home/me/src/a) '/home/me/src'",
		"a-/srv/app b_/srv/app":     "a-/srv/app b_/srv/app",
		"/srv/app/srv/app /srv/app": "/home/me/src/srv/app /home/me/src",
		"\xff/srv/app\xfe":          "\xff/home/me/src\xfe",
	}
	for in, want := range cases {
		if got := string(rewriteRemotePaths(mnt, []byte(in))); got != want {
			t.Errorf("rewrite(%q) = %q, want %q", in, got, want)
		}
	}
	if got := string(rewriteRemotePaths(mapping{"/m", "/"}, []byte("/a /b"))); got != "/a /b" {
		t.Errorf("remote root / rewrote: %q", got)
	}
}

func TestRewriterHoldsPartialLines(t *testing.T) {
	r := &rewriter{m: mnt}
	var out []byte
	for _, chunk := range []string{"x /srv/a", "pp/f.c:1\n/sr", "v/app/g\nend /srv/app"} {
		out = append(out, r.push([]byte(chunk))...)
	}
	out = append(out, r.flush()...)
	if string(out) != "x /home/me/src/f.c:1\n/home/me/src/g\nend /home/me/src" {
		t.Fatalf("%q", out)
	}
	long := &rewriter{m: mnt}
	big := strings.Repeat("a", maxHeld) + "/srv/app"
	if got := string(long.push([]byte(big))); got != strings.Repeat("a", maxHeld)+"/srv/app" {
		t.Fatalf("a long line is passed on (rewritten as one piece) once over the limit: %d bytes", len(got))
	}
}

func TestPlanMapsTheFolder(t *testing.T) {
	recs := []record{{Mountpoint: "/w/mnt", RemotePath: "/srv/app", Socket: "/run/s", Pid: 1}, {Mountpoint: "/w/mnt/inner", RemotePath: "/other", Socket: "/run/t"}}
	cases := []struct {
		here string
		args []string
		cwd  string
		sock string
	}{
		{"/w/mnt", []string{"--", "pwd"}, "/srv/app", "/run/s"},
		{"/w/mnt/sub/deep", []string{"--", "pwd"}, "/srv/app/sub/deep", "/run/s"},
		{"/w/mnt/inner/x", []string{"--", "pwd"}, "/other/x", "/run/t"},
		{"/w/mnt/sub/deep", []string{"--cwd", "..", "--", "pwd"}, "/srv/app/sub", "/run/s"},
		{"/tmp", []string{"--in", "/w/mnt", "--", "pwd"}, "/srv/app", "/run/s"},
		{"/tmp", []string{"--in", "/w/mnt/", "--cwd", "/w/mnt/sub", "--", "pwd"}, "/srv/app/sub", "/run/s"},
		{"/tmp", []string{"--in", "/w/mnt", "--cwd", "rel", "--", "pwd"}, "/srv/app/rel", "/run/s"},
		{"/tmp", []string{"--in", "/w/mnt", "--cwd", "/abs/else", "--", "pwd"}, "/abs/else", "/run/s"},
		{"/w", []string{"--in", "mnt/sub", "--", "pwd"}, "/srv/app/sub", "/run/s"},
	}
	for _, c := range cases {
		o, err := parseArgs(c.args)
		if err != nil {
			t.Fatal(err)
		}
		got, err := plan(o, c.here, recs, "/run")
		if err != nil || got.cwd != c.cwd || got.rec.Socket != c.sock {
			t.Errorf("%s %q: cwd %q sock %q err %v, want %q %q", c.here, c.args, got.cwd, got.rec.Socket, err, c.cwd, c.sock)
		}
	}
	o, _ := parseArgs([]string{"--", "x"})
	if _, err := plan(o, "/tmp", recs, "/run"); err == nil || err.(*failure).exit != exitUsage || !strings.Contains(err.Error(), "not inside a mount") {
		t.Errorf("outside: %v", err)
	}
	o, _ = parseArgs([]string{"--in", "/nope", "--", "x"})
	if _, err := plan(o, "/tmp", recs, "/run"); err == nil || err.(*failure).exit != exitFailure || !strings.Contains(err.Error(), "not an rmount mount") {
		t.Errorf("--in elsewhere: %v", err)
	}
	o, _ = parseArgs([]string{"--", "x"})
	if _, err := plan(o, "/old/x", []record{{Mountpoint: "/old", RemotePath: "/r"}}, "/run"); err == nil || !strings.Contains(err.Error(), "serves no control socket") {
		t.Errorf("no socket: %v", err)
	}
}

func TestRuntimeDirAndRecords(t *testing.T) {
	env := func(kv map[string]string) func(string) (string, bool) {
		return func(k string) (string, bool) { v, ok := kv[k]; return v, ok }
	}
	if d := runtimeDir(env(map[string]string{"RMOUNT_RUNTIME_DIR": "/a", "XDG_RUNTIME_DIR": "/x"})); d != "/a" {
		t.Error(d)
	}
	if d := runtimeDir(env(map[string]string{"XDG_RUNTIME_DIR": "/x", "HOME": "/h"})); d != "/x/rmount" {
		t.Error(d)
	}
	if d := runtimeDir(env(map[string]string{"XDG_RUNTIME_DIR": "", "HOME": "/h"})); d != "/h/.rmount/run" {
		t.Error(d)
	}
	dir := t.TempDir()
	_ = os.WriteFile(filepath.Join(dir, "a.json"), []byte(`{"pid":5,"destination":"local:/b","mountpoint":"/m","remotePath":"/b","socket":"/s","startedAt":"x"}`), 0o600)
	_ = os.WriteFile(filepath.Join(dir, "b.json"), []byte(`{"pid":`), 0o600)
	_ = os.WriteFile(filepath.Join(dir, "c.log"), []byte(`{}`), 0o600)
	recs := listRecords(dir)
	if len(recs) != 1 || recs[0].Pid != 5 || recs[0].Socket != "/s" || recs[0].Destination != "local:/b" {
		t.Fatalf("%+v", recs)
	}
	// A mountpoint under a symlinked parent is found under the resolved spelling too (what getcwd shows).
	real := filepath.Join(dir, "real")
	_ = os.MkdirAll(filepath.Join(real, "mnt"), 0o700)
	_ = os.Symlink(real, filepath.Join(dir, "link"))
	rec := record{Mountpoint: filepath.Join(dir, "link", "mnt"), RemotePath: "/r", Socket: "/s"}
	m, ok := findMountFor([]record{rec}, filepath.Join(real, "mnt", "x"))
	if !ok || m.mountpoint != filepath.Join(real, "mnt") {
		t.Fatalf("physical spelling: %+v %v", m, ok)
	}
	o, _ := parseArgs([]string{"--in", rec.Mountpoint, "--", "pwd"})
	if got, err := plan(o, filepath.Join(real, "mnt", "sub"), []record{rec}, dir); err != nil || got.cwd != "/r/sub" {
		t.Fatalf("--in the recorded spelling from a physical cwd: %q %v", got.cwd, err)
	}
}

// TestParity checks the cases test/exec-client/parity.test.ts computed with src/exec/path-map.ts
// (it sets RMOUNT_PARITY_CASES to a JSON file); skipped when run on its own.
func TestParity(t *testing.T) {
	file := os.Getenv("RMOUNT_PARITY_CASES")
	if file == "" {
		t.Skip("RMOUNT_PARITY_CASES not set (test/exec-client/parity.test.ts sets it)")
	}
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var cases []struct {
		Mountpoint string   `json:"mountpoint"`
		RemotePath string   `json:"remotePath"`
		Path       string   `json:"path"`
		Remote     *string  `json:"remote"`
		Local      *string  `json:"local"`
		Args       []string `json:"args"`
		Mapped     []string `json:"mapped"`
		Text       string   `json:"text"` // latin1: one rune per byte
		Rewritten  string   `json:"rewritten"`
		Join       []string `json:"join"`
		Joined     string   `json:"joined"`
	}
	if err := json.Unmarshal(data, &cases); err != nil {
		t.Fatal(err)
	}
	latin1 := func(s string) []byte {
		var b []byte
		for _, r := range s {
			b = append(b, byte(r))
		}
		return b
	}
	for i, c := range cases {
		m := mapping{c.Mountpoint, c.RemotePath}
		if r, ok := toRemotePath(m, c.Path); (c.Remote == nil) == ok || (ok && r != *c.Remote) {
			t.Errorf("%d toRemotePath(%v, %q) = %q %v, want %v", i, m, c.Path, r, ok, c.Remote)
		}
		if l, ok := toLocalPath(m, c.Path); (c.Local == nil) == ok || (ok && l != *c.Local) {
			t.Errorf("%d toLocalPath(%v, %q) = %q %v, want %v", i, m, c.Path, l, ok, c.Local)
		}
		if got := mapArguments(m, c.Args); !reflect.DeepEqual(got, c.Mapped) && !(len(got) == 0 && len(c.Mapped) == 0) {
			t.Errorf("%d mapArguments(%v, %q) = %q, want %q", i, m, c.Args, got, c.Mapped)
		}
		if got := rewriteRemotePaths(m, latin1(c.Text)); string(got) != string(latin1(c.Rewritten)) {
			t.Errorf("%d rewrite(%v, %q) = %q, want %q", i, m, c.Text, got, latin1(c.Rewritten))
		}
		if c.Join != nil {
			if got := posixJoin(c.Join...); got != c.Joined {
				t.Errorf("%d posixJoin(%q) = %q, want %q", i, c.Join, got, c.Joined)
			}
		}
	}
	t.Logf("%d cases", len(cases))
}
