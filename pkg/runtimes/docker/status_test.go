package docker

import (
	"context"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/pkg/authconfig"
	"github.com/moby/moby/api/types/container"

	"github.com/jetrun/jetrun/pkg/runtimes"
)

func TestContainerStatus(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	ts := func(d time.Duration) string { return t0.Add(d).Format(time.RFC3339Nano) }
	const zero = "0001-01-01T00:00:00Z"
	mk := func(s container.State, timeout string) container.InspectResponse {
		c := container.InspectResponse{Created: ts(-time.Second), State: &s,
			Config: &container.Config{Labels: map[string]string{}}, HostConfig: &container.HostConfig{}}
		c.HostConfig.Memory = 128 << 20
		if timeout != "" {
			c.Config.Labels[LabelTimeout] = timeout
		}
		return c
	}
	for _, tc := range []struct {
		name     string
		c        container.InspectResponse
		now      time.Duration
		phase    runtimes.Phase
		code     int
		timedOut bool
		reason   string
	}{
		{"created", mk(container.State{Status: container.StateCreated, StartedAt: zero, FinishedAt: zero}, ""), 0,
			runtimes.PhasePending, -1, false, ""},
		{"created long ago", mk(container.State{Status: container.StateCreated, StartedAt: zero, FinishedAt: zero}, ""), 3 * time.Minute,
			runtimes.PhaseFailed, -1, false, "never started (start timeout 2m0s)"},
		{"start failed", mk(container.State{Status: container.StateCreated, ExitCode: 127, Error: `exec: "/nope": no such file`, StartedAt: zero}, ""), 0,
			runtimes.PhaseFailed, 127, false, `could not start: exec: "/nope": no such file (exit code 127)`},
		{"running", mk(container.State{Status: container.StateRunning, Running: true, StartedAt: ts(0), FinishedAt: zero}, "1m0s"), time.Hour,
			runtimes.PhaseRunning, -1, false, ""},
		{"paused", mk(container.State{Status: container.StatePaused, Running: true, Paused: true, StartedAt: ts(0)}, ""), 0,
			runtimes.PhaseRunning, -1, false, "paused"},
		{"removing while running", mk(container.State{Status: container.StateRemoving, Running: true, StartedAt: ts(0)}, ""), 0,
			runtimes.PhaseRunning, -1, false, ""},
		{"exit 0", mk(container.State{Status: container.StateExited, StartedAt: ts(0), FinishedAt: ts(time.Second)}, "1m0s"), 0,
			runtimes.PhaseSucceeded, 0, false, ""},
		{"exit 3", mk(container.State{Status: container.StateExited, ExitCode: 3, StartedAt: ts(0), FinishedAt: ts(time.Second)}, "1m0s"), 0,
			runtimes.PhaseFailed, 3, false, "exit code 3"},
		{"exit 137", mk(container.State{Status: container.StateExited, ExitCode: 137, StartedAt: ts(0), FinishedAt: ts(time.Second)}, ""), 0,
			runtimes.PhaseFailed, 137, false, "exit code 137 = 128+SIGKILL"},
		{"oom", mk(container.State{Status: container.StateExited, ExitCode: 137, OOMKilled: true, StartedAt: ts(0), FinishedAt: ts(time.Second)}, "1m0s"), 0,
			runtimes.PhaseFailed, 137, false, "OOMKilled: the container exceeded its memory limit of 128Mi (exit code 137 = 128+SIGKILL)"},
		{"timeout", mk(container.State{Status: container.StateExited, ExitCode: 143, StartedAt: ts(0), FinishedAt: ts(2*time.Second + 5*time.Millisecond)}, "2s"), 0,
			runtimes.PhaseFailed, 143, true, "timeout after 2s (exit code 143 = 128+SIGTERM)"},
		{"timeout, exit 0", mk(container.State{Status: container.StateExited, StartedAt: ts(0), FinishedAt: ts(3 * time.Second)}, "2s"), 0,
			runtimes.PhaseFailed, 0, true, "timeout after 2s (exit code 0)"},
		{"just in time", mk(container.State{Status: container.StateExited, StartedAt: ts(0), FinishedAt: ts(1999 * time.Millisecond)}, "2s"), 0,
			runtimes.PhaseSucceeded, 0, false, ""},
		{"removing after exit", mk(container.State{Status: container.StateRemoving, ExitCode: 4, StartedAt: ts(0), FinishedAt: ts(time.Second)}, ""), 0,
			runtimes.PhaseFailed, 4, false, "exit code 4"},
		{"dead", mk(container.State{Status: container.StateDead, Dead: true, ExitCode: 0, StartedAt: ts(0), FinishedAt: ts(time.Second), Error: "driver failed"}, ""), 0,
			runtimes.PhaseFailed, 0, false, "container is dead (exit code 0); docker: driver failed"},
		{"no state", container.InspectResponse{}, 0, runtimes.PhaseFailed, -1, false, "container has no state"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := containerStatus(tc.c, DefaultStartTimeout, t0.Add(tc.now))
			if st.Phase != tc.phase || st.ExitCode != tc.code || st.TimedOut != tc.timedOut {
				t.Errorf("status = %+v, want phase %s, exit code %d, timed out %v", st, tc.phase, tc.code, tc.timedOut)
			}
			if !strings.Contains(st.Reason, tc.reason) || (tc.reason == "" && st.Reason != "") {
				t.Errorf("reason %q, want %q", st.Reason, tc.reason)
			}
		})
	}
}

