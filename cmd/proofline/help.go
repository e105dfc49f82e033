package main

import (
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/proofline/proofline/config"
)

// command describes one subcommand for its --help.
type command struct {
	name     string // "serve", "worker", "vendors check"
	synopsis string // the usage line's arguments
	about    string // what it does, a few lines
}

var (
	serveCommand = command{
		name:     "serve",
		synopsis: "[--addr 127.0.0.1:8080] [--config FILE]",
		about: `Runs the IdP-side server: the pages, the JSON API, the callback receiver
and, unless the configuration dispatches elsewhere, the in-process workers.
With no configuration it runs the embedded default (memory store, local
images, in-process workers, mock vendors, development secrets generated at
start) and prints a development API key once.`,
	}
	workerCommand = command{
		name:     "worker",
		synopsis: "[--addr 127.0.0.1:9090] [--config FILE]",
		about: `Runs a queue worker process (scale-out mode): consumes the per-kind queues,
runs each job, posts the result to base_url, and serves /healthz and
/metrics on --addr. It needs queue_redis_url, base_url, the three callback
tokens and data_dir (or S3), and refuses the servers' keys (record_keys,
session_secret, attempt_hash_key, api_keys, redis_url): each job's data key
is claimed from the servers. SIGTERM: stop taking jobs, drain, exit 0.`,
	}
	vendorsCheckCommand = command{
		name:     "vendors check",
		synopsis: "[--config FILE]",
		about: `Checks each configured vendor, one line per proofing step: what was checked
(its configuration, then a HEAD request to each endpoint over TLS, through
the outbound proxy when http_proxy/https_proxy/no_proxy select one) and ok
or FAIL with the reason. No PII and no credential is sent. Exit status 0
when every check passes, 1 when any fails, 2 for a configuration error.`,
	}
)

// parseFlags parses a subcommand's flags. --help (or -h) writes the
// command's help to stdout and ends the command with status 0; a bad flag
// ends it with status 2. done reports whether the command should return code.
func parseFlags(fs *flag.FlagSet, cmd command, args []string, stdout, stderr io.Writer) (code int, done bool) {
	fs.SetOutput(stderr)
	fs.Usage = func() {} // the flag package calls it for --help too; see below
	err := fs.Parse(args)
	if errors.Is(err, flag.ErrHelp) {
		if err := writeHelp(stdout, fs, cmd); err != nil {
			return 1, true
		}
		return 0, true
	}
	if err != nil { // the flag package has printed what was wrong
		fmt.Fprintf(stderr, "usage: proofline %s %s\n`proofline %s --help` lists the flags and every configuration key\n", cmd.name, cmd.synopsis, cmd.name)
		return 2, true
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "proofline %s: unexpected argument %q\n", cmd.name, fs.Arg(0))
		return 2, true
	}
	return 0, false
}

// writeHelp is a command's --help: usage, what it does, its flags, and
// every configuration key with its default and meaning (generated from
// config.Config, the one list of keys).
func writeHelp(w io.Writer, fs *flag.FlagSet, cmd command) error {
	fmt.Fprintf(w, "usage: proofline %s %s\n\n%s\n\nFlags:\n", cmd.name, cmd.synopsis, cmd.about)
	fs.VisitAll(func(f *flag.Flag) {
		arg, usage := flag.UnquoteUsage(f)
		fmt.Fprintf(w, "  --%s %s\n      %s", f.Name, arg, usage)
		if f.DefValue != "" {
			fmt.Fprintf(w, " (default %s)", f.DefValue)
		}
		fmt.Fprintln(w)
	})
	fmt.Fprintln(w)
	return config.WriteHelp(w)
}
