package qdrantstore_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jetrun/jetrun/pkg/qdrantlite"
	"github.com/jetrun/jetrun/pkg/qdrantstore"
)

// TestTLS serves the embedded server behind a TLS listener with a
// certificate for "qdrant.test" from a private CA.
func TestTLS(t *testing.T) {
	caPEM, cert := testPKI(t, "qdrant.test")
	srv, err := qdrantlite.Open(qdrantlite.Options{Dir: t.TempDir(), APIKey: testKey})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	tcp, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	lis := tls.NewListener(tcp, &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"h2"}})
	go srv.Serve(lis)
	port := tcp.Addr().(*net.TCPAddr).Port
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, caPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)

	base := qdrantstore.Config{Host: "127.0.0.1", Port: port, APIKey: testKey, Timeout: 10 * time.Second}
	tests := []struct {
		name    string
		edit    func(c *qdrantstore.Config)
		wantErr string
	}{
		{"ca file", func(c *qdrantstore.Config) { c.CAFile, c.ServerName = caFile, "qdrant.test" }, ""},
		{"inline ca", func(c *qdrantstore.Config) { c.CAPEM, c.ServerName = string(caPEM), "qdrant.test" }, ""},
		{"system roots", func(c *qdrantstore.Config) { c.TLS, c.ServerName = true, "qdrant.test" }, "certificate signed by unknown authority"},
		{"wrong name", func(c *qdrantstore.Config) { c.CAFile, c.ServerName = caFile, "other.test" }, "certificate is valid for qdrant.test"},
		{"plaintext", func(c *qdrantstore.Config) {}, "qdrant at 127.0.0.1:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := base
			tt.edit(&cfg)
			s, err := qdrantstore.Open(ctx, cfg)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				defer s.Close()
				if _, err := s.EnsureCollection(ctx, "docs", hybrid); err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded")
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("err = %q, want it to contain %q", err, tt.wantErr)
			}
		})
	}

	// A worker that gets WorkerEnv connects the same way.
	cfg := base
	cfg.CAFile, cfg.ServerName = caFile, "qdrant.test"
	env, secrets, err := cfg.WorkerEnv()
	if err != nil {
		t.Fatal(err)
	}
	wcfg, err := qdrantstore.FromEnv(func(k string) string {
		if v, ok := secrets[k]; ok {
			return v
		}
		return env[k]
	})
	if err != nil {
		t.Fatal(err)
	}
	s, err := qdrantstore.Open(ctx, wcfg)
	if err != nil {
		t.Fatalf("worker's Open: %v", err)
	}
	s.Close()
}

// testPKI returns a CA certificate (PEM) and a server certificate for
// host signed by it.
func testPKI(t *testing.T, host string) ([]byte, tls.Certificate) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "jetrun test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: host}, DNSNames: []string{host},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
		tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}
