// Command submit submits jetrun jobs and follows them.
//
//	submit upload-repo URL --collection C [--ref R] [--include G] [--wait]
//	submit upload-file PATH|URL --collection C [--wait]
//	submit collection create|delete|list|info [NAME] [--dense N] [--sparse]
//	submit search --collection C QUERY...
//	submit smoke [--sleep D] [--progress N] [--exit-code N] ... [--wait]
//	submit job KIND --params JSON [--wait]     any kind, params as JSON
//	submit status ID
//	submit list [--state S,...] [--kind K] [--limit N]
//	submit watch ID | --all [--type failed,dead] [--since 1h] [--webhook URL]
//	submit cancel ID [--reason R] [--wait]
//	submit logs ID [--follow] [--attempt N]
//
// Every command takes the NATS connection flags (--nats-url, env NATS_URL,
// ...), --prefix and --output text|json.
//
// Exit codes: 0 success; 1 the job failed (dead or rejected); 2 usage;
// 3 the job was cancelled; 4 any other error (NATS unreachable, ...).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/jetrun/jetrun/pkg/client"
	"github.com/jetrun/jetrun/pkg/jobs"
	"github.com/jetrun/jetrun/pkg/messages"
	"github.com/jetrun/jetrun/pkg/natsconn"
	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"
	"golang.org/x/term"
)

// Exit codes.
const (
	exitOK        = 0
	exitFailed    = 1
	exitUsage     = 2
	exitCancelled = 3
	exitError     = 4
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr))
}

const usage = `usage: submit <command> [flags]

commands:
  upload-repo  index a git repository into a collection: upload-repo URL --collection C [--wait]
  upload-file  index a file or archive (uploaded for the worker): upload-file PATH|URL --collection C [--wait]
  collection   create, delete, list or inspect collections: collection create C --dense 1024 --sparse
  search       search a collection: search --collection C "how are retries scheduled"
  smoke      submit the diagnostic job (tests a runtime end to end)
  job        submit a job of any kind: submit job KIND --params '{...}'
  status     show a job's record
  list       list jobs
  watch      follow a job's events (history first), or all jobs' with --all
  cancel     cancel a job
  logs       print a job's output
  dispatchers  list the live dispatchers, their runtimes and load

Run 'submit <command> --help' for its flags.
Exit codes: 0 success, 1 job failed, 2 usage, 3 job cancelled, 4 other error.
`

// app is one invocation's shared state.
type app struct {
	getenv         func(string) string
	stdout, stderr io.Writer
	nats           natsconn.Options
	prefix         string
	output         string
	tty            bool
}

func (a *app) flags(name string) *flag.FlagSet {
	fs := flag.NewFlagSet("submit "+name, flag.ContinueOnError)
	fs.SetOutput(a.stderr)
	a.nats.RegisterFlags(fs, a.getenv)
	fs.StringVar(&a.prefix, "prefix", envOr(a.getenv, "JETRUN_PREFIX", messages.DefaultPrefix), "subject prefix of the installation (env JETRUN_PREFIX)")
	fs.StringVar(&a.output, "output", "text", "output format: text or json")
	return fs
}

func (a *app) connect() (*nats.Conn, *client.Client, error) {
	names, err := messages.NewNames(a.prefix)
	if err != nil {
		return nil, nil, err
	}
	a.nats.Name = "jetrun-submit"
	a.nats.MaxReconnects = 5
	nc, err := a.nats.Connect(zerolog.New(a.stderr).Level(zerolog.WarnLevel))
	if err != nil {
		return nil, nil, fmt.Errorf("connect to NATS (%s): %w", a.nats.String(), err)
	}
	c, err := client.New(nc, client.WithNames(names))
	if err != nil {
		nc.Close()
		return nil, nil, err
	}
	return nc, c, nil
}

