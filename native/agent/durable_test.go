package main

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const testToken = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"

// startTestKeeper runs a keeper in this process on a socket in a fresh private folder; the
// returned channel closes when it has ended.
func startTestKeeper(t *testing.T, root string, grace time.Duration) (string, *keeper, chan struct{}) {
	t.Helper()
	sock := filepath.Join(shortTempDir(t), "sftp-test.sock")
	ln, unlock, err := listenHostSocket(sock)
	if err != nil {
		t.Fatal(err)
	}
	k := newKeeper(newServer(osFS{}, sftpOptions{root: root, durable: true}), testToken, grace)
	ended := make(chan struct{})
	go func() { k.run(ln); unlock(); close(ended) }()
	t.Cleanup(func() { k.stop(); <-ended })
	return sock, k, ended
}

// attachKeeper connects with token and returns the keeper's answer line and, when it accepted,
// an SFTP session over the connection (INIT done), in copy mode.
func attachKeeper(t *testing.T, sock, token string) (string, *session, net.Conn) {
	t.Helper()
	conn, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(conn, token+"\n")
	br := bufio.NewReader(conn)
	line, err := readLine(br, 256)
	if err != nil {
		t.Fatalf("no answer: %v", err)
	}
	if !strings.HasPrefix(line, "new ") && !strings.HasPrefix(line, "resumed ") {
		conn.Close()
		return line, nil, nil
	}
	conn.Write([]byte{modeCopy})
	s := startServing(t, func(in io.Reader, out io.Writer) error {
		go func() {
			io.Copy(conn, in)
			conn.(*net.UnixConn).CloseWrite()
		}()
		io.Copy(out, br)
		return nil
	})
	return line, s, conn
}

func openTestHandle(t *testing.T, s *session, name string, pflags uint32) []byte {
	t.Helper()
	typ, r := s.call(fxpOpen, func(w *writer) { w.str(name).u32(pflags).u32(0) })
	if typ != fxpHandle {
		t.Fatalf("open %s: reply %d", name, typ)
	}
	return append([]byte(nil), r.bytes()...)
}

func readHandle(t *testing.T, s *session, h []byte, n uint32) []byte {
	t.Helper()
	typ, r := s.call(fxpRead, func(w *writer) { w.bytes(h).u64(0).u32(n) })
	if typ != fxpData {
		code, msg := status(t, typ, r)
		t.Fatalf("read: status %d %s", code, msg)
	}
	return r.bytes()
}

// Handles outlive the connection: a file unlinked and one renamed while no connection was
// attached still read their bytes through the handles on the next connection.
func TestKeeperKeepsHandlesAcrossConnections(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "gone"), []byte("unlinked but open"), 0o644)
	os.WriteFile(filepath.Join(dir, "moved"), []byte("renamed meanwhile"), 0o644)
	sock, _, _ := startTestKeeper(t, dir, time.Minute)
	first, s, conn := attachKeeper(t, sock, testToken)
	if !strings.HasPrefix(first, "new ") {
		t.Fatalf("first answer %q", first)
	}
	gone := openTestHandle(t, s, "gone", pflagRead)
	moved := openTestHandle(t, s, "moved", pflagRead|pflagWrite)
	typ, r := s.call(fxpWrite, func(w *writer) { w.bytes(moved).u64(0).bytes([]byte("R")) })
	if code, _ := status(t, typ, r); code != fxOK {
		t.Fatalf("write %d", code)
	}
	conn.Close() // the link drops
	os.Remove(filepath.Join(dir, "gone"))
	os.Rename(filepath.Join(dir, "moved"), filepath.Join(dir, "elsewhere"))

	again, s2, _ := attachKeeper(t, sock, testToken)
	if again != "resumed "+strings.TrimPrefix(first, "new ") {
		t.Fatalf("second answer %q after %q", again, first)
	}
	if got := readHandle(t, s2, gone, 100); string(got) != "unlinked but open" {
		t.Fatalf("unlinked file read %q", got)
	}
	if got := readHandle(t, s2, moved, 100); string(got) != "Renamed meanwhile" {
		t.Fatalf("renamed file read %q", got)
	}
}

func TestKeeperRefusesWrongToken(t *testing.T) {
	sock, _, _ := startTestKeeper(t, t.TempDir(), time.Minute)
	line, s, _ := attachKeeper(t, sock, strings.Repeat("f", 64))
	if s != nil || !strings.HasPrefix(line, "refused") {
		t.Fatalf("answer %q", line)
	}
	if line, s, _ := attachKeeper(t, sock, testToken); s == nil || !strings.HasPrefix(line, "new ") {
		t.Fatalf("the right token after a wrong one: %q", line)
	}
}

// A new connection takes over from one still attached (a link that has not noticed it is dead).
func TestKeeperNewConnectionReplacesAttachedOne(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "f"), []byte("content"), 0o644)
	sock, _, _ := startTestKeeper(t, dir, time.Minute)
	_, s, oldConn := attachKeeper(t, sock, testToken)
	h := openTestHandle(t, s, "f", pflagRead)
	line, s2, _ := attachKeeper(t, sock, testToken)
	if !strings.HasPrefix(line, "resumed ") {
		t.Fatalf("answer %q", line)
	}
	oldConn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := oldConn.Read(make([]byte, 1)); err == nil {
		t.Fatal("the replaced connection is still open")
	}
	if got := readHandle(t, s2, h, 100); string(got) != "content" {
		t.Fatalf("read %q", got)
	}
}

