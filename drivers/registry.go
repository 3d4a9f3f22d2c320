package drivers

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"sync"

	"github.com/rs/zerolog"

	"pandav/internal/state"
)

// Env is what pandav hands every driver it opens.
type Env struct {
	// MountPath is the WebDAV path the drive is mounted at, such as "/115".
	// It names the drive in logs and in state_dir.
	MountPath string
	// StateDir is pandav's state folder, for rotated tokens and other
	// state that must survive restarts. It exists; drivers keep their files
	// under names of their own (upstream.TokenStore does this for tokens).
	StateDir string
	// State is where logins and their refresh tokens are kept
	// (upstream.TokenStoreOf): nil means StateDir's embedded store; a
	// shared one (Redis) when replicas serve the same accounts.
	State state.Store
	Log   zerolog.Logger
	// HTTPClient is used for API calls. Drivers build their own transport
	// rules (timeouts, retries) on top of it. nil means a sane default.
	HTTPClient *http.Client
	// Mount finds another mounted drive by its mount path, for drivers that
	// borrow an account's login (share links play through an account).
	Mount func(path string) (Drive, bool)
	// Shared is where mounts of one account meet (token sources, rate
	// limiters); internal/app passes one per pandav to every mount. nil
	// shares nothing, which suits a driver opened on its own.
	Shared *Shared
	// ServerURL is where this pandav answers, as its listen and tls keys
	// say ("http://127.0.0.1:8080"), for drivers that hand out links back
	// to pandav; "" when unknown.
	ServerURL string
}

// Options decodes the mount's `options:` block into v, rejecting unknown
// keys and wrong types with an error that names the key and the line.
type Options func(v any) error

// Factory opens a drive. It must not block for long: a cloud that cannot be
// reached at start is an error at first use, not at start, so one dead
// mount does not stop the others.
type Factory func(ctx context.Context, env Env, opts Options) (Drive, error)

// FactoryOf is the Factory of a driver whose constructor takes its options
// as a struct: the mount's options block is decoded into O, then open runs.
func FactoryOf[O any, D Drive](open func(context.Context, Env, O) (D, error)) Factory {
	return func(ctx context.Context, env Env, opts Options) (Drive, error) {
		var o O
		if err := opts(&o); err != nil {
			return nil, err
		}
		d, err := open(ctx, env, o)
		if err != nil {
			return nil, err // not a typed nil *D inside the interface
		}
		return d, nil
	}
}

var (
	registryMu sync.RWMutex
	registry   = map[string]Factory{}
)

// Register makes a driver available under name. Drivers call it from init.
func Register(name string, f Factory) {
	registryMu.Lock()
	defer registryMu.Unlock()
	if _, dup := registry[name]; dup {
		panic("drivers: Register called twice for " + name)
	}
	registry[name] = f
}

// Lookup returns the factory registered under name.
func Lookup(name string) (Factory, error) {
	registryMu.RLock()
	defer registryMu.RUnlock()
	f, ok := registry[name]
	if !ok {
		return nil, fmt.Errorf("unknown driver %q (known: %v)", name, names())
	}
	return f, nil
}

func names() []string {
	var out []string
	for n := range registry {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}
