package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"path"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"pandav/config"
	"pandav/internal/admin"
)

// cliCommand is a parsed login or check command line.
type cliCommand struct {
	name  string // login or check
	flags cliFlags
	cfg   *config.Config
	// mounts are the MOUNT arguments, cleaned; each is a mount of cfg.
	mounts []string
	// args are the arguments after the flags, as given.
	args []string
}

// parseCLI parses a login or check command line, flags anywhere, and
// loads its config. It reports false after saying what is wrong.
func parseCLI(name string, args []string, stderr io.Writer, more func(*flag.FlagSet)) (*cliCommand, bool) {
	c, ok := parseCLIArgs(name, args, stderr, more)
	if !ok {
		return nil, false
	}
	for i, m := range c.args {
		c.args[i] = path.Clean("/" + m)
		if !hasMount(c.cfg, c.args[i]) {
			fmt.Fprintf(stderr, "pandav %s: %s has no mount %s (its mounts: %s)\n", name, c.flags.config, c.args[i], mountList(c.cfg))
			return nil, false
		}
	}
	c.mounts = c.args
	return c, true
}

// parseCLIArgs is parseCLI for a command whose arguments are not mounts:
// they are left in args.
func parseCLIArgs(name string, args []string, stderr io.Writer, more func(*flag.FlagSet)) (*cliCommand, bool) {
	c := &cliCommand{name: name}
	f := &c.flags
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&f.config, "c", "", "configuration file")
	fs.StringVar(&f.config, "config", "", "configuration file")
	fs.StringVar(&f.user, "user", "", "the admin user to ask a running pandav as (or "+envUser+"); the password comes from "+envPassword+" or the terminal")
	fs.StringVar(&f.logLevel, "log-level", "", "debug, info, warn or error, for the mounts opened when no server runs (default error)")
	if more != nil {
		more(fs)
	}
	for {
		if err := fs.Parse(args); err != nil {
			return nil, false
		}
		if fs.NArg() == 0 {
			break
		}
		c.args = append(c.args, fs.Arg(0))
		args = fs.Args()[1:]
	}
	if f.config == "" {
		fmt.Fprintf(stderr, "pandav %s: -c config.yaml is required\n", name)
		return nil, false
	}
	cfg, err := config.Load(f.config)
	if err != nil {
		fmt.Fprintf(stderr, "pandav %s: %s: %v\n", name, f.config, err)
		return nil, false
	}
	c.cfg = cfg
	return c, true
}

// withAdmin runs fn with the admin API (see openAdmin) until it returns
// or the user interrupts, and returns its exit code.
func (c *cliCommand) withAdmin(stderr io.Writer, fn func(context.Context, *adminSession) int) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	s, code := openAdmin(ctx, c.cfg, c.name, c.flags, stderr)
	if s == nil {
		return code
	}
	defer s.close()
	if s.server != "" {
		fmt.Fprintf(stderr, "pandav %s: through the running pandav (PID %d) at %s\n", c.name, s.holder.PID, s.server)
	}
	return fn(ctx, s)
}

// cmdLogin logs a mount's account in: it shows the cloud's QR code, says
// how the login stands, and has the tokens stored where the mount reads
// them (by the running pandav, which then uses them at once, when one
// holds state_dir).
func cmdLogin(args []string, stdout, stderr io.Writer) int {
	var noQR bool
	var kind string
	c, ok := parseCLI("login", args, stderr, func(fs *flag.FlagSet) {
		fs.BoolVar(&noQR, "no-qr", false, "print only the link, for terminals that cannot draw the code")
		fs.StringVar(&kind, "kind", "", "the kind of login, when the mount takes several")
	})
	if !ok {
		return 2
	}
	if len(c.mounts) != 1 {
		fmt.Fprintln(stderr, "pandav login: name one mount, such as pandav login -c config.yaml /115")
		return 2
	}
	return c.withAdmin(stderr, func(ctx context.Context, s *adminSession) int {
		return login(ctx, s, c.mounts[0], kind, noQR, c.cfg.StateDir, stdout, stderr)
	})
}

