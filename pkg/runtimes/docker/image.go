package docker

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/pkg/authconfig"
	"github.com/moby/moby/api/types/registry"
	"github.com/moby/moby/client"
)

// pull is one image pull in progress, shared by the Starts that need it.
type pull struct {
	done chan struct{}
	err  error
}

// ensureImage makes sure image is on the daemon, pulling it if it is
// missing. The pull is bounded by Config.StartTimeout, not by ctx: when
// ctx ends first (the dispatcher gives Start 30 s) the pull goes on in the
// background, so that the next attempt finds the image.
func (r *Runtime) ensureImage(ctx context.Context, image string) error {
	_, err := r.cli.ImageInspect(ctx, image)
	if err == nil {
		return nil
	}
	if !cerrdefs.IsNotFound(err) {
		return fmt.Errorf("inspect image %s: %w", image, err)
	}
	r.mu.Lock()
	p := r.pulls[image]
	if p == nil {
		p = &pull{done: make(chan struct{})}
		r.pulls[image] = p
		go r.pull(image, p)
	}
	r.mu.Unlock()
	select {
	case <-p.done:
		if p.err != nil {
			return fmt.Errorf("image %s not found and cannot be pulled: %w", image, p.err)
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("image %s not found locally and not pulled yet (%w); the pull goes on for up to %s",
			image, ctx.Err(), r.cfg.StartTimeout)
	}
}

func (r *Runtime) pull(image string, p *pull) {
	defer func() {
		r.mu.Lock()
		delete(r.pulls, image)
		r.mu.Unlock()
		close(p.done)
	}()
	ctx, cancel := context.WithTimeout(context.Background(), r.cfg.StartTimeout)
	defer cancel()
	begin := time.Now()
	log := r.log.With().Str("image", image).Logger()
	log.Info().Msg("pulling missing image")
	p.err = func() error {
		auth, err := registryAuth(ctx, r.cfg.ConfigDir, image)
		if err != nil {
			return err
		}
		resp, err := r.cli.ImagePull(ctx, image, client.ImagePullOptions{RegistryAuth: auth})
		if err != nil {
			return err
		}
		defer resp.Close()
		return resp.Wait(ctx)
	}()
	if p.err != nil && errors.Is(ctx.Err(), context.DeadlineExceeded) {
		p.err = fmt.Errorf("pull timed out after %s (JETRUN_DOCKER_START_TIMEOUT): %w", r.cfg.StartTimeout, context.DeadlineExceeded)
	}
	if p.err != nil {
		log.Warn().Err(p.err).Dur("took", time.Since(begin)).Msg("pull failed")
		return
	}
	log.Info().Dur("took", time.Since(begin)).Msg("pulled image")
}

// dockerConfig is the part of the Docker CLI's config.json that holds
// registry credentials.
type dockerConfig struct {
	Auths       map[string]configAuth `json:"auths"`
	CredsStore  string                `json:"credsStore"`
	CredHelpers map[string]string     `json:"credHelpers"`
}

type configAuth struct {
	Auth          string `json:"auth"` // base64 of "user:password"
	Username      string `json:"username"`
	Password      string `json:"password"`
	IdentityToken string `json:"identitytoken"`
	RegistryToken string `json:"registrytoken"`
}

// Docker Hub's names: its registry host, and the key of its credentials
// in config.json and credential helpers.
const (
	hubDomain = "docker.io"
	hubServer = "https://index.docker.io/v1/"
)

// registryAuth returns the X-Registry-Auth value for pulling image, from
// the Docker config in dir (config.json): the registry's credential helper
// (credHelpers), else the default store (credsStore), else its entry in
// auths. It returns "" (an anonymous pull) when there is no config or no
// credentials for the registry.
func registryAuth(ctx context.Context, dir, image string) (string, error) {
	if dir == "" {
		return "", nil
	}
	path := filepath.Join(dir, "config.json")
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("registry credentials: %w", err)
	}
	var cfg dockerConfig
	if err := json.Unmarshal(b, &cfg); err != nil {
		return "", fmt.Errorf("registry credentials: %s: %w", path, err)
	}
	host := registryHost(image)
	server := host
	if host == hubDomain {
		server = hubServer
	}
	helper := cfg.CredHelpers[host]
	if helper == "" && host == hubDomain {
		helper = cfg.CredHelpers[hubServer]
	}
	if helper == "" {
		helper = cfg.CredsStore
	}
	var ac registry.AuthConfig
	if helper != "" {
		a, ok, err := fromHelper(ctx, helper, server)
		if err != nil {
			return "", err
		}
		if ok {
			ac = a
		}
	}
	if ac == (registry.AuthConfig{}) {
		a, ok, err := fromAuths(cfg.Auths, host)
		if err != nil {
			return "", fmt.Errorf("registry credentials: %s: %w", path, err)
		}
		if !ok {
			return "", nil
		}
		ac = a
	}
	ac.ServerAddress = server
	return authconfig.Encode(ac)
}

