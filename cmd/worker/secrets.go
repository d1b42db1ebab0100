package main

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/config"

	"github.com/jetrun/jetrun/pkg/awssecrets"
)

// withSecretRefs resolves the secret references a runtime passed in
// JETRUN_SECRET_REFS (the AWS Batch runtime does, for secrets its job
// definition does not inject) and returns getenv with their values laid
// over it. The AWS credentials are the process's own: on Batch, the job
// role. Without references it returns getenv as it is.
func withSecretRefs(ctx context.Context, getenv func(string) string) (func(string) string, error) {
	v := getenv(awssecrets.EnvRefs)
	if v == "" {
		return getenv, nil
	}
	refs, err := awssecrets.ParseRefs(v)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("AWS configuration: %w", err)
	}
	values, err := awssecrets.Resolve(ctx, cfg, refs)
	if err != nil {
		return nil, err
	}
	return func(k string) string {
		if v, ok := values[k]; ok {
			return v
		}
		return getenv(k)
	}, nil
}
