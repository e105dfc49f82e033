package deploy_test

import (
	"fmt"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/proofline/proofline/aws/deploy"
)

// decode turns YAML into plain values, CloudFormation short tags included:
// !Ref x → {"Ref": x}, !Sub s → {"Fn::Sub": s}, !If [...] → {"Fn::If": [...]}.
func decode(t *testing.T, n *yaml.Node) any {
	t.Helper()
	var v any
	switch n.Kind {
	case yaml.DocumentNode:
		return decode(t, n.Content[0])
	case yaml.MappingNode:
		m := map[string]any{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i].Value
			if _, dup := m[k]; dup {
				t.Fatalf("duplicate key %q at line %d", k, n.Content[i].Line)
			}
			m[k] = decode(t, n.Content[i+1])
		}
		v = m
	case yaml.SequenceNode:
		l := []any{}
		for _, c := range n.Content {
			l = append(l, decode(t, c))
		}
		v = l
	case yaml.ScalarNode:
		if strings.HasPrefix(n.Tag, "!!") {
			if err := n.Decode(&v); err != nil {
				t.Fatal(err)
			}
			return v
		}
		v = n.Value
	case yaml.AliasNode:
		return decode(t, n.Alias)
	}
	switch n.Tag {
	case "", "!!map", "!!seq", "!!str":
		return v
	case "!Ref":
		return map[string]any{"Ref": v}
	default:
		if !strings.HasPrefix(n.Tag, "!") || strings.HasPrefix(n.Tag, "!!") {
			t.Fatalf("unexpected tag %s", n.Tag)
		}
		return map[string]any{"Fn::" + n.Tag[1:]: v}
	}
}

func render(t *testing.T, p deploy.Params) map[string]any {
	t.Helper()
	b, err := deploy.Render(p)
	if err != nil {
		t.Fatal(err)
	}
	var n yaml.Node
	if err := yaml.Unmarshal(b, &n); err != nil {
		t.Fatalf("template does not parse: %v\n%s", err, b)
	}
	return decode(t, &n).(map[string]any)
}

// get walks a path of map keys and list indexes ("0").
func get(t *testing.T, v any, path ...string) any {
	t.Helper()
	for i, p := range path {
		switch c := v.(type) {
		case map[string]any:
			var ok bool
			if v, ok = c[p]; !ok {
				t.Fatalf("no %q at %v", p, path[:i])
			}
		case []any:
			var idx int
			fmt.Sscan(p, &idx)
			if idx >= len(c) {
				t.Fatalf("no index %s at %v", p, path[:i])
			}
			v = c[idx]
		default:
			t.Fatalf("cannot walk %q into %T at %v", p, v, path[:i])
		}
	}
	return v
}

const ref = "a1b2c3d4e5f60718293a4b5c6d7e8f9012345678"

