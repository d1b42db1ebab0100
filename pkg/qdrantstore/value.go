package qdrantstore

import (
	"fmt"
	"math"
	"reflect"
	"time"
	"unicode/utf8"

	"github.com/qdrant/go-client/qdrant"
)

// toValueMap converts a payload. It accepts what JSON can hold, built from
// any Go types of those kinds: nil, bool, integers (uint64 up to
// math.MaxInt64), finite floats, UTF-8 strings, []byte (base64, as the
// client does), time.Time (RFC 3339 with nanoseconds), slices and arrays,
// maps with string keys, and pointers to any of these.
func toValueMap(m map[string]any) (map[string]*qdrant.Value, error) {
	out := make(map[string]*qdrant.Value, len(m))
	for k, v := range m {
		if !utf8.ValidString(k) {
			return nil, fmt.Errorf("%w: payload key %q is not UTF-8", ErrInvalid, k)
		}
		qv, err := toValue(v)
		if err != nil {
			return nil, fmt.Errorf("payload key %q: %w", k, err)
		}
		out[k] = qv
	}
	return out, nil
}

func toValue(v any) (*qdrant.Value, error) {
	switch v := v.(type) {
	case nil:
		return qdrant.NewValueNull(), nil
	case string:
		if !utf8.ValidString(v) {
			return nil, fmt.Errorf("%w: string is not UTF-8", ErrInvalid)
		}
		return qdrant.NewValueString(v), nil
	case bool:
		return qdrant.NewValueBool(v), nil
	case int:
		return qdrant.NewValueInt(int64(v)), nil
	case int64:
		return qdrant.NewValueInt(v), nil
	case float64:
		return floatValue(v)
	case time.Time:
		return qdrant.NewValueString(v.Format(time.RFC3339Nano)), nil
	case []byte:
		return qdrant.NewValue(v) // base64, as the client does
	case *qdrant.Value:
		if v == nil {
			return qdrant.NewValueNull(), nil
		}
		return v, nil
	}

	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Bool:
		return qdrant.NewValueBool(rv.Bool()), nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return qdrant.NewValueInt(rv.Int()), nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		u := rv.Uint()
		if u > math.MaxInt64 {
			return nil, fmt.Errorf("%w: %d overflows int64", ErrInvalid, u)
		}
		return qdrant.NewValueInt(int64(u)), nil
	case reflect.Float32, reflect.Float64:
		return floatValue(rv.Float())
	case reflect.String:
		return toValue(rv.String())
	case reflect.Pointer, reflect.Interface:
		if rv.IsNil() {
			return qdrant.NewValueNull(), nil
		}
		return toValue(rv.Elem().Interface())
	case reflect.Slice, reflect.Array:
		if rv.Kind() == reflect.Slice && rv.IsNil() {
			return qdrant.NewValueNull(), nil
		}
		list := make([]*qdrant.Value, rv.Len())
		for i := range list {
			e, err := toValue(rv.Index(i).Interface())
			if err != nil {
				return nil, fmt.Errorf("[%d]: %w", i, err)
			}
			list[i] = e
		}
		return qdrant.NewValueFromList(list...), nil
	case reflect.Map:
		if rv.Type().Key().Kind() != reflect.String {
			return nil, fmt.Errorf("%w: map with %s keys (keys must be strings)", ErrInvalid, rv.Type().Key())
		}
		if rv.IsNil() {
			return qdrant.NewValueNull(), nil
		}
		fields := make(map[string]*qdrant.Value, rv.Len())
		it := rv.MapRange()
		for it.Next() {
			k := it.Key().String()
			if !utf8.ValidString(k) {
				return nil, fmt.Errorf("%w: key %q is not UTF-8", ErrInvalid, k)
			}
			e, err := toValue(it.Value().Interface())
			if err != nil {
				return nil, fmt.Errorf("%q: %w", k, err)
			}
			fields[k] = e
		}
		return qdrant.NewValueFromFields(fields), nil
	}
	return nil, fmt.Errorf("%w: unsupported payload type %T", ErrInvalid, v)
}

func floatValue(f float64) (*qdrant.Value, error) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return nil, fmt.Errorf("%w: %v is not a JSON number", ErrInvalid, f)
	}
	return qdrant.NewValueDouble(f), nil
}

// fromValueMap converts a payload back: strings, int64, float64, bool,
// nil, map[string]any and []any.
func fromValueMap(m map[string]*qdrant.Value) map[string]any {
	if m == nil {
		return nil
	}
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = fromValue(v)
	}
	return out
}

func fromValue(v *qdrant.Value) any {
	switch k := v.GetKind().(type) {
	case *qdrant.Value_StringValue:
		return k.StringValue
	case *qdrant.Value_IntegerValue:
		return k.IntegerValue
	case *qdrant.Value_DoubleValue:
		return k.DoubleValue
	case *qdrant.Value_BoolValue:
		return k.BoolValue
	case *qdrant.Value_StructValue:
		return fromValueMap(k.StructValue.GetFields())
	case *qdrant.Value_ListValue:
		vals := k.ListValue.GetValues()
		out := make([]any, len(vals))
		for i, e := range vals {
			out[i] = fromValue(e)
		}
		return out
	}
	return nil // NullValue, or no kind at all
}
