// Package deploy renders the AWS SAM template of the proofline Lambda
// functions (the original production design; docs/aws.md).
//
// What is known when the code is built (the git ref, the architecture, the
// proofing deadline, which functions exist) is rendered into the template;
// what belongs to one deployment (environment name, bucket, the IdP's
// origin) is a CloudFormation parameter given at `sam deploy` time:
//
//	sam deploy --template-file dist/template-<ref>.yaml --stack-name <env>-idp-functions \
//	    --parameter-overrides EnvironmentName=<env> DocAuthS3Bucket=<bucket> BaseURL=https://idp.example.gov
//
// Every function (ProofDocument, ProofResolution, ProofAddress and, with
// Mock, their ...Mock variants) runs the same bootstrap on provided.al2023
// with Timeout 60, publishes a version under the alias named by the first
// 10 characters of the git ref (the Qualifier the IdP invokes), has
// asynchronous retries disabled and a MaximumEventAge no longer than the
// proofing deadline, takes its outbound proxy from SSM, and has an alarm on
// its Errors metric.
//
// Each function has an IAM role of its own (least privilege): it reads only
// the Parameter Store values of its Role (Parameters: its kind's callback
// token and its kind's vendor credentials), decrypts only those, writes only
// its own log group, and only the document functions read and delete images
// under the bucket prefix. The bootstrap reads exactly its Role's
// parameters (RoleOf names the role from the function's name).
package deploy

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"text/template"

	"github.com/proofline/proofline"
	"github.com/proofline/proofline/config"
	"github.com/proofline/proofline/dispatch/lambdadispatch"
)

//go:embed template.yaml.tmpl
var templateText string

var tmpl = template.Must(template.New("sam").Funcs(template.FuncMap{"q": quote}).Parse(templateText))

// Fixed settings of every function.
const (
	// TimeoutSeconds is each function's Timeout.
	TimeoutSeconds = 60
	// MinEventAge and MaxEventAge bound MaximumEventAge (Lambda's limits).
	MinEventAge = 60
	MaxEventAge = 21600
)

// KeptAlias is an alias of an earlier build kept while IdP servers still
// dispatch to it: its name (the first 10 characters of that git ref) and
// the version number it points to (`aws lambda get-alias`).
type KeptAlias struct {
	Name    string
	Version string
}

// Params are the build-time settings of a template.
type Params struct {
	// GitRef is the build's git ref; its first 10 characters name the alias.
	GitRef string
	// CodeURI is the zipped bootstrap, relative to the template's directory.
	CodeURI string
	// Architecture is arm64 (default) or x86_64.
	Architecture string
	// DeadlineSeconds is the proofing deadline (async_wait_timeout_seconds);
	// MaximumEventAge is set to it. Default 60, at least 60 (Lambda's minimum).
	DeadlineSeconds int
	// MemoryMB of each function. Default 512.
	MemoryMB int
	// Mock adds the ...MockFunction variants (mock vendors).
	Mock bool
	// Proxy sets http_proxy, https_proxy and no_proxy (both cases) from the
	// String parameters /{env}/idp/doc-capture/{http_proxy,https_proxy,no_proxy}.
	Proxy bool
	// Env is extra non-secret configuration of the real (non-mock) functions,
	// by config key (e.g. idv_resolution_default_vendor); secrets come from
	// SSM Parameter Store, never from here.
	Env map[string]string
	// Keep lists aliases of earlier builds to keep (see docs/aws.md, pinning).
	Keep []KeptAlias
}

// Function is one rendered function.
type Function struct {
	Logical string // CloudFormation logical id, e.g. ProofDocumentFunction
	Suffix  string // name after "{env}-idp-functions-"
	Mock    bool
	Role    Role
}

// Role is what one function is for: the kind of job it runs, with mock or
// real vendors. It decides what the function's IAM role allows.
type Role struct {
	Kind proofline.Kind
	Mock bool
}

// vendorSecrets are the secret configuration keys of each kind's real
// vendors. InstantVerify (resolution) and PhoneFinder (address) are one
// LexisNexis RDP account with one set of credentials, so both kinds read
// those; only resolution reads AAMVA's key, only document reads TrueID's.
var vendorSecrets = map[proofline.Kind][]string{
	proofline.KindResolution: {"lexisnexis_username", "lexisnexis_password", "lexisnexis_hmac_key_id", "lexisnexis_hmac_secret_key", "aamva_private_key"},
	proofline.KindAddress:    {"lexisnexis_username", "lexisnexis_password", "lexisnexis_hmac_key_id", "lexisnexis_hmac_secret_key"},
	proofline.KindDocument:   {"lexisnexis_trueid_username", "lexisnexis_trueid_password", "lexisnexis_trueid_hmac_key_id", "lexisnexis_trueid_hmac_secret_key"},
}

// ConfigSecrets are the secret configuration keys the function reads from
// Parameter Store at start (/{env}/idp/doc-capture/{key}): with real
// vendors, its kind's vendor credentials; nothing else (a worker holds no
// key that opens an envelope or a record: each job's data key is claimed).
func (r Role) ConfigSecrets() []string {
	if r.Mock {
		return nil
	}
	return slices.Clone(vendorSecrets[r.Kind])
}

