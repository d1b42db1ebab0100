package main

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

// A worker whose NATS is unreachable still does its work.
func TestSmokeWorksWithoutNATS(t *testing.T) {
	var out, errb bytes.Buffer
	begin := time.Now()
	code := run([]string{"smoke", "--progress=3", "--message=still-works"},
		env(map[string]string{"NATS_URL": "nats://127.0.0.1:1", "JETRUN_JOB_ID": "offline-1", "JETRUN_ATTEMPT": "1"}), &out, &errb)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	if !strings.Contains(out.String(), "still-works") || !strings.Contains(out.String(), "progress 3/3") {
		t.Fatalf("output = %q", out.String())
	}
	if !strings.Contains(errb.String(), "cannot reach NATS") {
		t.Errorf("the worker should say progress is not published: %q", errb.String())
	}
	t.Logf("ran in %s without NATS", time.Since(begin))
}

func TestSmokeExitCodes(t *testing.T) {
	for _, tc := range []struct {
		args    []string
		attempt string
		want    int
	}{
		{[]string{"smoke"}, "1", 0},
		{[]string{"smoke", "--exit-code=7"}, "1", 7},
		{[]string{"smoke", "--fail-attempts=2"}, "2", 1},
		{[]string{"smoke", "--fail-attempts=2"}, "3", 0},
		{[]string{"smoke", "--exit-code=300"}, "1", 2},
		{[]string{"nonsense"}, "1", 2},
		{nil, "1", 2},
	} {
		var out, errb bytes.Buffer
		if got := run(tc.args, env(map[string]string{"JETRUN_ATTEMPT": tc.attempt}), &out, &errb); got != tc.want {
			t.Errorf("worker %v (attempt %s) = %d, want %d (%s)", tc.args, tc.attempt, got, tc.want, errb.String())
		}
	}
}