// With nobody attached for the grace period the session ends: handles closed, socket removed.
func TestKeeperEndsAfterGrace(t *testing.T) {
	sock, _, ended := startTestKeeper(t, t.TempDir(), 300*time.Millisecond)
	_, _, conn := attachKeeper(t, sock, testToken)
	conn.Close()
	select {
	case <-ended:
	case <-time.After(20 * time.Second):
		t.Fatal("the keeper outlived its grace period")
	}
	if _, err := os.Lstat(sock); !os.IsNotExist(err) {
		t.Fatalf("socket left behind: %v", err)
	}
}

// end@rmount ends the session as soon as its connection closes, without waiting for the grace.
func TestKeeperEndsOnRequest(t *testing.T) {
	sock, _, ended := startTestKeeper(t, t.TempDir(), time.Hour)
	_, s, conn := attachKeeper(t, sock, testToken)
	typ, r := s.call(fxpExtended, func(w *writer) { w.str(extEnd) })
	if code, _ := status(t, typ, r); code != fxOK {
		t.Fatalf("end@rmount: %d", code)
	}
	conn.(*net.UnixConn).CloseWrite()
	select {
	case <-ended:
	case <-time.After(20 * time.Second):
		t.Fatal("the keeper did not end")
	}
}

// The relay as the client runs it: it starts a detached keeper (this test binary as the agent),
// and a second relay resumes the same keeper.
// greetRelay sends a relay its session line on in, reads its answer from out and speaks SFTP
// through the two (INIT done); closing in ends the client's side.
func greetRelay(t *testing.T, id string, in io.WriteCloser, out io.Reader) (string, *session) {
	t.Helper()
	io.WriteString(in, durablePreamble+id+" "+testToken+"\n")
	br := bufio.NewReader(out)
	line, err := readLine(br, 256)
	if err != nil {
		t.Fatal(err)
	}
	s := startServing(t, func(from io.Reader, to io.Writer) error {
		go func() { io.Copy(in, from); in.Close() }()
		io.Copy(to, br)
		return nil
	})
	return line, s
}

func TestDurableRelayStartsAndResumesKeeper(t *testing.T) {
	t.Setenv("RMOUNT_AGENT_AS_MAIN", "1")
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "f"), []byte("through the relay"), 0o644)
	sockDir := shortTempDir(t)
	relay := func() (string, *session, *io.PipeWriter) {
		inR, inW := io.Pipe()
		outR, outW := io.Pipe()
		go func() {
			var errs bytes.Buffer
			if code := runDurableRelay(sftpOptions{root: dir}, durableFlags{grace: 5 * time.Second, socketDir: sockDir}, inR, outW, &errs); code != 0 {
				t.Errorf("relay exit %d: %s", code, errs.String())
			}
			outW.Close()
		}()
		line, s := greetRelay(t, "testsession", inW, outR)
		return line, s, inW
	}
	first, s, in1 := relay()
	if !strings.HasPrefix(first, "rmount-durable new ") {
		t.Fatalf("first relay said %q", first)
	}
	h := openTestHandle(t, s, "f", pflagRead)
	in1.Close()
	second, s2, _ := relay()
	if second != strings.Replace(first, " new ", " resumed ", 1) {
		t.Fatalf("second relay said %q after %q", second, first)
	}
	if got := readHandle(t, s2, h, 100); string(got) != "through the relay" {
		t.Fatalf("read %q", got)
	}
	typ, r := s2.call(fxpExtended, func(w *writer) { w.str(extEnd) })
	if code, _ := status(t, typ, r); code != fxOK {
		t.Fatalf("end@rmount: %d", code)
	}
}

// With files for stdio (as under sshd or docker exec) the relay hands them to the keeper, which
// then speaks SFTP on them directly; the relay ends once the client closes its side, and a
// second relay resumes the session.
func TestDurableRelayHandsItsStdioToTheKeeper(t *testing.T) {
	t.Setenv("RMOUNT_AGENT_AS_MAIN", "1")
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "f"), []byte("straight from the keeper"), 0o644)
	sockDir := shortTempDir(t)
	relay := func() (string, *session, *os.File, chan int) {
		inR, inW, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		outR, outW, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		exited := make(chan int, 1)
		go func() {
			var errs bytes.Buffer
			code := runDurableRelay(sftpOptions{root: dir}, durableFlags{grace: 5 * time.Second, socketDir: sockDir}, inR, outW, &errs)
			if code != 0 {
				t.Errorf("relay exit %d: %s", code, errs.String())
			}
			inR.Close()
			outW.Close()
			exited <- code
		}()
		line, s := greetRelay(t, "fdsession", inW, outR)
		return line, s, inW, exited
	}
	first, s, in1, exited1 := relay()
	if !strings.HasPrefix(first, "rmount-durable new ") {
		t.Fatalf("first relay said %q", first)
	}
	h := openTestHandle(t, s, "f", pflagRead)
	if got := readHandle(t, s, h, 100); string(got) != "straight from the keeper" {
		t.Fatalf("read %q", got)
	}
	in1.Close()
	select {
	case <-exited1:
	case <-time.After(10 * time.Second):
		t.Fatal("the relay did not end after its client closed")
	}
	second, s2, _, _ := relay()
	if second != strings.Replace(first, " new ", " resumed ", 1) {
		t.Fatalf("second relay said %q after %q", second, first)
	}
	if got := readHandle(t, s2, h, 100); string(got) != "straight from the keeper" {
		t.Fatalf("read after resume %q", got)
	}
	typ, r := s2.call(fxpExtended, func(w *writer) { w.str(extEnd) })
	if code, _ := status(t, typ, r); code != fxOK {
		t.Fatalf("end@rmount: %d", code)
	}
}
