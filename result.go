package proofline

import "time"

// Result is the outcome of one proofing job, the same shape for every kind and
// every dispatch mode. It is what the worker sends in its callback and what
// the status API returns.
type Result struct {
	// Success is true when every stage passed.
	Success bool `json:"success"`
	// Errors maps an applicant field name (first_name, ssn, zipcode, phone,
	// state_id_number, ...) or a document side to human-readable messages.
	Errors map[string][]string `json:"errors"`
	// Messages are informational messages from the vendors.
	Messages []string `json:"messages"`
	// Exception is set when a vendor could not be reached or answered
	// something unusable; nil otherwise. It never contains PII.
	Exception *string `json:"exception"`
	// TimedOut is true when a vendor timed out (not the delivery).
	TimedOut bool `json:"timed_out"`
	// TransactionID is the vendor transaction id of the last stage run.
	TransactionID string `json:"transaction_id"`
	// Context names each stage that ran.
	Context ResultContext `json:"context"`

	// Document results only.
	Billed     *bool        `json:"billed,omitempty"`
	Result     string       `json:"result,omitempty"`
	RawAlerts  []Alert      `json:"raw_alerts,omitempty"`
	PIIFromDoc *DocumentPII `json:"pii_from_doc,omitempty"`
}

// ResultContext carries per-stage detail.
type ResultContext struct {
	Stages []Stage `json:"stages"`
}

// Stage is one vendor call within a job.
type Stage struct {
	// Stage names the step: "document", "resolution", "state_id" or "address".
	Stage string `json:"stage"`
	// Vendor names the vendor adapter, e.g. "ResolutionMock".
	Vendor        string `json:"vendor"`
	TransactionID string `json:"transaction_id"`
	Success       bool   `json:"success"`
	TimedOut      bool   `json:"timed_out,omitempty"`
	Exception     bool   `json:"exception,omitempty"`
	// MVATimeout: the state's DMV did not answer the state-ID vendor in
	// time (AAMVA fault 0047). The stage is an exception, not a vendor
	// timeout: the vendor answered.
	MVATimeout bool `json:"mva_timeout,omitempty"`
}

// Alert is one document-authentication alert, as the vendor named it.
type Alert struct {
	Name   string `json:"name"`
	Result string `json:"result"`
	Side   string `json:"side,omitempty"`
}

// AddError records a failure message for field.
func (r *Result) AddError(field, message string) {
	if r.Errors == nil {
		r.Errors = map[string][]string{}
	}
	r.Errors[field] = append(r.Errors[field], message)
}

// SetException marks the result as an exception with a message that must not
// contain PII.
func (r *Result) SetException(message string) {
	r.Exception = &message
	r.Success = false
}

// Normalize fills nil maps and slices so the JSON shape is always the same.
func (r *Result) Normalize() {
	if r.Errors == nil {
		r.Errors = map[string][]string{}
	}
	if r.Messages == nil {
		r.Messages = []string{}
	}
	if r.Context.Stages == nil {
		r.Context.Stages = []Stage{}
	}
}

// Status is what a reader sees of one attempt.
type Status string

const (
	StatusPending  Status = "pending"
	StatusDone     Status = "done"
	StatusTimedOut Status = "timed_out"
)

// Outcome is one attempt as a reader sees it.
type Outcome struct {
	ResultID string
	Kind     Kind
	// Tenant is the API client (tenant) the attempt belongs to.
	Tenant      string
	Status      Status
	RequestedAt time.Time
	Deadline    time.Time
	// CompletedAt and Result are set when Status is StatusDone.
	CompletedAt time.Time
	Result      *Result
}
