package proofline

// Kind is the kind of a proofing job. The three kinds and their wire names are
// fixed by the original design.
type Kind string

const (
	// KindDocument reads an identity document through a document-authentication vendor.
	KindDocument Kind = "document"
	// KindResolution resolves name, date of birth, SSN and address, then
	// optionally checks the state ID.
	KindResolution Kind = "resolution"
	// KindAddress confirms phone ownership.
	KindAddress Kind = "address"
)

// Kinds lists every job kind, in a stable order.
var Kinds = []Kind{KindDocument, KindResolution, KindAddress}

// Valid reports whether k is one of the known kinds.
func (k Kind) Valid() bool {
	switch k {
	case KindDocument, KindResolution, KindAddress:
		return true
	}
	return false
}

// ResultField is the name of the callback body's top-level field for k:
// "document_result", "resolution_result" or "address_result".
func (k Kind) ResultField() string { return string(k) + "_result" }

// ParseKind returns the Kind named s, or an EINVALID error.
func ParseKind(s string) (Kind, error) {
	k := Kind(s)
	if !k.Valid() {
		return "", Errorf(EINVALID, "unknown job kind")
	}
	return k, nil
}
