package qdrantlite

import (
	"fmt"
	"strings"

	"github.com/qdrant/go-client/qdrant"
)

// predicate reports whether a point matches. The caller holds the
// collection's lock for reading. A nil predicate matches every point.
type predicate func(p *point) bool

func (f predicate) match(p *point) bool { return f == nil || f(p) }

func matchAll(*point) bool { return true }

// and combines two predicates.
func and(a, b predicate) predicate {
	switch {
	case a == nil:
		return b
	case b == nil:
		return a
	}
	return func(p *point) bool { return a(p) && b(p) }
}

// compileFilter turns a Qdrant filter into a predicate (nil when it
// matches everything), or an error for a condition qdrantlite does not
// support: never a silent mismatch.
func compileFilter(f *qdrant.Filter) (predicate, error) {
	if f == nil {
		return nil, nil
	}
	must, err := compileConds(f.GetMust())
	if err != nil {
		return nil, err
	}
	should, err := compileConds(f.GetShould())
	if err != nil {
		return nil, err
	}
	mustNot, err := compileConds(f.GetMustNot())
	if err != nil {
		return nil, err
	}
	var minConds []predicate
	var minCount int
	if ms := f.GetMinShould(); ms != nil {
		if minConds, err = compileConds(ms.GetConditions()); err != nil {
			return nil, err
		}
		minCount = int(ms.GetMinCount())
	}
	if len(must)+len(should)+len(mustNot)+len(minConds) == 0 && f.GetMinShould() == nil {
		return nil, nil
	}
	return func(p *point) bool {
		for _, c := range must {
			if !c(p) {
				return false
			}
		}
		for _, c := range mustNot {
			if c(p) {
				return false
			}
		}
		if len(should) > 0 {
			ok := false
			for _, c := range should {
				if c(p) {
					ok = true
					break
				}
			}
			if !ok {
				return false
			}
		}
		if f.GetMinShould() != nil {
			n := 0
			for _, c := range minConds {
				if c(p) {
					n++
					if n >= minCount {
						break
					}
				}
			}
			if n < minCount {
				return false
			}
		}
		return true
	}, nil
}

