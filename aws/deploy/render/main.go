// Command render is the packaging helper `make package` runs:
//
//	go run ./aws/deploy/render zip -o dist/x.zip dist/build/bootstrap
//	go run ./aws/deploy/render template -ref <git ref> -code x.zip [-arch arm64] [-deadline 60]
//	    [-mock] [-proxy] [-env key=value]... [-keep alias=version]... -o dist/template.yaml
//
// zip writes a deterministic archive holding one executable named bootstrap;
// template renders the SAM template (package deploy).
package main

import (
	"archive/zip"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/proofline/proofline/aws/deploy"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "render:", err)
		os.Exit(1)
	}
}

type pairs map[string]string

func (p pairs) String() string { return fmt.Sprint(map[string]string(p)) }
func (p pairs) Set(s string) error {
	k, v, ok := strings.Cut(s, "=")
	if !ok || k == "" {
		return fmt.Errorf("want key=value")
	}
	p[k] = v
	return nil
}

func run(args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("usage: render zip|template [flags]")
	}
	switch args[0] {
	case "zip":
		fs := flag.NewFlagSet("zip", flag.ContinueOnError)
		out := fs.String("o", "", "output .zip")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		if *out == "" || fs.NArg() != 1 {
			return fmt.Errorf("usage: render zip -o out.zip path/to/bootstrap")
		}
		return zipBootstrap(*out, fs.Arg(0))
	case "template":
		fs := flag.NewFlagSet("template", flag.ContinueOnError)
		var p deploy.Params
		env, keep := pairs{}, pairs{}
		fs.StringVar(&p.GitRef, "ref", "", "git ref of the build")
		fs.StringVar(&p.CodeURI, "code", "", "zipped bootstrap, relative to the template")
		fs.StringVar(&p.Architecture, "arch", "arm64", "arm64 or x86_64")
		fs.IntVar(&p.DeadlineSeconds, "deadline", 60, "proofing deadline in seconds (MaximumEventAge)")
		fs.IntVar(&p.MemoryMB, "memory", 512, "function memory in MB")
		fs.BoolVar(&p.Mock, "mock", false, "add the ...MockFunction variants")
		fs.BoolVar(&p.Proxy, "proxy", false, "set the outbound proxy from /{env}/idp/doc-capture/{http,https,no}_proxy")
		fs.Var(env, "env", "non-secret config key=value for the real functions (repeatable)")
		fs.Var(keep, "keep", "alias=version of an earlier build to keep (repeatable)")
		out := fs.String("o", "", "output file (default stdout)")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		p.Env = env
		for name, version := range keep {
			p.Keep = append(p.Keep, deploy.KeptAlias{Name: name, Version: version})
		}
		b, err := deploy.Render(p)
		if err != nil {
			return err
		}
		if *out == "" {
			_, err = os.Stdout.Write(b)
			return err
		}
		return os.WriteFile(*out, b, 0o644)
	}
	return fmt.Errorf("unknown command %q", args[0])
}

func zipBootstrap(out, bin string) error {
	in, err := os.Open(bin)
	if err != nil {
		return err
	}
	defer in.Close()
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	zw := zip.NewWriter(f)
	h := &zip.FileHeader{Name: "bootstrap", Method: zip.Deflate, Modified: time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)}
	h.SetMode(0o755)
	w, err := zw.CreateHeader(h)
	if err == nil {
		_, err = io.Copy(w, in)
	}
	if cerr := zw.Close(); err == nil {
		err = cerr
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