// registryHost is the registry of an image reference, by Docker's rule:
// the part before the first "/" if it looks like a host (has a dot or a
// port, or is localhost), else Docker Hub.
func registryHost(image string) string {
	first, _, ok := strings.Cut(image, "/")
	if !ok || (!strings.ContainsAny(first, ".:") && first != "localhost") {
		return hubDomain
	}
	if first == "index.docker.io" || first == "registry-1.docker.io" {
		return hubDomain
	}
	return first
}

// fromAuths finds host's entry in auths, whose keys may be bare hosts or
// URLs ("https://index.docker.io/v1/").
func fromAuths(auths map[string]configAuth, host string) (registry.AuthConfig, bool, error) {
	for _, key := range slices.Sorted(maps.Keys(auths)) {
		a := auths[key]
		k := strings.TrimPrefix(strings.TrimPrefix(key, "https://"), "http://")
		k, _, _ = strings.Cut(k, "/")
		if k == "index.docker.io" || k == "registry-1.docker.io" {
			k = hubDomain
		}
		if k != host {
			continue
		}
		ac := registry.AuthConfig{Username: a.Username, Password: a.Password,
			IdentityToken: a.IdentityToken, RegistryToken: a.RegistryToken}
		if a.Auth != "" {
			dec, err := base64.StdEncoding.DecodeString(a.Auth)
			if err != nil {
				return ac, false, fmt.Errorf("auths[%q].auth is not base64", key)
			}
			user, pass, ok := strings.Cut(string(dec), ":")
			if !ok {
				return ac, false, fmt.Errorf("auths[%q].auth is not user:password", key)
			}
			ac.Username, ac.Password = user, pass
		}
		return ac, ac != (registry.AuthConfig{}), nil
	}
	return registry.AuthConfig{}, false, nil
}

// fromHelper asks the credential helper docker-credential-<helper> (found
// on PATH) for server's credentials, with the helpers' protocol: "get",
// the server on stdin, JSON on stdout.
func fromHelper(ctx context.Context, helper, server string) (registry.AuthConfig, bool, error) {
	bin := "docker-credential-" + helper
	cmd := exec.CommandContext(ctx, bin, "get")
	cmd.Stdin = strings.NewReader(server)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		if strings.Contains(stdout.String()+stderr.String(), "credentials not found") {
			return registry.AuthConfig{}, false, nil
		}
		// The helper's output is not repeated: it could hold secrets.
		return registry.AuthConfig{}, false, fmt.Errorf("registry credentials: %s get %s: %w", bin, server, err)
	}
	var out struct {
		Username string `json:"Username"`
		Secret   string `json:"Secret"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &out); err != nil {
		return registry.AuthConfig{}, false, fmt.Errorf("registry credentials: %s get %s: malformed answer", bin, server)
	}
	if out.Username == "<token>" {
		return registry.AuthConfig{IdentityToken: out.Secret}, true, nil
	}
	return registry.AuthConfig{Username: out.Username, Password: out.Secret}, out.Secret != "", nil
}