func envOr(getenv func(string) string, key, def string) string {
	if v := getenv(key); v != "" {
		return v
	}
	return def
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	a := &app{getenv: getenv, stdout: stdout, stderr: stderr}
	if f, ok := stdout.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		a.tty = true
	}
	cmds := map[string]func(context.Context, []string) int{
		"smoke": a.smoke, "job": a.job, "status": a.status, "list": a.list,
		"watch": a.watch, "cancel": a.cancel, "logs": a.logs, "dispatchers": a.dispatchers,
		"upload-repo": a.uploadRepo, "upload-file": a.uploadFile, "collection": a.collection, "search": a.search,
	}
	switch args[0] {
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return exitOK
	}
	cmd, ok := cmds[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "submit: unknown command %q\n\n%s", args[0], usage)
		return exitUsage
	}
	return cmd(ctx, args[1:])
}

// fail prints err and maps it to an exit code.
func (a *app) fail(err error) int {
	fmt.Fprintln(a.stderr, "submit:", err)
	if errors.Is(err, messages.ErrInvalid) || errors.Is(err, jobs.ErrInvalidParams) || errors.Is(err, flag.ErrHelp) {
		return exitUsage
	}
	return exitError
}

func (a *app) parse(fs *flag.FlagSet, args []string) (int, bool) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK, false
		}
		return exitUsage, false
	}
	if a.output != "text" && a.output != "json" {
		fmt.Fprintf(a.stderr, "submit: --output %q: want text or json\n", a.output)
		return exitUsage, false
	}
	return 0, true
}

// submission holds the flags common to every submitting command.
type submission struct {
	id, name, runtime    string
	cpu, memory, timeout string
	maxRetries           int
	labels               labelFlag
	wait                 bool
	waitTimeout          time.Duration
}

type labelFlag map[string]string

func (l labelFlag) String() string { return fmt.Sprint(map[string]string(l)) }
func (l labelFlag) Set(s string) error {
	k, v, ok := strings.Cut(s, "=")
	if !ok {
		return fmt.Errorf("want key=value")
	}
	l[k] = v
	return nil
}

func (s *submission) register(fs *flag.FlagSet) {
	s.labels = labelFlag{}
	fs.StringVar(&s.id, "id", "", "job id (default: a new ULID); resubmitting an id never runs it twice")
	fs.StringVar(&s.name, "name", "", "human-readable job name")
	fs.StringVar(&s.runtime, "runtime", "", "runtime to run on (default: the dispatcher's)")
	fs.StringVar(&s.cpu, "cpu", "", "CPU request, e.g. 2 or 500m (default: the kind's)")
	fs.StringVar(&s.memory, "memory", "", "memory request, e.g. 4Gi (default: the kind's)")
	fs.StringVar(&s.timeout, "timeout", "", "timeout of one attempt, e.g. 30m (default: the kind's)")
	fs.IntVar(&s.maxRetries, "max-retries", -1, "retries after a failed attempt, 0-20 (default: the dispatcher's)")
	fs.Var(s.labels, "label", "label key=value (repeatable)")
	fs.BoolVar(&s.wait, "wait", false, "wait for the job to finish, showing progress; exit code reflects the result")
	fs.DurationVar(&s.waitTimeout, "wait-timeout", 0, "give up waiting after this long (default: no limit)")
}

func (a *app) submit(ctx context.Context, kind string, params json.RawMessage, s *submission) int {
	_, code := a.submitJob(ctx, kind, params, s)
	return code
}

// submitJob submits, follows the job with --wait, and returns its id and
// the exit code.
func (a *app) submitJob(ctx context.Context, kind string, params json.RawMessage, s *submission) (string, int) {
	sub := messages.Submission{V: messages.Version, JobID: s.id, Kind: kind, Name: s.name, Params: params,
		Runtime: s.runtime, Resources: messages.Resources{CPU: s.cpu, Memory: s.memory, Timeout: s.timeout}}
	if s.maxRetries >= 0 {
		n := s.maxRetries
		sub.MaxRetries = &n
	}
	if len(s.labels) > 0 {
		sub.Labels = s.labels
	}
	nc, c, err := a.connect()
	if err != nil {
		return "", a.fail(err)
	}
	defer nc.Close()
	id, err := c.Submit(ctx, sub)
	if err != nil {
		return "", a.fail(err)
	}
	if a.output == "json" {
		if !s.wait {
			a.printJSON(map[string]string{"job_id": id, "kind": kind})
		}
	} else {
		fmt.Fprintf(a.stderr, "submitted %s job %s\n", kind, id)
		if !s.wait {
			fmt.Fprintln(a.stdout, id)
		}
	}
	if !s.wait {
		return id, exitOK
	}
	if s.waitTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, s.waitTimeout)
		defer cancel()
	}
	return id, a.follow(ctx, c, id)
}

