package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"time"
)

// serverLog is what the child's JSON log (its stderr) says about the run.
type serverLog struct {
	// received maps result_id to the times of its "result received" lines:
	// the callback was stored, just before the handler answers 204.
	received   map[string][]time.Time
	duplicates int // "duplicate callback refused"
	late       int // "late callback refused"
	errors     int // level ERROR lines
	lines      int
}

var (
	msgReceived  = []byte(`"msg":"result received"`)
	msgDuplicate = []byte(`"msg":"duplicate callback refused"`)
	msgLate      = []byte(`"msg":"late callback refused"`)
	levelError   = []byte(`"level":"ERROR"`)
)

// scanServerLog reads the log file after the run (not during it, so parsing
// costs the measured server nothing). It reads only from offset on: the
// warm-up job's lines come before it.
func scanServerLog(path string, offset int64) (*serverLog, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if _, err := f.Seek(offset, 0); err != nil {
		return nil, err
	}
	sl := &serverLog{received: map[string][]time.Time{}}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		line := sc.Bytes()
		sl.lines++
		switch {
		case bytes.Contains(line, msgReceived):
			var v struct {
				Time     time.Time `json:"time"`
				ResultID string    `json:"result_id"`
			}
			if json.Unmarshal(line, &v) == nil && v.ResultID != "" {
				sl.received[v.ResultID] = append(sl.received[v.ResultID], v.Time)
			}
		case bytes.Contains(line, msgDuplicate):
			sl.duplicates++
		case bytes.Contains(line, msgLate):
			sl.late++
		}
		if bytes.Contains(line, levelError) {
			sl.errors++
		}
	}
	return sl, sc.Err()
}

func fileSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return fi.Size()
}