// login logs mount in through s.
func login(ctx context.Context, s *adminSession, mount, kind string, noQR bool, stateDir string, stdout, stderr io.Writer) int {
	app := "the cloud's app"
	if ms, err := s.api.Mounts(ctx); err == nil {
		for _, m := range ms {
			if m.Path == mount && m.LoginApp != "" {
				app = m.LoginApp
			}
		}
	}
	l, err := s.api.StartLogin(ctx, mount, kind)
	if err != nil {
		fmt.Fprintf(stderr, "pandav login: %v\n", err)
		var e *admin.Error
		if errors.As(err, &e) && e.Status == http.StatusBadRequest {
			return 2
		}
		return 1
	}
	if noQR {
		fmt.Fprintf(stdout, "Open this link with %s:\n\n  %s\n\n", app, l.QR)
	} else {
		fmt.Fprintf(stdout, "Scan this code with %s:\n\n", app)
		if err := drawQR(stdout, l.QR); err != nil {
			fmt.Fprintf(stdout, "(the code cannot be drawn: %v)\n", err)
		}
		fmt.Fprintf(stdout, "\nor open its text with the app:\n\n  %s\n\n", l.QR)
	}
	if l.Expires != nil {
		fmt.Fprintf(stdout, "The code is valid until %s.\n", l.Expires.Local().Format("15:04:05"))
	}
	fmt.Fprintln(stdout, loginWords(l.State, app))
	for !admin.Ended(l.State) {
		next, err := s.api.Login(ctx, l.ID, l.State, 30*time.Second)
		if ctx.Err() != nil {
			cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			s.api.CancelLogin(cctx, l.ID)
			cancel()
			fmt.Fprintln(stderr, "pandav login: interrupted; the stored login is as it was")
			return 1
		}
		if err != nil {
			fmt.Fprintf(stderr, "pandav login: %v\n", err)
			return 1
		}
		if next.State == admin.StateFinished && l.State != admin.StateConfirmed {
			// Traded before a poll saw it confirmed.
			fmt.Fprintln(stdout, loginWords(admin.StateConfirmed, app))
		}
		if next.State != l.State && !admin.Ended(next.State) {
			fmt.Fprintln(stdout, loginWords(next.State, app))
		}
		l = next
	}
	switch l.State {
	case admin.StateFinished:
	case admin.StateFailed:
		fmt.Fprintf(stderr, "pandav login: %s; the stored login is as it was\n", l.Error)
		return 1
	default:
		fmt.Fprintf(stderr, "pandav login: %s\n", loginWords(l.State, app))
		return 1
	}
	as := ""
	if l.Account != "" {
		as = " as " + l.Account
	}
	if s.server != "" {
		fmt.Fprintf(stdout, "Logged in %s%s. The running pandav uses the new login now.\n", mount, as)
	} else {
		fmt.Fprintf(stdout, "Logged in %s%s. The login is stored in %s, where pandav serve will find it.\n", mount, as, stateDir)
	}
	return 0
}

// loginWords says a login's state in words; app is the app that scans.
func loginWords(state, app string) string {
	switch state {
	case admin.StateWaiting:
		return "waiting for you to scan the code with " + app
	case admin.StateScanned:
		return "scanned: confirm the login on your phone"
	case admin.StateConfirmed:
		return "confirmed"
	case admin.StateExpired:
		return "the code expired: run pandav login again"
	case admin.StateCancelled:
		return "cancelled in the app: the stored login is as it was"
	}
	return state
}

func hasMount(cfg *config.Config, path string) bool {
	for _, m := range cfg.Mounts {
		if m.Path == path {
			return true
		}
	}
	return false
}

func mountList(cfg *config.Config) string {
	if len(cfg.Mounts) == 0 {
		return "none"
	}
	paths := make([]string, len(cfg.Mounts))
	for i, m := range cfg.Mounts {
		paths[i] = m.Path
	}
	return strings.Join(paths, ", ")
}