// follow shows a job's events until it ends and returns the exit code of
// its result.
func (a *app) follow(ctx context.Context, c *client.Client, id string) int {
	view := newProgressView(a.stdout, a.tty && a.output == "text")
	last, err := c.Watch(ctx, id, func(ev messages.Event) error {
		if a.output == "json" {
			a.printJSON(ev)
			return nil
		}
		view.event(ev)
		return nil
	})
	view.done()
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			fmt.Fprintf(a.stderr, "submit: gave up waiting for %s (it goes on; see 'submit status %s')\n", id, id)
		}
		return a.fail(err)
	}
	return exitCode(last)
}

func exitCode(ev messages.Event) int {
	switch ev.Type {
	case messages.EventSucceeded:
		return exitOK
	case messages.EventCancelled:
		return exitCancelled
	}
	return exitFailed
}

func (a *app) smoke(ctx context.Context, args []string) int {
	fs := a.flags("smoke")
	var s submission
	s.register(fs)
	var p jobs.SmokeParams
	p.RegisterFlags(fs)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), "usage: submit smoke [flags]\n\nSubmits the diagnostic job: it exercises queue, dispatcher, runtime, worker\nand events without touching any data store. With --runtime NAME --wait it\ntells whether that runtime is set up right.\n\nflags:\n")
		fs.PrintDefaults()
	}
	if code, ok := a.parse(fs, args); !ok {
		return code
	}
	if err := p.Validate(); err != nil {
		return a.fail(err)
	}
	params, _ := json.Marshal(p)
	return a.submit(ctx, "smoke", params, &s)
}

func (a *app) job(ctx context.Context, args []string) int {
	fs := a.flags("job")
	var s submission
	s.register(fs)
	params := fs.String("params", "{}", "the kind's params as a JSON object")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), "usage: submit job KIND [--params JSON] [flags]\n\nflags:\n")
		fs.PrintDefaults()
	}
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		fs.Usage()
		return exitUsage
	}
	kind := args[0]
	if code, ok := a.parse(fs, args[1:]); !ok {
		return code
	}
	if !json.Valid([]byte(*params)) {
		return a.fail(fmt.Errorf("%w: --params is not valid JSON", messages.ErrInvalid))
	}
	return a.submit(ctx, kind, json.RawMessage(*params), &s)
}

// oneID parses flags and requires exactly one job id argument (before or
// after the flags).
func (a *app) oneID(fs *flag.FlagSet, args []string) (string, int, bool) {
	var id string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		id, args = args[0], args[1:]
	}
	if code, ok := a.parse(fs, args); !ok {
		return "", code, false
	}
	if id == "" && fs.NArg() == 1 {
		id = fs.Arg(0)
	}
	if id == "" {
		fs.Usage()
		return "", exitUsage, false
	}
	return id, 0, true
}

func (a *app) status(ctx context.Context, args []string) int {
	fs := a.flags("status")
	fs.Usage = func() { fmt.Fprint(fs.Output(), "usage: submit status ID [flags]\n\nflags:\n"); fs.PrintDefaults() }
	id, code, ok := a.oneID(fs, args)
	if !ok {
		return code
	}
	nc, c, err := a.connect()
	if err != nil {
		return a.fail(err)
	}
	defer nc.Close()
	rec, err := c.Status(ctx, id)
	if err != nil {
		return a.fail(err)
	}
	if a.output == "json" {
		a.printJSON(rec)
		return exitOK
	}
	w := a.stdout
	fmt.Fprintf(w, "job       %s\nkind      %s\nstate     %s\n", rec.JobID, rec.Kind, rec.State)
	if rec.Name != "" {
		fmt.Fprintf(w, "name      %s\n", rec.Name)
	}
	if rec.Desired != "" {
		fmt.Fprintf(w, "desired   %s\n", rec.Desired)
	}
	fmt.Fprintf(w, "attempt   %d of %d\n", rec.Attempt, rec.MaxRetries+1)
	if rec.Runtime != "" {
		fmt.Fprintf(w, "runtime   %s\n", rec.Runtime)
	}
	if rec.Handle != nil {
		fmt.Fprintf(w, "handle    %s\n", rec.Handle.Name)
	}
	if rec.Owner != "" {
		fmt.Fprintf(w, "owner     %s\n", rec.Owner)
	}
	fmt.Fprintf(w, "created   %s\n", rec.Created.Local().Format(time.RFC3339))
	if !rec.Finished.IsZero() {
		fmt.Fprintf(w, "finished  %s (%s)\n", rec.Finished.Local().Format(time.RFC3339), rec.Finished.Sub(rec.Created).Round(time.Millisecond))
	}
	if !rec.NextRetry.IsZero() {
		fmt.Fprintf(w, "next try  %s\n", rec.NextRetry.Local().Format(time.RFC3339))
	}
	if rec.ExitCode != nil {
		fmt.Fprintf(w, "exit code %d\n", *rec.ExitCode)
	}
	if rec.Error != "" {
		fmt.Fprintf(w, "error     %s\n", rec.Error)
	}
	return exitOK
}

