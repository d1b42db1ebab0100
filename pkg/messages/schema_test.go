package messages_test

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/jetrun/jetrun/pkg/messages"
)

// jsonSchema is the subset of JSON Schema (draft 2020-12) used by the files
// in schema/. The test below checks documents against it with a small
// validator of its own: the package stays standard library only.
type jsonSchema struct {
	Type                 any                    `json:"type"` // string or []string
	Required             []string               `json:"required"`
	Properties           map[string]*jsonSchema `json:"properties"`
	AdditionalProperties *jsonSchema            `json:"additionalProperties"`
	PropertyNames        *jsonSchema            `json:"propertyNames"`
	Const                any                    `json:"const"`
	Enum                 []any                  `json:"enum"`
	Pattern              string                 `json:"pattern"`
	MinLength            *int                   `json:"minLength"`
	MaxLength            *int                   `json:"maxLength"`
	MaxProperties        *int                   `json:"maxProperties"`
	Minimum              *float64               `json:"minimum"`
	Maximum              *float64               `json:"maximum"`
}

func loadSchema(t *testing.T, name string) *jsonSchema {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("schema", name))
	if err != nil {
		t.Fatal(err)
	}
	var s jsonSchema
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if len(s.Required) == 0 {
		t.Fatalf("%s has no required fields", name)
	}
	return &s
}

// ecmaToRE2 rewrites the \uXXXX escapes of ECMA-262 patterns for Go's regexp.
var uEscape = regexp.MustCompile(`\\u([0-9A-Fa-f]{4})`)

func ecmaToRE2(p string) string { return uEscape.ReplaceAllString(p, `\x{$1}`) }

func jsonType(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case string:
		return "string"
	case float64:
		if x == math.Trunc(x) {
			return "integer"
		}
		return "number"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	}
	return "unknown"
}

// validate reports every violation of s by v, with the path of the value.
func validate(s *jsonSchema, path string, v any) []string {
	var errs []string
	bad := func(format string) { errs = append(errs, path+": "+format) }
	if s.Type != nil {
		var types []string
		switch x := s.Type.(type) {
		case string:
			types = []string{x}
		case []any:
			for _, t := range x {
				types = append(types, t.(string))
			}
		}
		got := jsonType(v)
		if !slices.Contains(types, got) && !(got == "integer" && slices.Contains(types, "number")) {
			bad("type " + got + ", want " + strings.Join(types, " or "))
			return errs
		}
	}
	if s.Const != nil && !reflect.DeepEqual(s.Const, v) {
		bad("not the constant")
	}
	if s.Enum != nil && !slices.ContainsFunc(s.Enum, func(e any) bool { return reflect.DeepEqual(e, v) }) {
		bad("not in enum")
	}
	switch x := v.(type) {
	case string:
		if s.Pattern != "" && !regexp.MustCompile(ecmaToRE2(s.Pattern)).MatchString(x) {
			bad("does not match " + s.Pattern)
		}
		if n := utf8.RuneCountInString(x); (s.MaxLength != nil && n > *s.MaxLength) || (s.MinLength != nil && n < *s.MinLength) {
			bad("length out of range")
		}
	case float64:
		if (s.Minimum != nil && x < *s.Minimum) || (s.Maximum != nil && x > *s.Maximum) {
			bad("out of range")
		}
	case map[string]any:
		for _, r := range s.Required {
			if _, ok := x[r]; !ok {
				bad("missing required " + r)
			}
		}
		if s.MaxProperties != nil && len(x) > *s.MaxProperties {
			bad("too many properties")
		}
		for k, pv := range x {
			if s.PropertyNames != nil {
				errs = append(errs, validate(s.PropertyNames, path+"."+k+"(name)", k)...)
			}
			switch {
			case s.Properties[k] != nil:
				errs = append(errs, validate(s.Properties[k], path+"."+k, pv)...)
			case s.AdditionalProperties != nil:
				errs = append(errs, validate(s.AdditionalProperties, path+"."+k, pv)...)
			}
		}
	}
	return errs
}

// undeclared lists the keys of v, recursively, that the schema does not
// declare: every field jetrun writes must be documented.
func undeclared(s *jsonSchema, path string, v any) []string {
	m, ok := v.(map[string]any)
	if !ok || s.Properties == nil {
		return nil
	}
	var out []string
	for k, pv := range m {
		ps, ok := s.Properties[k]
		if !ok {
			out = append(out, path+"."+k)
			continue
		}
		if k != "params" {
			out = append(out, undeclared(ps, path+"."+k, pv)...)
		}
	}
	return out
}

// jsonFields lists the JSON names of a struct's fields, recursing into
// struct-typed fields (through pointers) as "outer.inner".
func jsonFields(typ reflect.Type, prefix string) []string {
	var out []string
	for f := range typ.Fields() {
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "" || name == "-" {
			continue
		}
		out = append(out, prefix+name)
		ft := f.Type
		if ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		if ft.Kind() == reflect.Struct && ft.PkgPath() == typ.PkgPath() {
			out = append(out, jsonFields(ft, prefix+name+".")...)
		}
	}
	return out
}

