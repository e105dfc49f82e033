package config

import (
	"net/url"
	"strings"
)

// AWS configures the original production design: S3 images, Lambda workers
// and SSM secrets (docs/aws.md). The switches aws_lambda_proofing_enabled and
// doc_auth_enable_presigned_s3_urls stay in Config under their original names.
//
// AWS credentials are never configuration: every AWS client takes them from
// the SDK's default chain (environment, shared files, the Lambda or instance
// role).
type AWS struct {
	// AWSRegion is the AWS region of the bucket, the Lambda functions and
	// Parameter Store. Default us-west-2.
	AWSRegion string `key:"aws_region"`
	// DocAuthS3Bucket is the bucket holding encrypted ID images. Required with
	// doc_auth_enable_presigned_s3_urls.
	DocAuthS3Bucket string `key:"doc_auth_s3_bucket"`
	// DocAuthS3Prefix is the key prefix of every image object: upload URLs
	// are issued, and workers read and delete, only under it. Letters,
	// digits, '-', '_', '.' and '/', ending in '/'. Default "doc-capture/".
	DocAuthS3Prefix string `key:"doc_auth_s3_prefix"`
	// AWSS3Endpoint is the origin of an S3-compatible server
	// (http(s)://host:port, addressed path-style). Empty: AWS S3 itself.
	AWSS3Endpoint string `key:"aws_s3_endpoint"`
	// AWSLambdaEndpoint is the origin of the Lambda API. Empty: AWS itself.
	AWSLambdaEndpoint string `key:"aws_lambda_endpoint"`
	// AWSSSMEndpoint is the origin of the SSM Parameter Store API. Empty: AWS
	// itself.
	AWSSSMEndpoint string `key:"aws_ssm_endpoint"`
	// EnvironmentName is the deployment's name: the {env} in Lambda function
	// names ({env}-idp-functions-ProofDocumentFunction) and in SSM paths
	// (/{env}/idp/doc-capture/{name}). Required with aws_lambda_proofing_enabled
	// and in the Lambda functions.
	EnvironmentName string `key:"environment_name"`
	// SSMCacheSeconds is how long a Lambda worker keeps a value read from
	// Parameter Store before reading it again, in seconds (1-3600).
	// Default 300.
	SSMCacheSeconds int `key:"ssm_cache_seconds"`
	// AWSLambdaInvokeTimeoutSeconds bounds one asynchronous Invoke call
	// (retries included), in seconds (1-60). Default 5.
	AWSLambdaInvokeTimeoutSeconds int `key:"aws_lambda_invoke_timeout_seconds"`
}

// DefaultDocAuthS3Prefix is the default of doc_auth_s3_prefix.
const DefaultDocAuthS3Prefix = "doc-capture/"

func (a *AWS) setDefaults() {
	a.AWSRegion = "us-west-2"
	a.DocAuthS3Prefix = DefaultDocAuthS3Prefix
	a.SSMCacheSeconds = 300
	a.AWSLambdaInvokeTimeoutSeconds = 5
}