func TestTemplateSettings(t *testing.T) {
	t.Parallel()
	tpl := render(t, deploy.Params{
		GitRef: ref, CodeURI: "proofline-lambda-" + ref + "-linux-arm64.zip", Mock: true, Proxy: true,
		Env: map[string]string{"log_level": "warn"},
	})
	if get(t, tpl, "Transform") != "AWS::Serverless-2016-10-31" {
		t.Error("not a SAM template")
	}
	g := get(t, tpl, "Globals", "Function")
	for path, want := range map[string]any{
		"Runtime": "provided.al2023", "Handler": "bootstrap", "Timeout": 60,
		"AutoPublishAlias": ref[:10],
		"CodeUri":          "proofline-lambda-" + ref + "-linux-arm64.zip",
	} {
		if got := get(t, g, strings.Split(path, "/")...); got != want {
			t.Errorf("Globals.Function.%s = %v, want %v", path, got, want)
		}
	}
	vars := get(t, g, "Environment", "Variables").(map[string]any)
	if vars["PROOFLINE_DOC_AUTH_ENABLE_PRESIGNED_S3_URLS"] != "true" || fmt.Sprint(vars["PROOFLINE_ENVIRONMENT_NAME"]) != "map[Ref:EnvironmentName]" {
		t.Errorf("environment %v", vars)
	}
	for _, k := range []string{"http_proxy", "https_proxy", "no_proxy", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY"} {
		sub, _ := vars[k].(map[string]any)["Fn::Sub"].(string)
		want := "{{resolve:ssm:/${EnvironmentName}/idp/doc-capture/" + strings.ToLower(k) + "}}"
		if sub != want {
			t.Errorf("%s = %v, want !Sub %q", k, vars[k], want)
		}
	}

	res := get(t, tpl, "Resources").(map[string]any)
	for _, fn := range []string{"ProofDocument", "ProofResolution", "ProofAddress", "ProofDocumentMock", "ProofResolutionMock", "ProofAddressMock"} {
		logical := fn + "Function"
		f := get(t, res, logical)
		if get(t, f, "Type") != "AWS::Serverless::Function" {
			t.Fatalf("%s type", logical)
		}
		if got := get(t, f, "Properties", "FunctionName", "Fn::Sub"); got != "${EnvironmentName}-idp-functions-"+logical {
			t.Errorf("%s FunctionName %v", logical, got)
		}
		for path, want := range map[string]any{
			"Architectures/0": "arm64", "EventInvokeConfig/MaximumRetryAttempts": 0, "EventInvokeConfig/MaximumEventAgeInSeconds": 60,
		} {
			if got := get(t, f, append([]string{"Properties"}, strings.Split(path, "/")...)...); got != want {
				t.Errorf("%s.%s = %v, want %v", logical, path, got, want)
			}
		}
		if fmt.Sprint(get(t, f, "Properties", "Policies")) != "[map[Ref:WorkerPolicy]]" {
			t.Errorf("%s policies %v", logical, get(t, f, "Properties", "Policies"))
		}
		// Extra settings only on the real functions.
		_, hasEnv := get(t, f, "Properties").(map[string]any)["Environment"]
		if hasEnv == strings.HasSuffix(fn, "Mock") {
			t.Errorf("%s: function-level environment %v", logical, hasEnv)
		}
		alarm := get(t, res, logical+"Errors", "Properties")
		if get(t, alarm, "MetricName") != "Errors" || get(t, alarm, "Namespace") != "AWS/Lambda" ||
			fmt.Sprint(get(t, alarm, "Dimensions", "0", "Value")) != "map[Ref:"+logical+"]" || get(t, alarm, "Threshold") != 1 {
			t.Errorf("%s alarm %v", logical, alarm)
		}
	}
	if got := get(t, res, "ProofAddressFunction", "Properties", "Environment", "Variables", "PROOFLINE_LOG_LEVEL"); got != "warn" {
		t.Errorf("extra env = %v", got)
	}

	// IAM: the bucket prefix and the parameter path, nothing wider.
	stmts := get(t, res, "WorkerPolicy", "Properties", "PolicyDocument", "Statement").([]any)
	if len(stmts) != 3 {
		t.Fatalf("%d statements", len(stmts))
	}
	for _, s := range stmts {
		actions := fmt.Sprint(get(t, s, "Action"))
		resource := get(t, s, "Resource")
		switch get(t, s, "Sid") {
		case "ReadAndDeleteImagesUnderThePrefix":
			if actions != "[s3:GetObject s3:DeleteObject]" || get(t, resource, "Fn::Sub") != "arn:${AWS::Partition}:s3:::${DocAuthS3Bucket}/${DocAuthS3Prefix}*" {
				t.Errorf("s3 statement %v", s)
			}
		case "ReadWorkerParameters":
			if actions != "[ssm:GetParameter ssm:GetParameters]" || get(t, resource, "Fn::Sub") != "arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter/${EnvironmentName}/idp/doc-capture/*" {
				t.Errorf("ssm statement %v", s)
			}
		case "DecryptWorkerParameters":
			if actions != "kms:Decrypt" || get(t, s, "Condition", "StringEquals", "kms:ViaService", "Fn::Sub") != "ssm.${AWS::Region}.amazonaws.com" {
				t.Errorf("kms statement %v", s)
			}
		default:
			t.Errorf("unexpected statement %v", s)
		}
	}
	if get(t, tpl, "Outputs", "Qualifier", "Value") != ref[:10] {
		t.Error("qualifier output")
	}
}

