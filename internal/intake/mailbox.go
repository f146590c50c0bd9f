package intake

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode"

	"candour/internal/fault"
	"candour/internal/publicid"
	"candour/internal/receipt"
	"candour/internal/scrub"
	"candour/internal/seal"
	"candour/internal/store"
	"candour/internal/token"
)

var (
	errBadReceipt = fault.New(fault.Unauthorized, "unauthorized", "mailbox.bad_receipt")
	errThrottled  = fault.New(fault.TooMany, "too_many_attempts", "mailbox.throttled")
)

// OpenMailbox exchanges a receipt for a short-lived mailbox token. Every way a receipt can be
// wrong gives the same answer. Failures are throttled by receipt prefix and by conn (the
// connection, an in-memory number that is never stored), not by who guessed: we do not
// record that, and one guesser cannot lock every reporter out.
func (s *Service) OpenMailbox(ctx context.Context, rawReceipt string, conn uint64) (string, error) {
	norm, ok := receipt.Normalize(rawReceipt)
	if !ok {
		norm = ""
	}
	if !s.d.Throttle.Allow(norm, conn) {
		return "", errThrottled
	}
	if !ok {
		s.d.Throttle.Fail(norm, conn)
		return "", errBadReceipt
	}
	c, err := s.d.Store.ConcernByReceiptHash(ctx, s.d.Receipts.Hash(norm))
	if errors.Is(err, store.ErrNotFound) || (err == nil && c.WrappedKey == nil) {
		s.d.Throttle.Fail(norm, conn)
		return "", errBadReceipt
	}
	if err != nil {
		return "", err
	}
	tok, _, err := s.d.Tokens.Issue(token.AudienceMailbox, c.Reference, "", MailboxTTL)
	return tok, err
}

// MailboxReference verifies a mailbox token, open and not closed, and returns the concern
// reference it opens.
func (s *Service) MailboxReference(ctx context.Context, raw string) (string, error) {
	claims, err := s.d.Tokens.Verify(token.AudienceMailbox, raw)
	if err != nil {
		return "", errSessionEnded
	}
	revoked, err := s.d.Store.MailboxTokenRevoked(ctx, claims.ID)
	if err != nil {
		return "", err
	}
	if revoked {
		return "", errSessionEnded
	}
	return claims.Subject, nil
}

var errSessionEnded = fault.New(fault.Unauthorized, "unauthorized", "mailbox.session_expired")

// CloseMailbox ends a mailbox token before it expires ("close mailbox" on a shared computer).
// Closing an invalid or closed token is not an error: the session is over either way.
func (s *Service) CloseMailbox(ctx context.Context, raw string) error {
	claims, err := s.d.Tokens.Verify(token.AudienceMailbox, raw)
	if err != nil {
		return nil
	}
	keep := claims.ExpiresAt.Time.Truncate(time.Hour).Add(time.Hour)
	return s.d.Store.RevokeMailboxToken(ctx, claims.ID, keep)
}

// MailboxMessage is one message as the reporter sees it.
type MailboxMessage struct {
	From      string    `json:"from"` // "you" or "council"
	Body      string    `json:"body"`
	At        time.Time `json:"at"`
	Detriment bool      `json:"detriment,omitempty"`
}

// MailboxAttachment is one evidence file as the reporter sees it.
type MailboxAttachment struct {
	ID   string    `json:"id"` // the attachment's public id
	Name string    `json:"name"`
	Size int64     `json:"size"`
	From string    `json:"from"`
	At   time.Time `json:"at"`
	// Original marks the file as sent, metadata and all, kept beside its cleaned copy at the
	// reporter's request.
	Original bool `json:"original,omitempty"`
	// Metadata is what cleaning found and removed, known only in the answer to an upload: it
	// describes the original, so it is kept (sealed) only while a reporter's upload waits to
	// be sent (PendingEvidence), never once staff can see the file.
	Metadata *scrub.Report `json:"-"`
}