func TestGraceSeconds(t *testing.T) {
	for d, want := range map[time.Duration]int{0: 0, -time.Second: 0, 500 * time.Millisecond: 1, time.Second: 1, 10*time.Second + 1: 11} {
		if got := *graceSeconds(d); got != want {
			t.Errorf("graceSeconds(%s) = %d, want %d", d, got, want)
		}
	}
}

func TestRegistryHost(t *testing.T) {
	for image, want := range map[string]string{
		"jetrun/worker:latest":                 "docker.io",
		"worker":                               "docker.io",
		"docker.io/jetrun/worker":              "docker.io",
		"index.docker.io/jetrun/worker":        "docker.io",
		"ghcr.io/jetrun/worker:v1":             "ghcr.io",
		"localhost/worker":                     "localhost",
		"127.0.0.1:5000/jetrun/worker@sha256:": "127.0.0.1:5000",
		"registry.internal:443/a/b/c":          "registry.internal:443",
	} {
		if got := registryHost(image); got != want {
			t.Errorf("registryHost(%q) = %q, want %q", image, got, want)
		}
	}
}

func TestRegistryAuth(t *testing.T) {
	dir := t.TempDir()
	write := func(s string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	get := func(image string) (user, pass, token, server string) {
		t.Helper()
		enc, err := registryAuth(context.Background(), dir, image)
		if err != nil {
			t.Fatalf("registryAuth(%s): %v", image, err)
		}
		if enc == "" {
			return "", "", "", ""
		}
		ac, err := authconfig.Decode(enc)
		if err != nil {
			t.Fatal(err)
		}
		return ac.Username, ac.Password, ac.IdentityToken, ac.ServerAddress
	}
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

	if u, _, _, _ := get("jetrun/worker"); u != "" {
		t.Fatalf("no config.json: user %q", u)
	}
	write(`{"auths":{
		"https://index.docker.io/v1/":{"auth":"` + b64("hub:hubpw") + `"},
		"ghcr.io":{"auth":"` + b64("gh:ghpw") + `"},
		"https://registry.internal:5000/v2/":{"identitytoken":"tok"}}}`)
	for image, want := range map[string][4]string{
		"jetrun/worker:1":                      {"hub", "hubpw", "", hubServer},
		"docker.io/library/alpine":             {"hub", "hubpw", "", hubServer},
		"ghcr.io/jetrun/worker":                {"gh", "ghpw", "", "ghcr.io"},
		"registry.internal:5000/jetrun/worker": {"", "", "tok", "registry.internal:5000"},
		"quay.io/jetrun/worker":                {},
	} {
		u, p, tok, srv := get(image)
		if got := [4]string{u, p, tok, srv}; got != want {
			t.Errorf("%s: got %q, want %q", image, got, want)
		}
	}

	write(`{"auths":{"ghcr.io":{"auth":"not base64!"}}}`)
	if _, err := registryAuth(context.Background(), dir, "ghcr.io/x"); err == nil || strings.Contains(err.Error(), "not base64!") {
		t.Errorf("malformed auth: %v", err)
	}

	// Credential helpers, found on PATH.
	bin := t.TempDir()
	helper := `#!/bin/sh
read server
case "$server" in
ghcr.io) echo '{"ServerURL":"ghcr.io","Username":"helped","Secret":"helperpw"}' ;;
https://index.docker.io/v1/) echo '{"ServerURL":"x","Username":"<token>","Secret":"idtoken"}' ;;
*) echo "credentials not found in native keychain"; exit 1 ;;
esac
`
	if err := os.WriteFile(filepath.Join(bin, "docker-credential-fake"), []byte(helper), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	write(`{"credsStore":"fake","credHelpers":{"quay.io":"missing-helper"},
		"auths":{"registry.internal:5000":{"auth":"` + b64("inline:inlinepw") + `"}}}`)
	for image, want := range map[string][4]string{
		"ghcr.io/jetrun/worker":                {"helped", "helperpw", "", "ghcr.io"},
		"jetrun/worker":                        {"", "", "idtoken", hubServer},
		"registry.internal:5000/jetrun/worker": {"inline", "inlinepw", "", "registry.internal:5000"}, // not in the store: auths
	} {
		u, p, tok, srv := get(image)
		if got := [4]string{u, p, tok, srv}; got != want {
			t.Errorf("%s: got %q, want %q", image, got, want)
		}
	}
	if _, err := registryAuth(context.Background(), dir, "quay.io/x"); err == nil || !strings.Contains(err.Error(), "docker-credential-missing-helper") {
		t.Errorf("missing helper: %v", err)
	}
}

func TestConfigFromEnv(t *testing.T) {
	env := map[string]string{
		"DOCKER_HOST": "tcp://docker:2376", "DOCKER_TLS_VERIFY": "1", "HOME": "/home/j",
		"WORKER_IMAGE": "reg/worker:1", "DOCKER_NETWORK": "jetrun", "JETRUN_DOCKER_START_TIMEOUT": "30s",
		"JETRUN_DOCKER_GRACE": "3s", "JETRUN_DOCKER_KEEP": "24h", "JETRUN_DOCKER_NODE": "n1",
		"JETRUN_DOCKER_LABELS": "tenant=a, env=prod",
	}
	cfg, err := ConfigFromEnv(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Host != "tcp://docker:2376" || !cfg.TLSVerify || cfg.CertPath != "/home/j/.docker" || cfg.ConfigDir != "/home/j/.docker" ||
		cfg.Image != "reg/worker:1" || cfg.Network != "jetrun" || cfg.StartTimeout != 30*time.Second ||
		cfg.Grace != 3*time.Second || cfg.Keep != 24*time.Hour || cfg.Node != "n1" ||
		cfg.Labels["tenant"] != "a" || cfg.Labels["env"] != "prod" {
		t.Fatalf("config = %+v", cfg)
	}
	for k, v := range map[string]string{"JETRUN_DOCKER_START_TIMEOUT": "2", "JETRUN_DOCKER_LABELS": "novalue"} {
		_, err := ConfigFromEnv(func(s string) string {
			if s == k {
				return v
			}
			return ""
		})
		if err == nil || !strings.Contains(err.Error(), k) {
			t.Errorf("%s=%s: %v", k, v, err)
		}
	}
	if _, err := clientOptions(Config{CertPath: t.TempDir()}); err == nil || !strings.Contains(err.Error(), "DOCKER_CERT_PATH") {
		t.Errorf("empty cert path: %v", err)
	}
}