func (a *app) list(ctx context.Context, args []string) int {
	fs := a.flags("list")
	state := fs.String("state", "", "only jobs in these states, comma-separated ("+joinStates()+")")
	kind := fs.String("kind", "", "only jobs of this kind")
	limit := fs.Int("limit", 50, "at most this many jobs, newest first")
	if code, ok := a.parse(fs, args); !ok {
		return code
	}
	var opts client.ListOptions
	opts.Kind, opts.Limit = *kind, *limit
	if *state != "" {
		for _, s := range strings.Split(*state, ",") {
			st := messages.State(strings.TrimSpace(s))
			if !st.Valid() {
				return a.fail(fmt.Errorf("%w: state %q (want %s)", messages.ErrInvalid, st, joinStates()))
			}
			opts.States = append(opts.States, st)
		}
	}
	nc, c, err := a.connect()
	if err != nil {
		return a.fail(err)
	}
	defer nc.Close()
	recs, err := c.List(ctx, opts)
	if err != nil {
		return a.fail(err)
	}
	if a.output == "json" {
		if recs == nil {
			recs = []messages.Record{}
		}
		a.printJSON(recs)
		return exitOK
	}
	fmt.Fprintf(a.stdout, "%-28s %-12s %-10s %-7s %-20s %s\n", "JOB", "KIND", "STATE", "ATTEMPT", "CREATED", "ERROR")
	for _, r := range recs {
		fmt.Fprintf(a.stdout, "%-28s %-12s %-10s %-7d %-20s %s\n", r.JobID, r.Kind, r.State, r.Attempt,
			r.Created.Local().Format("2006-01-02 15:04:05"), oneLine(r.Error, 60))
	}
	return exitOK
}

func joinStates() string {
	var s []string
	for _, st := range messages.States {
		s = append(s, string(st))
	}
	return strings.Join(s, ", ")
}

func oneLine(s string, n int) string {
	s = strings.ReplaceAll(s, "\n", " ")
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

func (a *app) watch(ctx context.Context, args []string) int {
	fs := a.flags("watch")
	all := fs.Bool("all", false, "follow every job's events (new ones; see --since)")
	typ := fs.String("type", "", "only these event types, comma-separated (with --all)")
	since := fs.Duration("since", 0, "with --all, replay events of the last DURATION first")
	webhook := fs.String("webhook", "", "POST each matching event as JSON to this URL (with --all)")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), "usage: submit watch ID [flags]\n       submit watch --all [--type failed,dead] [--since 1h] [--webhook URL]\n\nflags:\n")
		fs.PrintDefaults()
	}
	var id string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		id, args = args[0], args[1:]
	}
	if code, ok := a.parse(fs, args); !ok {
		return code
	}
	if id == "" && fs.NArg() == 1 {
		id = fs.Arg(0)
	}
	if (id == "") == !*all {
		fs.Usage()
		return exitUsage
	}
	nc, c, err := a.connect()
	if err != nil {
		return a.fail(err)
	}
	defer nc.Close()
	if id != "" {
		return a.follow(ctx, c, id)
	}
	var opts client.WatchOptions
	if *typ != "" {
		for _, t := range strings.Split(*typ, ",") {
			et := messages.EventType(strings.TrimSpace(t))
			if !et.Valid() {
				return a.fail(fmt.Errorf("%w: event type %q", messages.ErrInvalid, et))
			}
			opts.Types = append(opts.Types, et)
		}
	}
	if *since > 0 {
		opts.Since = time.Now().Add(-*since)
	}
	var hook *webhookSender
	if *webhook != "" {
		if hook, err = newWebhookSender(*webhook); err != nil {
			return a.fail(err)
		}
		fmt.Fprintf(a.stderr, "forwarding matching events to %s\n", hook.display)
	}
	view := newProgressView(a.stdout, false)
	err = c.WatchAll(ctx, opts, func(ev messages.Event) error {
		if a.output == "json" {
			a.printJSON(ev)
		} else {
			view.line(ev)
		}
		if hook != nil {
			if err := hook.send(ctx, ev); err != nil {
				fmt.Fprintf(a.stderr, "submit: webhook: %v\n", err)
			}
		}
		return nil
	})
	if err != nil {
		return a.fail(err)
	}
	return exitOK
}

