// Command mutationtable prints the table of make mutation from gremlins'
// JSON reports: per package, killed, lived, not covered and timed out
// mutants, efficacy (killed ÷ (killed + lived)) and mutant coverage
// ((killed + lived) ÷ (killed + lived + not covered)), each against the
// targets (90% and 85%), then every mutant that lived, by file and line.
//
//	go run ./.ci/mutationtable artifacts/mutation/*.json
//
// A report is named after its row, with "-" for "/" (proofing-verification.json).
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

const (
	targetEfficacy = 90.0
	targetCoverage = 85.0
)

type report struct {
	Files []struct {
		FileName  string `json:"file_name"`
		Mutations []struct {
			Type   string `json:"type"`
			Status string `json:"status"`
			Line   int    `json:"line"`
			Column int    `json:"column"`
		} `json:"mutations"`
	} `json:"files"`
}

type row struct {
	name                                string
	killed, lived, notCovered, timedOut int
	survivors                           []string
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: mutationtable REPORT.json ...")
		os.Exit(2)
	}
	var rows []row
	for _, path := range os.Args[1:] {
		r, err := read(path)
		if err != nil {
			fmt.Fprintf(os.Stderr, "mutationtable: %s: %v\n", path, err)
			os.Exit(1)
		}
		rows = append(rows, r)
	}
	fmt.Println()
	fmt.Println("| package | killed | lived | not covered | timed out | efficacy (≥ 90%) | mutant coverage (≥ 85%) |")
	fmt.Println("|---|---|---|---|---|---|---|")
	failing := 0
	for _, r := range rows {
		eff := pct(r.killed, r.killed+r.lived)
		cov := pct(r.killed+r.lived, r.killed+r.lived+r.notCovered)
		mark := func(v, target float64) string {
			if v < target {
				failing++
				return fmt.Sprintf("**%.1f%%** (not met)", v)
			}
			return fmt.Sprintf("%.1f%%", v)
		}
		fmt.Printf("| `%s` | %d | %d | %d | %d | %s | %s |\n", r.name, r.killed, r.lived, r.notCovered, r.timedOut,
			mark(eff, targetEfficacy), mark(cov, targetCoverage))
	}
	fmt.Println()
	for _, r := range rows {
		if len(r.survivors) == 0 {
			continue
		}
		fmt.Printf("lived in %s:\n", r.name)
		for _, s := range r.survivors {
			fmt.Printf("  %s\n", s)
		}
	}
	if failing > 0 {
		fmt.Printf("\n%d figures below target (docs/testing.md lists the mutants judged equivalent)\n", failing)
	} else {
		fmt.Println("\nevery package meets both targets")
	}
}

func read(path string) (row, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return row{}, err
	}
	var rep report
	if err := json.Unmarshal(b, &rep); err != nil {
		return row{}, err
	}
	name := strings.ReplaceAll(strings.TrimSuffix(filepath.Base(path), ".json"), "-", "/")
	r := row{name: name}
	dir := name + "/"
	if name == "root" {
		dir = ""
	}
	for _, f := range rep.Files {
		for _, m := range f.Mutations {
			switch m.Status {
			case "KILLED":
				r.killed++
			case "LIVED":
				r.lived++
				r.survivors = append(r.survivors, fmt.Sprintf("%s%s:%d:%d %s", dir, f.FileName, m.Line, m.Column, m.Type))
			case "NOT COVERED":
				r.notCovered++
			case "TIMED OUT":
				r.timedOut++
			}
		}
	}
	return r, nil
}

func pct(a, b int) float64 {
	if b == 0 {
		return 100
	}
	return 100 * float64(a) / float64(b)
}
