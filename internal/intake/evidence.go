package intake

import (
	"context"
	"errors"
	"io"
	"time"

	"candour/internal/fault"
	"candour/internal/scrub"
	"candour/internal/store"
)

// A reporter's evidence is cleaned and sealed at once but held back from staff until the
// reporter has seen what cleaning found and removed, and sent it (issue 17): a file that
// still says more than they thought can be discarded before anyone reads it. What is not sent
// within PendingTTL is swept.

// PendingTTL is how long an upload waits to be sent before it is swept.
const PendingTTL = 24 * time.Hour

// PendingEvidence is an upload waiting for its reporter to send or discard it.
type PendingEvidence struct {
	ID       string       `json:"id"`
	Name     string       `json:"name"`
	Size     int64        `json:"size"`
	At       time.Time    `json:"at"`
	Metadata scrub.Report `json:"metadata"` // what cleaning found and removed
	// Original is the size of the file as sent, kept beside the cleaned copy because the
	// reporter asked for it; nil when it was not kept.
	Original *int64 `json:"original_size"`
}

var errNotPending = fault.New(fault.NotFound, "not_found", "error.not_found")

// StageEvidence cleans and seals a reporter's upload, and the original as sent when
// keepOriginal, and holds them until SendEvidence: staff see neither until then.
func (s *Service) StageEvidence(ctx context.Context, ref, name string, body io.Reader, keepOriginal bool) (*PendingEvidence, error) {
	u, err := s.addFile(ctx, ref, "reporter", name, body, true, keepOriginal)
	if err != nil {
		return nil, err
	}
	p := &PendingEvidence{ID: u.a.ID, Name: u.name, Size: u.a.Size, At: u.a.CreatedAt, Metadata: u.rep}
	if u.original != nil {
		p.Original = &u.original.Size
	}
	return p, nil
}

// pendingOf opens the pending upload id of the concern ref.
func (s *Service) pendingOf(ctx context.Context, ref, id string) (c *store.Concern, p *PendingEvidence, serial int64, err error) {
	c, dk, err := s.concern(ctx, ref)
	if err != nil {
		return nil, nil, 0, err
	}
	a, orig, err := s.d.Store.PendingAttachment(ctx, c.Serial, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil, 0, errNotPending
	}
	if err != nil {
		return nil, nil, 0, err
	}
	f := NewFields(dk)
	name, err := f.String(AttachmentPlace(c.ID, a, "name"), a.Name)
	if err != nil {
		return nil, nil, 0, err
	}
	p = &PendingEvidence{ID: a.ID, Name: name, Size: a.Size, At: a.CreatedAt}
	if err := f.JSON(AttachmentPlace(c.ID, a, "findings"), a.Findings, &p.Metadata); err != nil {
		return nil, nil, 0, err
	}
	if orig != nil {
		p.Original = &orig.Size
	}
	return c, p, a.Serial, nil
}

// Evidence is the reporter's pending upload id with what cleaning found in it. A misplaced
// field answers ErrIntegrity (see Mailbox).
func (s *Service) Evidence(ctx context.Context, ref, id string) (*PendingEvidence, error) {
	_, p, _, err := s.pendingOf(ctx, ref, id)
	if _, ok := Misplaced(err); ok {
		return nil, ErrIntegrity
	}
	return p, err
}

// SendEvidence makes the pending upload id visible to staff and tells its handlers. The
// original goes with it only when it was kept and keepOriginal still says so: the reporter
// may change their mind once they have seen what it holds; otherwise it is deleted.
func (s *Service) SendEvidence(ctx context.Context, ref, id string, keepOriginal bool) (*MailboxAttachment, error) {
	c, p, serial, err := s.pendingOf(ctx, ref, id)
	if _, ok := Misplaced(err); ok {
		return nil, ErrIntegrity
	}
	if err != nil {
		return nil, err
	}
	err = s.d.Store.Tx(ctx, func(tx *store.Store) error {
		err := tx.SendAttachment(ctx, c.Serial, serial, keepOriginal && p.Original != nil, s.d.Now().Truncate(time.Hour))
		if errors.Is(err, store.ErrNotFound) {
			return errNotPending // sent, discarded or swept meanwhile
		}
		if err != nil {
			return err
		}
		return tx.NotifyHandlers(ctx, c.Serial, "evidence", s.d.Now())
	})
	if err != nil {
		return nil, err
	}
	return &MailboxAttachment{ID: p.ID, Name: p.Name, Size: p.Size, From: "you", At: p.At}, nil
}

// DiscardEvidence deletes the pending upload id, and the original kept with it, unseen.
func (s *Service) DiscardEvidence(ctx context.Context, ref, id string) error {
	c, _, err := s.concern(ctx, ref)
	if err != nil {
		return err
	}
	a, _, err := s.d.Store.PendingAttachment(ctx, c.Serial, id)
	if err == nil {
		err = s.d.Store.DiscardAttachment(ctx, c.Serial, a.Serial)
	}
	if errors.Is(err, store.ErrNotFound) {
		return errNotPending
	}
	return err
}

// SweepEvidence deletes uploads not sent within PendingTTL; it returns how many files went.
func (s *Service) SweepEvidence(ctx context.Context) (int64, error) {
	return s.d.Store.SweepPendingAttachments(ctx, s.d.Now().Add(-PendingTTL))
}

// pendingList is the concern's uploads waiting to be sent, for the reporter's mailbox: names
// and sizes only (the findings are on each one's own page).
func (s *Service) pendingList(ctx context.Context, c *store.Concern, f *Fields) ([]MailboxAttachment, error) {
	as, err := s.d.Store.PendingAttachments(ctx, c.Serial)
	if err != nil {
		return nil, err
	}
	out := []MailboxAttachment{}
	for _, a := range as {
		name, err := f.String(AttachmentPlace(c.ID, &a, "name"), a.Name)
		if err != nil {
			return nil, err
		}
		out = append(out, MailboxAttachment{ID: a.ID, Name: name, Size: a.Size, From: "you", At: a.CreatedAt})
	}
	return out, nil
}
