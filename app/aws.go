package app

import (
	"context"
	"log/slog"

	"github.com/proofline/proofline/blobstore"
	"github.com/proofline/proofline/config"
	"github.com/proofline/proofline/dispatch"
)

// newS3Driver builds the S3 blob driver (issue #4).
func newS3Driver(ctx context.Context, cfg config.Config, log *slog.Logger) (blobstore.Driver, error) {
	return nil, &config.Error{Key: "doc_auth_enable_presigned_s3_urls", Msg: "S3 image storage is not available in this build"}
}

// newLambdaDriver builds the AWS Lambda dispatch driver (issue #4).
func newLambdaDriver(ctx context.Context, cfg config.Config, log *slog.Logger) (dispatch.Driver, error) {
	return nil, &config.Error{Key: "aws_lambda_proofing_enabled", Msg: "AWS Lambda dispatch is not available in this build"}
}
