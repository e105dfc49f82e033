package deploy_test

import (
	"fmt"
	"sort"
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
		"secret env":         func(p *deploy.Params) { p.Env = map[string]string{"record_keys": "k:x"} },
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

// TestEachFunctionHasItsOwnLeastPrivilegeRole parses the rendered template
// and checks every function's IAM statements, actions and resources: a
// function reads its own kind's callback token and its own kind's vendor
// credentials and nothing else; only the document functions touch images;
// no policy is shared.
func TestEachFunctionHasItsOwnLeastPrivilegeRole(t *testing.T) {
	t.Parallel()
	tpl := render(t, deploy.Params{GitRef: ref, CodeURI: "x.zip", Mock: true})
	res := get(t, tpl, "Resources").(map[string]any)
	const param = "arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter/${EnvironmentName}/idp/doc-capture/"
	rdp := []string{"lexisnexis_username", "lexisnexis_password", "lexisnexis_hmac_key_id", "lexisnexis_hmac_secret_key"}
	trueID := []string{"lexisnexis_trueid_username", "lexisnexis_trueid_password", "lexisnexis_trueid_hmac_key_id", "lexisnexis_trueid_hmac_secret_key"}
	// What each function may read, written out here independently of the
	// renderer.
	want := map[string][]string{
		"ProofDocumentFunction":       append([]string{"document_proof_result_token"}, trueID...),
		"ProofResolutionFunction":     append([]string{"resolution_proof_result_token", "aamva_private_key"}, rdp...),
		"ProofAddressFunction":        append([]string{"address_proof_result_token"}, rdp...),
		"ProofDocumentMockFunction":   {"document_proof_result_token"},
		"ProofResolutionMockFunction": {"resolution_proof_result_token"},
		"ProofAddressMockFunction":    {"address_proof_result_token"},
	}
	roles := map[string]bool{}
	for fn, params := range want {
		role := fmt.Sprint(get(t, res, fn, "Properties", "Role"))
		if role != "map[Fn::GetAtt:"+fn+"Role.Arn]" {
			t.Errorf("%s: Role %s, want its own role", fn, role)
			continue
		}
		if _, shared := get(t, res, fn, "Properties").(map[string]any)["Policies"]; shared {
			t.Errorf("%s: has SAM Policies besides its role", fn)
		}
		roles[fn+"Role"] = true
		r := get(t, res, fn+"Role")
		if get(t, r, "Type") != "AWS::IAM::Role" {
			t.Fatalf("%sRole is %v", fn, get(t, r, "Type"))
		}
		props := get(t, r, "Properties").(map[string]any)
		if _, ok := props["ManagedPolicyArns"]; ok {
			t.Errorf("%s: managed policies attached", fn)
		}
		if got := fmt.Sprint(get(t, props, "AssumeRolePolicyDocument", "Statement")); got != "[map[Action:sts:AssumeRole Effect:Allow Principal:map[Service:lambda.amazonaws.com]]]" {
			t.Errorf("%s: trust policy %s", fn, got)
		}
		policies := get(t, props, "Policies").([]any)
		if len(policies) != 1 {
			t.Fatalf("%s: %d inline policies", fn, len(policies))
		}
		var arns []any
		for _, p := range params {
			arns = append(arns, map[string]any{"Fn::Sub": param + p})
		}
		wantStmts := map[string]string{
			"WriteOwnLogs": canon(map[string]any{"Sid": "WriteOwnLogs", "Effect": "Allow",
				"Action":   []any{"logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"},
				"Resource": map[string]any{"Fn::Sub": "arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:/aws/lambda/${EnvironmentName}-idp-functions-" + fn + ":*"}}),
			"ReadOwnParameters": canon(map[string]any{"Sid": "ReadOwnParameters", "Effect": "Allow",
				"Action": []any{"ssm:GetParameter", "ssm:GetParameters"}, "Resource": arns}),
			"DecryptOwnParameters": canon(map[string]any{"Sid": "DecryptOwnParameters", "Effect": "Allow",
				"Action": "kms:Decrypt", "Resource": "*", "Condition": map[string]any{"StringEquals": map[string]any{
					"kms:ViaService":                      map[string]any{"Fn::Sub": "ssm.${AWS::Region}.amazonaws.com"},
					"kms:EncryptionContext:PARAMETER_ARN": arns,
				}}}),
		}
		if strings.HasPrefix(fn, "ProofDocument") {
			wantStmts["ReadAndDeleteImagesUnderThePrefix"] = canon(map[string]any{"Sid": "ReadAndDeleteImagesUnderThePrefix", "Effect": "Allow",
				"Action":   []any{"s3:GetObject", "s3:DeleteObject"},
				"Resource": map[string]any{"Fn::Sub": "arn:${AWS::Partition}:s3:::${DocAuthS3Bucket}/${DocAuthS3Prefix}*"}})
		}
		stmts := get(t, policies[0], "PolicyDocument", "Statement").([]any)
		if len(stmts) != len(wantStmts) {
			t.Errorf("%s: %d statements, want %d: %v", fn, len(stmts), len(wantStmts), stmts)
		}
		for _, st := range stmts {
			sid, _ := st.(map[string]any)["Sid"].(string)
			if w, ok := wantStmts[sid]; !ok || canon(st) != w {
				t.Errorf("%s: statement %s\n got %v\nwant %s", fn, sid, st, w)
			}
		}
		// None reads another kind's token.
		for _, other := range []string{"document", "resolution", "address"} {
			tok := param + other + "_proof_result_token"
			if strings.Contains(fmt.Sprint(stmts), tok) != strings.HasPrefix(strings.ToLower(fn), "proof"+other) {
				t.Errorf("%s: reads the %s token: %v", fn, other, strings.Contains(fmt.Sprint(stmts), tok))
			}
		}
	}
	// No other IAM resource: nothing shared between functions.
	for name, r := range res {
		typ, _ := get(t, r, "Type").(string)
		if strings.HasPrefix(typ, "AWS::IAM::") && !roles[name] {
			t.Errorf("IAM resource %s (%s) besides the per-function roles", name, typ)
		}
	}
}

// TestRoleOfNamesTheTemplatesFunctions: the bootstrap finds its role from
// Lambda's function name, and only for the template's names.
func TestRoleOfNamesTheTemplatesFunctions(t *testing.T) {
	t.Parallel()
	for name, want := range map[string]deploy.Role{
		"prod-idp-functions-ProofDocumentFunction":       {Kind: "document"},
		"prod-idp-functions-ProofResolutionMockFunction": {Kind: "resolution", Mock: true},
		"prod-idp-functions-ProofAddressFunction":        {Kind: "address"},
	} {
		if got, ok := deploy.RoleOf("prod", name); !ok || got != want {
			t.Errorf("RoleOf(%s) = %+v, %v", name, got, ok)
		}
	}
	for _, name := range []string{"", "function", "test-idp-functions-ProofDocumentFunction", "prod-idp-functions-ProofDocument", "prod-idp-functions-ProofPassportFunction"} {
		if _, ok := deploy.RoleOf("prod", name); ok {
			t.Errorf("RoleOf(%q) found a role", name)
		}
	}
}

// canon prints v with every list sorted: IAM lists are sets.
func canon(v any) string {
	switch x := v.(type) {
	case []any:
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = canon(e)
		}
		sort.Strings(parts)
		return "[" + strings.Join(parts, " ") + "]"
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var b strings.Builder
		b.WriteString("map[")
		for i, k := range keys {
			if i > 0 {
				b.WriteString(" ")
			}
			b.WriteString(k + ":" + canon(x[k]))
		}
		return b.String() + "]"
	}
	return fmt.Sprint(v)
}
