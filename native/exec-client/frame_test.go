package main

import (
	"bytes"
	"encoding/binary"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

func TestEncodeFrameLayout(t *testing.T) {
	got := encodeFrame(chanStderr, []byte("abc"))
	want := []byte{2, 0, 0, 0, 3, 'a', 'b', 'c'}
	if !bytes.Equal(got, want) {
		t.Fatalf("encodeFrame = %v, want %v", got, want)
	}
	if eof := encodeFrame(chanStdin, nil); !bytes.Equal(eof, []byte{0, 0, 0, 0, 0}) {
		t.Fatalf("EOF frame = %v", eof)
	}
	ctl := encodeControl(map[string]string{"signal": "SIGINT"})
	if ctl[0] != chanControl || string(ctl[frameHeader:]) != `{"signal":"SIGINT"}` || binary.BigEndian.Uint32(ctl[1:5]) != uint32(len(ctl)-frameHeader) {
		t.Fatalf("control frame = %q", ctl)
	}
}

func TestFrameReaderAcrossOneByteReads(t *testing.T) {
	var stream []byte
	payloads := [][]byte{[]byte("out"), {}, bytes.Repeat([]byte{0, 255, '\n'}, 70000), []byte(`{"exit":{"code":0,"signal":null}}`)}
	channels := []byte{chanStdout, chanStderr, chanStdout, chanControl}
	for i, p := range payloads {
		stream = append(stream, encodeFrame(channels[i], p)...)
	}
	fr := &frameReader{r: iotest.OneByteReader(bytes.NewReader(stream))}
	for i, p := range payloads {
		ch, got, err := fr.next()
		if err != nil || ch != channels[i] || !bytes.Equal(got, p) {
			t.Fatalf("frame %d: ch %d err %v len %d, want ch %d len %d", i, ch, err, len(got), channels[i], len(p))
		}
	}
	if _, _, err := fr.next(); err != io.EOF {
		t.Fatalf("after the last frame: %v, want EOF", err)
	}
}

func TestFrameReaderRefusesBadFrames(t *testing.T) {
	if _, _, err := (&frameReader{r: bytes.NewReader([]byte{7, 0, 0, 0, 0})}).next(); err == nil || !strings.Contains(err.Error(), "channel") {
		t.Fatalf("unknown channel: %v", err)
	}
	big := []byte{1, 0, 0, 0, 0}
	binary.BigEndian.PutUint32(big[1:], maxFrame+1)
	if _, _, err := (&frameReader{r: bytes.NewReader(big)}).next(); err == nil || !strings.Contains(err.Error(), "exceeds") {
		t.Fatalf("oversized frame: %v", err)
	}
	if _, _, err := (&frameReader{r: bytes.NewReader([]byte{1, 0, 0, 0, 9, 'x'})}).next(); err != io.ErrUnexpectedEOF {
		t.Fatalf("truncated frame: %v", err)
	}
}

func TestWriteStdinSplitsAtMaxFrame(t *testing.T) {
	var buf bytes.Buffer
	data := bytes.Repeat([]byte{'z'}, 2*maxFrame+10)
	if err := writeStdin(&buf, data); err != nil {
		t.Fatal(err)
	}
	fr := &frameReader{r: &buf}
	var sizes []int
	var got []byte
	for {
		ch, p, err := fr.next()
		if err == io.EOF {
			break
		}
		if err != nil || ch != chanStdin {
			t.Fatalf("ch %d err %v", ch, err)
		}
		sizes = append(sizes, len(p))
		got = append(got, p...)
	}
	if len(sizes) != 3 || sizes[0] != maxFrame || sizes[2] != 10 || !bytes.Equal(got, data) {
		t.Fatalf("sizes %v", sizes)
	}
}

func TestExitCode(t *testing.T) {
	code := func(n int) *int { return &n }
	sig := func(s string) *string { return &s }
	cases := []struct {
		s    exitStatus
		want int
	}{
		{exitStatus{Code: code(0)}, 0},
		{exitStatus{Code: code(42)}, 42},
		{exitStatus{Signal: sig("SIGKILL")}, 137},
		{exitStatus{Signal: sig("INT")}, 130},
		{exitStatus{Signal: sig("SIGTERM")}, 143},
		{exitStatus{Signal: sig("SIGNOPE")}, 128},
		{exitStatus{}, 255},
	}
	for _, c := range cases {
		if got := c.s.exitCode(); got != c.want {
			t.Errorf("%+v: %d, want %d", c.s, got, c.want)
		}
	}
}

func TestParseDuration(t *testing.T) {
	for text, want := range map[string]int64{"1": 1000, "1.5": 1500, "500ms": 500, "2s": 2000, " 2m ": 120000, "1h": 3600000, "0.0004": 0} {
		d, err := parseDuration(text)
		if err != nil || d.Milliseconds() != want {
			t.Errorf("%q: %v %v, want %d ms", text, d, err, want)
		}
	}
	for _, bad := range []string{"", "-1", "1x", "s", "1 s"} {
		if _, err := parseDuration(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func TestParseArgs(t *testing.T) {
	o, err := parseArgs([]string{"--in", "/m", "--env=A=b=c", "--env", "X=", "-t", "--timeout", "2s", "--map-args", "--rewrite-output", "--cwd=sub", "--", "ls", "--", "-l"})
	if err != nil {
		t.Fatal(err)
	}
	if o.in != "/m" || !o.hasIn || o.env["A"] != "b=c" || o.env["X"] != "" || o.tty == nil || !*o.tty || o.timeout.Seconds() != 2 || !o.mapArgs || !o.rewrite || o.cwd != "sub" {
		t.Fatalf("%+v", o)
	}
	if strings.Join(o.argv, " ") != "ls -- -l" {
		t.Fatalf("argv %q", o.argv)
	}
	if o, _ := parseArgs([]string{"-T", "echo", "-n", "x"}); strings.Join(o.argv, " ") != "echo -n x" || o.tty == nil || *o.tty {
		t.Fatalf("without --: %+v", o)
	}
	for _, bad := range [][]string{{"--env", "novalue", "--", "x"}, {"--bogus", "--", "x"}, {"--in"}, {"host:/x", "--", "ls"}, {"--timeout", "soon", "--", "x"}} {
		_, err := parseArgs(bad)
		f, ok := err.(*failure)
		if !ok || f.exit != exitUsage {
			t.Errorf("%q: %v, want a usage error", bad, err)
		}
	}
}
