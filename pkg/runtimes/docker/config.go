package docker

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/moby/moby/client"
)

// ConfigFromEnv reads the runtime's configuration through getenv: the
// standard Docker client variables (DOCKER_HOST, DOCKER_API_VERSION,
// DOCKER_CERT_PATH, DOCKER_TLS_VERIFY, DOCKER_CONFIG) and WORKER_IMAGE,
// DOCKER_NETWORK, JETRUN_DOCKER_START_TIMEOUT, JETRUN_DOCKER_GRACE,
// JETRUN_DOCKER_NODE, JETRUN_DOCKER_KEEP and JETRUN_DOCKER_LABELS.
func ConfigFromEnv(getenv func(string) string) (Config, error) {
	cfg := Config{
		Host:       getenv("DOCKER_HOST"),
		APIVersion: getenv("DOCKER_API_VERSION"),
		CertPath:   getenv("DOCKER_CERT_PATH"),
		TLSVerify:  getenv("DOCKER_TLS_VERIFY") != "",
		ConfigDir:  getenv("DOCKER_CONFIG"),
		Image:      getenv("WORKER_IMAGE"),
		Network:    getenv("DOCKER_NETWORK"),
		Node:       getenv("JETRUN_DOCKER_NODE"),
	}
	if cfg.ConfigDir == "" {
		home := getenv("HOME")
		if home == "" {
			home, _ = os.UserHomeDir()
		}
		if home != "" {
			cfg.ConfigDir = filepath.Join(home, ".docker")
		}
	}
	if cfg.TLSVerify && cfg.CertPath == "" {
		cfg.CertPath = cfg.ConfigDir // as the docker CLI does
	}
	for _, d := range []struct {
		env string
		to  *time.Duration
	}{
		{"JETRUN_DOCKER_START_TIMEOUT", &cfg.StartTimeout},
		{"JETRUN_DOCKER_GRACE", &cfg.Grace},
		{"JETRUN_DOCKER_KEEP", &cfg.Keep},
	} {
		v := getenv(d.env)
		if v == "" {
			continue
		}
		x, err := time.ParseDuration(v)
		if err != nil || x < 0 {
			return cfg, fmt.Errorf("docker runtime: %s=%q: want a Go duration such as 2m", d.env, v)
		}
		*d.to = x
	}
	if v := getenv("JETRUN_DOCKER_LABELS"); v != "" {
		cfg.Labels = map[string]string{}
		for kv := range strings.SplitSeq(v, ",") {
			k, val, ok := strings.Cut(strings.TrimSpace(kv), "=")
			if !ok || k == "" {
				return cfg, fmt.Errorf("docker runtime: JETRUN_DOCKER_LABELS=%q: want key=value,key2=value2", v)
			}
			cfg.Labels[k] = val
		}
	}
	return cfg, nil
}

// clientOptions turns the connection settings into client options,
// without reading the process environment (client.FromEnv does).
func clientOptions(cfg Config) ([]client.Opt, error) {
	var opts []client.Opt
	if cfg.CertPath != "" {
		tc, err := tlsConfig(cfg.CertPath, cfg.TLSVerify)
		if err != nil {
			return nil, err
		}
		// Before WithHost, which configures this transport's dialer.
		opts = append(opts, client.WithHTTPClient(&http.Client{
			Transport:     &http.Transport{TLSClientConfig: tc},
			CheckRedirect: client.CheckRedirect,
		}))
	}
	if cfg.Host != "" {
		opts = append(opts, client.WithHost(cfg.Host))
	}
	if cfg.APIVersion != "" {
		opts = append(opts, client.WithAPIVersion(cfg.APIVersion))
	}
	return opts, nil
}

// tlsConfig loads cert.pem and key.pem from dir, and ca.pem when the
// daemon's certificate is verified, like the docker CLI.
func tlsConfig(dir string, verify bool) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem"))
	if err != nil {
		return nil, fmt.Errorf("DOCKER_CERT_PATH %s: %w", dir, err)
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}
	if !verify {
		tc.InsecureSkipVerify = true // DOCKER_TLS_VERIFY unset, as with the docker CLI
		return tc, nil
	}
	ca, err := os.ReadFile(filepath.Join(dir, "ca.pem"))
	if err != nil {
		return nil, fmt.Errorf("DOCKER_CERT_PATH %s: %w", dir, err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(ca) {
		return nil, fmt.Errorf("DOCKER_CERT_PATH %s: ca.pem holds no certificate", dir)
	}
	tc.RootCAs = pool
	return tc, nil
}