// Parameters are the Parameter Store names the function may read: its
// ConfigSecrets and its kind's callback token (ssmparam.TokenName).
func (r Role) Parameters() []string {
	return append(r.ConfigSecrets(), string(r.Kind)+"_proof_result_token")
}

// ReadsImages reports whether the function reads and deletes images.
func (r Role) ReadsImages() bool { return r.Kind == proofline.KindDocument }

// FunctionName is the function's name in environment env.
func (r Role) FunctionName(env string) string {
	return env + "-idp-functions-" + r.suffix()
}

func (r Role) suffix() string {
	s := lambdadispatch.FunctionBase(r.Kind)
	if r.Mock {
		s += "Mock"
	}
	return s + "Function"
}

// RoleOf names the Role of the function called name in environment env
// (Lambda's AWS_LAMBDA_FUNCTION_NAME); false when name is not one of the
// template's functions.
func RoleOf(env, name string) (Role, bool) {
	for _, k := range proofline.Kinds {
		for _, mock := range []bool{false, true} {
			if r := (Role{Kind: k, Mock: mock}); env != "" && r.FunctionName(env) == name {
				return r, true
			}
		}
	}
	return Role{}, false
}

type view struct {
	Params
	Timeout   int
	Qualifier string
	Functions []Function
	EnvVars   [][2]string
}

// Render returns the SAM template for p.
func Render(p Params) ([]byte, error) {
	if !config.ValidWorkerGitRef(p.GitRef) || !alnum(p.GitRef[:lambdadispatch.QualifierLen]) {
		return nil, errors.New("deploy: GitRef must have at least 10 characters, the first 10 letters or digits, not all digits")
	}
	if p.CodeURI == "" || strings.ContainsAny(p.CodeURI, "\n\r") {
		return nil, errors.New("deploy: CodeURI is required")
	}
	switch p.Architecture {
	case "":
		p.Architecture = "arm64"
	case "arm64", "x86_64":
	default:
		return nil, errors.New("deploy: Architecture must be arm64 or x86_64")
	}
	if p.DeadlineSeconds == 0 {
		p.DeadlineSeconds = 60
	}
	if p.DeadlineSeconds < MinEventAge || p.DeadlineSeconds > MaxEventAge {
		return nil, fmt.Errorf("deploy: DeadlineSeconds must be from %d to %d (Lambda's MaximumEventAge range)", MinEventAge, MaxEventAge)
	}
	if p.MemoryMB == 0 {
		p.MemoryMB = 512
	}
	if p.MemoryMB < 128 || p.MemoryMB > 10240 {
		return nil, errors.New("deploy: MemoryMB must be from 128 to 10240")
	}
	known := map[string]bool{}
	for _, k := range config.Keys() {
		known[k] = true
	}
	secret := map[string]bool{}
	for _, k := range config.SecretKeys() {
		secret[k] = true
	}
	v := view{Params: p, Timeout: TimeoutSeconds, Qualifier: lambdadispatch.Qualifier(p.GitRef)}
	for k, val := range p.Env {
		if !known[k] {
			return nil, fmt.Errorf("deploy: Env: unknown config key %q", k)
		}
		if secret[k] {
			return nil, fmt.Errorf("deploy: Env: %s is a secret; put it in SSM Parameter Store", k)
		}
		v.EnvVars = append(v.EnvVars, [2]string{config.EnvName(k), val})
	}
	sort.Slice(v.EnvVars, func(i, j int) bool { return v.EnvVars[i][0] < v.EnvVars[j][0] })
	for _, k := range p.Keep {
		if len(k.Name) != lambdadispatch.QualifierLen || !alnum(k.Name) || !config.ValidWorkerGitRef(k.Name) || k.Name == v.Qualifier {
			return nil, fmt.Errorf("deploy: Keep: alias %q must be another build's 10-character qualifier", k.Name)
		}
		if k.Version == "" || strings.Trim(k.Version, "0123456789") != "" {
			return nil, fmt.Errorf("deploy: Keep: alias %q needs its version number", k.Name)
		}
	}
	for _, kind := range proofline.Kinds {
		for _, mock := range []bool{false, true} {
			if mock && !p.Mock {
				continue
			}
			r := Role{Kind: kind, Mock: mock}
			v.Functions = append(v.Functions, Function{Logical: r.suffix(), Suffix: r.suffix(), Mock: mock, Role: r})
		}
	}
	var b bytes.Buffer
	if err := tmpl.Execute(&b, v); err != nil {
		return nil, fmt.Errorf("deploy: %w", err)
	}
	return b.Bytes(), nil
}

// quote renders s as a YAML double-quoted scalar (JSON string syntax).
func quote(s string) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s)
	return strings.TrimSuffix(b.String(), "\n")
}

// alnum reports whether s is letters and digits only (alias names become
// parts of CloudFormation logical ids).
func alnum(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return s != ""
}
