package demo

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"

	"pandav/config"
	"pandav/drivers"
	_ "pandav/drivers/all" // OpenDrive opens any cloud's driver by name
	"pandav/internal/fakecloud"
)

// Mount is one entry of a configuration's mounts: list.
type Mount struct {
	Path, Driver string
	// Keys are mount-level keys beside driver and options, one
	// "key: value" each, such as "no_trash: true".
	Keys    []string
	Options map[string]any
}

// MountPath is where the demo and the harnesses mount c.
func MountPath(c fakecloud.Cloud) string { return "/" + c.Name() }

// CloudMount mounts c's driver at MountPath, logged in with refreshToken
// (from c.Login().Issue()). Its Options are a fresh map, for the caller
// to add to.
func CloudMount(c fakecloud.Cloud, refreshToken string) Mount {
	return Mount{Path: MountPath(c), Driver: c.Driver(), Options: maps.Clone(c.MountOptions(refreshToken))}
}

// YAML is m as an entry of mounts:. Options come sorted by key, each
// value written as JSON, which YAML reads as it is.
func (m Mount) YAML() string {
	var b strings.Builder
	fmt.Fprintf(&b, "  - path: %s\n    driver: %s\n", m.Path, m.Driver)
	for _, k := range m.Keys {
		fmt.Fprintf(&b, "    %s\n", k)
	}
	b.WriteString("    options:\n")
	for _, k := range slices.Sorted(maps.Keys(m.Options)) {
		v, err := json.Marshal(m.Options[k])
		if err != nil {
			// Options are strings, numbers, booleans and maps of them.
			panic(fmt.Sprintf("demo: option %s: %v", k, err))
		}
		fmt.Fprintf(&b, "      %s: %s\n", k, v)
	}
	return b.String()
}

// OpenDrive opens m's driver in this process, as pandav opens a mount,
// for a harness that calls a driver directly.
func OpenDrive(ctx context.Context, m Mount, env drivers.Env) (drivers.Drive, error) {
	factory, err := drivers.Lookup(m.Driver)
	if err != nil {
		return nil, err
	}
	var node yaml.Node
	if err := node.Encode(m.Options); err != nil {
		return nil, fmt.Errorf("%s options: %w", m.Path, err)
	}
	if env.MountPath == "" {
		env.MountPath = m.Path
	}
	return factory(ctx, env, func(v any) error { return config.Decode(&node, v, m.Path+" options") })
}
