package proofline

import (
	"fmt"
	"log/slog"
)

// Redacted is what every PII value prints in place of itself.
const Redacted = "[REDACTED]"

// PII is a string of personal data. It prints as [REDACTED] through fmt (every
// verb, including %#v), slog (text and JSON handlers) and error text; code that
// really needs the value converts it explicitly with string(p) or p.Reveal().
//
// JSON marshalling masks it too, so a struct holding PII cannot leak through a
// JSON log line or an accidental json.Marshal. The few paths that must carry
// the value (sealing a payload or a record, answering the IdP) use the
// MarshalRevealed methods (reveal.go). Unmarshalling reads the value as usual.
type PII string

// Reveal returns the plain value. Call it only where the value is sent to a
// vendor, sealed, or shown to its owner.
func (p PII) Reveal() string { return string(p) }

// String masks the value.
func (p PII) String() string { return Redacted }

// GoString masks the value.
func (p PII) GoString() string { return Redacted }

// Format masks the value for every verb.
func (p PII) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(Redacted)) }

// LogValue masks the value.
func (p PII) LogValue() slog.Value { return slog.StringValue(Redacted) }

// MarshalJSON masks the value.
func (p PII) MarshalJSON() ([]byte, error) { return []byte(`"` + Redacted + `"`), nil }

// IsZero reports whether no value is set.
func (p PII) IsZero() bool { return p == "" }

// Applicant is the personal data a person gives for resolution and address
// proofing. Field names on the wire are the applicant field names that vendor
// failures are reported under.
type Applicant struct {
	FirstName           PII `json:"first_name"`
	MiddleName          PII `json:"middle_name,omitempty"`
	LastName            PII `json:"last_name"`
	DOB                 PII `json:"dob"`
	SSN                 PII `json:"ssn"`
	Address1            PII `json:"address1"`
	Address2            PII `json:"address2,omitempty"`
	City                PII `json:"city"`
	State               PII `json:"state"`
	Zipcode             PII `json:"zipcode"`
	Phone               PII `json:"phone,omitempty"`
	StateIDNumber       PII `json:"state_id_number,omitempty"`
	StateIDJurisdiction PII `json:"state_id_jurisdiction,omitempty"`
	StateIDType         PII `json:"state_id_type,omitempty"`
	// Optional facts from the ID that the state-ID (AAMVA) check compares
	// when known.
	NameSuffix        PII `json:"name_suffix,omitempty"`
	Sex               PII `json:"sex,omitempty"`
	Height            PII `json:"height,omitempty"`
	Weight            PII `json:"weight,omitempty"`
	EyeColor          PII `json:"eye_color,omitempty"`
	StateIDIssued     PII `json:"state_id_issued,omitempty"`
	StateIDExpiration PII `json:"state_id_expiration,omitempty"`
	// The address printed on the ID, when it is not the residential address
	// above (Login.gov's dual-address rule): the state-ID (DMV) check is sent
	// this address, resolution the residential one. Empty: the ID's address
	// is the residential address.
	IdentityDocAddress1     PII `json:"identity_doc_address1,omitempty"`
	IdentityDocAddress2     PII `json:"identity_doc_address2,omitempty"`
	IdentityDocCity         PII `json:"identity_doc_city,omitempty"`
	IdentityDocAddressState PII `json:"identity_doc_address_state,omitempty"`
	IdentityDocZipcode      PII `json:"identity_doc_zipcode,omitempty"`
}

func (Applicant) String() string                  { return "Applicant" + Redacted }
func (Applicant) GoString() string                { return "proofline.Applicant" + Redacted }
func (a Applicant) Format(f fmt.State, verb rune) { _, _ = f.Write([]byte(a.String())) }
func (Applicant) LogValue() slog.Value            { return slog.StringValue(Redacted) }

// DocumentPII is what a document-authentication vendor read off an ID card.
type DocumentPII struct {
	FirstName           PII `json:"first_name"`
	MiddleName          PII `json:"middle_name"`
	LastName            PII `json:"last_name"`
	Address1            PII `json:"address1"`
	City                PII `json:"city"`
	State               PII `json:"state"`
	Zipcode             PII `json:"zipcode"`
	DOB                 PII `json:"dob"`
	StateIDNumber       PII `json:"state_id_number"`
	StateIDJurisdiction PII `json:"state_id_jurisdiction"`
	StateIDType         PII `json:"state_id_type"`
	// Read when the document carries them.
	Address2           PII `json:"address2,omitempty"`
	NameSuffix         PII `json:"name_suffix,omitempty"`
	Sex                PII `json:"sex,omitempty"`
	Height             PII `json:"height,omitempty"`
	StateIDExpiration  PII `json:"state_id_expiration,omitempty"`
	StateIDIssued      PII `json:"state_id_issued,omitempty"`
	IssuingCountryCode PII `json:"issuing_country_code,omitempty"`
}

func (DocumentPII) String() string                  { return "DocumentPII" + Redacted }
func (DocumentPII) GoString() string                { return "proofline.DocumentPII" + Redacted }
func (d DocumentPII) Format(f fmt.State, verb rune) { _, _ = f.Write([]byte(d.String())) }
func (DocumentPII) LogValue() slog.Value            { return slog.StringValue(Redacted) }

// Secret is key material or a credential. It prints as [REDACTED] everywhere,
// including JSON, so a secret can never be logged by marshalling its holder.
// Use Reveal to read it.
type Secret []byte

func (s Secret) Reveal() []byte             { return []byte(s) }
func (Secret) String() string               { return Redacted }
func (Secret) GoString() string             { return Redacted }
func (Secret) Format(f fmt.State, _ rune)   { _, _ = f.Write([]byte(Redacted)) }
func (Secret) LogValue() slog.Value         { return slog.StringValue(Redacted) }
func (Secret) MarshalText() ([]byte, error) { return []byte(Redacted), nil }
