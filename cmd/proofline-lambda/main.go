// Command proofline-lambda is the `bootstrap` of the proofline Lambda
// functions (provided.al2023 runtime, aws-lambda-go). Every function
// (ProofDocument, ProofResolution, ProofAddress and their Mock variants)
// runs this same binary and the same worker runtime as every other mode:
// the event is one sealed job envelope; the result goes to the IdP's
// callback, which reports this build's git ref.
//
// Build it as `make package` does:
//
//	GOOS=linux GOARCH=arm64 CGO_ENABLED=0 go build -tags lambda.norpc \
//	    -ldflags "-X main.version=$(git rev-parse HEAD)" -o bootstrap ./cmd/proofline-lambda
//
// Configuration comes from the environment (PROOFLINE_<KEY>, see README and
// docs/aws.md), then from SSM Parameter Store: for the secret keys of this
// function's role (aws/deploy Role.ConfigSecrets: its own kind's vendor
// credentials; the role is named by AWS_LAMBDA_FUNCTION_NAME),
// /{environment_name}/idp/doc-capture/{key} when it exists, with
// decryption. A function runs only jobs of its own kind. It holds no key
// that opens an envelope or a stored record: each job's data key is claimed
// from the IdP, and a function configured with a server-only key
// (record_keys, session_secret, attempt_hash_key, api_keys, redis_url)
// refuses to start. Callback tokens are
// read per job from /{environment_name}/idp/doc-capture/{kind}_proof_result_token
// and cached for ssm_cache_seconds; IDP_API_AUTH_TOKEN overrides them. A
// job without a token fails before any vendor call.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/proofline/proofline"
	"github.com/proofline/proofline/app"
	"github.com/proofline/proofline/aws/ssmparam"
	"github.com/proofline/proofline/config"
	"github.com/proofline/proofline/worker"
)

// version is the build's git ref, set with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	ctx := context.Background()
	h, err := setup(ctx, os.Environ(), os.Stderr)
	if err != nil {
		// An init failure: Lambda reports it and retries the init.
		fmt.Fprintln(os.Stderr, "proofline-lambda:", err)
		os.Exit(1)
	}
	lambda.StartWithOptions(h.Handle, lambda.WithContext(ctx))
}

// Response is what one invocation returns (visible in synchronous test
// invokes; asynchronous invokes discard it).
type Response struct {
	Outcome  string `json:"outcome"` // delivered, expired, rejected, duplicate or not_delivered
	Kind     string `json:"kind,omitempty"`
	ResultID string `json:"result_id,omitempty"`
	Version  string `json:"version"`
}

type handler struct {
	rt      *worker.Runtime
	version string
	log     *slog.Logger
	kind    proofline.Kind // the only kind this function runs; "" = any
}

// setup builds the worker runtime from the environment and Parameter Store.
func setup(ctx context.Context, environ []string, logOut io.Writer) (*handler, error) {
	cfg, err := config.Load("", environ)
	if err != nil {
		return nil, err
	}
	if cfg.EnvironmentName == "" {
		return nil, &config.Error{Key: "environment_name", Msg: "is required in a Lambda function (it names the SSM parameters)"}
	}
	ac, err := app.LoadAWS(ctx, cfg)
	if err != nil {
		return nil, err
	}
	params, err := ssmparam.New(ssmparam.Options{
		Client:        ssmparam.NewClient(ac, cfg.AWSSSMEndpoint),
		Environment:   cfg.EnvironmentName,
		TTL:           time.Duration(cfg.SSMCacheSeconds) * time.Second,
		TokenOverride: lookup(environ, ssmparam.OverrideEnv),
	})
	if err != nil {
		return nil, err
	}
	role, ownRole := functionRole(cfg.EnvironmentName, environ)
	secrets := workerSecrets()
	if ownRole {
		secrets = role.ConfigSecrets()
		onlyOwnVendors(&cfg, role)
	}
	octx, cancel := context.WithTimeout(ctx, 10*time.Second)
	applied, err := params.Overlay(octx, secrets, cfg.Set)
	cancel()
	if err != nil {
		return nil, err
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := cfg.CheckWorker(); err != nil {
		return nil, err
	}
	switch {
	case cfg.BaseURL == "":
		return nil, &config.Error{Key: "base_url", Msg: "is required: it names the only callback host allowed"}
	case !cfg.DocAuthEnablePresignedS3URLs:
		return nil, &config.Error{Key: "doc_auth_enable_presigned_s3_urls", Msg: "must be true in a Lambda function (images are read from S3)"}
	}
	log := slog.New(slog.NewJSONHandler(logOut, &slog.HandlerOptions{Level: level(cfg.LogLevel)})).
		With(slog.String("version", version))
	rt, err := app.NewWorker(ctx, cfg, app.WorkerOptions{Tokens: params, Version: version, Logger: log})
	if err != nil {
		return nil, err
	}
	log.Info("proofline lambda ready", slog.String("environment", cfg.EnvironmentName), slog.Any("ssm_keys", applied))
	h := &handler{rt: rt, version: version, log: log}
	if ownRole {
		h.kind = role.Kind
	}
	return h, nil
}

// Handle runs one event: a sealed job envelope. Anything but a delivered
// result is an error, so the function's Errors metric (and its alarm) counts
// it; asynchronous retries are disabled in the template, since a retry could
// only land after the person gave up.
func (h *handler) Handle(ctx context.Context, event json.RawMessage) (Response, error) {
	resp := Response{Version: h.version}
	env, err := proofline.ParseEnvelope(event)
	if err != nil {
		resp.Outcome = "rejected"
		h.log.Error("event rejected: not a job envelope")
		return resp, errors.New("event rejected: not a job envelope")
	}
	resp.Kind, resp.ResultID = string(env.Kind), env.ResultID
	if h.kind != "" && env.Kind != h.kind {
		resp.Outcome = "rejected"
		h.log.Error("event rejected: job of another kind", slog.String("kind", string(env.Kind)), slog.String("result_id", env.ResultID))
		return resp, fmt.Errorf("job %s rejected: a %s job sent to the %s function", env.ResultID, env.Kind, h.kind)
	}
	err = h.rt.Handle(ctx, env)
	switch {
	case err == nil:
		resp.Outcome = "delivered"
		return resp, nil
	case errors.Is(err, worker.ErrExpired):
		resp.Outcome = "expired"
	case errors.Is(err, worker.ErrRejected):
		resp.Outcome = "rejected"
	case errors.Is(err, worker.ErrClaimed):
		// A redelivered event (a retry of Lambda's event queue): the job was
		// claimed before, so it is not proofed again.
		resp.Outcome = "duplicate"
	default:
		resp.Outcome = "not_delivered"
	}
	// Worker errors carry ids and classes only, never PII.
	return resp, fmt.Errorf("job %s %s: %s", env.ResultID, resp.Outcome, err.Error())
}

func lookup(environ []string, key string) string {
	for i := len(environ) - 1; i >= 0; i-- {
		if k, v, ok := strings.Cut(environ[i], "="); ok && k == key {
			return v
		}
	}
	return ""
}

func level(s string) slog.Level {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return slog.LevelInfo
	}
	return l
}