// Mailbox is the reporter's view of their concern.
type Mailbox struct {
	Reference   string              `json:"reference"`
	Status      string              `json:"status"`
	Summary     string              `json:"summary"`
	Language    string              `json:"language"`
	ReceivedAt  time.Time           `json:"received_at"`
	Messages    []MailboxMessage    `json:"messages"`
	Attachments []MailboxAttachment `json:"attachments"`
	// Pending is the reporter's uploads not yet sent (StageEvidence), which staff do not see.
	Pending  []MailboxAttachment `json:"pending"`
	Feedback *string             `json:"feedback"`
	// Record is set when the council wrote the concern down for the reporter: they read it
	// (Summary and Details), send corrections as replies, and approve it.
	Record *WrittenRecord `json:"record,omitempty"`
}

// WrittenRecord is a concern the Monitoring Officer recorded on the reporter's behalf.
type WrittenRecord struct {
	Details  string `json:"details"`
	Approved bool   `json:"approved"`
}

func (s *Service) concern(ctx context.Context, ref string) (*store.Concern, *seal.DataKey, error) {
	c, err := s.d.Store.ConcernByReference(ctx, ref)
	if errors.Is(err, store.ErrNotFound) || (err == nil && c.WrappedKey == nil) {
		return nil, nil, fault.New(fault.NotFound, "not_found", "error.not_found")
	}
	if err != nil {
		return nil, nil, err
	}
	dk, err := ConcernKey(s.d.ServerKey, c)
	if err != nil {
		return nil, nil, fmt.Errorf("intake: %w", err)
	}
	return c, dk, nil
}

func from(author string) string {
	if author == "reporter" {
		return "you"
	}
	return "council"
}

// Mailbox returns the reporter's view of the concern ref. A field that does not open in its
// place answers ErrIntegrity, never content moved there. It is not audited here: an event at
// the moment a reporter opens their mailbox would place them in time. The staff side opens
// the same fields and records the failure.
func (s *Service) Mailbox(ctx context.Context, ref string) (*Mailbox, error) {
	m, err := s.mailbox(ctx, ref)
	if _, ok := Misplaced(err); ok {
		return nil, ErrIntegrity
	}
	return m, err
}

func (s *Service) mailbox(ctx context.Context, ref string) (*Mailbox, error) {
	c, dk, err := s.concern(ctx, ref)
	if err != nil {
		return nil, err
	}
	f := NewFields(dk)
	var content Content
	if err := f.JSON(ConcernPlace("concerns", c.ID, "content"), c.Content, &content); err != nil {
		return nil, err
	}
	m := &Mailbox{Reference: c.Reference, Status: c.Status, Summary: content.Summary, Language: c.Language,
		ReceivedAt: c.ReceivedAt, Messages: []MailboxMessage{}, Attachments: []MailboxAttachment{}}
	if c.Channel == "recorded" {
		approved, err := s.d.Store.RecordApproval(ctx, c.Serial)
		if err != nil {
			return nil, err
		}
		m.Record = &WrittenRecord{Details: content.Details, Approved: approved != nil}
	}
	lc, err := s.d.Store.ConcernLifecycle(ctx, c.Serial)
	if err != nil {
		return nil, err
	}
	if lc.Feedback != nil {
		fb, err := f.Open(ConcernPlace("concerns", c.ID, "feedback"), lc.Feedback)
		if err != nil {
			return nil, fmt.Errorf("intake: open feedback: %w", err)
		}
		feedback := string(fb)
		m.Feedback = &feedback
	}
	msgs, err := s.d.Store.Messages(ctx, c.Serial)
	if err != nil {
		return nil, err
	}
	for _, msg := range msgs {
		body, err := f.Open(MessagePlace(c.ID, &msg), msg.Body)
		if err != nil {
			return nil, fmt.Errorf("intake: open message %s: %w", msg.ID, err)
		}
		m.Messages = append(m.Messages, MailboxMessage{From: from(msg.Author), Body: string(body), At: msg.CreatedAt, Detriment: msg.Detriment})
	}
	atts, err := s.d.Store.Attachments(ctx, c.Serial)
	if err != nil {
		return nil, err
	}
	for _, a := range atts {
		name, err := f.Open(AttachmentPlace(c.ID, &a, "name"), a.Name)
		if err != nil {
			return nil, fmt.Errorf("intake: open attachment name %s: %w", a.ID, err)
		}
		m.Attachments = append(m.Attachments, MailboxAttachment{ID: a.ID, Name: string(name), Size: a.Size, From: from(a.Author),
			At: a.CreatedAt, Original: a.OriginalOf != nil})
	}
	if m.Pending, err = s.pendingList(ctx, c, f); err != nil {
		return nil, err
	}
	return m, nil
}

