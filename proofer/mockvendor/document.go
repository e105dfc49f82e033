package mockvendor

import (
	"context"
	"strings"
	"time"
	"unicode/utf8"

	"gopkg.in/yaml.v3"

	"github.com/proofline/proofline"
	"github.com/proofline/proofline/proofer"
)

// MaxYAMLBytes is the largest decrypted back image the document mock tries
// to read as YAML. Anything longer (any real photo) is not parsed at all.
const MaxYAMLBytes = 64 << 10

// Document results.
const (
	DocResultPassed = "Passed"
	DocResultFailed = "Failed"
)

// Document failure messages.
const (
	// DocumentErrorField is the errors key of every document mock failure:
	// "general", as the failures are about the document as a whole rather
	// than one side (the original error generator's key for such failures).
	DocumentErrorField = "general"
	// MsgDocumentFailed is the failure message when the sandbox YAML fails
	// without a usable friendly_error.
	MsgDocumentFailed = "The document could not be verified."
)

// Caps on what sandbox YAML can put into a result.
const (
	maxFriendlyErrorBytes = 256
	maxAlerts             = 50
	maxAlertFieldBytes    = 128
)

// DefaultPII is what the document mock reads off any document that does not
// say otherwise: a made-up person (the original mock's).
func DefaultPII() *proofline.DocumentPII {
	return &proofline.DocumentPII{
		FirstName:           "FAKEY",
		LastName:            "MCFAKERSON",
		Address1:            "1 FAKE RD",
		City:                "GREAT FALLS",
		State:               "MT",
		Zipcode:             "59010",
		DOB:                 "1938-10-06",
		StateIDNumber:       "1111111111111",
		StateIDJurisdiction: "ND",
		StateIDType:         "drivers_license",
	}
}

// Document is the sandbox document-authentication vendor ("DocAuthMock").
//
// It reads only the back image. When that image (decrypted) is a YAML
// mapping of at most MaxYAMLBytes with any of these top-level keys:
//
//	document:          # → pii_from_doc; keys first_name, middle_name, last_name,
//	  first_name: JANE #   address1, address2, city, state, zipcode, dob,
//	  ...              #   state_id_number, state_id_jurisdiction, state_id_type,
//	                   #   state_id_expiration, state_id_issued (YYYY-MM-DD),
//	                   #   name_suffix, sex, height, issuing_country_code
//	                   #   (scalars; others ignored)
//	friendly_error: "Your ID is expired."     # → failure, errors {"general": [message]}
//	failed_alerts:                            # → raw_alerts + failure
//	  - name: 2D Barcode Read
//	    result: Failed                       # optional, default "Failed"
//	    side: back                           # optional
//
// then a friendly_error or at least one failed alert gives a failed result
// (billed, result "Failed", errors under "general", pii_from_doc only when
// document: was given); otherwise the result passes with pii_from_doc from
// document:. Anything else — not UTF-8, not YAML, too large, a YAML scalar, a
// mapping without those keys, a real JPEG — passes with DefaultPII.
//
// The mock only reads; what a document must carry is the proofer's rule, for
// every vendor: a document: without first_name, last_name, a real dob,
// state_id_number, state_id_jurisdiction or state_id_type, or with a
// state_id_expiration before today, fails there.
//
// Parsing is bounded (size cap; aliases are not expanded; a parser panic is
// recovered and counts as "not YAML").
type Document struct {
	// Latency is waited before answering; see Resolution.Latency.
	Latency time.Duration
}

var _ proofer.DocumentVendor = (*Document)(nil)

// Name returns "DocAuthMock".
func (*Document) Name() string { return DocumentName }

// AuthenticateDocument answers according to the back image; see Document.
func (m *Document) AuthenticateDocument(ctx context.Context, img *proofer.DocumentImages) (*proofer.VendorResult, error) {
	if err := begin(ctx, DocumentName, m.Latency); err != nil {
		return nil, err
	}
	var back []byte
	if img != nil {
		back = img.Back
	}
	return documentResult(safeParse(back)), nil
}

// documentResult is the answer to a back image that parsed as sd (nil: not
// sandbox YAML).
func documentResult(sd *sandboxDoc) *proofer.VendorResult {
	r := newResult(DocumentName, DocumentTransactionID)
	r.Billed = true
	switch {
	case sd == nil:
		r.DocResult = DocResultPassed
		r.PIIFromDoc = DefaultPII()
	case sd.failed():
		r.DocResult = DocResultFailed
		msg := sd.friendlyError
		if msg == "" {
			msg = MsgDocumentFailed
		}
		r.Errors[DocumentErrorField] = []string{msg}
		r.Alerts = sd.alerts
		r.PIIFromDoc = sd.pii
	default:
		r.DocResult = DocResultPassed
		r.PIIFromDoc = sd.pii
		if r.PIIFromDoc == nil {
			r.PIIFromDoc = DefaultPII()
		}
	}
	return r
}

