package strmlink

import (
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
)

// Keys holds the key that signs .strm links. It is a small interface so
// that the state can move from files into a database without touching
// what signs and checks.
type Keys interface {
	// Key returns the current key, making one on first use.
	Key() ([]byte, error)
	// Rotate replaces the key: every link signed before is refused from
	// then on, by every process that shares the state.
	Rotate() error
}

// SharedKeys is the drivers.Shared key under which a pandav keeps its
// Keys, so that its strm views and its signed routes use one store.
const SharedKeys = "strmlink:keys"

// keySize is HMAC-SHA256's block-sized key.
const keySize = 32

// FileKeys keeps the key in stateDir/strm/signing.key, readable by its
// owner only. A running pandav notices a rotation by another process
// (`pandav strm rotate-key`) at its next signature check, since the
// file is looked at again on each use; reading it is a stat when it has
// not changed.
func FileKeys(stateDir string) Keys {
	return &fileKeys{path: filepath.Join(stateDir, "strm", "signing.key")}
}

type fileKeys struct {
	path string

	mu  sync.Mutex
	key []byte
	fi  os.FileInfo // of the file key was read from
}

func (k *fileKeys) Key() ([]byte, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	fi, err := os.Stat(k.path)
	if errors.Is(err, os.ErrNotExist) {
		if err := k.create(); err != nil {
			return nil, err
		}
		fi, err = os.Stat(k.path)
	}
	if err != nil {
		return nil, fmt.Errorf("strm signing key: %w", err)
	}
	if k.key != nil && os.SameFile(fi, k.fi) && fi.ModTime().Equal(k.fi.ModTime()) && fi.Size() == k.fi.Size() {
		return k.key, nil
	}
	b, err := os.ReadFile(k.path)
	if err != nil {
		return nil, fmt.Errorf("strm signing key: %w", err)
	}
	if len(b) != keySize {
		return nil, fmt.Errorf("strm signing key %s: %d bytes, want %d; run `pandav strm rotate-key` to make a new one", k.path, len(b), keySize)
	}
	k.key, k.fi = b, fi
	return k.key, nil
}

// create makes the first key, unless another process made one meanwhile:
// the file appears by a hard link, which fails when the name exists, so
// two processes starting together end up with one key.
func (k *fileKeys) create() error {
	tmp, err := k.writeTemp()
	if err != nil {
		return err
	}
	defer os.Remove(tmp)
	if err := os.Link(tmp, k.path); err != nil && !errors.Is(err, os.ErrExist) {
		return fmt.Errorf("strm signing key: %w", err)
	}
	syncDir(filepath.Dir(k.path))
	return nil
}

func (k *fileKeys) Rotate() error {
	k.mu.Lock()
	defer k.mu.Unlock()
	tmp, err := k.writeTemp()
	if err != nil {
		return err
	}
	defer os.Remove(tmp)
	if err := os.Rename(tmp, k.path); err != nil {
		return fmt.Errorf("strm signing key: %w", err)
	}
	syncDir(filepath.Dir(k.path))
	k.key = nil
	return nil
}

// writeTemp writes a new random key beside the key file, synced, and
// returns its name.
func (k *fileKeys) writeTemp() (string, error) {
	dir := filepath.Dir(k.path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("strm signing key: %w", err)
	}
	key := make([]byte, keySize)
	rand.Read(key)
	f, err := os.CreateTemp(dir, ".signing-*")
	if err != nil {
		return "", fmt.Errorf("strm signing key: %w", err)
	}
	_, err = f.Write(key)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(f.Name())
		return "", fmt.Errorf("strm signing key: %w", err)
	}
	return f.Name(), nil
}

func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}