// Reply adds the reporter's message to the thread. detriment marks "I have suffered detriment
// because of my report", which the Monitoring Officer sees flagged.
func (s *Service) Reply(ctx context.Context, ref, body string, detriment bool) error {
	f := fault.Fields{}
	checkText(f, "body", body, true, MaxMessage, true)
	if err := f.Err(); err != nil {
		return err
	}
	c, dk, err := s.concern(ctx, ref)
	if err != nil {
		return err
	}
	m := &store.Message{ID: publicid.New(), ConcernID: c.Serial, Author: "reporter", Detriment: detriment,
		CreatedAt: s.d.Now().Truncate(time.Hour)}
	if m.Body, err = dk.Seal(MessagePlace(c.ID, m), []byte(body)); err != nil {
		return err
	}
	// The message and the e-mails telling its handlers are one transaction: none without the other.
	return s.d.Store.Tx(ctx, func(tx *store.Store) error {
		if err := tx.InsertMessage(ctx, m); err != nil {
			return err
		}
		return tx.NotifyHandlers(ctx, c.Serial, "reply", s.d.Now())
	})
}

// DisplayName makes an uploaded file name harmless display text: control and bidi-override
// characters removed, length capped. It is only ever shown, never used as a path.
func DisplayName(name string) string {
	name = strings.ToValidUTF8(name, "")
	name = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r) {
			return -1
		}
		return r
	}, name)
	name = strings.TrimSpace(name)
	if r := []rune(name); len(r) > MaxFileName {
		name = string(r[:MaxFileName])
	}
	if name == "" {
		name = "evidence"
	}
	return name
}

// limitedReader fails once more than max bytes have been read, so an upload over the limit is
// refused without buffering it.
type limitedReader struct {
	r    io.Reader
	left int64
	over error // what going past left is
}

// Per-mailbox quotas: a concern's evidence is capped in number and in total size (the
// configured quota), so one mailbox cannot fill the store for everyone.
const MaxFilesPerMailbox = 100

var (
	errTooLarge     = fault.New(fault.TooLarge, "too_large", "attachment.too_large")
	errQuota        = fault.New(fault.TooLarge, "mailbox_full", "attachment.quota")
	errTooManyFiles = fault.New(fault.TooLarge, "mailbox_full", "attachment.too_many")
	// A damaged image or document cannot be cleaned with confidence, and storing it would keep what it
	// hides: the reporter is asked for another copy.
	errCorrupt = &fault.Error{Kind: fault.Invalid, Code: "invalid", Message: "attachment.corrupt",
		Fields: map[string]string{"file": "attachment.corrupt"}}
	errFormatTooLarge = fault.New(fault.TooLarge, "too_large", "attachment.format_too_large")
)

func (l *limitedReader) Read(p []byte) (int, error) {
	if l.left < 0 {
		return 0, l.over
	}
	if int64(len(p)) > l.left+1 {
		p = p[:l.left+1]
	}
	n, err := l.r.Read(p)
	l.left -= int64(n)
	if l.left < 0 {
		return n, l.over
	}
	return n, err
}

// attachmentRoom is how many more bytes concern may take after a file of adding bytes, or the
// quota error when it has no room for one (more files than MaxFilesPerMailbox, or past the
// quota). In a transaction it holds the concern's upload lock until commit.
func (s *Service) attachmentRoom(ctx context.Context, st *store.Store, concern, adding int64) (int64, error) {
	files, used, err := st.ClaimAttachmentRoom(ctx, concern)
	if err != nil {
		return 0, err
	}
	room := s.d.MailboxQuota - used - adding
	switch {
	case files >= MaxFilesPerMailbox:
		return 0, errTooManyFiles
	case room < 0 || (adding == 0 && room == 0):
		return 0, errQuota
	}
	return room, nil
}

