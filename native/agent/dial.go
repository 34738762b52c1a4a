package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"time"
)

const dialTimeout = 10 * time.Second

// listeningPort is an entry of `ports`.
type listeningPort struct {
	Port    int    `json:"port"`
	Address string `json:"address"`
	Family  string `json:"family"` // "tcp4" or "tcp6"
}

func checkNetwork(network string) *hostError {
	switch network {
	case "tcp", "tcp4", "tcp6", "unix":
		return nil
	}
	return errBadRequest(fmt.Sprintf("network %q is not tcp, tcp4, tcp6 or unix", network))
}

// dial connects from the remote side; the connection is piped to st once the reply is out.
func (c *hostClient) dial(req *hostRequest, st *muxStream) *hostError {
	if herr := checkNetwork(req.Network); herr != nil {
		return herr
	}
	conn, err := net.DialTimeout(req.Network, req.Address, dialTimeout)
	if err != nil {
		ne, ok := err.(net.Error)
		return &hostError{Code: "dial-failed", Title: "Connection failed on the remote",
			Message: err.Error(), Suggestion: "Check that something listens on " + req.Address + " on the remote.",
			Retryable: ok && ne.Timeout()}
	}
	c.mu.Lock()
	c.dialed[st] = conn
	c.mu.Unlock()
	return nil
}

// listen accepts connections on the remote; each becomes a host stream announced on stream 0.
func (c *hostClient) listen(req *hostRequest) (interface{}, *hostError) {
	if herr := checkNetwork(req.Network); herr != nil {
		return nil, herr
	}
	ln, err := net.Listen(req.Network, req.Address)
	if err != nil {
		return nil, &hostError{Code: "listen-failed", Title: "Could not listen on the remote", Message: err.Error(),
			Suggestion: "Pick another address or port."}
	}
	c.mu.Lock()
	c.nextListener++
	id := c.nextListener
	c.listeners[id] = ln
	c.mu.Unlock()
	go c.accept(id, ln)
	return map[string]interface{}{"listener": id, "address": ln.Addr().String()}, nil
}

func (c *hostClient) accept(id uint32, ln net.Listener) {
	for {
		conn, err := ln.Accept()
		if err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				time.Sleep(10 * time.Millisecond)
				continue
			}
			return // closed by unlisten or the client's end
		}
		st, err := c.m.newStream()
		if err != nil {
			conn.Close()
			return
		}
		ev, _ := json.Marshal(map[string]interface{}{"accepted": id, "stream": st.id, "remote": conn.RemoteAddr().String()})
		// Sent before any DATA on the new stream: the client sets the stream up when it reads this.
		if err := c.m.writeFrame(frameEvent, 0, ev); err != nil {
			conn.Close()
			return
		}
		go pipeConn(conn, st)
	}
}

// pipeConn copies both ways between a connection and a stream, passing EOF on each side, and
// resets the other side when one fails.
func pipeConn(conn net.Conn, st *muxStream) {
	down := make(chan struct{})
	go func() {
		defer close(down)
		if _, err := io.Copy(conn, st); err != nil {
			resetConn(conn) // the client reset the stream: reset the connection too
			return
		}
		if cw, ok := conn.(interface{ CloseWrite() error }); ok {
			cw.CloseWrite()
		}
	}()
	if _, err := io.Copy(st, conn); err != nil {
		st.Close()
		conn.Close()
	} else {
		st.CloseWrite()
	}
	<-down
	conn.Close()
	st.Close() // a no-op when both EOFs went through
}

// resetConn closes a TCP connection with RST rather than FIN.
func resetConn(conn net.Conn) {
	if tc, ok := conn.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	conn.Close()
}
