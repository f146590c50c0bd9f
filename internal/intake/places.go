package intake

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"candour/internal/fault"
	"candour/internal/seal"
	"candour/internal/store"
)

// Where each field sealed under a concern's data key is stored (seal.Place): the writer and
// every reader name a field's place here, so a ciphertext moved to another row, column or
// table, or a row whose bound attributes were changed, fails to open.

// ConcernPlace is a column of the concerns row (content, identity_open, feedback,
// referral_note) or of a table keyed by the concern alone (reporter_notices.address).
func ConcernPlace(table, concernID, field string) seal.Place {
	return seal.Place{Table: table, Row: concernID, Field: field}
}

// MessagePlace is a message's body. Its author and detriment flag are plain columns that
// decide how it is shown, so the ciphertext vouches for them: flipping either makes the
// message fail to open rather than show differently.
func MessagePlace(concernID string, m *store.Message) seal.Place {
	return seal.Place{Table: "messages", Row: m.ID, Field: "body",
		Attrs: []string{"concern=" + concernID, "author=" + m.Author, "detriment=" + strconv.FormatBool(m.Detriment)}}
}

// AttachmentPlace is an attachment's name (field "name") or its blob (field "blob"); the
// author decides "from you"/"from the council", so it is bound too.
func AttachmentPlace(concernID string, a *store.Attachment, field string) seal.Place {
	return seal.Place{Table: "attachments", Row: a.ID, Field: field,
		Attrs: []string{"concern=" + concernID, "author=" + a.Author}}
}

// ErrIntegrity is what a reader is told when a sealed field does not open in its place:
// the page or API answers an error, never content that was moved there.
var ErrIntegrity = fault.New(fault.Integrity, "integrity", "error.integrity")

// Misplaced reports whether err is a sealed field that did not open in its place, and which.
func Misplaced(err error) (*seal.IntegrityError, bool) {
	var ie *seal.IntegrityError
	ok := errors.As(err, &ie)
	return ie, ok
}

// ConcernKey unwraps a concern's data key. A concern whose content is bound was filed after
// fields were bound, so its key refuses unbound fields: an old ciphertext replayed into it
// fails to open rather than passing as legacy.
func ConcernKey(k *seal.ServerKey, c *store.Concern) (*seal.DataKey, error) {
	dk, err := k.UnwrapDataKey(c.WrappedKey)
	if err != nil {
		return nil, fmt.Errorf("unwrap a concern data key: %w", err)
	}
	if seal.Bound(c.Content) {
		dk = dk.BoundOnly()
	}
	return dk, nil
}

// Fields opens the sealed fields of one concern (or investigation) and remembers whether any
// was sealed before fields were bound to their place, so the page can say so.
type Fields struct {
	dk      *seal.DataKey
	unbound bool
}

// NewFields opens fields with dk.
func NewFields(dk *seal.DataKey) *Fields { return &Fields{dk: dk} }

// Open opens the field stored at p.
func (f *Fields) Open(p seal.Place, ciphertext []byte) ([]byte, error) {
	o, err := f.dk.Open(p, ciphertext)
	if err != nil {
		return nil, err
	}
	f.unbound = f.unbound || o.Unbound
	return o.Plain, nil
}

// String opens an optional text field: none (NULL) is "".
func (f *Fields) String(p seal.Place, ciphertext []byte) (string, error) {
	if ciphertext == nil {
		return "", nil
	}
	b, err := f.Open(p, ciphertext)
	return string(b), err
}

// JSON opens a field holding JSON into v.
func (f *Fields) JSON(p seal.Place, ciphertext []byte, v any) error {
	b, err := f.Open(p, ciphertext)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

// Unbound reports whether any field opened so far was sealed before binding.
func (f *Fields) Unbound() bool { return f.unbound }
