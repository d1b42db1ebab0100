package awstest

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// Secrets Manager version stages.
const (
	stageCurrent  = "AWSCURRENT"
	stagePrevious = "AWSPREVIOUS"
)

// secretVersion is one version of a secret's value.
type secretVersion struct {
	id, value string
	created   time.Time
}

// secret is a Secrets Manager secret; its last version is AWSCURRENT,
// the one before AWSPREVIOUS.
type secret struct {
	name, arn string
	versions  []secretVersion
}

// param is an SSM SecureString parameter.
type param struct {
	name, arn, value string
	version          int
	modified         time.Time
}

// PutSecret creates the Secrets Manager secret name with value, or puts
// value as its new AWSCURRENT version, and returns its ARN:
// arn:aws:secretsmanager:<region>:<account>:secret:<name>-<6 random
// letters>, as AWS makes them.
func (s *Server) PutSecret(name, value string) (arn string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sec := s.secrets[name]
	if sec == nil {
		sec = &secret{name: name, arn: fmt.Sprintf("arn:aws:secretsmanager:%s:%s:secret:%s-%s", s.cfg.Region, s.cfg.AccountID, name, randomLetters(6))}
		s.secrets[name] = sec
	}
	sec.versions = append(sec.versions, secretVersion{id: newUUID(), value: value, created: time.Now()})
	return sec.arn
}

// PutParameter creates the SSM SecureString parameter name with value,
// or overwrites it (its version goes up by one), and returns its ARN:
// arn:aws:ssm:<region>:<account>:parameter/<name without leading slash>.
func (s *Server) PutParameter(name, value string) (arn string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.params[name]
	if p == nil {
		p = &param{name: name, arn: fmt.Sprintf("arn:aws:ssm:%s:%s:parameter/%s", s.cfg.Region, s.cfg.AccountID, strings.TrimPrefix(name, "/"))}
		s.params[name] = p
	}
	p.value = value
	p.version++
	p.modified = time.Now()
	return p.arn
}

// findSecret resolves a name, a full ARN or a partial ARN (without the
// random suffix); the caller holds s.mu.
func (s *Server) findSecret(id string) *secret {
	if sec := s.secrets[id]; sec != nil {
		return sec
	}
	prefix := fmt.Sprintf("arn:aws:secretsmanager:%s:%s:secret:", s.cfg.Region, s.cfg.AccountID)
	rest, ok := strings.CutPrefix(id, prefix)
	if !ok {
		return nil
	}
	for _, sec := range s.secrets {
		if sec.arn == id {
			return sec
		}
	}
	return s.secrets[rest]
}

// findParam resolves a name or an ARN; the caller holds s.mu.
func (s *Server) findParam(id string) *param {
	if p := s.params[id]; p != nil {
		return p
	}
	prefix := fmt.Sprintf("arn:aws:ssm:%s:%s:parameter/", s.cfg.Region, s.cfg.AccountID)
	rest, ok := strings.CutPrefix(id, prefix)
	if !ok {
		return nil
	}
	if p := s.params["/"+rest]; p != nil {
		return p
	}
	return s.params[rest]
}

