package app

import (
	"context"

	"github.com/proofline/proofline/config"
	"github.com/proofline/proofline/mockvendor"
)

// newVendors builds the vendor adapters the config selects (issue #8 adds
// the real ones); mock vendors by default.
func newVendors(ctx context.Context, cfg config.Config, o WorkerOptions) (*vendorSet, error) {
	return &vendorSet{
		resolution: &mockvendor.Resolution{Latency: o.VendorLatency},
		stateID:    &mockvendor.StateID{Latency: o.VendorLatency},
		address:    &mockvendor.Address{Latency: o.VendorLatency},
		document:   &mockvendor.Document{Latency: o.VendorLatency},
	}, nil
}

// usesMockVendors reports whether the config selects mock vendors, so Lambda
// dispatch invokes the Mock function variants.
func usesMockVendors(cfg config.Config) bool { return true }
