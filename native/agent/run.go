package main

import (
	"io"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// runProc is one `run`: a command joined to the client's streams for as long as it runs, with
// nothing kept afterwards (that is what sessions are for). `rmount exec` and the path stubs use
// it: no new SSH channel, no login shell, so a command starts in about a round trip.
type runProc struct {
	cmd  *exec.Cmd
	pty  *os.File // the terminal's master, with a tty
	in   *os.File // the process's stdin (the pty master with a tty)
	out  *os.File
	errR *os.File // stderr, without a tty
	pid  int

	mu   sync.Mutex
	done bool
}

// startRun starts req.Argv (see newCommand) in its own session and process group, stdout and
// stderr apart (merged on the terminal with a tty, as over ssh -t).
func startRun(req *hostRequest) (*runProc, *hostError) {
	cmd, herr := newCommand(req.Argv, req.Cwd, req.Env, req.TTY)
	if herr != nil {
		return nil, herr
	}
	p := &runProc{cmd: cmd}
	var childEnds []*os.File
	fail := func(err error) (*runProc, *hostError) {
		for _, f := range append(childEnds, p.in, p.out, p.errR) {
			if f != nil {
				f.Close()
			}
		}
		return nil, &hostError{Code: "start-failed", Title: "Could not start the command", Message: err.Error(), Retryable: true}
	}
	if req.TTY != nil {
		if !ptySupported {
			return nil, &hostError{Code: "pty-unsupported", Title: "No terminal on this system", Message: "the agent allocates terminals on Linux only"}
		}
		master, slave, err := openPTY()
		if err != nil {
			return nil, &hostError{Code: "pty-failed", Title: "Could not allocate a terminal", Message: err.Error(), Retryable: true}
		}
		cols, rows := req.TTY.Cols, req.TTY.Rows
		if cols <= 0 || rows <= 0 {
			cols, rows = 80, 24
		}
		resizePTY(master, cols, rows)
		cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
		cmd.SysProcAttr = ttyAttr()
		p.pty, p.in, p.out = master, master, master
		childEnds = []*os.File{slave}
	} else {
		inR, inW, err := os.Pipe()
		if err != nil {
			return fail(err)
		}
		childEnds = append(childEnds, inR)
		p.in = inW
		outR, outW, err := os.Pipe()
		if err != nil {
			return fail(err)
		}
		childEnds = append(childEnds, outW)
		p.out = outR
		errR, errW, err := os.Pipe()
		if err != nil {
			return fail(err)
		}
		childEnds = append(childEnds, errW)
		p.errR = errR
		cmd.Stdin, cmd.Stdout, cmd.Stderr = inR, outW, errW
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	}
	if err := cmd.Start(); err != nil {
		_, herr := fail(err)
		herr.Retryable = false
		herr.Suggestion = "Check the command and the folder exist on the remote."
		return nil, herr
	}
	for _, f := range childEnds {
		f.Close() // the child has its copies; ours would keep the output from ever ending
	}
	p.pid = cmd.Process.Pid
	return p, nil
}

// serve joins the process to its streams until it ends: st carries stdin and stdout (and the
// exit EVENT, then EOF), errSt stderr. A stream the client closes while the command runs hangs
// it up (SIGHUP to its group), as a closed terminal or SSH channel would.
func (p *runProc) serve(st, errSt *muxStream) {
	go func() {
		buf := make([]byte, muxMaxData)
		for {
			n, err := st.Read(buf)
			if n > 0 {
				p.in.Write(buf[:n])
			}
			if err != nil {
				if err == io.EOF && p.pty == nil {
					p.in.Close()
				}
				return
			}
		}
	}()
	go func() {
		<-st.Done()
		p.mu.Lock()
		done := p.done
		p.mu.Unlock()
		if !done {
			syscall.Kill(-p.pid, syscall.SIGHUP)
		}
	}()
	outDone := make(chan struct{})
	go func() {
		io.Copy(st, p.out) // EIO on a pty master once the terminal is gone ends it too
		close(outDone)
	}()
	errDone := make(chan struct{})
	go func() {
		if p.errR != nil && errSt != nil {
			io.Copy(errSt, p.errR)
			errSt.CloseWrite()
		} else if p.errR != nil {
			io.Copy(io.Discard, p.errR)
		}
		close(errDone)
	}()
	p.cmd.Wait()
	p.mu.Lock()
	p.done = true
	p.mu.Unlock()
	for _, ch := range []chan struct{}{outDone, errDone} {
		select {
		case <-ch:
		case <-time.After(outputGrace):
		}
	}
	// A background child may hold the output open: the command's end is what counts.
	p.out.Close()
	if p.errR != nil {
		p.errR.Close()
	}
	<-outDone
	<-errDone
	if p.pty == nil {
		p.in.Close()
	}
	code, sig := 255, ""
	if ps := p.cmd.ProcessState; ps != nil {
		if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			sig = signalName(ws.Signal())
		} else {
			code = ps.ExitCode()
		}
	}
	st.Event(exitEvent(code, sig))
	st.CloseWrite()
	if errSt != nil {
		errSt.CloseWrite()
	}
}

// signal sends sig to the command's process group.
func (p *runProc) signal(sig syscall.Signal) *hostError {
	if err := syscall.Kill(-p.pid, sig); err != nil {
		return &hostError{Code: "kill-failed", Title: "Could not signal the command", Message: err.Error()}
	}
	return nil
}

// resize changes the terminal's size (no-tty without one).
func (p *runProc) resize(cols, rows int) *hostError {
	if p.pty == nil {
		return &hostError{Code: "no-tty", Title: "No terminal", Message: "the command runs without a terminal"}
	}
	if cols <= 0 || rows <= 0 {
		return errBadRequest("cols and rows must be positive")
	}
	if err := resizePTY(p.pty, cols, rows); err != nil {
		return &hostError{Code: "pty-failed", Title: "Could not resize the terminal", Message: err.Error()}
	}
	return nil
}
