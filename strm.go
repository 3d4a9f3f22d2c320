package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path"
	"strings"
	"syscall"

	"gopkg.in/yaml.v3"

	"pandav/config"
	"pandav/internal/strmlink"
	"pandav/internal/strmsync"
)

const strmUsage = `Usage:
  pandav strm sync -c config.yaml [flags] SOURCE DEST
      write the .strm view of SOURCE (a WebDAV path such as /115/Movies)
      into the local folder DEST, through the running pandav; incremental
  pandav strm rotate-key -c config.yaml
      make a new signing key: every .strm link made before is refused
`

// cmdStrm runs `pandav strm`.
func cmdStrm(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, strmUsage)
		return 2
	}
	switch args[0] {
	case "sync":
		return cmdStrmSync(args[1:], stdout, stderr)
	case "rotate-key":
		return cmdStrmRotate(args[1:], stdout, stderr)
	case "-h", "--help", "help":
		fmt.Fprint(stdout, strmUsage)
		return 0
	}
	fmt.Fprintf(stderr, "pandav strm: unknown command %q\n\n%s", args[0], strmUsage)
	return 2
}

func cmdStrmSync(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("strm sync", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, strmUsage+"\nFlags of sync:\n"); fs.PrintDefaults() }
	configPath := fs.String("c", "", "the configuration file pandav serves with")
	fs.StringVar(configPath, "config", "", "the configuration file pandav serves with")
	server := fs.String("server", "", "where the running pandav answers (default: from the config's listen)")
	baseURL := fs.String("base-url", "", "what the .strm links start with (default: the base_url of the strm mount that shows SOURCE, else --server)")
	exts := fs.String("extensions", "", "comma-separated video extensions made into .strm files (default: the strm mount's, else the built-in list)")
	maxSide := fs.String("max-side-size", "16MiB", "the largest subtitle, .nfo or picture copied")
	pos, ok := parseInterleaved(fs, args)
	if !ok {
		return 2
	}
	if len(pos) != 2 {
		fmt.Fprintln(stderr, "pandav strm sync: give SOURCE (a WebDAV path such as /115/Movies) and DEST (a local folder)")
		return 2
	}
	source, dest := path.Clean("/"+pos[0]), pos[1]
	cfg, code := loadStrmConfig(*configPath, "sync", stderr)
	if cfg == nil {
		return code
	}
	var max config.ByteSize
	if err := max.UnmarshalYAML(&yaml.Node{Kind: yaml.ScalarNode, Value: *maxSide}); err != nil {
		fmt.Fprintf(stderr, "pandav strm sync: --max-side-size: want a size such as 16MiB\n")
		return 2
	}
	view, err := viewOf(cfg, source)
	if err != nil {
		fmt.Fprintf(stderr, "pandav strm sync: %v\n", err)
		return 2
	}
	if *exts != "" {
		view.Extensions = strings.Split(*exts, ",")
	}
	if *baseURL != "" {
		view.BaseURL = *baseURL
	}
	if *server == "" {
		if *server, err = cfg.URL(); err != nil {
			fmt.Fprintf(stderr, "pandav strm sync: %v\n", err)
			return 2
		}
	}
	if view.BaseURL == "" {
		view.BaseURL = *server
	}
	rules, err := strmlink.NewRules(view.Extensions)
	if err != nil {
		fmt.Fprintf(stderr, "pandav strm sync: extensions: %v\n", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	sum, err := strmsync.Run(ctx, strmsync.Options{
		Server: *server, BaseURL: view.BaseURL, Source: source, Dest: dest,
		Rules: rules, Signer: strmlink.NewSigner(strmlink.FileKeys(cfg.StateDir)), MaxSideSize: int64(max),
	})
	fmt.Fprintf(stdout, "pandav strm sync %s -> %s: %s\n", source, dest, sum)
	if err != nil {
		fmt.Fprintf(stderr, "pandav strm sync: %v\n", err)
		return 1
	}
	return 0
}

// viewOf is the strm view that shows source in cfg, for its extensions
// and base_url; the zero options when none does.
func viewOf(cfg *config.Config, source string) (strmlink.ViewOptions, error) {
	for i := range cfg.Mounts {
		m := &cfg.Mounts[i]
		if m.Driver != "strm" {
			continue
		}
		var o strmlink.ViewOptions
		if err := config.Decode(&m.Options, &o, fmt.Sprintf("mounts[%d].options", i)); err != nil {
			return o, err
		}
		if o.Covers(source) {
			return o, nil
		}
	}
	return strmlink.ViewOptions{}, nil
}

func cmdStrmRotate(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("strm rotate-key", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("c", "", "the configuration file pandav serves with")
	fs.StringVar(configPath, "config", "", "the configuration file pandav serves with")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "pandav strm rotate-key: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	cfg, code := loadStrmConfig(*configPath, "rotate-key", stderr)
	if cfg == nil {
		return code
	}
	if err := strmlink.FileKeys(cfg.StateDir).Rotate(); err != nil {
		fmt.Fprintf(stderr, "pandav strm rotate-key: %v\n", err)
		return 1
	}
	fmt.Fprintln(stdout, "pandav strm rotate-key: a new signing key is in place. Every .strm link made before is refused from now on; "+
		"the strm views show new links at once, and `pandav strm sync` rewrites local libraries on its next run.")
	return 0
}

func loadStrmConfig(p, cmd string, stderr io.Writer) (*config.Config, int) {
	if p == "" {
		fmt.Fprintf(stderr, "pandav strm %s: -c config.yaml is required (the config pandav serves with, for its state_dir)\n", cmd)
		return nil, 2
	}
	cfg, err := config.Load(p)
	if err != nil {
		fmt.Fprintf(stderr, "pandav: %s: %v\n", p, err)
		return nil, 2
	}
	return cfg, 0
}

// parseInterleaved parses flags given before, between or after the
// positional arguments, which it returns.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, bool) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, false
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, true
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}
