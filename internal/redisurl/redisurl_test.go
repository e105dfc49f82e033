package redisurl_test

import (
	"reflect"
	"strings"
	"testing"

	"github.com/proofline/proofline/internal/redisurl"
)

func TestParseSentinel(t *testing.T) {
	t.Parallel()
	got, err := redisurl.ParseSentinel("redis-sentinel://worker:s3cret@10.0.0.1:26379,10.0.0.2:26380/2?master=mymaster&sentinel_password=sp")
	if err != nil {
		t.Fatal(err)
	}
	want := redisurl.Sentinel{
		Addrs:  []string{"10.0.0.1:26379", "10.0.0.2:26380"},
		Master: "mymaster", Username: "worker", Password: "s3cret", SentinelPassword: "sp", DB: 2,
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v\nwant %+v", got, want)
	}
	got, err = redisurl.ParseSentinel("redis-sentinel://:pw@s1:26379?master=m")
	if err != nil || got.Password != "pw" || got.Username != "" || got.DB != 0 || len(got.Addrs) != 1 {
		t.Fatalf("%+v %v", got, err)
	}
}

func TestParseSentinelRefuses(t *testing.T) {
	t.Parallel()
	for _, raw := range []string{
		"redis://h:6379/0",
		"redis-sentinel://SECRETPW@/0?master=m",
		"redis-sentinel://:SECRETPW@h:26379/0",                       // no master
		"redis-sentinel://:SECRETPW@h/0?master=m",                    // no port
		"redis-sentinel://:SECRETPW@h:26379,/0?master=m",             // empty sentinel
		"redis-sentinel://:SECRETPW@h:99999/0?master=m",              // port out of range
		"redis-sentinel://:SECRETPW@h:26379/x?master=m",              // db
		"redis-sentinel://:SECRETPW@h:26379/0/1?master=m",            // path
		"redis-sentinel://:SECRETPW@h:26379/0?master=m&pool=3",       // unknown
		"redis-sentinel://:SECRETPW@h:26379/0?master=m&master=n",     // twice
		"redis-sentinel://:SECRETPW@h:26379/0?master=m#SECRETPW",     // fragment
		"redis-sentinel://:SECRETPW@h:26379/0?master=m&%zz=SECRETPW", // malformed query
		"redis-sentinel://:SECRET PW@h:26379/0?master=m",
	} {
		_, err := redisurl.ParseSentinel(raw)
		if err == nil {
			t.Errorf("%s: accepted", raw)
			continue
		}
		if strings.Contains(err.Error(), "SECRET") {
			t.Errorf("%s: error %q repeats the URL", raw, err)
		}
	}
	if !redisurl.IsSentinel("redis-sentinel://h:1?master=m") || redisurl.IsSentinel("redis://h:1") {
		t.Fatal("IsSentinel")
	}
}
