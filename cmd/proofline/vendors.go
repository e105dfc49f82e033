package main

import (
	"context"
	"fmt"
	"io"
)

// vendorsCmd runs `proofline vendors check` (issue #8).
func vendorsCmd(ctx context.Context, args, environ []string, stdout, stderr io.Writer) int {
	fmt.Fprintln(stderr, "proofline vendors: not available in this build")
	return 2
}
