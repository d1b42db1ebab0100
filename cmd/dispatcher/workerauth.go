package main

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/jetrun/jetrun/pkg/messages"
	"github.com/jetrun/jetrun/pkg/natsauth"
)

// issuerFromFile reads the worker issuer's seed (--worker-auth-seed).
func issuerFromFile(path, account string, names messages.Names) (*natsauth.Issuer, error) {
	seed, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--worker-auth-seed: %w", err)
	}
	iss, err := natsauth.NewIssuer(seed, names, account)
	if err != nil {
		return nil, fmt.Errorf("--worker-auth-seed %s: %w", path, err)
	}
	return iss, nil
}

// devNATSAuth returns the embedded server's configuration for --dev and
// the issuer of worker identities. The issuer seed is kept in the data
// directory, so workers that outlive a restart keep valid tokens; the
// dispatcher's and producer's passwords are new each start (the
// dispatcher is the only client that uses one: the CLI connects without
// credentials, as the anonymous producer).
func devNATSAuth(dataDir, account string, names messages.Names) (natsauth.ServerConfig, *natsauth.Issuer, error) {
	path := filepath.Join(dataDir, "worker-issuer.nk")
	seed, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		if seed, err = natsauth.GenerateSeed(); err == nil {
			err = os.WriteFile(path, seed, 0o600)
		}
	}
	if err != nil {
		return natsauth.ServerConfig{}, nil, fmt.Errorf("worker issuer seed %s: %w", path, err)
	}
	iss, err := natsauth.NewIssuer(seed, names, account)
	if err != nil {
		return natsauth.ServerConfig{}, nil, fmt.Errorf("%s: %w", path, err)
	}
	return natsauth.ServerConfig{Account: account, Issuer: iss.PublicKey(), Names: names,
		DispatcherUser: "dispatcher", DispatcherPassword: randomPassword(),
		ProducerUser: "producer", ProducerPassword: randomPassword(), AnonymousProducer: true}, iss, nil
}

func randomPassword() string {
	b := make([]byte, 24)
	rand.Read(b)
	return hex.EncodeToString(b)
}
