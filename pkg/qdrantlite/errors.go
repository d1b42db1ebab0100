package qdrantlite

import (
	"fmt"
	"sort"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Errors carry Qdrant's status codes and, where jetrun or users match on
// them, Qdrant's message texts.

func invalid(msg string) error { return status.Error(codes.InvalidArgument, msg) }

func unimplemented(msg string) error { return status.Error(codes.Unimplemented, msg) }

func errCollectionNotFound(name string) error {
	return status.Errorf(codes.NotFound, "Not found: Collection `%s` doesn't exist!", name)
}

func errCollectionExists(name string) error {
	return status.Errorf(codes.AlreadyExists, "Wrong input: Collection `%s` already exists!", name)
}

func errDim(want, got int) error {
	return status.Errorf(codes.InvalidArgument, "Wrong input: Vector dimension error: expected dim: %d, got %d", want, got)
}

func errNoVector(name string) error {
	return status.Errorf(codes.InvalidArgument, "Wrong input: Not existing vector name error: %s", name)
}

func errBadUUID(s string) error {
	return status.Errorf(codes.InvalidArgument, "Unable to parse UUID: %s", s)
}

func errInternal(op string, err error) error {
	return status.Errorf(codes.Internal, "Service internal error: %s: %v", op, err)
}

func errWrongKind(name, want string) error {
	return status.Error(codes.InvalidArgument, fmt.Sprintf("Wrong input: Vector `%s` is not a %s vector", name, want))
}

func statusNotFound(msg string) error { return status.Error(codes.NotFound, msg) }

func statusFromContext(err error) error { return status.FromContextError(err).Err() }

// errUnknownVector is Qdrant's error for a query naming a vector the
// collection does not have.
func (c *collection) errUnknownVector(name string) error {
	var names []string
	for n := range c.dense {
		names = append(names, n)
	}
	for n := range c.sparse {
		names = append(names, n)
	}
	sort.Strings(names)
	if name == "" {
		return invalid("Wrong input: Collection requires specified vector name in the request, available names: " + strings.Join(names, ", "))
	}
	return invalid(fmt.Sprintf("Wrong input: Vector with name `%s` is not configured in this collection, available names: %s", name, strings.Join(names, ", ")))
}
