package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"golang.org/x/term"

	"pandav/config"
	"pandav/internal/admin"
)

const offlineUsage = `Usage:
  pandav offline add   -c config.yaml [--to /115/folder] LINK... | - | FILE.torrent
  pandav offline list  -c config.yaml [--mount /115] [--watch]
  pandav offline rm    -c config.yaml [--mount /115] [--with-files] TASK...
  pandav offline clear -c config.yaml [--mount /115] --done|--failed|--running|--all [--with-files]
  pandav offline quota -c config.yaml [--mount /115]

A LINK is an HTTP(S), FTP, magnet or ed2k link; - reads links from
standard input, one a line; a .torrent, .magnet, .ed2k or .links path
names a local file to read. TASK is a task's ID, or a start of it.
`

// offlineCmd is a parsed offline command line.
type offlineCmd struct {
	cli                        cliCommand
	sub                        string
	args                       []string
	to, mount                  string
	watch, withFiles           bool
	done, failed, running, all bool
	interval                   time.Duration
	stdin                      io.Reader
	stdout, stderr             io.Writer
	terminal                   bool
}

// cmdOffline manages the cloud downloads of a mount whose cloud fetches
// links and torrents itself (115's 云下载), through the running pandav
// when one holds state_dir.
func cmdOffline(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stderr, offlineUsage)
		return 2
	}
	c := &offlineCmd{sub: args[0], stdin: stdin, stdout: stdout, stderr: stderr}
	if f, ok := stdout.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		c.terminal = true
	}
	name := "offline " + c.sub
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	f := &c.cli.flags
	fs.StringVar(&f.config, "c", "", "configuration file")
	fs.StringVar(&f.config, "config", "", "configuration file")
	fs.StringVar(&f.user, "user", "", "the admin user to ask a running pandav as (or "+envUser+"); the password comes from "+envPassword+" or the terminal")
	fs.StringVar(&f.logLevel, "log-level", "", "debug, info, warn or error, for the mounts opened when no server runs (default error)")
	fs.StringVar(&c.mount, "mount", "", "the mount whose tasks to manage, when several have cloud download")
	switch c.sub {
	case "add":
		fs.StringVar(&c.to, "to", "", "the folder the tasks save into, as a WebDAV path such as /115/films (default: the mount's root)")
	case "list":
		fs.BoolVar(&c.watch, "watch", false, "redraw the table until every task has ended")
		fs.DurationVar(&c.interval, "interval", 2*time.Second, "how often --watch asks")
	case "rm":
		fs.BoolVar(&c.withFiles, "with-files", false, "remove what the tasks downloaded too")
	case "clear":
		fs.BoolVar(&c.done, "done", false, "clear the tasks that are done")
		fs.BoolVar(&c.failed, "failed", false, "clear the tasks that failed")
		fs.BoolVar(&c.running, "running", false, "clear the tasks that are queued or downloading")
		fs.BoolVar(&c.all, "all", false, "clear every task")
		fs.BoolVar(&c.withFiles, "with-files", false, "remove what the cleared tasks downloaded too (with --done or --all)")
	case "quota":
	default:
		fmt.Fprintf(stderr, "pandav offline: unknown command %q\n\n%s", c.sub, offlineUsage)
		return 2
	}
	rest := args[1:]
	for {
		if err := fs.Parse(rest); err != nil {
			return 2
		}
		if fs.NArg() == 0 {
			break
		}
		c.args = append(c.args, fs.Arg(0))
		rest = fs.Args()[1:]
	}
	if f.config == "" {
		fmt.Fprintf(stderr, "pandav %s: -c config.yaml is required\n", name)
		return 2
	}
	if code := c.checkArgs(); code != 0 {
		return code
	}
	cfg, err := config.Load(f.config)
	if err != nil {
		fmt.Fprintf(stderr, "pandav %s: %s: %v\n", name, f.config, err)
		return 2
	}
	c.cli.name, c.cli.cfg = name, cfg
	return c.cli.withAdmin(stderr, func(ctx context.Context, s *adminSession) int {
		return c.run(ctx, s.api)
	})
}

