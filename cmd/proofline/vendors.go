package main

import (
	"context"
	"flag"
	"fmt"
	"io"

	"github.com/proofline/proofline/app"
	"github.com/proofline/proofline/config"
)

const vendorsUsage = `usage: proofline vendors check [--config FILE]

Checks each configured vendor: its configuration, and that its endpoint
answers over TLS through the outbound proxy (http_proxy, https_proxy,
no_proxy). No PII and no credential is sent. One line per proofing step;
exit status 1 when any check fails, 2 for a configuration error.
`

// vendorsCmd runs `proofline vendors check`.
func vendorsCmd(ctx context.Context, args, environ []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "check" {
		fmt.Fprint(stderr, vendorsUsage)
		return 2
	}
	fs := flag.NewFlagSet("vendors check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", "", "YAML configuration file; PROOFLINE_<KEY> environment variables override it")
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "proofline vendors check: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	cfg, err := config.Load(*cfgPath, environ)
	if err != nil {
		fmt.Fprintln(stderr, "proofline:", err)
		return 2
	}
	code := 0
	for _, c := range app.CheckVendors(ctx, cfg, environ) {
		fmt.Fprintln(stdout, c.String())
		if !c.OK {
			code = 1
		}
	}
	return code
}