func TestTemplateDeadlineArchitectureAndKeptAliases(t *testing.T) {
	t.Parallel()
	tpl := render(t, deploy.Params{
		GitRef: ref, CodeURI: "x.zip", Architecture: "x86_64", DeadlineSeconds: 90,
		Keep: []deploy.KeptAlias{{Name: "0f0f0f0f0a", Version: "17"}},
	})
	g := get(t, tpl, "Globals", "Function")
	f := get(t, tpl, "Resources", "ProofAddressFunction", "Properties")
	if get(t, f, "Architectures", "0") != "x86_64" || get(t, f, "EventInvokeConfig", "MaximumEventAgeInSeconds") != 90 {
		t.Errorf("function %v", f)
	}
	vars := get(t, g, "Environment", "Variables").(map[string]any)
	if _, ok := vars["HTTPS_PROXY"]; ok {
		t.Error("proxy set without Proxy")
	}
	res := get(t, tpl, "Resources").(map[string]any)
	if _, ok := res["ProofDocumentMockFunction"]; ok {
		t.Error("mock functions without Mock")
	}
	for _, fn := range []string{"ProofDocumentFunction", "ProofResolutionFunction", "ProofAddressFunction"} {
		a := get(t, res, fn+"Alias0f0f0f0f0a", "Properties")
		if get(t, a, "Name") != "0f0f0f0f0a" || get(t, a, "FunctionVersion") != "17" {
			t.Errorf("kept alias %v", a)
		}
		c := get(t, res, fn+"Alias0f0f0f0f0aInvokeConfig", "Properties")
		if get(t, c, "Qualifier") != "0f0f0f0f0a" || get(t, c, "MaximumRetryAttempts") != 0 || get(t, c, "MaximumEventAgeInSeconds") != 90 {
			t.Errorf("kept alias invoke config %v", c)
		}
	}
}

func TestRenderRefuses(t *testing.T) {
	t.Parallel()
	ok := deploy.Params{GitRef: ref, CodeURI: "x.zip"}
	for name, mut := range map[string]func(p *deploy.Params){
		"short ref":          func(p *deploy.Params) { p.GitRef = "abc" },
		"all-digit alias":    func(p *deploy.Params) { p.GitRef = "1234567890abc" },
		"odd alias":          func(p *deploy.Params) { p.GitRef = "abc-def_ghij" },
		"deadline too short": func(p *deploy.Params) { p.DeadlineSeconds = 30 },
		"architecture":       func(p *deploy.Params) { p.Architecture = "mips" },
		"no code":            func(p *deploy.Params) { p.CodeURI = "" },
		"secret env":         func(p *deploy.Params) { p.Env = map[string]string{"seal_keys": "k:x"} },
		"unknown env":        func(p *deploy.Params) { p.Env = map[string]string{"nope": "x"} },
		"kept alias version": func(p *deploy.Params) { p.Keep = []deploy.KeptAlias{{Name: "0f0f0f0f0a", Version: "$LATEST"}} },
		"kept alias = new":   func(p *deploy.Params) { p.Keep = []deploy.KeptAlias{{Name: ref[:10], Version: "3"}} },
	} {
		p := ok
		mut(&p)
		if _, err := deploy.Render(p); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := deploy.Render(ok); err != nil {
		t.Fatal(err)
	}
}
