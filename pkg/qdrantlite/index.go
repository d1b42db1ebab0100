package qdrantlite

import (
	"github.com/qdrant/go-client/qdrant"
)

// keywordIndex maps each string value of one payload field to the
// ordinals of the points holding it. Only top-level fields with a keyword
// field index (CreateFieldIndex) have one; filters on them touch only
// the matching points instead of scanning the collection.
type keywordIndex map[string]map[int32]struct{}

func (ix keywordIndex) add(ord int32, v *qdrant.Value) {
	for _, x := range flatten(v) {
		if s, ok := x.GetKind().(*qdrant.Value_StringValue); ok {
			m := ix[s.StringValue]
			if m == nil {
				m = map[int32]struct{}{}
				ix[s.StringValue] = m
			}
			m[ord] = struct{}{}
		}
	}
}

func (ix keywordIndex) remove(ord int32, v *qdrant.Value) {
	for _, x := range flatten(v) {
		if s, ok := x.GetKind().(*qdrant.Value_StringValue); ok {
			if m := ix[s.StringValue]; m != nil {
				delete(m, ord)
				if len(m) == 0 {
					delete(ix, s.StringValue)
				}
			}
		}
	}
}

// syncKeywordIndexes makes c.keyword match c.indexes: an index for every
// keyword field index on a top-level field, built from the points held.
// The caller holds mu for writing.
func (c *collection) syncKeywordIndexes() {
	for field := range c.keyword {
		if info := c.indexes[field]; info == nil || info.GetDataType() != qdrant.PayloadSchemaType_Keyword {
			delete(c.keyword, field)
		}
	}
	for field, info := range c.indexes {
		if info.GetDataType() != qdrant.PayloadSchemaType_Keyword || !simpleKey(field) || c.keyword[field] != nil {
			continue
		}
		ix := keywordIndex{}
		for _, p := range c.byOrd {
			if p != nil {
				if v, ok := p.payload[field]; ok {
					ix.add(p.ord, v)
				}
			}
		}
		c.keyword[field] = ix
	}
}

func (c *collection) indexPoint(p *point) {
	for field, ix := range c.keyword {
		if v, ok := p.payload[field]; ok {
			ix.add(p.ord, v)
		}
	}
}

func (c *collection) unindexPoint(p *point) {
	for field, ix := range c.keyword {
		if v, ok := p.payload[field]; ok {
			ix.remove(p.ord, v)
		}
	}
}

// plan is a compiled filter: the predicate that decides, and, when a
// must-condition hits a keyword index, the points that can match (every
// match is among them; each still has to pass pred).
type plan struct {
	pred predicate
	cand []*point // nil: unknown, scan the collection
}

// selective says whether scoring only the candidates beats a scan.
func (pl plan) selective(n int) bool { return pl.cand != nil && len(pl.cand) <= max(n/8, 64) }

func (pl plan) and(o plan) plan {
	out := plan{pred: and(pl.pred, o.pred), cand: pl.cand}
	if o.cand != nil && (out.cand == nil || len(o.cand) < len(out.cand)) {
		out.cand = o.cand
	}
	return out
}

// matching returns the candidates that pass the predicate.
func (pl plan) matching() []*point {
	out := make([]*point, 0, len(pl.cand))
	for _, p := range pl.cand {
		if pl.pred.match(p) {
			out = append(out, p)
		}
	}
	return out
}

// compilePlan compiles f and looks for its narrowest indexed
// must-condition. The caller holds mu.
func (c *collection) compilePlan(f *qdrant.Filter) (plan, error) {
	pred, err := compileFilter(f)
	if err != nil {
		return plan{}, err
	}
	pl := plan{pred: pred}
	for _, cond := range f.GetMust() {
		var union []map[int32]struct{}
		switch v := cond.GetConditionOneOf().(type) {
		case *qdrant.Condition_Field:
			ix := c.keyword[v.Field.GetKey()]
			if ix == nil {
				continue
			}
			switch m := v.Field.GetMatch().GetMatchValue().(type) {
			case *qdrant.Match_Keyword:
				union = []map[int32]struct{}{ix[m.Keyword]}
			case *qdrant.Match_Keywords:
				for _, k := range m.Keywords.GetStrings() {
					union = append(union, ix[k])
				}
			default:
				continue
			}
		case *qdrant.Condition_HasId:
			var pts []*point
			for _, id := range v.HasId.GetHasId() {
				if k, err := keyOf(id); err == nil && c.points[k] != nil {
					pts = append(pts, c.points[k])
				}
			}
			if pl.cand == nil || len(pts) < len(pl.cand) {
				pl.cand = pts
			}
			continue
		default:
			continue
		}
		n := 0
		for _, m := range union {
			n += len(m)
		}
		if pl.cand != nil && n >= len(pl.cand) {
			continue
		}
		pts := make([]*point, 0, n)
		seen := map[int32]bool{}
		for _, m := range union {
			for ord := range m {
				if !seen[ord] {
					seen[ord] = true
					pts = append(pts, c.byOrd[ord])
				}
			}
		}
		pl.cand = pts
	}
	return pl, nil
}
