package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"syscall"
	"time"

	"golang.org/x/term"

	"pandav/config"
	"pandav/internal/admin"
	"pandav/internal/app"
	"pandav/internal/statelock"
)

// The admin user and password CLI commands send to a running pandav that
// has users.
const (
	envUser     = "PANDAV_USER"
	envPassword = "PANDAV_PASSWORD"
)

// adminSession is the admin API a CLI command works through: the running
// pandav's, when one holds state_dir, so that only it ever spends the
// refresh tokens stored there; otherwise this process's own, over the
// mounts it opens itself while it holds state_dir, so that no server
// starts meanwhile.
type adminSession struct {
	api admin.API
	// server is the running pandav's URL; "" when the command works on
	// its own.
	server string
	holder statelock.Holder
	close  func()
}

// cliFlags are what login and check share.
type cliFlags struct {
	config, user, logLevel string
}

// openAdmin opens the admin API for command. It returns the exit code to
// end with when it fails, having said why on stderr.
func openAdmin(ctx context.Context, cfg *config.Config, command string, f cliFlags, stderr io.Writer) (*adminSession, int) {
	name := "pandav " + command
	lock, err := statelock.Acquire(cfg.StateDir, statelock.Holder{Command: command})
	var held *statelock.HeldError
	switch {
	case errors.As(err, &held):
		return remoteAdmin(ctx, cfg, name, held, f, stderr)
	case err != nil:
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return nil, 1
	}
	logCfg := cfg.Log
	// The command says itself, in one sentence, what went wrong; the log
	// adds only errors, unless asked for more.
	logCfg.Level = "error"
	if f.logLevel != "" {
		logCfg.Level = f.logLevel
	}
	log := app.NewLogger(logCfg, stderr)
	drives, err := app.OpenDrives(ctx, cfg, log)
	if err != nil {
		lock.Release()
		fmt.Fprintf(stderr, "%s: %s: %v\n", name, f.config, err)
		if config.IsError(err) {
			return nil, 2
		}
		return nil, 1
	}
	svc := admin.NewService(drives.Mounts, log)
	return &adminSession{api: svc, close: func() {
		svc.Close()
		drives.Close()
		lock.Release()
	}}, 0
}

// remoteAdmin is the admin API of the pandav that holds state_dir.
func remoteAdmin(ctx context.Context, cfg *config.Config, name string, held *statelock.HeldError, f cliFlags, stderr io.Writer) (*adminSession, int) {
	h := held.Holder
	if h.Listen == "" {
		fmt.Fprintf(stderr, "%s: %v, which serves no admin API to ask; try again when it ends\n", name, held)
		return nil, 1
	}
	if host, _ := os.Hostname(); h.Host != host {
		fmt.Fprintf(stderr, "%s: %v; run this command on %s\n", name, held, h.Host)
		return nil, 1
	}
	base, err := config.LocalURL(h.Listen, h.TLS)
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v: %v\n", name, held, err)
		return nil, 1
	}
	c := &admin.Client{BaseURL: base}
	if h.TLS {
		if c.HTTP, err = pinnedClient(cfg.TLS.Cert); err != nil {
			fmt.Fprintf(stderr, "%s: %v\n", name, err)
			return nil, 2
		}
	}
	if len(cfg.Users) > 0 {
		if c.User, c.Password, err = credentials(cfg, f.user, stderr); err != nil {
			fmt.Fprintf(stderr, "%s: %v\n", name, err)
			return nil, 2
		}
	}
	// A server that has just taken the lock may not listen yet.
	for deadline := time.Now().Add(10 * time.Second); ; {
		_, err = c.Mounts(ctx)
		if err == nil || !errors.Is(err, syscall.ECONNREFUSED) || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if err != nil {
		fmt.Fprintf(stderr, "%s: asking the pandav (PID %d) that holds state_dir %s: %s\n", name, h.PID, cfg.StateDir, adminErrorText(err, c.User))
		return nil, 1
	}
	return &adminSession{api: c, server: base, holder: h, close: func() {}}, 0
}

// adminErrorText is err from the admin API, in words for the terminal.
func adminErrorText(err error, user string) string {
	var e *admin.Error
	if errors.As(err, &e) && e.Status == http.StatusUnauthorized {
		return fmt.Sprintf("it refused the password of user %s (%s, %s)", user, envUser, envPassword)
	}
	return err.Error()
}

// credentials are the admin user and password to send: the user from
// --user, PANDAV_USER or the config's only admin; the password from
// PANDAV_PASSWORD, or typed at the terminal.
func credentials(cfg *config.Config, user string, stderr io.Writer) (string, string, error) {
	if user == "" {
		user = os.Getenv(envUser)
	}
	if user == "" {
		var admins []string
		for _, u := range cfg.Users {
			if u.Admin {
				admins = append(admins, u.Name)
			}
		}
		switch len(admins) {
		case 0:
			return "", "", fmt.Errorf("the running pandav has users, and none has admin: true; give one admin: true in the config (and restart it) to use this command while it runs")
		case 1:
		default:
			return "", "", fmt.Errorf("the running pandav has several admins: give one's name with --user NAME or %s", envUser)
		}
		user = admins[0]
	}
	known := false
	for _, u := range cfg.Users {
		known = known || u.Name == user
	}
	if !known {
		return "", "", fmt.Errorf("the config has no user %q", user)
	}
	if p, ok := os.LookupEnv(envPassword); ok {
		return user, p, nil
	}
	fd := int(os.Stdin.Fd())
	if !term.IsTerminal(fd) {
		return "", "", fmt.Errorf("the password of user %s: set %s, or run the command in a terminal to type it", user, envPassword)
	}
	fmt.Fprintf(stderr, "password of pandav user %s: ", user)
	b, err := term.ReadPassword(fd)
	fmt.Fprintln(stderr)
	if err != nil {
		return "", "", fmt.Errorf("reading the password: %v", err)
	}
	return user, string(b), nil
}

// pinnedClient trusts exactly the certificate the server is configured
// with: the CLI reaches it on loopback, where no name on the certificate
// fits, and a certificate it holds itself needs no authority.
func pinnedClient(certFile string) (*http.Client, error) {
	b, err := os.ReadFile(certFile)
	if err != nil {
		return nil, fmt.Errorf("tls.cert: %v", err)
	}
	block, _ := pem.Decode(b)
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, fmt.Errorf("tls.cert %s: no PEM certificate in it", certFile)
	}
	want := block.Bytes
	if _, err := x509.ParseCertificate(want); err != nil {
		return nil, fmt.Errorf("tls.cert %s: %v", certFile, err)
	}
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.TLSClientConfig = &tls.Config{
		// Verified below, against the configured certificate itself.
		InsecureSkipVerify: true,
		VerifyPeerCertificate: func(raw [][]byte, _ [][]*x509.Certificate) error {
			if len(raw) == 0 || !bytes.Equal(raw[0], want) {
				return fmt.Errorf("the server's certificate is not the one in %s", certFile)
			}
			return nil
		},
	}
	return &http.Client{Transport: t}, nil
}

// heldHint says what to do about a state_dir another pandav holds.
func heldHint(err error) string {
	var held *statelock.HeldError
	if !errors.As(err, &held) {
		return ""
	}
	if strings.Contains(held.Holder.Command, "serve") || held.Holder.Command == "demo" {
		return "; stop it first, or give this pandav its own state_dir"
	}
	return "; try again when it ends"
}
