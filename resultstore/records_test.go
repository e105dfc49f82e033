package resultstore_test

import (
	"strings"
	"testing"

	"github.com/proofline/proofline/resultstore"
)

// A record id is 1 to 128 of A-Z a-z 0-9 _ -: each end of each range is
// allowed, the character just outside it is not, and so is anything longer.
func TestValidRecordID(t *testing.T) {
	t.Parallel()
	for _, id := range []string{"a", "z", "A", "Z", "0", "9", "_", "-", "azAZ09_-", strings.Repeat("x", 128)} {
		if !resultstore.ValidRecordID(id) {
			t.Errorf("ValidRecordID(%q) = false, want true", id)
		}
	}
	// '`' and '{' surround a-z, '@' and '[' A-Z, '/' and ':' 0-9.
	for _, id := range []string{"", strings.Repeat("x", 129), "`", "{", "@", "[", "/", ":", "ok`", "ok{", "ok@", "ok[", "ok/", "ok:", "a.b", "a b", "é"} {
		if resultstore.ValidRecordID(id) {
			t.Errorf("ValidRecordID(%q) = true, want false", id)
		}
	}
}
