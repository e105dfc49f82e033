package proofline

import "encoding/json"

// PII values marshal to JSON as [REDACTED], so a struct holding them can never
// leak through a JSON log line. The few paths that must carry the real values
// (a payload being sealed, document PII being sealed into a record, a result
// sent to the IdP over TLS) call the MarshalRevealed methods here, which write
// the same JSON shape with the values in clear. Decoding needs nothing special:
// PII unmarshals from a JSON string as usual.

type applicantWire struct {
	FirstName           string `json:"first_name"`
	MiddleName          string `json:"middle_name,omitempty"`
	LastName            string `json:"last_name"`
	DOB                 string `json:"dob"`
	SSN                 string `json:"ssn"`
	Address1            string `json:"address1"`
	Address2            string `json:"address2,omitempty"`
	City                string `json:"city"`
	State               string `json:"state"`
	Zipcode             string `json:"zipcode"`
	Phone               string `json:"phone,omitempty"`
	StateIDNumber       string `json:"state_id_number,omitempty"`
	StateIDJurisdiction string `json:"state_id_jurisdiction,omitempty"`
	StateIDType         string `json:"state_id_type,omitempty"`
	NameSuffix          string `json:"name_suffix,omitempty"`
	Sex                 string `json:"sex,omitempty"`
	Height              string `json:"height,omitempty"`
	Weight              string `json:"weight,omitempty"`
	EyeColor            string `json:"eye_color,omitempty"`
	StateIDIssued       string `json:"state_id_issued,omitempty"`
	StateIDExpiration   string `json:"state_id_expiration,omitempty"`

	IdentityDocAddress1     string `json:"identity_doc_address1,omitempty"`
	IdentityDocAddress2     string `json:"identity_doc_address2,omitempty"`
	IdentityDocCity         string `json:"identity_doc_city,omitempty"`
	IdentityDocAddressState string `json:"identity_doc_address_state,omitempty"`
	IdentityDocZipcode      string `json:"identity_doc_zipcode,omitempty"`
}

func (a *Applicant) wire() applicantWire {
	return applicantWire{
		FirstName: string(a.FirstName), MiddleName: string(a.MiddleName), LastName: string(a.LastName),
		DOB: string(a.DOB), SSN: string(a.SSN), Address1: string(a.Address1), Address2: string(a.Address2),
		City: string(a.City), State: string(a.State), Zipcode: string(a.Zipcode), Phone: string(a.Phone),
		StateIDNumber: string(a.StateIDNumber), StateIDJurisdiction: string(a.StateIDJurisdiction),
		StateIDType: string(a.StateIDType), NameSuffix: string(a.NameSuffix), Sex: string(a.Sex),
		Height: string(a.Height), Weight: string(a.Weight), EyeColor: string(a.EyeColor),
		StateIDIssued: string(a.StateIDIssued), StateIDExpiration: string(a.StateIDExpiration),
		IdentityDocAddress1: string(a.IdentityDocAddress1), IdentityDocAddress2: string(a.IdentityDocAddress2),
		IdentityDocCity: string(a.IdentityDocCity), IdentityDocAddressState: string(a.IdentityDocAddressState),
		IdentityDocZipcode: string(a.IdentityDocZipcode),
	}
}

type documentPIIWire struct {
	FirstName           string `json:"first_name"`
	MiddleName          string `json:"middle_name"`
	LastName            string `json:"last_name"`
	Address1            string `json:"address1"`
	City                string `json:"city"`
	State               string `json:"state"`
	Zipcode             string `json:"zipcode"`
	DOB                 string `json:"dob"`
	StateIDNumber       string `json:"state_id_number"`
	StateIDJurisdiction string `json:"state_id_jurisdiction"`
	StateIDType         string `json:"state_id_type"`
	Address2            string `json:"address2,omitempty"`
	NameSuffix          string `json:"name_suffix,omitempty"`
	Sex                 string `json:"sex,omitempty"`
	Height              string `json:"height,omitempty"`
	StateIDExpiration   string `json:"state_id_expiration,omitempty"`
	StateIDIssued       string `json:"state_id_issued,omitempty"`
	IssuingCountryCode  string `json:"issuing_country_code,omitempty"`
}

func (d *DocumentPII) wire() *documentPIIWire {
	if d == nil {
		return nil
	}
	return &documentPIIWire{
		FirstName: string(d.FirstName), MiddleName: string(d.MiddleName), LastName: string(d.LastName),
		Address1: string(d.Address1), City: string(d.City), State: string(d.State), Zipcode: string(d.Zipcode),
		DOB: string(d.DOB), StateIDNumber: string(d.StateIDNumber), StateIDJurisdiction: string(d.StateIDJurisdiction),
		StateIDType: string(d.StateIDType), Address2: string(d.Address2), NameSuffix: string(d.NameSuffix),
		Sex: string(d.Sex), Height: string(d.Height), StateIDExpiration: string(d.StateIDExpiration),
		StateIDIssued: string(d.StateIDIssued), IssuingCountryCode: string(d.IssuingCountryCode),
	}
}

// MarshalRevealed is the JSON of d with its values in clear.
func (d *DocumentPII) MarshalRevealed() ([]byte, error) { return json.Marshal(d.wire()) }

// resultAlias has Result's fields without its methods.
type resultAlias Result

// MarshalRevealed is the JSON of r with pii_from_doc in clear. The outer
// PIIFromDoc field shadows the embedded one (encoding/json takes the
// shallowest field of a name).
func (r *Result) MarshalRevealed() ([]byte, error) {
	return json.Marshal(struct {
		*resultAlias
		PIIFromDoc *documentPIIWire `json:"pii_from_doc,omitempty"`
	}{(*resultAlias)(r), r.PIIFromDoc.wire()})
}

func (p *Payload) marshalRevealed() ([]byte, error) {
	type resolutionWire struct {
		Applicant          applicantWire `json:"applicant"`
		ShouldProofStateID bool          `json:"should_proof_state_id"`
		DOBYearOnly        bool          `json:"dob_year_only"`
	}
	type addressWire struct {
		Applicant applicantWire `json:"applicant"`
	}
	w := struct {
		CallbackSecret []byte          `json:"callback_secret"`
		Document       *DocumentArgs   `json:"document,omitempty"`
		Resolution     *resolutionWire `json:"resolution,omitempty"`
		Address        *addressWire    `json:"address,omitempty"`
	}{CallbackSecret: p.CallbackSecret, Document: p.Document}
	if p.Resolution != nil {
		w.Resolution = &resolutionWire{p.Resolution.Applicant.wire(), p.Resolution.ShouldProofStateID, p.Resolution.DOBYearOnly}
	}
	if p.Address != nil {
		w.Address = &addressWire{p.Address.Applicant.wire()}
	}
	return json.Marshal(w)
}

// MarshalRevealed is the JSON of a with its values in clear.
func (a *Applicant) MarshalRevealed() ([]byte, error) { return json.Marshal(a.wire()) }