// checkArgs refuses a command line that cannot work, before any mount
// is opened.
func (c *offlineCmd) checkArgs() int {
	name := "pandav offline " + c.sub
	switch c.sub {
	case "add":
		if len(c.args) == 0 {
			fmt.Fprintf(c.stderr, "%s: give links, - to read them from standard input, or a .torrent file\n", name)
			return 2
		}
	case "rm":
		if len(c.args) == 0 {
			fmt.Fprintf(c.stderr, "%s: name the tasks to remove (their IDs, as offline list shows them)\n", name)
			return 2
		}
	case "clear":
		n := 0
		for _, b := range []bool{c.done, c.failed, c.running, c.all} {
			if b {
				n++
			}
		}
		if n != 1 {
			fmt.Fprintf(c.stderr, "%s: give one of --done, --failed, --running and --all\n", name)
			return 2
		}
		if c.withFiles && !c.done && !c.all {
			fmt.Fprintf(c.stderr, "%s: --with-files goes only with --done or --all (the cloud removes only those tasks' files)\n", name)
			return 2
		}
	default:
		if len(c.args) > 0 {
			fmt.Fprintf(c.stderr, "%s: unexpected %q\n", name, c.args[0])
			return 2
		}
	}
	return 0
}

func (c *offlineCmd) run(ctx context.Context, api admin.API) int {
	switch c.sub {
	case "add":
		return c.add(ctx, api)
	case "list":
		return c.list(ctx, api)
	case "rm":
		res, err := api.RemoveDownloads(ctx, admin.RemoveDownloads{Mount: c.mount, Tasks: c.args, WithFiles: c.withFiles})
		if err != nil {
			return c.fail(err)
		}
		what := "removed task"
		if c.withFiles {
			what = "removed, with its files, task"
		}
		for _, id := range res.Tasks {
			fmt.Fprintf(c.stdout, "%s %s\n", what, id)
		}
		return 0
	case "clear":
		which := map[bool]string{c.done: "done", c.failed: "failed", c.running: "running", c.all: "all"}[true]
		if err := api.ClearDownloads(ctx, admin.ClearDownloads{Mount: c.mount, Which: which, WithFiles: c.withFiles}); err != nil {
			return c.fail(err)
		}
		files := ""
		if c.withFiles {
			files = ", and their files"
		}
		fmt.Fprintf(c.stdout, "cleared the %s tasks%s\n", which, files)
		return 0
	case "quota":
		q, err := api.DownloadQuota(ctx, c.mount)
		if err != nil {
			return c.fail(err)
		}
		fmt.Fprintf(c.stdout, "cloud download quota of %s: %d used, %d left of %d\n", q.Mount, q.Used, q.Left, q.Total)
		for _, p := range q.Packages {
			fmt.Fprintf(c.stdout, "  %s: %d used, %d left of %d\n", p.Name, p.Used, p.Left, p.Total)
			for _, e := range p.Expiries {
				if e.Expires != nil {
					fmt.Fprintf(c.stdout, "    %d expire %s\n", e.Left, e.Expires.Local().Format("2006-01-02"))
				}
			}
		}
		return 0
	}
	return 2
}

// fail says err and returns the exit code: 2 for what the command line
// got wrong, 1 for the rest.
func (c *offlineCmd) fail(err error) int {
	fmt.Fprintf(c.stderr, "pandav offline %s: %v\n", c.sub, err)
	var e *admin.Error
	if errors.As(err, &e) && e.Status == http.StatusBadRequest {
		return 2
	}
	return 1
}

// linkFiles are the local files whose lines are links.
var linkFiles = map[string]bool{".magnet": true, ".ed2k": true, ".links": true}