// sandboxDoc is what a sandbox YAML back image asks for.
type sandboxDoc struct {
	pii              *proofline.DocumentPII // nil without document:
	hasFriendlyError bool
	friendlyError    string // may be empty even when hasFriendlyError
	alerts           []proofline.Alert
}

func (s *sandboxDoc) failed() bool { return s.hasFriendlyError || len(s.alerts) > 0 }

// safeParse is parseSandboxDoc with a parser panic counted as "not YAML".
func safeParse(b []byte) (sd *sandboxDoc) {
	defer func() {
		if recover() != nil {
			sd = nil
		}
	}()
	return parseSandboxDoc(b)
}

// parseSandboxDoc reads b as sandbox YAML; nil when b is not a YAML mapping
// with at least one of the keys document (a mapping), friendly_error or
// failed_alerts.
func parseSandboxDoc(b []byte) *sandboxDoc {
	if len(b) == 0 || len(b) > MaxYAMLBytes || !utf8.Valid(b) {
		return nil
	}
	// Decoding into a Node keeps aliases as references: nothing is expanded.
	var n yaml.Node
	if err := yaml.Unmarshal(b, &n); err != nil {
		return nil
	}
	if n.Kind != yaml.DocumentNode || len(n.Content) != 1 {
		return nil
	}
	root := deref(n.Content[0])
	if root == nil || root.Kind != yaml.MappingNode {
		return nil
	}
	var sd sandboxDoc
	found := false
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], deref(root.Content[i+1])
		if k.Kind != yaml.ScalarNode || v == nil {
			continue
		}
		switch k.Value {
		case "document":
			if v.Kind == yaml.MappingNode {
				sd.pii = readPII(v)
				found = true
			}
		case "friendly_error":
			sd.hasFriendlyError = true
			sd.friendlyError = clip(scalar(v), maxFriendlyErrorBytes)
			found = true
		case "failed_alerts":
			if v.Kind == yaml.SequenceNode {
				sd.alerts = readAlerts(v)
				found = true
			}
		}
	}
	if !found {
		return nil
	}
	return &sd
}

func readPII(m *yaml.Node) *proofline.DocumentPII {
	var p proofline.DocumentPII
	fields := map[string]*proofline.PII{
		"first_name":            &p.FirstName,
		"middle_name":           &p.MiddleName,
		"last_name":             &p.LastName,
		"address1":              &p.Address1,
		"city":                  &p.City,
		"state":                 &p.State,
		"zipcode":               &p.Zipcode,
		"dob":                   &p.DOB,
		"state_id_number":       &p.StateIDNumber,
		"state_id_jurisdiction": &p.StateIDJurisdiction,
		"state_id_type":         &p.StateIDType,
		"address2":              &p.Address2,
		"name_suffix":           &p.NameSuffix,
		"sex":                   &p.Sex,
		"height":                &p.Height,
		"state_id_expiration":   &p.StateIDExpiration,
		"state_id_issued":       &p.StateIDIssued,
		"issuing_country_code":  &p.IssuingCountryCode,
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		k := m.Content[i]
		if k.Kind != yaml.ScalarNode {
			continue
		}
		if dst, ok := fields[k.Value]; ok {
			// The scalar's text as written: zipcode 01234 stays "01234" and
			// dob 1938-10-06 stays a date string.
			*dst = proofline.PII(scalar(deref(m.Content[i+1])))
		}
	}
	return &p
}

func readAlerts(seq *yaml.Node) []proofline.Alert {
	var out []proofline.Alert
	for _, item := range seq.Content {
		item = deref(item)
		if item == nil || item.Kind != yaml.MappingNode {
			continue
		}
		a := proofline.Alert{Result: DocResultFailed}
		for i := 0; i+1 < len(item.Content); i += 2 {
			k := item.Content[i]
			if k.Kind != yaml.ScalarNode {
				continue
			}
			v := clip(scalar(deref(item.Content[i+1])), maxAlertFieldBytes)
			switch k.Value {
			case "name":
				a.Name = v
			case "result":
				if v != "" {
					a.Result = v
				}
			case "side":
				a.Side = v
			}
		}
		if a.Name == "" {
			continue
		}
		out = append(out, a)
		if len(out) == maxAlerts {
			break
		}
	}
	return out
}

// deref follows an alias once; a chain of aliases or a missing target is nil.
func deref(n *yaml.Node) *yaml.Node {
	if n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
		if n != nil && n.Kind == yaml.AliasNode {
			return nil
		}
	}
	return n
}

// scalar is a scalar node's text; "" for null, non-scalars and nil.
func scalar(n *yaml.Node) string {
	if n == nil || n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		return ""
	}
	return n.Value
}

// clip drops control characters (no CR/LF reaches a message) and cuts s to at
// most limit bytes on a rune boundary.
func clip(s string, limit int) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, strings.TrimSpace(s))
	if len(s) <= limit {
		return s
	}
	cut := limit
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut]
}
