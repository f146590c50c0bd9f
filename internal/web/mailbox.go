package web

import (
	"bufio"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"candour/internal/fault"
	"candour/internal/intake"
	"candour/internal/scrub"
	"candour/internal/server"
)

// MailboxCookie holds the mailbox token once a reporter has opened their mailbox with the
// receipt. It is the only cookie the reporter side ever sets.
const MailboxCookie = "candour_mailbox"

// csrfField is the hidden field on every mailbox form. It must come first in the upload form,
// so the check happens before any of the file is read.
const csrfField = "csrf"

// mailboxCSRF derives the CSRF value from the mailbox token: a page from another site cannot
// know it, and nothing needs storing.
func mailboxCSRF(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:16])
}

func csrfOK(token, got string) bool {
	return subtle.ConstantTimeCompare([]byte(mailboxCSRF(token)), []byte(got)) == 1
}

func (s *Site) setMailboxCookie(c *fiber.Ctx, value string, open bool) {
	ck := &fiber.Cookie{Name: MailboxCookie, Value: value, Path: "/", HTTPOnly: true,
		Secure: s.deps.SecureCookies, SameSite: fiber.CookieSameSiteStrictMode}
	if open {
		ck.MaxAge = int(intake.MailboxTTL / time.Second)
	} else {
		ck.Expires = time.Unix(1, 0) // in the past: the browser deletes it
	}
	c.Cookie(ck)
}

// session returns the mailbox token and the reference it opens. ok is false without a valid
// cookie; expired says a cookie was there but no longer works.
func (s *Site) session(c *fiber.Ctx) (token, ref string, ok, expired bool) {
	token = c.Cookies(MailboxCookie)
	if token == "" {
		return "", "", false, false
	}
	ref, err := s.deps.Intake.MailboxReference(c.UserContext(), token)
	if err != nil {
		return "", "", false, true
	}
	c.Locals(mailboxRefKey, ref)
	return token, ref, true, false
}

const mailboxRefKey = "candour.mailbox.ref"

// mailboxOf is the mailbox the gate opened for this request: its token and concern reference.
func mailboxOf(c *fiber.Ctx) (token, ref string) {
	ref, _ = c.Locals(mailboxRefKey).(string)
	return c.Cookies(MailboxCookie), ref
}

// toMailboxForm sends a visitor without a working session back to the receipt form.
func (s *Site) toMailboxForm(c *fiber.Ctx, expired bool) error {
	target := Localise(Lang(c), "/mailbox")
	if expired {
		s.setMailboxCookie(c, "", false)
		target += "?done=expired"
	}
	return c.Redirect(target, fiber.StatusSeeOther)
}

// Notices shown after a redirect, by the value of ?done=.
var mailboxNotices = map[string]string{
	"expired": "mailbox.session_expired",
	"closed":  "mailbox.notice.closed",
	"reply":   "mailbox.notice.reply",
	"file":    "mailbox.notice.file",
	"sent":    "mailbox.notice.sent",
	"gone":    "mailbox.notice.discarded",
	"record":  "mailbox.notice.record",
}

// scrubNotice tells the reporter, after an upload, what cleaning removed from their file, or
// that it could not be cleaned.
type scrubNotice struct {
	Text    string   // message key of the sentence
	Warn    bool     // the file was stored as sent, metadata and all
	Removed []string // message keys of what was removed
}

// scrubRemoved is the message key of each thing cleaning removes.
var scrubRemoved = map[string]string{
	scrub.EXIF: "mailbox.scrub.exif", scrub.XMP: "mailbox.scrub.xmp", scrub.IPTC: "mailbox.scrub.iptc",
	scrub.Comment: "mailbox.scrub.comment", scrub.TextNote: "mailbox.scrub.text_note", scrub.Time: "mailbox.scrub.time",
	scrub.Vendor: "mailbox.scrub.vendor", scrub.Trailing: "mailbox.scrub.trailing", scrub.Properties: "mailbox.scrub.properties",
}

// afterRedirect is a thread page's notice after a redirect, with what an upload's cleaning
// did. Unknown codes in the query are ignored.
func afterRedirect(c *fiber.Ctx) threadData {
	d := threadData{Notice: mailboxNotices[c.Query("done")]}
	if c.Query("done") != "file" {
		return d
	}
	d.Scrub = scrubNoticeOf(scrub.Kind(c.Query("kind")), strings.Fields(c.Query("removed")))
	return d
}