func declared(s *jsonSchema, dotted string) bool {
	for part := range strings.SplitSeq(dotted, ".") {
		if s == nil || s.Properties[part] == nil {
			return false
		}
		s = s.Properties[part]
	}
	return true
}

func TestSchemas(t *testing.T) {
	for _, tt := range []struct {
		schema string
		typ    reflect.Type
		docs   []string // golden files and hand-written documents
	}{
		{
			schema: "submission.schema.json",
			typ:    reflect.TypeFor[messages.Submission](),
			docs: []string{
				"testdata/submission_v1.json",
				`{"v":1,"kind":"smoke","params":{}}`,
				`{"v":1,"job_id":"job-123","kind":"smoke","params":{"sleep":"2s","progress":3}}`,
				`{"v":1,"kind":"smoke","params":{},"resources":{"cpu":"500m","memory":"1.5Gi","timeout":"1h30m"},"max_retries":null}`,
			},
		},
		{
			schema: "event.schema.json",
			typ:    reflect.TypeFor[messages.Event](),
			docs: []string{
				"testdata/event_progress_v1.json",
				"testdata/event_failed_v1.json",
				"testdata/event_retrying_v1.json",
			},
		},
	} {
		t.Run(tt.schema, func(t *testing.T) {
			s := loadSchema(t, tt.schema)

			if v, ok := s.Properties["v"].Const.(float64); !ok || v != messages.Version {
				t.Errorf(`"v" const = %v, want %d`, s.Properties["v"].Const, messages.Version)
			}
			for _, r := range s.Required {
				if s.Properties[r] == nil {
					t.Errorf("required %q is not a declared property", r)
				}
			}
			for _, f := range jsonFields(tt.typ, "") {
				if !declared(s, f) {
					t.Errorf("field %q of %s is not in the schema", f, tt.typ)
				}
			}

			for _, doc := range tt.docs {
				data := []byte(doc)
				if strings.HasPrefix(doc, "testdata/") {
					var err error
					if data, err = os.ReadFile(doc); err != nil {
						t.Fatal(err)
					}
				}
				var v any
				if err := json.Unmarshal(data, &v); err != nil {
					t.Fatalf("%s: %v", doc, err)
				}
				for _, e := range validate(s, "$", v) {
					t.Errorf("%.60s: %s", doc, e)
				}
				for _, k := range undeclared(s, "$", v) {
					t.Errorf("%.60s: %s is not declared in the schema", doc, k)
				}
			}
		})
	}
}

// The schema's enums are the package's event types and states.
func TestEventSchemaEnums(t *testing.T) {
	s := loadSchema(t, "event.schema.json")
	var types, states []string
	for _, e := range s.Properties["type"].Enum {
		types = append(types, e.(string))
	}
	for _, e := range s.Properties["state"].Enum {
		states = append(states, e.(string))
	}
	var wantTypes, wantStates []string
	for _, e := range messages.EventTypes {
		wantTypes = append(wantTypes, string(e))
	}
	for _, st := range messages.States {
		wantStates = append(wantStates, string(st))
	}
	if !slices.Equal(types, wantTypes) {
		t.Errorf("type enum %v, want %v", types, wantTypes)
	}
	if !slices.Equal(states, wantStates) {
		t.Errorf("state enum %v, want %v", states, wantStates)
	}
}

// The schema agrees with the decoder on the examples the decoder rejects
// for a reason the schema can express.
func TestSubmissionSchemaRejects(t *testing.T) {
	s := loadSchema(t, "submission.schema.json")
	for _, doc := range []string{
		`{"kind":"smoke","params":{}}`,
		`{"v":2,"kind":"smoke","params":{}}`,
		`{"v":1,"params":{}}`,
		`{"v":1,"kind":"Smoke","params":{}}`,
		`{"v":1,"kind":"smoke"}`,
		`{"v":1,"kind":"smoke","params":[]}`,
		`{"v":1,"kind":"smoke","params":{},"job_id":"-job"}`,
		`{"v":1,"kind":"smoke","params":{},"max_retries":21}`,
		`{"v":1,"kind":"smoke","params":{},"labels":{"-x":"y"}}`,
		`{"v":1,"kind":"smoke","params":{},"labels":{"x":"a\nb"}}`,
		`{"v":1,"kind":"smoke","params":{},"resources":{"memory":"4GB"}}`,
	} {
		t.Run(doc, func(t *testing.T) {
			if _, err := messages.DecodeSubmission([]byte(doc)); err == nil {
				t.Fatalf("decoder accepts %s", doc)
			}
			var v any
			if err := json.Unmarshal([]byte(doc), &v); err != nil {
				t.Fatal(err)
			}
			if errs := validate(s, "$", v); len(errs) == 0 {
				t.Errorf("schema accepts %s", doc)
			}
		})
	}
}
