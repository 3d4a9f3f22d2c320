package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"strings"
	"text/tabwriter"
	"time"

	"pandav/internal/admin"
)

// pandav share: making and managing share links of the mounts' own files
// through the admin API (docs/admin-api.md, "Share links"): the running
// pandav's when one holds state_dir, else this process's own.

const shareUsage = `Usage:
  pandav share create -c config.yaml [--pwd CODE | --random-pwd | --no-pwd] [--expire 7d|never|DATE] [--desc TEXT] PATH...
                             share the files and folders at PATH (all on one mount); prints the text to paste
                             (a random code unless --pwd or --no-pwd)
  pandav share list -c config.yaml [--json] [MOUNT...]
  pandav share update -c config.yaml [--mount MOUNT] [--pwd CODE | --random-pwd | --no-pwd] [--expire ...] [--desc TEXT] ID
  pandav share cancel -c config.yaml [--mount MOUNT] ID...
`

// optString is a flag that remembers whether it was given.
type optString struct {
	v   string
	set bool
}

func (o *optString) String() string     { return o.v }
func (o *optString) Set(v string) error { o.v, o.set = v, true; return nil }

// shareFlags are what create and update take.
type shareFlags struct {
	pwd, expire, desc, mount optString
	random, none             bool
}

func (f *shareFlags) register(fs *flag.FlagSet, withMount bool) {
	fs.Var(&f.pwd, "pwd", "the code (提取码) a visitor types")
	fs.BoolVar(&f.random, "random-pwd", false, "a random code")
	fs.BoolVar(&f.none, "no-pwd", false, "no code: anyone with the link opens it")
	fs.Var(&f.expire, "expire", "when the link stops working: a duration (7d, 2w, 12h), a date (2026-12-31) or never")
	fs.Var(&f.desc, "desc", "a description")
	if withMount {
		fs.Var(&f.mount, "mount", "the mount whose account holds the link (default: the one that has it)")
	}
}

// password checks that at most one way of setting the code was given.
func (f *shareFlags) password() error {
	n := 0
	for _, b := range []bool{f.pwd.set, f.random, f.none} {
		if b {
			n++
		}
	}
	if n > 1 {
		return errors.New("give one of --pwd, --random-pwd and --no-pwd")
	}
	return nil
}

func cmdShare(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, shareUsage)
		return 2
	}
	switch args[0] {
	case "create":
		return shareCreate(args[1:], stdout, stderr)
	case "list":
		return shareList(args[1:], stdout, stderr)
	case "update":
		return shareUpdate(args[1:], stdout, stderr)
	case "cancel":
		return shareCancel(args[1:], stdout, stderr)
	case "-h", "--help", "help":
		fmt.Fprint(stdout, shareUsage)
		return 0
	}
	fmt.Fprintf(stderr, "pandav share: unknown command %q\n\n%s", args[0], shareUsage)
	return 2
}

// withShares runs fn with the share links of the admin API c opens.
func (c *cliCommand) withShares(stderr io.Writer, fn func(context.Context, admin.ShareAPI) int) int {
	return c.withAdmin(stderr, func(ctx context.Context, s *adminSession) int {
		sa, ok := s.api.(admin.ShareAPI)
		if !ok {
			fmt.Fprintf(stderr, "pandav %s: this pandav does not manage share links\n", c.name)
			return 1
		}
		return fn(ctx, sa)
	})
}

// shareFailed says err and returns the exit code: 2 for what the API
// refused as bad input, 1 for the rest.
func shareFailed(name string, err error, stderr io.Writer) int {
	fmt.Fprintf(stderr, "pandav %s: %v\n", name, err)
	var e *admin.Error
	if errors.As(err, &e) && e.Status == http.StatusBadRequest {
		return 2
	}
	return 1
}

func shareCreate(args []string, stdout, stderr io.Writer) int {
	var f shareFlags
	c, ok := parseCLIArgs("share create", args, stderr, func(fs *flag.FlagSet) { f.register(fs, false) })
	if !ok {
		return 2
	}
	if err := f.password(); err != nil {
		fmt.Fprintf(stderr, "pandav share create: %v\n", err)
		return 2
	}
	if len(c.args) == 0 {
		fmt.Fprintln(stderr, "pandav share create: name what to share, such as pandav share create -c config.yaml /aliyun/Movies")
		return 2
	}
	req := admin.ShareCreate{Paths: c.args, Password: f.pwd.v, RandomPassword: !f.pwd.set && !f.none, Expire: f.expire.v, Description: f.desc.v}
	return c.withShares(stderr, func(ctx context.Context, sa admin.ShareAPI) int {
		sh, err := sa.CreateShare(ctx, req)
		if err != nil {
			return shareFailed(c.name, err, stderr)
		}
		fmt.Fprintln(stdout, shareText(sh))
		fmt.Fprintf(stderr, "pandav share create: share link %s of %s, %s\n", sh.ID, strings.Join(sh.Paths, ", "), expiryWords(sh.Expires))
		return 0
	})
}