func (s *Server) getSecretValue(body []byte) (any, *APIError) {
	var in struct {
		SecretID     string `json:"SecretId"`
		VersionID    string `json:"VersionId"`
		VersionStage string `json:"VersionStage"`
	}
	if e := decode(body, &in, svcSecrets); e != nil {
		return nil, e
	}
	if in.SecretID == "" {
		return nil, validationError("ValidationException", "1 validation error detected: Value null at 'secretId' failed to satisfy constraint: Member must not be null")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sec := s.findSecret(in.SecretID)
	if sec == nil {
		return nil, &APIError{400, "ResourceNotFoundException", "Secrets Manager can't find the specified secret."}
	}
	v, stages, e := sec.version(in.VersionID, in.VersionStage)
	if e != nil {
		return nil, e
	}
	return struct {
		ARN           string   `json:"ARN"`
		Name          string   `json:"Name"`
		VersionID     string   `json:"VersionId"`
		SecretString  string   `json:"SecretString"`
		VersionStages []string `json:"VersionStages"`
		CreatedDate   float64  `json:"CreatedDate"`
	}{sec.arn, sec.name, v.id, v.value, stages, float64(v.created.UnixMilli()) / 1000}, nil
}

// version selects a version by id and/or stage (default AWSCURRENT) and
// returns it with its stages.
func (sec *secret) version(id, stage string) (secretVersion, []string, *APIError) {
	stagesOf := func(i int) []string {
		switch i {
		case len(sec.versions) - 1:
			return []string{stageCurrent}
		case len(sec.versions) - 2:
			return []string{stagePrevious}
		}
		return []string{}
	}
	if id != "" {
		for i, v := range sec.versions {
			if v.id == id {
				st := stagesOf(i)
				if stage != "" && (len(st) == 0 || st[0] != stage) {
					return v, nil, &APIError{400, "ResourceNotFoundException", fmt.Sprintf("Secrets Manager can't find the specified secret value for VersionId: %s and staging label: %s", id, stage)}
				}
				return v, st, nil
			}
		}
		return secretVersion{}, nil, &APIError{400, "ResourceNotFoundException", "Secrets Manager can't find the specified secret value for VersionId: " + id}
	}
	switch stage {
	case "", stageCurrent:
		i := len(sec.versions) - 1
		return sec.versions[i], stagesOf(i), nil
	case stagePrevious:
		if i := len(sec.versions) - 2; i >= 0 {
			return sec.versions[i], stagesOf(i), nil
		}
	}
	return secretVersion{}, nil, &APIError{400, "ResourceNotFoundException", "Secrets Manager can't find the specified secret value for staging label: " + stage}
}

func (s *Server) getParameter(body []byte) (any, *APIError) {
	var in struct {
		Name           string `json:"Name"`
		WithDecryption bool   `json:"WithDecryption"`
	}
	if e := decode(body, &in, svcSSM); e != nil {
		return nil, e
	}
	if in.Name == "" {
		return nil, validationError("ValidationException", "1 validation error detected: Value null at 'name' failed to satisfy constraint: Member must not be null")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.findParam(in.Name)
	if p == nil {
		return nil, &APIError{Status: 400, Type: "ParameterNotFound"}
	}
	value := p.value
	if !in.WithDecryption {
		value = ciphertext(p.value)
	}
	type paramOut struct {
		Name             string  `json:"Name"`
		Type             string  `json:"Type"`
		Value            string  `json:"Value"`
		Version          int     `json:"Version"`
		LastModifiedDate float64 `json:"LastModifiedDate"`
		ARN              string  `json:"ARN"`
		DataType         string  `json:"DataType"`
	}
	return struct {
		Parameter paramOut `json:"Parameter"`
	}{paramOut{p.name, "SecureString", value, p.version, float64(p.modified.UnixMilli()) / 1000, p.arn, "text"}}, nil
}

// ciphertext stands for the KMS ciphertext SSM returns for a SecureString
// read without decryption: an opaque base64 blob that is not the value.
func ciphertext(value string) string {
	sum := sha256.Sum256([]byte("awstest-kms:" + value))
	return base64.StdEncoding.EncodeToString(append([]byte("awstest-kms-ciphertext:"), sum[:]...))
}

// resolveSecret is what ECS does with a container secret's valueFrom: a
// Secrets Manager ARN (optionally ":json-key:version-stage:version-id"),
// or an SSM parameter ARN or name. A non-empty reason is why the task
// cannot start. The caller holds s.mu.
func (s *Server) resolveSecret(valueFrom string) (value, reason string) {
	const initErr = "ResourceInitializationError: unable to pull secrets or registry auth: execution resource retrieval failed: "
	if strings.HasPrefix(valueFrom, "arn:aws:secretsmanager:") {
		fail := func(why string) (string, string) {
			return "", initErr + fmt.Sprintf("unable to retrieve secret from asm: service call has been retried 1 time(s): failed to fetch secret %s from secrets manager: %s", valueFrom, why)
		}
		// arn:aws:secretsmanager:region:account:secret:name[:key:stage:id]
		parts := strings.Split(valueFrom, ":")
		if len(parts) < 7 {
			return fail("InvalidParameterException: invalid secret ARN")
		}
		id := strings.Join(parts[:7], ":")
		var key, stage, version string
		for i, to := range []*string{&key, &stage, &version} {
			if len(parts) > 7+i {
				*to = parts[7+i]
			}
		}
		sec := s.findSecret(id)
		if sec == nil {
			return fail("ResourceNotFoundException: Secrets Manager can't find the specified secret.")
		}
		v, _, e := sec.version(version, stage)
		if e != nil {
			return fail(e.Type + ": " + e.Message)
		}
		if key == "" {
			return v.value, ""
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(v.value), &m); err != nil {
			return "", initErr + fmt.Sprintf("unable to retrieve secret from asm: the secret %s is not a JSON object; can't read key %s", valueFrom, key)
		}
		sv, ok := m[key].(string)
		if !ok {
			return "", initErr + fmt.Sprintf("unable to retrieve secret from asm: retrieved secret from Secrets Manager did not contain json key %s", key)
		}
		return sv, ""
	}
	if p := s.findParam(valueFrom); p != nil {
		return p.value, ""
	}
	name := valueFrom
	if i := strings.Index(valueFrom, ":parameter"); i >= 0 && strings.HasPrefix(valueFrom, "arn:") {
		name = valueFrom[i+len(":parameter"):]
	}
	return "", initErr + fmt.Sprintf("unable to retrieve secrets from ssm: service call has been retried 1 time(s): invalid ssm parameters: %s", name)
}
