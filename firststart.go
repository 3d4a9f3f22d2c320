package main

import (
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/rs/zerolog"
	"golang.org/x/crypto/bcrypt"
)

// starterUser is the one login a starter config has.
const starterUser = "admin"

// starterListen is the starter config's address: every address of the
// container, on the port the image exposes.
const starterListen = "0.0.0.0:8080"

// starterNextSteps is logged after a starter config is written: what the
// user does next. %[1]s is the config's path.
const starterNextSteps = "next: add your drives under mounts: in %[1]s and restart the container (config.example.yaml in pandav's sources documents every driver and key); until then WebDAV serves an empty root"

// writeStarterConfig writes a config that serves an empty root to one
// user with a random password, at path, which must not exist. The password
// is logged once, here, and never stored: the file keeps its bcrypt hash.
// As root the file goes to the owner of its folder, readable by the pandav
// group, so the user edits it on the host as the folder's owner.
func writeStarterConfig(path string, asRoot bool, log zerolog.Logger) error {
	password := rand.Text()
	hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.DefaultCost)
	if err != nil {
		return err
	}
	text := starterConfig(path, filepath.Join(filepath.Dir(path), "state"), string(hash))
	mode := os.FileMode(0o600)
	if asRoot {
		mode = 0o640
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return err
	}
	_, err = f.WriteString(text)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil && asRoot {
		owner := containerUID
		if info, serr := os.Stat(filepath.Dir(path)); serr == nil && ownerOf(info) >= 0 {
			owner = ownerOf(info)
		}
		err = os.Chown(path, owner, containerGID)
	}
	if err != nil {
		// A half-written starter would stop every later start; without it
		// the next start writes a whole one.
		os.Remove(path)
		return err
	}
	log.Warn().Str("user", starterUser).Str("password", password).Msgf("first start: wrote a starter config to %s; sign in as %s with this password, which is shown only this once", path, starterUser)
	log.Info().Msgf(starterNextSteps, path)
	return nil
}

// starterConfig is the starter file's text.
func starterConfig(path, stateDir, hash string) string {
	r := strings.NewReplacer("CONFIG", path, "LISTEN", starterListen, "STATE_DIR", yamlString(stateDir), "USER", starterUser, "HASH", hash)
	return r.Replace(`# pandav configuration, written at the first start because CONFIG was
# missing. pandav never writes it again: edit it, then restart the container.
# config.example.yaml in pandav's sources documents every key.

# Every address of the container, on the port the image exposes: publish
# it with -p 8080:8080 (or ports: in compose.yaml).
listen: LISTEN

# Rotated refresh tokens live here: keep this folder with the config.
state_dir: STATE_DIR

log:
  level: info          # debug | info | warn | error
  format: console      # json for a log collector; the TZ variable sets the times' zone

# WebDAV logins. The password of USER was printed once in the log at the
# first start (docker logs pandav); only its bcrypt hash is kept here. For
# another password: docker run --rm -i pandav hash-password
# admin: true lets the user log drives in (pandav login) and check them.
users:
  - name: USER
    password: "HASH"
    admin: true

# Your drives. Until there is one the WebDAV root is empty. Replace the
# line below with them, restart, and log each in with the cloud's app:
#   docker exec -it pandav pandav login -c CONFIG /115
# mounts:
#   - path: /115
#     driver: pan115
#     options: {app_id: "..."}     # the AppID of your 115 open-platform app
#   - path: /aliyun
#     driver: aliyun
#     options: {client_id: "...", client_secret: "..."}   # your Open API app, or renew_url: a token service
mounts: []
`)
}

// yamlString quotes s as a YAML double-quoted scalar (JSON's escaping is
// a subset of YAML's).
func yamlString(s string) string {
	return fmt.Sprintf("%q", s)
}
