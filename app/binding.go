package app

import (
	"github.com/proofline/proofline/config"
	"github.com/proofline/proofline/proofer/mockvendor"
)

// stateIDJurisdictions are the jurisdictions the configured state-ID vendor
// supports: a resolution bound to a document proofs the state ID whenever the
// document's jurisdiction is one of them (should_proof_state_id implied).
// AAMVA: aamva_supported_jurisdictions; the mock: its own list.
func stateIDJurisdictions(cfg config.Config) []string {
	if cfg.UsesAAMVA() {
		return append([]string{}, cfg.Jurisdictions()...) // none listed: none, not all
	}
	return mockvendor.SupportedJurisdictions()
}
