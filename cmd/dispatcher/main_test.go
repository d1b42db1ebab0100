package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"strings"
	"testing"
)

func TestUsageNamesEnvAndHidesSecrets(t *testing.T) {
	env := map[string]string{"NATS_PASSWORD": "hunter2-s3cret", "NATS_TOKEN": "tok-s3cret"}
	var out, errb bytes.Buffer
	err := run(context.Background(), []string{"--help"}, func(k string) string { return env[k] }, &out, &errb)
	if !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("--help: %v", err)
	}
	usage := errb.String()
	for _, want := range []string{"(env RUNTIME_BACKEND)", "(env MAX_RETRIES)", "(env JOB_TIMEOUT)", "(env WORKER_IMAGE)",
		"(env NATS_URL)", "(env NATS_PASSWORD)", "(env JETRUN_CONCURRENCY)", "--dev"} {
		if !strings.Contains(usage, want) {
			t.Errorf("usage lacks %q", want)
		}
	}
	for _, secret := range []string{"hunter2-s3cret", "tok-s3cret"} {
		if strings.Contains(usage, secret) {
			t.Errorf("usage shows the secret %q", secret)
		}
	}
}

func TestBadConfigurationFailsClearly(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"unknown runtime", []string{"--runtime", "mainframe", "--data-dir", "DIR", "--http-addr", ""}, "unknown runtime"},
		{"bad prefix", []string{"--prefix", "Bad.Prefix", "--data-dir", "DIR"}, "prefix"},
		{"bad log level", []string{"--log-level", "loud", "--data-dir", "DIR"}, "--log-level"},
		{"stray argument", []string{"extra"}, "unexpected argument"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			for i, a := range tc.args {
				if a == "DIR" {
					tc.args[i] = dir
				}
			}
			var out, errb bytes.Buffer
			err := run(context.Background(), tc.args, func(string) string { return "" }, &out, &errb)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to mention %q", err, tc.want)
			}
		})
	}
}
