package qdrantstore

import (
	"fmt"
	"math"

	"github.com/qdrant/go-client/qdrant"
)

// Filter selects points by payload, so the pipeline can say "the points of
// this source and path whose file hash differs" without importing the
// Qdrant client. The zero Filter matches every point.
type Filter struct {
	Must    []Cond // every condition holds
	MustNot []Cond // no condition holds
}

// Cond is one payload condition; make it with [Eq] or [In].
type Cond struct {
	key string
	c   *qdrant.Condition
	err error
}

// Eq matches points whose payload key equals value: a string, a bool or an
// integer of any size. Another type makes the call that uses the filter
// fail with [ErrInvalid].
func Eq(key string, value any) Cond {
	var c *qdrant.Condition
	switch v := value.(type) {
	case string:
		c = qdrant.NewMatchKeyword(key, v)
	case bool:
		c = qdrant.NewMatchBool(key, v)
	case int:
		c = qdrant.NewMatchInt(key, int64(v))
	case int8:
		c = qdrant.NewMatchInt(key, int64(v))
	case int16:
		c = qdrant.NewMatchInt(key, int64(v))
	case int32:
		c = qdrant.NewMatchInt(key, int64(v))
	case int64:
		c = qdrant.NewMatchInt(key, v)
	case uint:
		return eqUint(key, uint64(v))
	case uint8:
		c = qdrant.NewMatchInt(key, int64(v))
	case uint16:
		c = qdrant.NewMatchInt(key, int64(v))
	case uint32:
		c = qdrant.NewMatchInt(key, int64(v))
	case uint64:
		return eqUint(key, v)
	default:
		return Cond{key: key, err: fmt.Errorf("%w: filter on %q: cannot match a %T (use a string, bool or integer)", ErrInvalid, key, value)}
	}
	return Cond{key: key, c: c}
}

func eqUint(key string, v uint64) Cond {
	if v > math.MaxInt64 {
		return Cond{key: key, err: fmt.Errorf("%w: filter on %q: %d overflows int64", ErrInvalid, key, v)}
	}
	return Cond{key: key, c: qdrant.NewMatchInt(key, int64(v))}
}

// In matches points whose payload key is one of values. With no values it
// matches nothing.
func In(key string, values ...string) Cond {
	return Cond{key: key, c: qdrant.NewMatchKeywords(key, values...)}
}

func (f Filter) empty() bool { return len(f.Must) == 0 && len(f.MustNot) == 0 }

// proto converts f, or returns nil for the zero Filter.
func (f Filter) proto() (*qdrant.Filter, error) {
	if f.empty() {
		return nil, nil
	}
	conv := func(cs []Cond) ([]*qdrant.Condition, error) {
		out := make([]*qdrant.Condition, 0, len(cs))
		for _, c := range cs {
			if c.err != nil {
				return nil, c.err
			}
			if c.c == nil {
				return nil, fmt.Errorf("%w: zero Cond in a filter; make conditions with Eq or In", ErrInvalid)
			}
			out = append(out, c.c)
		}
		return out, nil
	}
	must, err := conv(f.Must)
	if err != nil {
		return nil, err
	}
	mustNot, err := conv(f.MustNot)
	if err != nil {
		return nil, err
	}
	return &qdrant.Filter{Must: must, MustNot: mustNot}, nil
}
