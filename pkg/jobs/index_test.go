package jobs

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestIndexKindsValidate(t *testing.T) {
	sha := strings.Repeat("ab", 32)
	for _, tc := range []struct {
		kind, params string
		want         string // "" = valid; else a substring of the error
	}{
		{"upload_repo", `{"repo_url":"https://github.com/jetrun/jetrun","collection":"code"}`, ""},
		{"upload_repo", `{"repo_url":"https://github.com/jetrun/jetrun","ref":"v1.2.0","collection":"code","include":["**/*.go"],"exclude":["testdata/**"],"credential":"github","embedding":{"dense":{"base_url":"http://tei:8080/v1","model":"Qwen/Qwen3-Embedding-8B","dimensions":1024,"credential":"tei"}}}`, ""},
		{"upload_repo", `{"repo_url":"https://user:s3cret@github.com/x/y","collection":"code"}`, "credentials in the URL"},
		{"upload_repo", `{"repo_url":"ext::sh -c touch% /tmp/pwned","collection":"code"}`, "ext::"},
		{"upload_repo", `{"repo_url":"--upload-pack=touch /tmp/x","collection":"code"}`, "repo_url"},
		{"upload_repo", `{"repo_url":"ssh://git@github.com/x/y","collection":"code"}`, "scheme"},
		{"upload_repo", `{"repo_url":"https://github.com/x/y","ref":"--exec=x","collection":"code"}`, "ref"},
		{"upload_repo", `{"repo_url":"https://github.com/x/y","collection":"a/b"}`, "collection"},
		{"upload_repo", `{"repo_url":"https://github.com/x/y","collection":"c","embedding":{"sparse":"none"}}`, "no dense embedder"},
		{"upload_repo", `{"repo_url":"https://github.com/x/y","collection":"c","embedding":{"dense":{"base_url":"https://k:v@api.openai.com/v1","model":"m"}}}`, "credentials in the URL"},
		{"upload_repo", `{"repo_url":"https://github.com/x/y","collection":"c","surprise":1}`, "unknown field"},
		{"upload_file", `{"object":{"name":"src.tar.gz","sha256":"` + sha + `"},"collection":"c"}`, ""},
		{"upload_file", `{"url":"https://example.com/a.zip","collection":"c"}`, ""},
		{"upload_file", `{"url":"https://example.com/a.zip","object":{"name":"x","sha256":"` + sha + `"},"collection":"c"}`, "exactly one"},
		// A presigned URL's signature must not reach the rejection.
		{"upload_file", `{"url":"ftp://bucket.example/a.zip?X-Amz-Signature=s3cret#s3cret","collection":"c"}`, "scheme"},
		{"upload_repo", `{"repo_url":"https://github.com/x/y","collection":"c","embedding":{"dense":{"base_url":"ftp://api.example/v1?key=s3cret","model":"m"}}}`, "base_url"},
		{"upload_file", `{"collection":"c"}`, "exactly one"},
		{"upload_file", `{"object":{"name":"x","sha256":"nothex"},"collection":"c"}`, "sha256"},
		{"upload_file", `{"path":"/tmp/x.go","file_name":"../x","collection":"c"}`, "file_name"},
		{"collection", `{"action":"create","collection":"c","dense":{"size":1024,"distance":"Cosine"},"sparse":true}`, ""},
		{"collection", `{"action":"create","collection":"c"}`, "needs dense"},
		{"collection", `{"action":"create","collection":"c","dense":{"size":0}}`, "dense.size"},
		{"collection", `{"action":"list"}`, ""},
		{"collection", `{"action":"drop","collection":"c"}`, "action"},
	} {
		k, err := Builtin().Lookup(tc.kind)
		if err != nil {
			t.Fatal(err)
		}
		plan, err := k.Plan(json.RawMessage(tc.params))
		if tc.want == "" {
			if err != nil {
				t.Errorf("%s %s: %v", tc.kind, tc.params, err)
				continue
			}
			if plan.Command[0] != tc.kind || plan.Command[1] != "--params" {
				t.Errorf("%s: command %v", tc.kind, plan.Command)
			}
			continue
		}
		if err == nil || !errors.Is(err, ErrInvalidParams) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s %s: err %v, want %q", tc.kind, tc.params, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "s3cret") {
			t.Errorf("error leaks a secret: %v", err)
		}
	}
}

func TestIndexKindsSecretsAndDefaults(t *testing.T) {
	plan, err := UploadRepo{}.Plan(json.RawMessage(`{"repo_url":"https://github.com/x/y","collection":"c","credential":"gh","embedding":{"dense":{"base_url":"http://tei/v1","model":"m","credential":"tei-key"}}}`))
	if err != nil {
		t.Fatal(err)
	}
	want := []SecretRef{{Credential: "tei-key", Env: EnvEmbedAPIKey, URL: "http://tei/v1"}, {Credential: "gh", Env: EnvGitToken, URL: "https://github.com/x/y"}}
	if !slices.Equal(plan.Secrets, want) {
		t.Fatalf("secrets = %v", plan.Secrets)
	}
	if strings.Contains(strings.Join(plan.Command, " "), "tei-key") == false {
		t.Fatal("the credential's name belongs in the params")
	}
	for _, k := range []Kind{UploadRepo{}, UploadFile{}, Collection{}} {
		if d := k.Defaults(); d.CPUMilli == 0 || d.MemoryBytes == 0 || d.Timeout == 0 {
			t.Errorf("%s defaults %v", k.Name(), d)
		}
	}
	if d := (UploadRepo{}).Defaults().String(); d != "cpu=2 memory=4Gi timeout=1h0m0s" {
		t.Errorf("upload_repo defaults %s", d)
	}
	if d := (UploadFile{}).Defaults().String(); d != "cpu=1 memory=2Gi timeout=30m0s" {
		t.Errorf("upload_file defaults %s", d)
	}
	if d := (Collection{}).Defaults().String(); d != "cpu=250m memory=256Mi timeout=5m0s" {
		t.Errorf("collection defaults %s", d)
	}
}