// AddAttachment streams an evidence file through age into the blob store, in one transaction
// with its row: a failure or a file over the limit leaves nothing behind. Memory use does not
// depend on the file's size. The file is visible to both sides at once: a reporter's upload
// from the mailbox goes through StageEvidence instead, so they see what was found first.
func (s *Service) AddAttachment(ctx context.Context, ref, author, name string, body io.Reader) (*MailboxAttachment, error) {
	u, err := s.addFile(ctx, ref, author, name, body, false, false)
	if err != nil {
		return nil, err
	}
	return &MailboxAttachment{ID: u.a.ID, Name: u.name, Size: u.a.Size, From: from(author), At: u.a.CreatedAt, Metadata: &u.rep}, nil
}

// uploaded is a stored upload: its cleaned copy, the original kept with it (or nil), its
// display name and what cleaning found.
type uploaded struct {
	a, original *store.Attachment
	name        string
	rep         scrub.Report
}

// blobSink is one attachment's blob being written: encrypted, then into the blob store.
type blobSink struct {
	bw  store.BlobWriter
	enc io.WriteCloser
	n   int64 // plaintext bytes taken in
}

func openBlob(ctx context.Context, tx *store.Store, dk *seal.DataKey, p seal.Place) (*blobSink, error) {
	bw, err := tx.Blobs().Create(ctx)
	if err != nil {
		return nil, err
	}
	enc, err := dk.EncryptStream(bw, p)
	if err != nil {
		bw.Abort()
		return nil, err
	}
	return &blobSink{bw: bw, enc: enc}, nil
}

func (b *blobSink) Write(p []byte) (int, error) {
	n, err := b.enc.Write(p)
	b.n += int64(n)
	return n, err
}

// close writes the last chunk and the blob; its row may then point at it.
func (b *blobSink) close() error {
	if err := b.enc.Close(); err != nil {
		return err
	}
	return b.bw.Close()
}

// addFile cleans an upload and stores it sealed, with the original as sent beside it when
// keepOriginal (both count against the quota). pending holds it back from staff (see
// StageEvidence): it then carries its findings, sealed, and tells nobody.
func (s *Service) addFile(ctx context.Context, ref, author, name string, body io.Reader, pending, keepOriginal bool) (*uploaded, error) {
	// An upload holds a database connection for as long as its body takes to arrive: a few
	// slow ones must not take the whole pool from everyone else.
	release, err := s.uploads.take(ctx, s, ref)
	if err != nil {
		return nil, err
	}
	defer release()
	c, dk, err := s.concern(ctx, ref)
	if err != nil {
		return nil, err
	}
	u := &uploaded{name: DisplayName(name)}
	newRow := func() (*store.Attachment, error) {
		a := &store.Attachment{ID: publicid.New(), ConcernID: c.Serial, Author: author, CreatedAt: s.d.Now().Truncate(time.Hour), Pending: pending}
		var err error
		a.Name, err = dk.Seal(AttachmentPlace(c.ID, a, "name"), []byte(u.name))
		return a, err
	}
	if u.a, err = newRow(); err != nil {
		return nil, err
	}
	if keepOriginal {
		if u.original, err = newRow(); err != nil {
			return nil, err
		}
	}
	// The quota is checked before the file streams, to stop it early, and again under the
	// concern's upload lock just before commit, so two uploads at once cannot both slip under
	// it; the lock is not held while a (perhaps slow) file arrives.
	room, err := s.attachmentRoom(ctx, s.d.Store, c.Serial, 0)
	if err != nil {
		return nil, err
	}
	err = s.d.Store.Tx(ctx, func(tx *store.Store) error {
		limit, over := s.d.MaxAttachment, errTooLarge
		if room < limit {
			limit, over = room, errQuota
		}
		in := io.Reader(&limitedReader{r: body, left: limit, over: over})
		var orig *blobSink
		if u.original != nil {
			// The original is written as the cleaner reads, on this goroutine: two blob
			// writers must not use the transaction from two goroutines, so no encrypt pipe.
			if orig, err = openBlob(ctx, tx, dk, AttachmentPlace(c.ID, u.original, "blob")); err != nil {
				return err
			}
			defer orig.bw.Abort() // a no-op once closed
			in = io.TeeReader(in, orig)
		}
		clean, err := openBlob(ctx, tx, dk, AttachmentPlace(c.ID, u.a, "blob"))
		if err != nil {
			return err
		}
		defer clean.bw.Abort()
		if orig == nil {
			pipe := newEncryptPipe(clean)
			u.rep, err = cleanInto(in, pipe)
			if cerr := pipe.Close(); err == nil {
				err = cerr
			}
		} else if u.rep, err = cleanInto(in, clean); err == nil {
			_, err = io.Copy(io.Discard, in) // what a cleaner left unread still belongs to the original
		}
		if err != nil {
			return err
		}
		total := clean.n
		if err := clean.close(); err != nil {
			return err
		}
		u.a.Size, u.a.BlobID = clean.n, clean.bw.ID()
		if orig != nil {
			if err := orig.close(); err != nil {
				return err
			}
			u.original.Size, u.original.BlobID = orig.n, orig.bw.ID()
			total += orig.n
		}
		if _, err := s.attachmentRoom(ctx, tx, c.Serial, total); err != nil {
			return err
		}
		if pending {
			findings, err := json.Marshal(u.rep)
			if err != nil {
				return err
			}
			if u.a.Findings, err = dk.Seal(AttachmentPlace(c.ID, u.a, "findings"), findings); err != nil {
				return err
			}
		}
		if err := tx.InsertAttachment(ctx, u.a); err != nil {
			return err
		}
		if u.original != nil {
			u.original.OriginalOf = &u.a.Serial
			if err := tx.InsertAttachment(ctx, u.original); err != nil {
				return err
			}
		}
		if author != "reporter" || pending {
			return nil
		}
		return tx.NotifyHandlers(ctx, c.Serial, "evidence", s.d.Now())
	})
	if err != nil {
		return nil, err
	}
	return u, nil
}

