package main

import (
	"context"
	"fmt"
	"io"
)

// workerCmd runs `proofline worker` (issue #5).
func workerCmd(ctx context.Context, args, environ []string, stdout, stderr io.Writer) int {
	fmt.Fprintln(stderr, "proofline worker: queue workers are not available in this build")
	return 2
}
