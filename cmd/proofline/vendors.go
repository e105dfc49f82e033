package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/proofline/proofline/app"
	"github.com/proofline/proofline/config"
)

const vendorsUsage = `usage: proofline vendors check [--config FILE]

Checks each configured vendor: its configuration, and that its endpoint
answers over TLS through the outbound proxy (http_proxy, https_proxy,
no_proxy). No PII and no credential is sent. One line per proofing step;
exit status 1 when any check fails, 2 for a configuration error.
` + "`proofline vendors check --help`" + ` lists every configuration key.
`

// vendorsCmd runs `proofline vendors check`.
func vendorsCmd(ctx context.Context, args, environ []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && (args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
		fmt.Fprint(stdout, vendorsUsage)
		return 0
	}
	if len(args) == 0 || args[0] != "check" {
		fmt.Fprint(stderr, vendorsUsage)
		return 2
	}
	fs := flag.NewFlagSet("vendors check", flag.ContinueOnError)
	cfgPath := fs.String("config", "", "YAML configuration `file` (the keys below); PROOFLINE_<KEY> environment variables override it")
	if code, done := parseFlags(fs, vendorsCheckCommand, args[1:], stdout, stderr); done {
		return code
	}
	cfg, err := config.Load(*cfgPath, environ)
	if err != nil {
		fmt.Fprintln(stderr, "proofline:", err)
		return 2
	}
	checks := app.CheckVendors(ctx, cfg, environ)
	failed := 0
	for _, c := range checks {
		fmt.Fprintln(stdout, checkLine(c))
		if !c.OK {
			failed++
		}
	}
	if failed > 0 {
		fmt.Fprintf(stdout, "%d of %d vendor checks FAILED\n", failed, len(checks))
		return 1
	}
	fmt.Fprintf(stdout, "all %d vendor checks ok\n", len(checks))
	return 0
}

// checkLine is one vendor's line: the step, the vendor, ok or FAIL with the
// reason, and what was checked.
func checkLine(c app.VendorCheck) string {
	verdict := "ok"
	switch {
	case !c.OK:
		verdict = "FAIL: " + c.Reason
	case !c.Mock:
		verdict = fmt.Sprintf("ok (%dms)", c.Took.Milliseconds())
	}
	return fmt.Sprintf("%s %s: %s; checked %s", c.Stage, c.Vendor, verdict, strings.Join(c.Checked, ", "))
}
