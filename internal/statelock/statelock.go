// Package statelock makes one pandav process the only holder of a
// state_dir, and so of the refresh tokens stored there: both clouds'
// refresh tokens are single-use, and two processes refreshing one token
// log each other out (docs/protocols/user-demands.md §10).
//
// The lock is an advisory flock on state_dir/pandav.lock, which the kernel
// drops when the process ends, however it ends; the file's content only
// says who holds it and where that process answers, for messages and for
// the CLI commands that then talk to it. A file left by a dead process
// therefore blocks nothing.
package statelock

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// FileName is the lock file's name inside state_dir.
const FileName = "pandav.lock"

// Holder is what the lock file says about the process holding it.
type Holder struct {
	PID     int       `json:"pid"`
	Host    string    `json:"host"`
	Command string    `json:"command"` // serve, demo, check, login
	Started time.Time `json:"started"`
	// Listen is where the holder's admin API answers, the address its
	// listener really got; empty for a CLI command, which serves nothing,
	// and for a server that has not started listening yet.
	Listen string `json:"listen,omitempty"`
	TLS    bool   `json:"tls,omitempty"`
}

// Lock is a held state_dir lock.
type Lock struct {
	f      *os.File
	dir    string
	holder Holder
}

// HeldError says that another process holds the lock.
type HeldError struct {
	Dir string
	// Holder is what its lock file says; zero when the file could not be
	// read (the holder was still writing it).
	Holder Holder
}

func (e *HeldError) Error() string {
	h := e.Holder
	if h.PID == 0 {
		return fmt.Sprintf("state_dir %s is in use by another pandav", e.Dir)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "state_dir %s is in use by pandav PID %d on %s", e.Dir, h.PID, h.Host)
	switch {
	case h.Listen != "":
		fmt.Fprintf(&b, " (listening on %s)", h.Listen)
	case h.Command != "":
		fmt.Fprintf(&b, " (running %s)", h.Command)
	}
	fmt.Fprintf(&b, " since %s", h.Started.Local().Format(time.RFC3339))
	return b.String()
}

// Acquire takes the lock on dir, creating dir when it is missing. It does
// not wait: when another process holds the lock it returns a *HeldError
// naming that process. PID, Host and Started are filled in when h leaves
// them out.
func Acquire(dir string, h Holder) (*Lock, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("state_dir: %w", err)
	}
	p := filepath.Join(dir, FileName)
	// Never truncated before the lock is ours: the file names the holder.
	f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		if errors.Is(err, os.ErrPermission) {
			return nil, fmt.Errorf("cannot open %s: it belongs to another user; run pandav as the user that owns state_dir", p)
		}
		return nil, fmt.Errorf("state_dir lock: %w", err)
	}
	held, err := tryLock(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("state_dir lock %s: %w", p, err)
	}
	if !held {
		defer f.Close()
		return nil, &HeldError{Dir: dir, Holder: readHolder(f)}
	}
	if h.PID == 0 {
		h.PID = os.Getpid()
	}
	if h.Host == "" {
		h.Host, _ = os.Hostname()
	}
	if h.Started.IsZero() {
		h.Started = time.Now()
	}
	l := &Lock{f: f, dir: dir, holder: h}
	if err := l.write(); err != nil {
		l.Release()
		return nil, err
	}
	return l, nil
}

// readHolder reads the holder's lock file. The holder writes it right
// after taking the lock, so an empty or half-written file is read again
// for a moment before giving up.
func readHolder(f *os.File) Holder {
	var h Holder
	for range 20 {
		b, err := io.ReadAll(io.NewSectionReader(f, 0, 1<<16))
		if err == nil && json.Unmarshal(b, &h) == nil && h.PID != 0 {
			return h
		}
		time.Sleep(10 * time.Millisecond)
	}
	return Holder{}
}

// Holder is what this process wrote into the lock file.
func (l *Lock) Holder() Holder { return l.holder }

// SetListen records where this process's admin API answers, once its
// listener is up.
func (l *Lock) SetListen(addr string, tls bool) error {
	l.holder.Listen, l.holder.TLS = addr, tls
	return l.write()
}

func (l *Lock) write() error {
	b, err := json.Marshal(l.holder)
	if err != nil {
		return err
	}
	b = append(b, '\n')
	if err := l.f.Truncate(0); err != nil {
		return fmt.Errorf("state_dir lock: %w", err)
	}
	if _, err := l.f.WriteAt(b, 0); err != nil {
		return fmt.Errorf("state_dir lock: %w", err)
	}
	return nil
}

// Release empties the lock file and lets the lock go. The file stays: a
// process that opened it a moment ago may be about to lock it, and a
// new file under the same name would let two processes hold "the" lock.
func (l *Lock) Release() error {
	if l == nil || l.f == nil {
		return nil
	}
	l.f.Truncate(0)
	err := unlock(l.f)
	if cerr := l.f.Close(); err == nil {
		err = cerr
	}
	l.f = nil
	return err
}