// shareText is what to paste: the cloud's own message, or the link and
// its code.
func shareText(sh admin.Share) string {
	if sh.Text != "" {
		return sh.Text
	}
	t := sh.URL
	if sh.Password != "" {
		t += " 提取码: " + sh.Password
	}
	return t
}

func expiryWords(t *time.Time) string {
	if t == nil {
		return "valid until cancelled"
	}
	return "valid until " + t.Local().Format("2006-01-02 15:04")
}

func shareList(args []string, stdout, stderr io.Writer) int {
	var asJSON bool
	c, ok := parseCLI("share list", args, stderr, func(fs *flag.FlagSet) {
		fs.BoolVar(&asJSON, "json", false, "print the links as JSON (docs/admin-api.md describes them)")
	})
	if !ok {
		return 2
	}
	return c.withShares(stderr, func(ctx context.Context, sa admin.ShareAPI) int {
		shares, err := sa.Shares(ctx, c.mounts...)
		if err != nil {
			return shareFailed(c.name, err, stderr)
		}
		if asJSON {
			enc := json.NewEncoder(stdout)
			enc.SetIndent("", "  ")
			enc.Encode(admin.SharesBody{Shares: shares})
			return 0
		}
		printShares(stdout, shares)
		return 0
	})
}

// printShares prints shares as an aligned table.
func printShares(w io.Writer, shares []admin.Share) {
	if len(shares) == 0 {
		fmt.Fprintln(w, "no share links")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tMOUNT\tWHAT\tPASSWORD\tEXPIRES\tVIEWS\tSAVES\tSTATE")
	for _, sh := range shares {
		expires := "never"
		if sh.Expires != nil {
			expires = sh.Expires.Local().Format("2006-01-02 15:04")
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", sh.ID, sh.Mount, orDash(sh.Name), orDash(sh.Password), expires,
			countText(sh.Views), countText(sh.Saves), sh.State)
	}
	tw.Flush()
}

func countText(n *int64) string {
	if n == nil {
		return "-"
	}
	return fmt.Sprint(*n)
}

func shareUpdate(args []string, stdout, stderr io.Writer) int {
	var f shareFlags
	c, ok := parseCLIArgs("share update", args, stderr, func(fs *flag.FlagSet) { f.register(fs, true) })
	if !ok {
		return 2
	}
	if err := f.password(); err != nil {
		fmt.Fprintf(stderr, "pandav share update: %v\n", err)
		return 2
	}
	if len(c.args) != 1 {
		fmt.Fprintln(stderr, "pandav share update: name one share link by its id (pandav share list shows them)")
		return 2
	}
	ch := admin.ShareChange{Mount: f.mount.v, RandomPassword: f.random}
	switch {
	case f.pwd.set:
		ch.Password = &f.pwd.v
	case f.none:
		ch.Password = new(string)
	}
	if f.expire.set {
		ch.Expire = &f.expire.v
	}
	if f.desc.set {
		ch.Description = &f.desc.v
	}
	return c.withShares(stderr, func(ctx context.Context, sa admin.ShareAPI) int {
		sh, err := sa.UpdateShare(ctx, c.args[0], ch)
		if err != nil {
			return shareFailed(c.name, err, stderr)
		}
		fmt.Fprintln(stdout, shareText(sh))
		fmt.Fprintf(stderr, "pandav share update: share link %s changed, %s\n", sh.ID, expiryWords(sh.Expires))
		return 0
	})
}

func shareCancel(args []string, stdout, stderr io.Writer) int {
	var mount optString
	c, ok := parseCLIArgs("share cancel", args, stderr, func(fs *flag.FlagSet) {
		fs.Var(&mount, "mount", "the mount whose account holds the links (default: the one that has each)")
	})
	if !ok {
		return 2
	}
	if len(c.args) == 0 {
		fmt.Fprintln(stderr, "pandav share cancel: name the share links to cancel by their ids (pandav share list shows them)")
		return 2
	}
	return c.withShares(stderr, func(ctx context.Context, sa admin.ShareAPI) int {
		res, err := sa.CancelShares(ctx, c.args, mount.v)
		if err != nil {
			return shareFailed(c.name, err, stderr)
		}
		code := 0
		for _, r := range res {
			if r.Cancelled {
				fmt.Fprintf(stdout, "cancelled %s\n", r.ID)
				continue
			}
			fmt.Fprintf(stderr, "pandav share cancel: %s\n", r.Error)
			code = 1
		}
		return code
	})
}
