// Command pandav serves Aliyundrive and 115 cloud drives as one WebDAV
// file system. See README.md.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime/debug"
	"runtime/pprof"
	"strings"
	"syscall"

	"golang.org/x/crypto/bcrypt"

	"pandav/config"
	"pandav/internal/app"
	"pandav/internal/demo"
	"pandav/internal/statelock"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

const usage = `pandav serves your cloud drives (Aliyundrive, 115) as one WebDAV file system.

Usage:
  pandav serve -c config.yaml [--listen ADDR] [--log-level LEVEL]
  pandav login -c config.yaml [--no-qr] [--kind KIND] [--user NAME] MOUNT
                                     log MOUNT's account in with the cloud's app
  pandav check -c config.yaml [--json] [--user NAME]
                                     check every mount's login and listing
  pandav offline add|list|rm|clear|quota -c config.yaml ...
                                     the cloud's own downloads of links and torrents
  pandav share create|list|update|cancel -c config.yaml ...
                                     make and manage share links of your files
                                     (pandav share help)
  pandav demo [--listen ADDR]        serve emulated drives filled with samples
  pandav hash-password               read a password on stdin, print its bcrypt hash
  pandav healthcheck -c config.yaml  exit 0 when the server the config describes answers
  pandav strm sync -c config.yaml SOURCE DEST
                                     write the .strm view of SOURCE into a local folder
  pandav strm rotate-key -c config.yaml
                                     refuse every .strm link made so far
  pandav entrypoint COMMAND [ARGS]   the Docker image's entry point (see README.md)
  pandav --version
`

func main() {
	if os.Getenv("GOGC") == "" {
		// Stream chunks are large, short-lived buffers; collecting at 50%
		// heap growth instead of 100% keeps a NAS's pandav near the memory
		// it really uses (one stream: under 64 MiB) for little CPU, since
		// the buffers are pooled.
		debug.SetGCPercent(50)
	}
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// Exit codes: 0 ok, 1 runtime failure, 2 bad usage or configuration.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "serve":
		return cmdServe(args[1:], stderr)
	case "demo":
		return cmdDemo(args[1:], stdout, stderr)
	case "login":
		return cmdLogin(args[1:], stdout, stderr)
	case "check":
		return cmdCheck(args[1:], stdout, stderr)
	case "offline":
		return cmdOffline(args[1:], os.Stdin, stdout, stderr)
	case "share":
		return cmdShare(args[1:], stdout, stderr)
	case "hash-password":
		return cmdHashPassword(stdout, stderr)
	case "healthcheck":
		return cmdHealthcheck(args[1:], stderr)
	case "strm":
		return cmdStrm(args[1:], stdout, stderr)
	case "entrypoint":
		return cmdEntrypoint(args[1:], stdout, stderr)
	case "--version", "-version", "version":
		fmt.Fprintln(stdout, "pandav", version)
		return 0
	case "-h", "--help", "help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "pandav: unknown command %q\n\n%s", args[0], usage)
	return 2
}

type serveFlags struct {
	command                  string // serve or demo
	config, listen, logLevel string
	version                  bool
	// cpuProfile is where a CPU profile of the whole run is written at
	// shutdown: how the bench's figures are explained (bench --profile).
	cpuProfile string
}

func parseServeFlags(name string, args []string, stderr io.Writer, withConfig bool) (serveFlags, bool) {
	f := serveFlags{command: name}
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	if withConfig {
		fs.StringVar(&f.config, "c", "", "configuration file")
		fs.StringVar(&f.config, "config", "", "configuration file")
	}
	fs.StringVar(&f.listen, "listen", "", "address to listen on, overriding the config (host:port)")
	fs.StringVar(&f.logLevel, "log-level", "", "debug, info, warn or error, overriding the config")
	fs.BoolVar(&f.version, "version", false, "print the version")
	fs.StringVar(&f.cpuProfile, "cpuprofile", "", "write a CPU profile (pprof) of the run to this file at shutdown")
	if err := fs.Parse(args); err != nil {
		return f, false
	}
	return f, true
}

func cmdServe(args []string, stderr io.Writer) int {
	f, ok := parseServeFlags("serve", args, stderr, true)
	if !ok {
		return 2
	}
	if f.version {
		fmt.Fprintln(stderr, "pandav", version)
		return 0
	}
	if f.config == "" {
		fmt.Fprintln(stderr, "pandav serve: -c config.yaml is required")
		return 2
	}
	cfg, err := config.Load(f.config)
	if err != nil {
		fmt.Fprintf(stderr, "pandav: %s: %v\n", f.config, err)
		return 2
	}
	return serve(cfg, f, stderr, nil)
}

