package main

import (
	"github.com/proofline/proofline"
	"github.com/proofline/proofline/aws/deploy"
	"github.com/proofline/proofline/config"
)

// functionRole is the role of this function, named by Lambda's
// AWS_LAMBDA_FUNCTION_NAME ({env}-idp-functions-{Kind}[Mock]Function, see
// aws/deploy). Its IAM role lets it read only that role's parameters, so
// the bootstrap asks for exactly those. A function under another name (a
// local emulator) reads the worker parameters of every role and runs every
// kind.
func functionRole(env string, environ []string) (deploy.Role, bool) {
	return deploy.RoleOf(env, lookup(environ, "AWS_LAMBDA_FUNCTION_NAME"))
}

// workerSecrets are the configuration secrets of every role (never a
// server-only secret such as redis_url or session_secret).
func workerSecrets() []string {
	seen := map[string]bool{}
	var keys []string
	for _, k := range proofline.Kinds {
		for _, k := range (deploy.Role{Kind: k}).ConfigSecrets() {
			if !seen[k] {
				seen[k] = true
				keys = append(keys, k)
			}
		}
	}
	return keys
}

// onlyOwnVendors selects the mock for every other kind's vendors: they never
// run in this function (it refuses other kinds' jobs), and their
// credentials are not its to read.
func onlyOwnVendors(cfg *config.Config, r deploy.Role) {
	if r.Kind != proofline.KindResolution {
		cfg.IDVResolutionDefaultVendor = config.VendorMock
		cfg.ProoferMockFallback = true // no AAMVA
	}
	if r.Kind != proofline.KindAddress {
		cfg.IDVAddressPrimaryVendor = config.VendorMock
	}
	if r.Kind != proofline.KindDocument {
		cfg.DocAuthVendorDefault = config.VendorMock
	}
}