func compileConds(cs []*qdrant.Condition) ([]predicate, error) {
	out := make([]predicate, 0, len(cs))
	for _, c := range cs {
		p, err := compileCond(c)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

func compileCond(c *qdrant.Condition) (predicate, error) {
	switch v := c.GetConditionOneOf().(type) {
	case *qdrant.Condition_Field:
		return compileField(v.Field)
	case *qdrant.Condition_Filter:
		p, err := compileFilter(v.Filter)
		if p == nil && err == nil {
			p = matchAll
		}
		return p, err
	case *qdrant.Condition_HasId:
		ids := map[pointKey]bool{}
		for _, id := range v.HasId.GetHasId() {
			k, err := keyOf(id)
			if err != nil {
				return nil, err
			}
			ids[k] = true
		}
		return func(p *point) bool { return ids[p.key] }, nil
	case *qdrant.Condition_IsEmpty:
		key := v.IsEmpty.GetKey()
		return func(p *point) bool { return isEmpty(lookupRaw(p.payload, key)) }, nil
	case *qdrant.Condition_IsNull:
		key := v.IsNull.GetKey()
		return func(p *point) bool { return isNull(lookupRaw(p.payload, key)) }, nil
	case *qdrant.Condition_HasVector:
		name := v.HasVector.GetHasVector()
		return func(p *point) bool {
			if _, ok := p.sparse[name]; ok {
				return true
			}
			for _, n := range p.has {
				if n == name {
					return true
				}
			}
			return false
		}, nil
	case nil:
		return nil, invalid("Wrong input: empty filter condition")
	default:
		return nil, unimplemented(fmt.Sprintf("qdrantlite does not support %T filter conditions", v))
	}
}

func compileField(fc *qdrant.FieldCondition) (predicate, error) {
	key := fc.GetKey()
	if key == "" {
		return nil, invalid("Wrong input: field condition without a key")
	}
	var parts []func([]*qdrant.Value) bool    // over the flattened values
	var rawParts []func([]*qdrant.Value) bool // over the values as stored
	if m := fc.GetMatch(); m != nil {
		test, err := compileMatch(m)
		if err != nil {
			return nil, err
		}
		if simpleKey(key) && fc.Range == nil && fc.ValuesCount == nil && fc.IsEmpty == nil && fc.IsNull == nil {
			// The common case, without allocating: one top-level field.
			return func(p *point) bool {
				v, ok := p.payload[key]
				if !ok {
					return false
				}
				if l, isList := v.GetKind().(*qdrant.Value_ListValue); isList {
					for _, x := range l.ListValue.GetValues() {
						if test(x) {
							return true
						}
					}
					return false
				}
				return test(v)
			}, nil
		}
		parts = append(parts, anyValue(test))
	}
	if r := fc.GetRange(); r != nil {
		parts = append(parts, func(vs []*qdrant.Value) bool {
			for _, v := range vs {
				if x, ok := number(v); ok && inRange(x, r) {
					return true
				}
			}
			return false
		})
	}
	if vc := fc.GetValuesCount(); vc != nil {
		rawParts = append(rawParts, func(vs []*qdrant.Value) bool {
			n := uint64(0)
			for _, v := range vs {
				switch k := v.GetKind().(type) {
				case *qdrant.Value_NullValue:
				case *qdrant.Value_ListValue:
					n += uint64(len(k.ListValue.GetValues()))
				default:
					n++
				}
			}
			return (vc.Lt == nil || n < *vc.Lt) && (vc.Gt == nil || n > *vc.Gt) &&
				(vc.Lte == nil || n <= *vc.Lte) && (vc.Gte == nil || n >= *vc.Gte)
		})
	}
	if fc.IsEmpty != nil {
		want := fc.GetIsEmpty()
		rawParts = append(rawParts, func(vs []*qdrant.Value) bool { return isEmpty(vs) == want })
	}
	if fc.IsNull != nil {
		want := fc.GetIsNull()
		rawParts = append(rawParts, func(vs []*qdrant.Value) bool { return isNull(vs) == want })
	}
	if fc.GetGeoBoundingBox() != nil || fc.GetGeoRadius() != nil || fc.GetGeoPolygon() != nil || fc.GetDatetimeRange() != nil {
		return nil, unimplemented("qdrantlite does not support geo or datetime conditions")
	}
	if len(parts)+len(rawParts) == 0 {
		return nil, invalid(fmt.Sprintf("Wrong input: condition on %q has nothing to match", key))
	}
	return func(p *point) bool {
		if len(parts) > 0 {
			vs := lookup(p.payload, key)
			for _, f := range parts {
				if !f(vs) {
					return false
				}
			}
		}
		if len(rawParts) > 0 {
			raw := lookupRaw(p.payload, key)
			for _, f := range rawParts {
				if !f(raw) {
					return false
				}
			}
		}
		return true
	}, nil
}

func simpleKey(key string) bool { return !strings.ContainsAny(key, ".[") }

// anyValue lifts a test of one value to the values found at a key (arrays
// flattened): it holds if any value passes, never for a missing field.
func anyValue(test func(*qdrant.Value) bool) func([]*qdrant.Value) bool {
	return func(vs []*qdrant.Value) bool {
		for _, v := range vs {
			if test(v) {
				return true
			}
		}
		return false
	}
}

// compileMatch returns the test of one value against a match.
func compileMatch(m *qdrant.Match) (func(*qdrant.Value) bool, error) {
	switch x := m.GetMatchValue().(type) {
	case *qdrant.Match_Keyword:
		return func(v *qdrant.Value) bool {
			s, ok := v.GetKind().(*qdrant.Value_StringValue)
			return ok && s.StringValue == x.Keyword
		}, nil
	case *qdrant.Match_Integer:
		return func(v *qdrant.Value) bool {
			i, ok := v.GetKind().(*qdrant.Value_IntegerValue)
			return ok && i.IntegerValue == x.Integer
		}, nil
	case *qdrant.Match_Boolean:
		return func(v *qdrant.Value) bool {
			b, ok := v.GetKind().(*qdrant.Value_BoolValue)
			return ok && b.BoolValue == x.Boolean
		}, nil
	case *qdrant.Match_Keywords:
		set := stringSet(x.Keywords.GetStrings())
		return func(v *qdrant.Value) bool {
			s, ok := v.GetKind().(*qdrant.Value_StringValue)
			return ok && set[s.StringValue]
		}, nil
	case *qdrant.Match_Integers:
		set := intSet(x.Integers.GetIntegers())
		return func(v *qdrant.Value) bool {
			i, ok := v.GetKind().(*qdrant.Value_IntegerValue)
			return ok && set[i.IntegerValue]
		}, nil
	case *qdrant.Match_ExceptKeywords:
		set := stringSet(x.ExceptKeywords.GetStrings())
		return func(v *qdrant.Value) bool {
			switch k := v.GetKind().(type) {
			case *qdrant.Value_StringValue:
				return !set[k.StringValue]
			case *qdrant.Value_NullValue:
				return false
			}
			return true
		}, nil
	case *qdrant.Match_ExceptIntegers:
		set := intSet(x.ExceptIntegers.GetIntegers())
		return func(v *qdrant.Value) bool {
			switch k := v.GetKind().(type) {
			case *qdrant.Value_IntegerValue:
				return !set[k.IntegerValue]
			case *qdrant.Value_NullValue:
				return false
			}
			return true
		}, nil
	case *qdrant.Match_Text:
		// Without a full-text index Qdrant matches a substring.
		return func(v *qdrant.Value) bool {
			s, ok := v.GetKind().(*qdrant.Value_StringValue)
			return ok && strings.Contains(s.StringValue, x.Text)
		}, nil
	default:
		return nil, unimplemented(fmt.Sprintf("qdrantlite does not support %T matches", x))
	}
}

func stringSet(ss []string) map[string]bool {
	m := make(map[string]bool, len(ss))
	for _, s := range ss {
		m[s] = true
	}
	return m
}

func intSet(is []int64) map[int64]bool {
	m := make(map[int64]bool, len(is))
	for _, i := range is {
		m[i] = true
	}
	return m
}

func number(v *qdrant.Value) (float64, bool) {
	switch k := v.GetKind().(type) {
	case *qdrant.Value_IntegerValue:
		return float64(k.IntegerValue), true
	case *qdrant.Value_DoubleValue:
		return k.DoubleValue, true
	}
	return 0, false
}

func inRange(x float64, r *qdrant.Range) bool {
	return (r.Lt == nil || x < *r.Lt) && (r.Gt == nil || x > *r.Gt) &&
		(r.Lte == nil || x <= *r.Lte) && (r.Gte == nil || x >= *r.Gte)
}

// isEmpty, over the values as stored: the field is missing, null, or an
// empty array ([null] is not empty).
func isEmpty(raw []*qdrant.Value) bool {
	for _, v := range raw {
		switch k := v.GetKind().(type) {
		case *qdrant.Value_NullValue:
		case *qdrant.Value_ListValue:
			if len(k.ListValue.GetValues()) > 0 {
				return false
			}
		default:
			return false
		}
	}
	return true
}

// isNull, over the values as stored: the field is null itself ([null] and
// a missing field are not).
func isNull(raw []*qdrant.Value) bool {
	for _, v := range raw {
		if _, null := v.GetKind().(*qdrant.Value_NullValue); null {
			return true
		}
	}
	return false
}

// lookup resolves a payload key ("a.b.c", with "[]" to step into arrays)
// to the values found there, arrays flattened one level at the leaf.
// A missing field yields no values.
func lookup(payload map[string]*qdrant.Value, key string) []*qdrant.Value {
	if !strings.ContainsAny(key, ".[") {
		v, ok := payload[key]
		if !ok {
			return nil
		}
		return flatten(v)
	}
	segs := strings.Split(key, ".")
	cur := []*qdrant.Value{{Kind: &qdrant.Value_StructValue{StructValue: &qdrant.Struct{Fields: payload}}}}
	for _, seg := range segs {
		seg = strings.TrimSuffix(seg, "[]")
		var next []*qdrant.Value
		for _, v := range cur {
			for _, obj := range flatten(v) {
				st, ok := obj.GetKind().(*qdrant.Value_StructValue)
				if !ok {
					continue
				}
				if f, ok := st.StructValue.GetFields()[seg]; ok {
					next = append(next, f)
				}
			}
		}
		cur = next
		if len(cur) == 0 {
			return nil
		}
	}
	var out []*qdrant.Value
	for _, v := range cur {
		out = append(out, flatten(v)...)
	}
	return out
}

// lookupRaw is lookup without flattening the arrays found at the leaf.
func lookupRaw(payload map[string]*qdrant.Value, key string) []*qdrant.Value {
	if i := strings.LastIndexByte(key, '.'); i >= 0 {
		var out []*qdrant.Value
		leaf := strings.TrimSuffix(key[i+1:], "[]")
		for _, v := range lookup(payload, key[:i]) {
			if st, ok := v.GetKind().(*qdrant.Value_StructValue); ok {
				if f, ok := st.StructValue.GetFields()[leaf]; ok {
					out = append(out, f)
				}
			}
		}
		return out
	}
	if v, ok := payload[strings.TrimSuffix(key, "[]")]; ok {
		return []*qdrant.Value{v}
	}
	return nil
}

func flatten(v *qdrant.Value) []*qdrant.Value {
	if l, ok := v.GetKind().(*qdrant.Value_ListValue); ok {
		return l.ListValue.GetValues()
	}
	return []*qdrant.Value{v}
}
