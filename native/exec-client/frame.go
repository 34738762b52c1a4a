package main

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// The control socket's framed mode (src/control/protocol.ts): 1 channel byte, a 4-byte
// big-endian payload length, the payload. An empty stdin frame is end-of-file; control frames
// carry one JSON object.
const (
	chanStdin   = 0
	chanStdout  = 1
	chanStderr  = 2
	chanControl = 3

	frameHeader     = 5
	maxFrame        = 1 << 20
	protocolVersion = 1
)

// encodeFrame returns the header and payload of one frame in one buffer.
func encodeFrame(channel byte, payload []byte) []byte {
	out := make([]byte, frameHeader+len(payload))
	out[0] = channel
	binary.BigEndian.PutUint32(out[1:frameHeader], uint32(len(payload)))
	copy(out[frameHeader:], payload)
	return out
}

// encodeControl returns a control frame carrying value as JSON.
func encodeControl(value interface{}) []byte {
	body, err := json.Marshal(value)
	if err != nil {
		panic(err) // only our own maps and structs are encoded
	}
	return encodeFrame(chanControl, body)
}

// frameReader reads frames from a stream, reusing one payload buffer.
type frameReader struct {
	r   io.Reader
	hdr [frameHeader]byte
	buf []byte
}

// next returns the next frame; the payload is valid until the following call. io.EOF at a
// frame boundary, io.ErrUnexpectedEOF inside one.
func (f *frameReader) next() (byte, []byte, error) {
	if _, err := io.ReadFull(f.r, f.hdr[:]); err != nil {
		return 0, nil, err
	}
	channel := f.hdr[0]
	if channel > chanControl {
		return 0, nil, fmt.Errorf("unknown frame channel %d", channel)
	}
	n := binary.BigEndian.Uint32(f.hdr[1:])
	if n > maxFrame {
		return 0, nil, fmt.Errorf("frame of %d bytes exceeds %d", n, maxFrame)
	}
	if cap(f.buf) < int(n) {
		f.buf = make([]byte, n)
	}
	payload := f.buf[:n]
	if _, err := io.ReadFull(f.r, payload); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return 0, nil, err
	}
	return channel, payload, nil
}

// writeStdin writes data as stdin frames of at most maxFrame bytes each.
func writeStdin(w io.Writer, data []byte) error {
	for off := 0; off < len(data); off += maxFrame {
		end := off + maxFrame
		if end > len(data) {
			end = len(data)
		}
		if _, err := w.Write(encodeFrame(chanStdin, data[off:end])); err != nil {
			return err
		}
	}
	return nil
}

// exitStatus is the server's {"exit":{code,signal}}.
type exitStatus struct {
	Code   *int    `json:"code"`
	Signal *string `json:"signal"`
}

// wireError is an {"error":{code,message}} payload.
type wireError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// controlMessage is any control frame the server sends.
type controlMessage struct {
	Started *struct {
		Pty bool `json:"pty"`
	} `json:"started"`
	Exit  *exitStatus `json:"exit"`
	Error *wireError  `json:"error"`
}

var signalNumbers = map[string]int{
	"SIGHUP": 1, "SIGINT": 2, "SIGQUIT": 3, "SIGILL": 4, "SIGTRAP": 5, "SIGABRT": 6, "SIGBUS": 7, "SIGFPE": 8,
	"SIGKILL": 9, "SIGUSR1": 10, "SIGSEGV": 11, "SIGUSR2": 12, "SIGPIPE": 13, "SIGALRM": 14, "SIGTERM": 15,
	"SIGCHLD": 17, "SIGCONT": 18, "SIGSTOP": 19, "SIGTSTP": 20, "SIGTTIN": 21, "SIGTTOU": 22, "SIGURG": 23,
	"SIGXCPU": 24, "SIGXFSZ": 25, "SIGVTALRM": 26, "SIGPROF": 27, "SIGWINCH": 28, "SIGIO": 29, "SIGPWR": 30, "SIGSYS": 31,
}

// exitCode is the shell's exit code for a status: the code, else 128 + the signal's number, else 255.
func (s exitStatus) exitCode() int {
	if s.Code != nil {
		return *s.Code
	}
	if s.Signal != nil {
		name := *s.Signal
		if len(name) < 3 || name[:3] != "SIG" {
			name = "SIG" + name
		}
		return 128 + signalNumbers[name]
	}
	return 255
}