// cleanInto copies an upload into w without its metadata, telling its type by content.
// Files no cleaner knows go through unchanged (and the report says so).
func cleanInto(body io.Reader, w io.Writer) (scrub.Report, error) {
	kind, r, err := scrub.Detect(body)
	if err != nil {
		return scrub.Report{}, err
	}
	// Unchanged files still take the pipe's fast path: io.Copy ends in pipe.ReadFrom.
	rep, err := scrub.Clean(kind, r, w)
	switch {
	case errors.Is(err, scrub.ErrCorrupt):
		err = errCorrupt
	case errors.Is(err, scrub.ErrTooLarge):
		err = errFormatTooLarge
	}
	return rep, err
}

// OpenAttachment streams a decrypted attachment of the concern ref to its reporter. A stream
// that was cut or altered ends in an error, never in silently partial data; a name or blob
// that is not the one sealed for this attachment answers ErrIntegrity (not audited: see
// Mailbox). The reader may be an io.Closer (a blob file): close it when done.
func (s *Service) OpenAttachment(ctx context.Context, ref, id string) (name string, size int64, r io.Reader, err error) {
	name, size, r, err = s.StaffAttachment(ctx, ref, id)
	if _, ok := Misplaced(err); ok {
		err = ErrIntegrity
	}
	return name, size, r, err
}

// StaffAttachment is OpenAttachment for the staff side, which audits a misplaced name or blob
// itself: it gets the *seal.IntegrityError (see Misplaced).
func (s *Service) StaffAttachment(ctx context.Context, ref, id string) (name string, size int64, r io.Reader, err error) {
	c, dk, err := s.concern(ctx, ref)
	if err != nil {
		return "", 0, nil, err
	}
	a, err := s.d.Store.Attachment(ctx, c.Serial, id)
	if errors.Is(err, store.ErrNotFound) {
		return "", 0, nil, fault.New(fault.NotFound, "not_found", "error.not_found")
	}
	if err != nil {
		return "", 0, nil, err
	}
	nameB, err := dk.Open(AttachmentPlace(c.ID, a, "name"), a.Name)
	if err != nil {
		return "", 0, nil, err
	}
	blob, err := s.d.Store.Blobs().Open(ctx, a.BlobID)
	if err != nil {
		return "", 0, nil, err
	}
	plain, _, err := dk.DecryptStream(blob, AttachmentPlace(c.ID, a, "blob"))
	if c, ok := blob.(io.Closer); ok {
		if err != nil {
			c.Close()
		} else {
			// The HTTP server closes a body stream that is an io.Closer once it is sent.
			plain = readCloser{plain, c}
		}
	}
	if err != nil {
		return "", 0, nil, err
	}
	return string(nameB.Plain), a.Size, plain, nil
}

type readCloser struct {
	io.Reader
	io.Closer
}