func (c *offlineCmd) add(ctx context.Context, api admin.API) int {
	var links []string
	var torrents []string
	for _, a := range c.args {
		ext := strings.ToLower(filepath.Ext(a))
		switch {
		case a == "-":
			links = append(links, linesOf(c.stdin)...)
		case ext == ".torrent" && !strings.Contains(a, "://"):
			torrents = append(torrents, a)
		case linkFiles[ext] && !strings.Contains(a, ":/"):
			f, err := os.Open(a)
			if err != nil {
				fmt.Fprintf(c.stderr, "pandav offline add: %v\n", err)
				return 2
			}
			links = append(links, linesOf(f)...)
			f.Close()
		default:
			links = append(links, a)
		}
	}
	code := 0
	if len(links) > 0 {
		res, err := api.AddDownloads(ctx, admin.AddDownloads{To: c.to, Links: links})
		if err != nil {
			return c.fail(err)
		}
		code = max(code, c.report(res))
	} else if len(torrents) == 0 {
		fmt.Fprintln(c.stderr, "pandav offline add: no links given")
		return 2
	}
	for _, p := range torrents {
		data, err := os.ReadFile(p)
		if err != nil {
			fmt.Fprintf(c.stderr, "pandav offline add: %v\n", err)
			code = 1
			continue
		}
		res, err := api.AddDownloads(ctx, admin.AddDownloads{To: c.to, Torrent: data, TorrentName: filepath.Base(p)})
		if err != nil {
			return c.fail(err)
		}
		code = max(code, c.report(res))
	}
	return code
}

// report prints what became of each link: added ones on stdout, refused
// ones on stderr with why.
func (c *offlineCmd) report(res admin.AddedDownloads) int {
	code := 0
	for _, r := range res.Results {
		switch {
		case r.Error != "":
			fmt.Fprintf(c.stderr, "pandav offline add: %s was not added: %s\n", r.Link, r.Error)
			code = 1
		case r.Existed:
			fmt.Fprintf(c.stdout, "already in the task list: %s (task %s)\n", r.Link, orDash(r.Task))
		default:
			fmt.Fprintf(c.stdout, "added into %s: %s (task %s)\n", res.Folder, r.Link, r.Task)
		}
	}
	return code
}

// linesOf reads the links of r, one a line, without blanks and # notes.
func linesOf(r io.Reader) []string {
	var out []string
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" && !strings.HasPrefix(l, "#") {
			out = append(out, l)
		}
	}
	return out
}

func (c *offlineCmd) list(ctx context.Context, api admin.API) int {
	drawn := 0
	last := ""
	for {
		l, err := api.Downloads(ctx, c.mount)
		if err != nil {
			return c.fail(err)
		}
		table := taskTable(l)
		switch {
		case c.terminal && drawn > 0:
			// Up to where the last table began, and clear below.
			fmt.Fprintf(c.stdout, "\x1b[%dA\x1b[J%s", drawn, table)
		case table != last:
			if last != "" {
				fmt.Fprintln(c.stdout)
			}
			fmt.Fprint(c.stdout, table)
		}
		drawn, last = strings.Count(table, "\n"), table
		if !c.watch || allEnded(l.Tasks) {
			return 0
		}
		select {
		case <-ctx.Done():
			return 1
		case <-time.After(c.interval):
		}
	}
}

func allEnded(tasks []admin.DownloadTask) bool {
	for _, t := range tasks {
		if !admin.TaskEnded(t.Status) {
			return false
		}
	}
	return true
}

// taskTable is the tasks as a table, with a progress bar each.
func taskTable(l admin.DownloadList) string {
	var b strings.Builder
	if len(l.Tasks) == 0 {
		fmt.Fprintf(&b, "%s has no cloud-download tasks\n", l.Mount)
		return b.String()
	}
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TASK\tSTATUS\tPROGRESS\tSIZE\tNAME\tFOLDER")
	for _, t := range l.Tasks {
		size := "-"
		if t.Size > 0 {
			size = bytesText(t.Size)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", shortID(t.ID), t.Status, progressBar(t.Percent, t.Status), size, t.Name, orDash(t.Folder))
	}
	tw.Flush()
	return b.String()
}

// shortID is the start of a task ID that offline rm takes.
func shortID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

// progressBar draws a percentage as [#####-----] 50%.
func progressBar(pct float64, status string) string {
	const width = 20
	n := int(pct / 100 * width)
	n = min(max(n, 0), width)
	mark := "#"
	if status == "failed" {
		mark = "x"
	}
	return fmt.Sprintf("[%s%s] %5.1f%%", strings.Repeat(mark, n), strings.Repeat("-", width-n), pct)
}