func cmdDemo(args []string, stdout, stderr io.Writer) int {
	f, ok := parseServeFlags("demo", args, stderr, false)
	if !ok {
		return 2
	}
	listen := f.listen
	if listen == "" {
		listen = "127.0.0.1:8080"
	}
	d, err := demo.Start(listen)
	if err != nil {
		fmt.Fprintf(stderr, "pandav demo: %v\n", err)
		return 1
	}
	defer d.Close()
	return serve(d.Config, f, stderr, func(addr string) {
		url := "http://" + addr + "/"
		fmt.Fprintf(stdout, `pandav demo: WebDAV at %s over %s
  Finder:   Go > Connect to Server (Cmd-K) > %s
  Explorer: Map network drive > %s   (or: net use P: %s)
  rclone:   rclone lsd :webdav,url=%q:
  check:    pandav check -c %s
`, url, d.Drives(), url, url, url, url, d.ConfigPath)
	})
}

func serve(cfg *config.Config, f serveFlags, stderr io.Writer, started func(addr string)) int {
	if f.listen != "" {
		cfg.Listen = f.listen
	}
	if f.logLevel != "" {
		cfg.Log.Level = f.logLevel
	}
	// Before any driver opens: the refresh tokens in state_dir are
	// single-use, so only one process may spend them. Replicas on a
	// shared store (Redis) need no such lock: the store's refresh lease
	// and compare-and-set keep one refresh per account across them.
	var lock *statelock.Lock
	if cfg.State.Redis == "" {
		var err error
		lock, err = statelock.Acquire(cfg.StateDir, statelock.Holder{Command: f.command})
		if err != nil {
			fmt.Fprintf(stderr, "pandav: %v%s\n", err, heldHint(err))
			return 1
		}
		defer lock.Release()
	}
	log := app.NewLogger(cfg.Log, os.Stderr)
	if f.cpuProfile != "" {
		stopProfile, err := startCPUProfile(f.cpuProfile)
		if err != nil {
			fmt.Fprintf(stderr, "pandav: %v\n", err)
			return 1
		}
		defer stopProfile()
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	a, err := app.New(ctx, cfg, log)
	if err != nil {
		fmt.Fprintf(stderr, "pandav: %v\n", err)
		if config.IsError(err) {
			return 2
		}
		return 1
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		fmt.Fprintf(stderr, "pandav: listen: %v\n", err)
		return 1
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	go func() {
		for range hup {
			a.FS.Purge()
			log.Info().Msg("SIGHUP: caches flushed")
		}
	}()
	// CLI commands find the admin API here (replicas on Redis hold no
	// state_dir lock to say it).
	if lock != nil {
		if err := lock.SetListen(ln.Addr().String(), cfg.TLS.Cert != ""); err != nil {
			log.Warn().Err(err).Msg("pandav login and pandav check will not find this server")
		}
	}
	if started != nil {
		started(ln.Addr().String())
	}
	if err := a.Serve(ctx, ln, cfg.ShutdownGrace.D()); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Error().Err(err).Msg("server stopped")
		return 1
	}
	return 0
}

// startCPUProfile profiles the process into path until the returned
// function is called.
func startCPUProfile(path string) (func(), error) {
	out, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	if err := pprof.StartCPUProfile(out); err != nil {
		out.Close()
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	return func() {
		pprof.StopCPUProfile()
		out.Close()
	}, nil
}

func cmdHashPassword(stdout, stderr io.Writer) int {
	line, err := bufio.NewReader(os.Stdin).ReadString('\n')
	if err != nil && line == "" {
		fmt.Fprintln(stderr, "pandav hash-password: type the password on standard input")
		return 2
	}
	pass := strings.TrimRight(line, "\r\n")
	if pass == "" {
		fmt.Fprintln(stderr, "pandav hash-password: empty password")
		return 2
	}
	h, err := bcrypt.GenerateFromPassword([]byte(pass), bcrypt.DefaultCost)
	if err != nil {
		fmt.Fprintf(stderr, "pandav hash-password: %v\n", err)
		return 1
	}
	fmt.Fprintln(stdout, string(h))
	return 0
}
