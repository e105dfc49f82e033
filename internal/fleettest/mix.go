package fleettest

// Job is a proofing job of a fleet run: what to start, and the outcome the
// mock vendors' magic values give it.
type Job struct {
	Kind string // resolution, address or document
	Body map[string]any
	Doc  bool // a document job: capture and upload the sample images first
	// Want is "success", "error:<field>", or "timed_out" (the Hang sandbox).
	Want string
}

func applicant(mut func(map[string]any)) map[string]any {
	a := map[string]any{
		"first_name": "Jane", "last_name": "Doe", "dob": "1980-06-15", "ssn": "123-45-6789",
		"address1": "1 Main St", "city": "Reston", "state": "VA", "zipcode": "20190",
		"state_id_number": "D1234567", "state_id_jurisdiction": "VA", "state_id_type": "drivers_license",
		"phone": "7035550100",
	}
	if mut != nil {
		mut(a)
	}
	return a
}

// Mix returns n jobs of every kind with the mock vendors' magic values:
// every docEvery-th a document job (0: none), every hangEvery-th a
// resolution the vendor answers past the deadline (0: none), the rest
// successes and vendor failures of resolution and address jobs in turn.
func Mix(n, docEvery, hangEvery int) []Job {
	jobs := make([]Job, 0, n)
	for i := range n {
		var j Job
		switch {
		case docEvery > 0 && i%docEvery == 0:
			j = Job{Kind: "document", Doc: true, Want: "success"}
		case hangEvery > 0 && i%hangEvery == 1:
			j = Job{Kind: "resolution", Body: map[string]any{"applicant": applicant(func(a map[string]any) { a["first_name"] = "Hangman" })}, Want: "timed_out"}
		default:
			switch i % 6 {
			case 0:
				j = Job{Kind: "resolution", Body: map[string]any{"applicant": applicant(nil), "should_proof_state_id": true}, Want: "success"}
			case 1:
				j = Job{Kind: "resolution", Body: map[string]any{"applicant": applicant(func(a map[string]any) { a["first_name"] = "Badger" })}, Want: "error:first_name"}
			case 2:
				j = Job{Kind: "resolution", Body: map[string]any{"applicant": applicant(func(a map[string]any) { a["ssn"] = "123-45-6666" })}, Want: "error:ssn"}
			case 3:
				j = Job{Kind: "address", Body: map[string]any{"applicant": map[string]any{"phone": "7035555555"}}, Want: "error:phone"}
			default:
				j = Job{Kind: "address", Body: map[string]any{"applicant": map[string]any{"phone": "7035550100"}}, Want: "success"}
			}
		}
		jobs = append(jobs, j)
	}
	return jobs
}