// scrubNoticeOf is what the reporter is told of a file of kind from which cleaning removed
// the codes in removed (unknown ones ignored); nil for an unknown kind.
func scrubNoticeOf(kind scrub.Kind, removed []string) *scrubNotice {
	switch kind {
	case scrub.Other:
		return &scrubNotice{Text: "mailbox.scrub.not_cleaned", Warn: true}
	case scrub.Text:
		return &scrubNotice{Text: "mailbox.scrub.text"}
	case scrub.JPEG, scrub.PNG, scrub.WebP, scrub.HEIC, scrub.PDF, scrub.DOCX, scrub.XLSX, scrub.PPTX, scrub.ODT, scrub.ODS, scrub.ODP:
		n := &scrubNotice{Text: "mailbox.scrub.none"}
		for _, code := range removed {
			if key, ok := scrubRemoved[code]; ok {
				n.Removed = append(n.Removed, key)
			}
		}
		if n.Removed != nil {
			n.Text = "mailbox.scrub.removed"
		}
		return n
	}
	return nil
}

type mailboxFormData struct {
	Receipt string
	Error   string // message key
	Notice  string // message key
}

func (s *Site) mailboxForm(c *fiber.Ctx) error {
	return s.Render(c, fiber.StatusOK, "mailbox", mailboxFormData{Notice: mailboxNotices[c.Query("done")]})
}

func (s *Site) mailboxOpen(c *fiber.Ctx) error {
	// No session yet, so no CSRF token: refuse cross-site posts by what the browser says of
	// their origin, or another site could sign a reporter into the attacker's mailbox.
	if !s.sameOrigin(c) {
		return s.forbidden(c)
	}
	v, err := readForm(c)
	if errors.Is(err, errTooLarge) {
		return s.tooLarge(c)
	}
	if err != nil {
		return err
	}
	rcpt := strings.ToValidUTF8(v.Get("receipt"), "")
	token, err := s.deps.Intake.OpenMailbox(c.UserContext(), rcpt, c.Context().ConnID())
	if fe, ok := fault.As(err); ok && (fe.Kind == fault.Unauthorized || fe.Kind == fault.TooMany) {
		status := fiber.StatusUnauthorized
		if fe.Kind == fault.TooMany {
			status = fiber.StatusTooManyRequests
		}
		if len(rcpt) > 100 {
			rcpt = ""
		}
		return s.Render(c, status, "mailbox", mailboxFormData{Receipt: rcpt, Error: fe.Message})
	}
	if err != nil {
		return err
	}
	s.setMailboxCookie(c, token, true)
	return c.Redirect(Localise(Lang(c), "/mailbox/thread"), fiber.StatusSeeOther)
}

type threadMessage struct {
	From      string // "you" or "council"
	Lines     []string
	Day       string
	Detriment bool
}

type threadAttachment struct {
	ID              string
	Name, Size, Day string
	From            string
	Original        bool // kept as sent, beside its cleaned copy
}

type threadData struct {
	Base        string // the path the forms post under
	Councillor  bool   // a councillor's own concern, not a reporter's mailbox
	Reference   string
	Status      string
	Received    string
	Summary     string
	Messages    []threadMessage
	Attachments []threadAttachment
	Pending     []threadAttachment // the reporter's uploads not yet sent
	Feedback    []string           // lines; nil when there is none yet
	// Record is the written record of a concern the council took down for the reporter (phone,
	// meeting): lines, and whether they approved it.
	Record         []string
	RecordApproved bool
	CSRF           string
	Body           string // the reply being written, kept on error
	Detriment      bool
	Errors         *formErrors
	Notice         string
	Scrub          *scrubNotice // after an upload
}

// Err returns the message key of field's error, or "".
func (d threadData) Err(field string) string {
	if d.Errors == nil {
		return ""
	}
	return d.Errors.byField[field]
}

// ErrorSummary is the error summary.
func (d threadData) ErrorSummary() []formError { return d.Errors.Summary(nil, threadLabels) }

var threadLabels = map[string]string{"body": "mailbox.reply.label", "file": "mailbox.upload.label"}

