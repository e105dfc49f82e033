package vendortest

import "testing"

func TestExclusiveCanonicalization(t *testing.T) {
	t.Parallel()
	doc, err := parseRaw([]byte(`<a:x xmlns:a="urn:A" xmlns:b="urn:B" xmlns:c="urn:C"><b:y z="1" a:w="&quot;2" a:v='3'>t&amp;&gt;<c:q/></b:y></a:x>`))
	if err != nil {
		t.Fatal(err)
	}
	y := doc.first("urn:B", "y")
	// Visibly used prefixes only, sorted; unqualified attributes first, then by namespace URI and name.
	got := excC14N(y, nil)
	const want2 = `<b:y xmlns:a="urn:A" xmlns:b="urn:B" z="1" a:v="3" a:w="&quot;2">t&amp;&gt;<c:q xmlns:c="urn:C"></c:q></b:y>`
	if got != want2 {
		t.Errorf("got  %s\nwant %s", got, want2)
	}
	// An inclusive prefix in scope is rendered on the apex only.
	got = excC14N(y, []string{"c"})
	const want3 = `<b:y xmlns:a="urn:A" xmlns:b="urn:B" xmlns:c="urn:C" z="1" a:v="3" a:w="&quot;2">t&amp;&gt;<c:q></c:q></b:y>`
	if got != want3 {
		t.Errorf("inclusive: got  %s\nwant %s", got, want3)
	}
}
