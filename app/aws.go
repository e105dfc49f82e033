package app

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"

	"github.com/proofline/proofline/blobstore"
	"github.com/proofline/proofline/blobstore/s3blob"
	"github.com/proofline/proofline/config"
	"github.com/proofline/proofline/dispatch"
	"github.com/proofline/proofline/dispatch/lambdadispatch"
)

// LoadAWS is the AWS SDK configuration of a process: aws_region, and
// credentials from the SDK's default chain (environment, shared files, the
// Lambda or instance role). It contacts nothing.
func LoadAWS(ctx context.Context, cfg config.Config) (aws.Config, error) {
	ac, err := awsconfig.LoadDefaultConfig(ctx, awsconfig.WithRegion(cfg.AWSRegion))
	if err != nil {
		return aws.Config{}, fmt.Errorf("aws configuration: %w", err)
	}
	return ac, nil
}

// newS3Driver builds the S3 blob driver: doc_auth_s3_bucket under
// doc_auth_s3_prefix, at aws_s3_endpoint when set.
func newS3Driver(ctx context.Context, cfg config.Config, log *slog.Logger) (blobstore.Driver, error) {
	if cfg.DocAuthS3Bucket == "" {
		return nil, &config.Error{Key: "doc_auth_s3_bucket", Msg: "is required when doc_auth_enable_presigned_s3_urls is true"}
	}
	ac, err := LoadAWS(ctx, cfg)
	if err != nil {
		return nil, err
	}
	d, err := s3blob.New(s3blob.Options{
		Client: s3blob.NewClient(ac, cfg.AWSS3Endpoint),
		Bucket: cfg.DocAuthS3Bucket, Prefix: cfg.DocAuthS3Prefix,
	})
	if err != nil {
		return nil, &config.Error{Key: "doc_auth_s3_bucket", Msg: err.Error()}
	}
	log.Debug("s3 image store", slog.String("bucket", cfg.DocAuthS3Bucket), slog.String("prefix", cfg.DocAuthS3Prefix))
	return d, nil
}

// newLambdaDriver builds the AWS Lambda dispatch driver: asynchronous
// invokes of {environment_name}-idp-functions-{Kind}[Mock]Function at the
// alias named by worker_git_ref, at aws_lambda_endpoint when set.
func newLambdaDriver(ctx context.Context, cfg config.Config, log *slog.Logger) (dispatch.Driver, error) {
	if cfg.EnvironmentName == "" {
		return nil, &config.Error{Key: "environment_name", Msg: "is required when aws_lambda_proofing_enabled is true"}
	}
	if !config.ValidWorkerGitRef(cfg.WorkerGitRef) {
		return nil, &config.Error{Key: "worker_git_ref", Msg: "is required when aws_lambda_proofing_enabled is true (at least 10 characters)"}
	}
	ac, err := LoadAWS(ctx, cfg)
	if err != nil {
		return nil, err
	}
	return lambdadispatch.New(lambdadispatch.Options{
		Client:      lambdadispatch.NewClient(ac, cfg.AWSLambdaEndpoint),
		Environment: cfg.EnvironmentName,
		GitRef:      cfg.WorkerGitRef,
		Mock:        usesMockVendors(cfg),
		Timeout:     time.Duration(cfg.AWSLambdaInvokeTimeoutSeconds) * time.Second,
		Logger:      log,
	})
}