// cmdCheck reports every mount's health, asking the running pandav when
// one holds state_dir, so that it never spends a refresh token the
// server holds. It exits 0 only when every mount is fine.
func cmdCheck(args []string, stdout, stderr io.Writer) int {
	var asJSON bool
	c, ok := parseCLI("check", args, stderr, func(fs *flag.FlagSet) {
		fs.BoolVar(&asJSON, "json", false, "print the report as JSON (docs/admin-api.md describes it)")
	})
	if !ok {
		return 2
	}
	return c.withAdmin(stderr, func(ctx context.Context, s *adminSession) int {
		return check(ctx, s, c.mounts, asJSON, stdout, stderr)
	})
}

// check reports the mounts' health through s.
func check(ctx context.Context, s *adminSession, mounts []string, asJSON bool, stdout, stderr io.Writer) int {
	rep, err := s.api.Check(ctx, mounts...)
	if err != nil {
		fmt.Fprintf(stderr, "pandav check: %v\n", err)
		return 1
	}
	if asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		enc.Encode(rep)
	} else {
		printReport(stdout, rep)
	}
	if !rep.OK {
		return 1
	}
	return 0
}

// printReport prints rep as an aligned table, then each problem.
func printReport(w io.Writer, rep admin.Report) {
	if len(rep.Mounts) == 0 {
		fmt.Fprintln(w, "no mounts are configured")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "MOUNT\tLOGIN\tACCOUNT\tVIP\tSPACE USED/TOTAL\tROOT\tTOKEN AGE\tSHARE")
	bad := 0
	for _, r := range rep.Mounts {
		if !r.OK {
			bad++
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Mount, loginText(r), orDash(r.Account), vipText(r), spaceText(r), rootText(r), tokenAgeText(r), orDash(r.Share))
	}
	tw.Flush()
	fmt.Fprintln(w)
	for _, r := range rep.Mounts {
		if !r.OK {
			fmt.Fprintf(w, "✗ %s\n", r.Problem)
		}
	}
	switch {
	case bad == 0 && len(rep.Mounts) == 1:
		fmt.Fprintln(w, "the mount is fine")
	case bad == 0:
		fmt.Fprintf(w, "all %d mounts are fine\n", len(rep.Mounts))
	default:
		fmt.Fprintf(w, "%d of %d mounts have a problem\n", bad, len(rep.Mounts))
	}
}

// loginText is how the mount's login stands, or each of its logins:
// "open: ok, web: none".
func loginText(r admin.CheckRow) string {
	if len(r.Logins) == 0 {
		return r.Login
	}
	parts := make([]string, len(r.Logins))
	for i, k := range r.Logins {
		parts[i] = k.Kind + ": " + k.Login
	}
	return strings.Join(parts, ", ")
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func vipText(r admin.CheckRow) string {
	switch {
	case r.VIP == "":
		return "-"
	case r.VIPExpires != nil:
		return r.VIP + " until " + r.VIPExpires.Local().Format("2006-01-02")
	}
	return r.VIP
}

func spaceText(r admin.CheckRow) string {
	if r.SpaceUsed == nil || r.SpaceTotal == nil {
		return "-"
	}
	return bytesText(*r.SpaceUsed) + " / " + bytesText(*r.SpaceTotal)
}

func rootText(r admin.CheckRow) string {
	switch {
	case r.RootListed:
		return fmt.Sprintf("listed in %d ms", r.RootMS)
	case r.RootError != "":
		return "failed"
	}
	return "-"
}

func tokenAgeText(r admin.CheckRow) string {
	if r.TokenAgeSeconds == nil {
		return "-"
	}
	return ageText(time.Duration(*r.TokenAgeSeconds) * time.Second)
}

// bytesText is n in binary units: 1.5 GiB.
func bytesText(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	v, i := float64(n), -1
	for v >= unit && i < 5 {
		v /= unit
		i++
	}
	return fmt.Sprintf("%.1f %ciB", v, "KMGTPE"[i])
}

// ageText is d roughly, in its two largest units: 3d 4h, 5m, 40s.
func ageText(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 24*time.Hour:
		return fmt.Sprintf("%dh %dm", int(d.Hours()), int(d.Minutes())%60)
	}
	return fmt.Sprintf("%dd %dh", int(d.Hours())/24, int(d.Hours())%24)
}