func (a *app) cancel(ctx context.Context, args []string) int {
	fs := a.flags("cancel")
	reason := fs.String("reason", "", "why (logged by the dispatcher)")
	wait := fs.Bool("wait", false, "wait until the job has ended")
	fs.Usage = func() { fmt.Fprint(fs.Output(), "usage: submit cancel ID [flags]\n\nflags:\n"); fs.PrintDefaults() }
	id, code, ok := a.oneID(fs, args)
	if !ok {
		return code
	}
	nc, c, err := a.connect()
	if err != nil {
		return a.fail(err)
	}
	defer nc.Close()
	r, err := c.Cancel(ctx, id, *reason)
	if err != nil {
		return a.fail(err)
	}
	if a.output == "json" && !*wait {
		a.printJSON(r)
	} else if a.output == "text" {
		fmt.Fprintf(a.stdout, "cancel of %s recorded (state %s)\n", id, r.State)
	}
	if !*wait {
		return exitOK
	}
	return a.follow(ctx, c, id)
}

func (a *app) logs(ctx context.Context, args []string) int {
	fs := a.flags("logs")
	follow := fs.Bool("follow", false, "keep printing until the job ends")
	attempt := fs.Int("attempt", 0, "attempt to show (default: the latest)")
	fs.Usage = func() { fmt.Fprint(fs.Output(), "usage: submit logs ID [flags]\n\nflags:\n"); fs.PrintDefaults() }
	id, code, ok := a.oneID(fs, args)
	if !ok {
		return code
	}
	nc, c, err := a.connect()
	if err != nil {
		return a.fail(err)
	}
	defer nc.Close()
	if err := c.Logs(ctx, id, client.LogsOptions{Follow: *follow, Attempt: *attempt}, a.stdout); err != nil {
		return a.fail(err)
	}
	return exitOK
}

func (a *app) dispatchers(ctx context.Context, args []string) int {
	fs := a.flags("dispatchers")
	if code, ok := a.parse(fs, args); !ok {
		return code
	}
	nc, c, err := a.connect()
	if err != nil {
		return a.fail(err)
	}
	defer nc.Close()
	ds, err := c.Dispatchers(ctx)
	if err != nil {
		return a.fail(err)
	}
	if a.output == "json" {
		if ds == nil {
			ds = []messages.Dispatcher{}
		}
		a.printJSON(ds)
		return exitOK
	}
	fmt.Fprintf(a.stdout, "%-28s %-20s %-8s %-24s %s\n", "DISPATCHER", "HOST", "RUNNING", "RUNTIMES (DEFAULT)", "UP")
	for _, d := range ds {
		fmt.Fprintf(a.stdout, "%-28s %-20s %-8s %-24s %s\n", d.ID, oneLine(d.Host, 20), fmt.Sprintf("%d/%d", d.Running, d.Concurrency),
			strings.Join(d.Runtimes, ",")+" ("+d.Default+")", time.Since(d.Started).Round(time.Second))
	}
	return exitOK
}

func (a *app) printJSON(v any) {
	b, _ := json.Marshal(v)
	fmt.Fprintln(a.stdout, string(b))
}
