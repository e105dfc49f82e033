package redisstore

import (
	"testing"
	"time"
)

func TestMillis(t *testing.T) {
	for ttl, want := range map[time.Duration]int64{
		time.Nanosecond:                    1,
		999 * time.Microsecond:             1,
		time.Millisecond:                   1,
		time.Millisecond + time.Nanosecond: 2,
		time.Minute:                        60000,
	} {
		if got, err := millis(ttl); err != nil || got != want {
			t.Errorf("millis(%v) = %d, %v; want %d", ttl, got, err, want)
		}
	}
	for _, ttl := range []time.Duration{0, -time.Second} {
		if _, err := millis(ttl); err == nil {
			t.Errorf("millis(%v): want an error", ttl)
		}
	}
}