func (a *AWS) validate(c *Config) error {
	if !validRegion(a.AWSRegion) {
		return &Error{Key: "aws_region", Msg: "must be an AWS region name like us-west-2"}
	}
	for _, e := range []struct{ key, v string }{
		{"aws_s3_endpoint", a.AWSS3Endpoint},
		{"aws_lambda_endpoint", a.AWSLambdaEndpoint},
		{"aws_ssm_endpoint", a.AWSSSMEndpoint},
	} {
		if e.v != "" && !validOrigin(e.v) {
			return &Error{Key: e.key, Msg: "must be an http(s) origin like https://s3.example.com:9000 (no path, query or credentials)"}
		}
	}
	if a.SSMCacheSeconds < 1 || a.SSMCacheSeconds > 3600 {
		return &Error{Key: "ssm_cache_seconds", Msg: "must be from 1 to 3600"}
	}
	if a.AWSLambdaInvokeTimeoutSeconds < 1 || a.AWSLambdaInvokeTimeoutSeconds > 60 {
		return &Error{Key: "aws_lambda_invoke_timeout_seconds", Msg: "must be from 1 to 60"}
	}
	if a.EnvironmentName != "" && !ValidEnvironmentName(a.EnvironmentName) {
		return &Error{Key: "environment_name", Msg: "must be 1-32 letters, digits, '-' or '_'"}
	}
	if !ValidS3Prefix(a.DocAuthS3Prefix) {
		return &Error{Key: "doc_auth_s3_prefix", Msg: "must be letters, digits, '-', '_', '.' and '/' ending in '/', without empty, '.' or '..' segments"}
	}
	if c.DocAuthEnablePresignedS3URLs {
		if a.DocAuthS3Bucket == "" {
			return &Error{Key: "doc_auth_s3_bucket", Msg: "is required when doc_auth_enable_presigned_s3_urls is true"}
		}
		if !validBucket(a.DocAuthS3Bucket) {
			return &Error{Key: "doc_auth_s3_bucket", Msg: "must be an S3 bucket name (3-63 lower-case letters, digits, '-' and '.')"}
		}
	}
	if c.AWSLambdaProofingEnabled {
		if a.EnvironmentName == "" {
			return &Error{Key: "environment_name", Msg: "is required when aws_lambda_proofing_enabled is true (it names the functions)"}
		}
		if !ValidWorkerGitRef(c.WorkerGitRef) {
			return &Error{Key: "worker_git_ref", Msg: "is required when aws_lambda_proofing_enabled is true: at least 10 letters or digits, not all digits (the Lambda alias is its first 10 characters)"}
		}
		if c.BaseURL == "" {
			return &Error{Key: "base_url", Msg: "is required when aws_lambda_proofing_enabled is true (Lambda workers call it back)"}
		}
		// Lambda workers must present the tokens the server checks: nothing
		// generated per process can work. (They need no key: each job's
		// data key is claimed from the server.)
		for _, kv := range [][2]string{
			{"address_proof_result_lambda_token", c.AddressProofResultLambdaToken},
			{"document_proof_result_lambda_token", c.DocumentProofResultLambdaToken},
			{"resolution_proof_result_lambda_token", c.ResolutionProofResultLambdaToken},
		} {
			if kv[1] == "" {
				return &Error{Key: kv[0], Msg: "is required when aws_lambda_proofing_enabled is true (the Lambda workers must share it)"}
			}
		}
	}
	return nil
}

// LambdaQualifierLen is how many characters of worker_git_ref name the
// Lambda alias jobs are dispatched to.
const LambdaQualifierLen = 10

// ValidWorkerGitRef reports whether ref can name a Lambda alias: at least
// LambdaQualifierLen characters, whose first LambdaQualifierLen are letters,
// digits, '-' or '_' and not all digits (Lambda's alias rule).
func ValidWorkerGitRef(ref string) bool {
	if len(ref) < LambdaQualifierLen {
		return false
	}
	q := ref[:LambdaQualifierLen]
	digits := true
	for i := 0; i < len(q); i++ {
		c := q[i]
		switch {
		case c >= '0' && c <= '9':
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c == '-', c == '_':
			digits = false
		default:
			return false
		}
	}
	return !digits
}

// ValidEnvironmentName reports whether s can be an environment_name.
func ValidEnvironmentName(s string) bool {
	if s == "" || len(s) > 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// ValidS3Prefix reports whether p can be doc_auth_s3_prefix: empty, or
// segments of letters, digits, '-', '_' and '.' (never "." or ".."), each
// followed by '/'.
func ValidS3Prefix(p string) bool {
	if p == "" {
		return true
	}
	if len(p) > 256 || !strings.HasSuffix(p, "/") {
		return false
	}
	for _, seg := range strings.Split(strings.TrimSuffix(p, "/"), "/") {
		if seg == "" || seg == "." || seg == ".." {
			return false
		}
		for i := 0; i < len(seg); i++ {
			c := seg[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
				return false
			}
		}
	}
	return true
}

func validRegion(s string) bool {
	if len(s) < 3 || len(s) > 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

func validBucket(s string) bool {
	if len(s) < 3 || len(s) > 63 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.') {
			return false
		}
	}
	first, last := s[0], s[len(s)-1]
	return first != '-' && first != '.' && last != '-' && last != '.' && !strings.Contains(s, "..")
}

func validOrigin(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" && u.User == nil &&
		u.Opaque == "" && (u.Path == "" || u.Path == "/") && u.RawQuery == "" && !u.ForceQuery && u.Fragment == ""
}
