package config

// AWS configures the original production design: S3 images, Lambda workers
// and SSM secrets (issue #4). The switches aws_lambda_proofing_enabled and
// doc_auth_enable_presigned_s3_urls stay in Config under their original names.
type AWS struct{}

func (a *AWS) setDefaults() {}

func (a *AWS) validate(c *Config) error {
	if c.AWSLambdaProofingEnabled {
		return &Error{Key: "aws_lambda_proofing_enabled", Msg: "AWS Lambda dispatch is not available in this build"}
	}
	if c.DocAuthEnablePresignedS3URLs {
		return &Error{Key: "doc_auth_enable_presigned_s3_urls", Msg: "S3 image storage is not available in this build"}
	}
	return nil
}
