package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"

	// TZ must work in any image, also one without /usr/share/zoneinfo.
	_ "time/tzdata"

	"pandav/config"
	"pandav/internal/app"
)

// containerUID and containerGID are the image's pandav user (the
// Dockerfile's useradd).
const (
	containerUID = 10001
	containerGID = 10001
)

// cmdEntrypoint is the Docker image's entry point: it runs COMMAND as
// `pandav COMMAND` would, after preparing the data folder for serve. The
// image starts it as root so that a host folder made by root (mkdir, Docker
// Desktop, a NAS's UI) works on first start; it then drops to the pandav
// user before doing anything else. Under --user it prepares what that user
// may. Only the image calls it, so pandav run as root elsewhere never
// changes users by itself.
func cmdEntrypoint(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, "pandav entrypoint: give the command to run, such as serve -c /data/config.yaml")
		return 2
	}
	asRoot := os.Geteuid() == 0
	if asRoot && !canDropPrivileges {
		fmt.Fprintln(stderr, "pandav entrypoint: switching users away from root is implemented for Linux only; run the command as another user")
		return 1
	}
	var data *dataFolder
	if args[0] == "serve" {
		var code int
		if data, code = prepareData(args[1:], asRoot, stderr); code != 0 {
			return code
		}
	}
	if asRoot {
		if err := dropPrivileges(containerUID, containerGID); err != nil {
			fmt.Fprintf(stderr, "pandav: cannot switch from root to uid %d (%v); start the container with --user %d:%d instead\n", containerUID, err, containerUID, containerGID)
			return 1
		}
	}
	if data != nil {
		if code := data.checkAccess(stderr); code != 0 {
			return code
		}
	}
	return run(args, stdout, stderr)
}

// dataFolder is what serve will need of the folder its config is in.
type dataFolder struct {
	configPath string
	dir        string   // the config's folder: /data in the image
	tlsFiles   []string // the certificate and key serve reads
	stateDir   string   // "" when the config could not be read
	asRoot     bool     // the entry point started as root
	chownErr   error    // giving stateDir to the pandav user failed
}

// prepareData writes a starter config when there is none and, as root,
// creates state_dir and gives it to the pandav user. A config that cannot
// be read or parsed is left for serve to report, after the switch of users.
func prepareData(serveArgs []string, asRoot bool, stderr io.Writer) (*dataFolder, int) {
	f, ok := parseServeFlags("serve", serveArgs, io.Discard, true)
	if !ok || f.config == "" || f.version {
		return nil, 0
	}
	configPath, err := filepath.Abs(f.config)
	if err != nil {
		return nil, 0
	}
	d := &dataFolder{configPath: configPath, dir: filepath.Dir(configPath), asRoot: asRoot}
	log := app.NewLogger(config.Defaults().Log, os.Stderr)
	if _, err := os.Stat(configPath); errors.Is(err, fs.ErrNotExist) {
		if err := writeStarterConfig(configPath, asRoot, log); err != nil {
			fix := d.fixHint()
			if !errors.Is(err, fs.ErrPermission) {
				fix = "put a config.yaml there yourself (config.example.yaml in pandav's sources documents it)"
			}
			fmt.Fprintf(stderr, "pandav: cannot write a starter config to %s (%v): %s\n", configPath, reason(err), fix)
			return nil, 1
		}
	}
	cfg, err := config.Load(configPath)
	if err != nil {
		return d, 0
	}
	if f.listen != "" {
		cfg.Listen = f.listen
	}
	log = app.NewLogger(cfg.Log, os.Stderr)
	if host, port, err := net.SplitHostPort(cfg.Listen); err == nil {
		if ip := net.ParseIP(host); host == "localhost" || ip != nil && ip.IsLoopback() {
			log.Warn().Str("listen", cfg.Listen).Msgf("this address answers only inside the container, so a published port (-p) cannot reach it: listen on 0.0.0.0:%s", port)
		}
	}
	if cfg.TLS.Cert != "" {
		d.tlsFiles = []string{cfg.TLS.Cert, cfg.TLS.Key}
	}
	if d.stateDir, err = filepath.Abs(cfg.StateDir); err != nil {
		d.stateDir = ""
	}
	if asRoot && d.stateDir != "" {
		d.chownErr = giveTree(d.stateDir, containerUID, containerGID)
	}
	return d, 0
}

// checkAccess runs as the user serve will run as, and tells in one
// sentence what to change when that user may not read the config or the
// TLS files, or write state_dir, instead of serve's bare "permission
// denied". Other failures are serve's to report.
func (d *dataFolder) checkAccess(stderr io.Writer) int {
	denied := func(verb, p string, err error) bool {
		if !errors.Is(err, fs.ErrPermission) {
			return false
		}
		also := ""
		if d.chownErr != nil && p == d.stateDir {
			also = fmt.Sprintf(", and giving it to uid %d failed (%v)", containerUID, reason(d.chownErr))
		}
		fmt.Fprintf(stderr, "pandav: uid %d may not %s %s (%v)%s: %s\n", os.Getuid(), verb, p, reason(err), also, d.fixHint())
		return true
	}
	for _, p := range append([]string{d.configPath}, d.tlsFiles...) {
		f, err := os.Open(p)
		if err == nil {
			f.Close()
		} else if denied("read", p, err) {
			return 1
		}
	}
	if d.stateDir == "" {
		return 0
	}
	if err := os.MkdirAll(d.stateDir, 0o700); err != nil {
		if denied("create", d.stateDir, err) {
			return 1
		}
		return 0
	}
	probe, err := os.CreateTemp(d.stateDir, ".pandav-write-check-*")
	if err != nil {
		if denied("write to", d.stateDir, err) {
			return 1
		}
		return 0
	}
	probe.Close()
	os.Remove(probe.Name())
	return 0
}

// fixHint names the command that fixes a data folder the container's user
// cannot use.
func (d *dataFolder) fixHint() string {
	if d.asRoot {
		return fmt.Sprintf("on the host, run `chown -R %d:%d` on the folder mounted at %s, or start the container with --user set to that folder's owner (UID:GID)", containerUID, containerGID, d.dir)
	}
	return fmt.Sprintf("on the host, run `chown -R %d:%d` on the folder mounted at %s, or start the container without --user so that pandav prepares the folder itself", os.Getuid(), os.Getgid(), d.dir)
}

// giveTree creates dir if needed and makes it and everything in it belong
// to uid:gid. Older images left state files in group 999; this moves them
// to the pandav group too.
func giveTree(dir string, uid, gid int) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	return filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := e.Info()
		if err != nil {
			return err
		}
		if ownedBy(info, uid, gid) {
			return nil
		}
		return os.Lchown(p, uid, gid)
	})
}

// reason is an error without the path a *PathError repeats.
func reason(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