func lines(s string) []string {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

// size is a file size people can read; the units are the same in Welsh.
func size(n int64) string {
	switch {
	case n < 1000*1000:
		return strconv.FormatInt((n+999)/1000, 10) + " KB"
	case n < 1000*1000*1000:
		return strconv.FormatFloat(float64(n)/1e6, 'f', 1, 64) + " MB"
	}
	return strconv.FormatFloat(float64(n)/1e9, 'f', 1, 64) + " GB"
}

// threadSource is whose conversation a thread page shows: a reporter's mailbox, or a concern a
// councillor raised. Base is the path its forms post under; Page the page itself.
type threadSource struct {
	Base, Page string
	CSRF       string
	Councillor bool
	load       func(ctx context.Context) (*intake.Mailbox, error)
}

// mailboxSource is the reporter's own mailbox, opened by the gate.
func (s *Site) mailboxSource(c *fiber.Ctx) threadSource {
	token, ref := mailboxOf(c)
	return threadSource{Base: "/mailbox", Page: "/mailbox/thread", CSRF: mailboxCSRF(token),
		load: func(ctx context.Context) (*intake.Mailbox, error) { return s.deps.Intake.Mailbox(ctx, ref) }}
}

// renderThread shows src's conversation; d carries what was being written and any errors.
func (s *Site) renderThread(c *fiber.Ctx, status int, src threadSource, d threadData) error {
	lang := Lang(c)
	m, err := src.load(c.UserContext())
	if err != nil {
		return err
	}
	d.Base, d.Councillor = src.Base, src.Councillor
	d.Reference, d.Status, d.Summary = m.Reference, m.Status, m.Summary
	d.Received = s.day(lang, m.ReceivedAt)
	d.CSRF = src.CSRF
	for _, msg := range m.Messages {
		d.Messages = append(d.Messages, threadMessage{From: msg.From, Lines: lines(msg.Body), Day: s.day(lang, msg.At), Detriment: msg.Detriment})
	}
	for _, a := range m.Attachments {
		d.Attachments = append(d.Attachments, threadAttachment{ID: a.ID, Name: a.Name, Size: size(a.Size), Day: s.day(lang, a.At),
			From: a.From, Original: a.Original})
	}
	for _, a := range m.Pending {
		d.Pending = append(d.Pending, threadAttachment{ID: a.ID, Name: a.Name, Size: size(a.Size), Day: s.day(lang, a.At), From: a.From})
	}
	if m.Feedback != nil && strings.TrimSpace(*m.Feedback) != "" {
		d.Feedback = lines(*m.Feedback)
	}
	if m.Record != nil {
		d.Record, d.RecordApproved = lines(m.Record.Details), m.Record.Approved
	}
	return s.Render(c, status, "mailbox_thread", d)
}

func (s *Site) mailboxThread(c *fiber.Ctx) error {
	return s.renderThread(c, fiber.StatusOK, s.mailboxSource(c), afterRedirect(c))
}

// sameOrigin reports whether a browser post came from this site: Sec-Fetch-Site when the
// browser sends it, else Origin against the public address. A request with neither (not a
// browser form) cannot be a cross-site forgery and passes.
func (s *Site) sameOrigin(c *fiber.Ctx) bool {
	if site := c.Get("Sec-Fetch-Site"); site != "" {
		return site == "same-origin" || site == "none"
	}
	origin := c.Get(fiber.HeaderOrigin)
	return origin == "" || origin == s.deps.PublicURL || origin == c.Protocol()+"://"+c.Hostname()
}

// forbidden is the answer to a mailbox form whose CSRF field does not match the session.
func (s *Site) forbidden(c *fiber.Ctx) error {
	server.DrainOrClose(c)
	return s.Render(c, fiber.StatusForbidden, "mailbox_forbidden", struct{}{})
}

// mailboxPost reads a urlencoded mailbox form (the gate has opened the mailbox) and checks the CSRF field. done
// is true when it has already answered.
func (s *Site) mailboxPost(c *fiber.Ctx) (v url.Values, token, ref string, done bool, err error) {
	token, ref = mailboxOf(c)
	v, err = readForm(c)
	if errors.Is(err, errTooLarge) {
		return nil, "", "", true, s.tooLarge(c)
	}
	if err != nil {
		return nil, "", "", true, err
	}
	if !csrfOK(token, v.Get(csrfField)) {
		return nil, "", "", true, s.forbidden(c)
	}
	return v, token, ref, false, nil
}

// mailboxApproveRecord is the reporter confirming the council's written record of their
// concern; corrections go as replies first.
func (s *Site) mailboxApproveRecord(c *fiber.Ctx) error {
	_, _, ref, done, err := s.mailboxPost(c)
	if done {
		return err
	}
	if err := s.deps.Intake.ApproveRecord(c.UserContext(), ref); err != nil && !fault.Is(err, fault.Conflict) {
		return err
	}
	return c.Redirect(Localise(Lang(c), "/mailbox/thread")+"?done=record#record", fiber.StatusSeeOther)
}

func (s *Site) mailboxReply(c *fiber.Ctx) error {
	v, _, ref, done, err := s.mailboxPost(c)
	if done {
		return err
	}
	return s.threadReply(c, s.mailboxSource(c), v, func(body string, detriment bool) error {
		return s.deps.Intake.Reply(c.UserContext(), ref, body, detriment)
	})
}

// threadReply sends the reply form's message with send, and shows the thread again with the
// error when it is refused.
func (s *Site) threadReply(c *fiber.Ctx, src threadSource, v url.Values, send func(body string, detriment bool) error) error {
	body, detriment := v.Get("body"), v.Get("detriment") == "yes"
	err := send(body, detriment)
	if fe, ok := fault.As(err); ok && fe.Kind == fault.Invalid && len(fe.Fields) > 0 {
		return s.renderThread(c, fiber.StatusBadRequest, src, threadData{
			Body: strings.ToValidUTF8(body, "\uFFFD"), Detriment: detriment, Errors: newFormErrors([]string{"body"}, fe.Fields)})
	}
	if err != nil {
		return err
	}
	return c.Redirect(Localise(Lang(c), src.Page)+"?done=reply#messages", fiber.StatusSeeOther)
}

// csrfFirst opens a multipart form as a stream and reads its first part, which must be the
// CSRF field: it is checked before any of the file is read, and the form is never buffered
// (so no c.FormFile or c.MultipartForm: evidence must not reach memory or disk in clear).
// A body that is not multipart at all is errNotMultipart; one without the field first is ok
// false.
func csrfFirst(c *fiber.Ctx) (*multipart.Reader, string, bool, error) {
	mt, params, err := mime.ParseMediaType(c.Get(fiber.HeaderContentType))
	if err != nil || mt != fiber.MIMEMultipartForm || params["boundary"] == "" {
		return nil, "", false, errNotMultipart
	}
	// Large reads from the connection, as the API's upload does (see there).
	rb := server.RequestBody(c)
	c.SetUserContext(intake.Arriving(c.UserContext(), rb))
	mr := multipart.NewReader(bufio.NewReaderSize(rb, server.UploadReadBuffer), params["boundary"])
	part, err := mr.NextPart()
	if err != nil || part.FormName() != csrfField {
		return nil, "", false, nil
	}
	got, err := io.ReadAll(io.LimitReader(part, 256))
	return mr, string(got), err == nil, nil
}

var errNotMultipart = fault.New(fault.Unsupported, "unsupported_media_type", "error.want_multipart")

// mailboxUpload streams the file part of a multipart form straight into intake, which
// encrypts it on the way to storage.
func (s *Site) mailboxUpload(c *fiber.Ctx) error {
	token, ref := mailboxOf(c)
	mr, got, ok, err := csrfFirst(c)
	if err != nil {
		return err
	}
	if !ok || !csrfOK(token, got) {
		return s.forbidden(c)
	}
	// The upload is held until the reporter has seen what cleaning found (mailboxEvidence).
	return s.threadUpload(c, s.mailboxSource(c), mr, func(name string, r io.Reader, keep bool) (string, error) {
		p, err := s.deps.Intake.StageEvidence(c.UserContext(), ref, name, r, keep)
		if err != nil {
			return "", err
		}
		return Localise(Lang(c), "/mailbox/evidence/"+p.ID), nil
	})
}

// threadUpload hands the form's file part to add, after the CSRF part and with the
// keep_original box (which must come before the file), and shows the thread again with the
// error when it is refused; else it redirects where add says.
func (s *Site) threadUpload(c *fiber.Ctx, src threadSource, mr *multipart.Reader, add func(name string, r io.Reader, keepOriginal bool) (string, error)) error {
	fileError := func(status int, msg string) error {
		server.DrainOrClose(c)
		return s.renderThread(c, status, src, threadData{Errors: newFormErrors([]string{"file"}, map[string]string{"file": msg})})
	}
	part, keep, err := server.FilePart(mr)
	if err != nil || part.FileName() == "" {
		return fileError(fiber.StatusBadRequest, "mailbox.file_required")
	}
	next, err := add(part.FileName(), server.OnlyPart(mr, part), keep)
	// A refusal about the file is shown against the file question, with its own status.
	if fe, ok := fault.As(err); ok && (fe.Fields["file"] != "" || fe.Kind == fault.TooLarge) {
		if fe.RetryAfter > 0 {
			c.Set(fiber.HeaderRetryAfter, server.RetryAfter(fe.RetryAfter))
		}
		msg := fe.Fields["file"]
		if msg == "" {
			msg = fe.Message
		}
		return fileError(server.Status(fe.Kind), msg)
	}
	if err != nil {
		return err
	}
	return c.Redirect(next, fiber.StatusSeeOther)
}

// fileAddedPage is where an upload that is stored at once goes next: src's page, with what
// was removed riding on the redirect as codes the page checks (it is the uploader's own
// file, and nothing about it is stored).
func fileAddedPage(c *fiber.Ctx, src threadSource, att *intake.MailboxAttachment) string {
	q := url.Values{"done": {"file"}, "kind": {string(att.Metadata.Kind)}}
	if len(att.Metadata.Removed) > 0 {
		q.Set("removed", strings.Join(att.Metadata.Removed, " "))
	}
	return Localise(Lang(c), src.Page) + "?" + q.Encode() + "#evidence"
}

// evidenceData is the page where a reporter checks an upload before sending it.
type evidenceData struct {
	ID, Name, Size string
	OriginalSize   string // "" when the original was not kept
	Scrub          *scrubNotice
	CSRF           string
}

// mailboxEvidence shows a pending upload with what cleaning found and removed, and the
// buttons that send or delete it. Only its reporter's mailbox opens it.
func (s *Site) mailboxEvidence(c *fiber.Ctx) error {
	token, ref := mailboxOf(c)
	p, err := s.deps.Intake.Evidence(c.UserContext(), ref, c.Params("id"))
	if err != nil {
		return err
	}
	d := evidenceData{ID: p.ID, Name: p.Name, Size: size(p.Size), CSRF: mailboxCSRF(token),
		Scrub: scrubNoticeOf(p.Metadata.Kind, p.Metadata.Removed)}
	if p.Original != nil {
		d.OriginalSize = size(*p.Original)
	}
	return s.Render(c, fiber.StatusOK, "mailbox_evidence", d)
}

// mailboxEvidenceDecide sends or deletes a pending upload, by the button pressed.
func (s *Site) mailboxEvidenceDecide(c *fiber.Ctx) error {
	v, _, ref, done, err := s.mailboxPost(c)
	if done {
		return err
	}
	id, notice := c.Params("id"), "sent"
	switch v.Get("action") {
	case "send":
		_, err = s.deps.Intake.SendEvidence(c.UserContext(), ref, id, v.Get("keep_original") == "yes")
	case "discard":
		err, notice = s.deps.Intake.DiscardEvidence(c.UserContext(), ref, id), "gone"
	default:
		return fault.New(fault.Invalid, "invalid", "error.invalid")
	}
	if err != nil {
		return err
	}
	return c.Redirect(Localise(Lang(c), "/mailbox/thread")+"?done="+notice+"#evidence", fiber.StatusSeeOther)
}

func (s *Site) mailboxDownload(c *fiber.Ctx) error {
	_, ref := mailboxOf(c)
	name, n, r, err := s.deps.Intake.OpenAttachment(c.UserContext(), ref, c.Params("id"))
	if err != nil {
		return err
	}
	return server.SendFile(c, name, server.BinaryType, n, r)
}

func (s *Site) mailboxClose(c *fiber.Ctx) error {
	_, token, _, done, err := s.mailboxPost(c)
	if done {
		return err
	}
	// End the token itself, not just the cookie: someone who copied it gets nothing more.
	if err := s.deps.Intake.CloseMailbox(c.UserContext(), token); err != nil {
		return err
	}
	s.setMailboxCookie(c, "", false)
	return c.Redirect(Localise(Lang(c), "/mailbox")+"?done=closed", fiber.StatusSeeOther)
}
