// Package notify sends the e-mails the outbox holds: to staff, that a concern has been routed
// to them, that a clock is close to breach, that the reporter has written; to a reporter who
// left an address, that there is a new message in their mailbox. A staff message carries the
// reference and a link, never concern content and never a reporter's identity; a reporter's
// carries not even the reference: e-mail leaves the council's control.
package notify

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/smtp"
	"os"
	"strings"
	"time"

	"candour/internal/store"
)

// Message is one e-mail.
type Message struct {
	To      string
	Subject string
	Body    string
	// Reporter says To is a reporter's own address: it never goes into a log.
	Reporter bool
}

// Mailer delivers a message.
type Mailer interface {
	Send(ctx context.Context, m Message) error
}

// LogMailer writes the recipient and subject to the log instead of sending: the embedded
// default, so a developer sees notifications without a mail server. The body is not logged.
type LogMailer struct{ Logger *slog.Logger }

// Send logs the message's envelope.
func (l LogMailer) Send(_ context.Context, m Message) error {
	to := m.To
	if m.Reporter {
		to = "(a reporter's address)"
	}
	l.Logger.Info("notification (not sent: no CANDOUR_SMTP_ADDR)", "to", to, "subject", m.Subject)
	return nil
}

// TLS modes of SMTP.
const (
	StartTLS    = "starttls" // STARTTLS, required: a server that does not offer it gets nothing
	ImplicitTLS = "tls"      // TLS from the first byte (submissions on port 465)
	Plain       = "none"     // no TLS: a relay on this machine only (the configuration checks)
)

// SMTP sends through a mail server over verified TLS: the certificate must be valid for the
// server's host name and signed by RootCAs (nil: the system's roots). AUTH PLAIN is only ever
// sent over TLS.
type SMTP struct {
	Addr     string
	From     string
	Username string
	Password string
	TLS      string // StartTLS (the default when empty), ImplicitTLS or Plain
	RootCAs  *x509.CertPool
	Timeout  time.Duration
}

// LoadCAs reads a PEM file of certificate authorities for SMTP.RootCAs.
func LoadCAs(path string) (*x509.CertPool, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("notify: CA file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("notify: CA file %s: no PEM certificate in it", path)
	}
	return pool, nil
}

// Send delivers m.
func (s SMTP) Send(ctx context.Context, m Message) error {
	timeout := s.Timeout
	if timeout == 0 {
		timeout = 30 * time.Second
	}
	host, _, err := net.SplitHostPort(s.Addr)
	if err != nil {
		return fmt.Errorf("notify: address %q: %w", s.Addr, err)
	}
	tlsConf := &tls.Config{ServerName: host, RootCAs: s.RootCAs, MinVersion: tls.VersionTLS12}
	d := net.Dialer{Timeout: timeout}
	var conn net.Conn
	if s.TLS == ImplicitTLS {
		conn, err = (&tls.Dialer{NetDialer: &d, Config: tlsConf}).DialContext(ctx, "tcp", s.Addr)
	} else {
		conn, err = d.DialContext(ctx, "tcp", s.Addr)
	}
	if err != nil {
		return fmt.Errorf("notify: connect to %s: %w", s.Addr, err)
	}
	conn.SetDeadline(time.Now().Add(timeout))
	c, err := smtp.NewClient(conn, host)
	if err != nil {
		conn.Close()
		return fmt.Errorf("notify: %w", err)
	}
	defer c.Close()
	switch s.TLS {
	case ImplicitTLS, Plain:
	default:
		if ok, _ := c.Extension("STARTTLS"); !ok {
			return fmt.Errorf("notify: %s does not offer STARTTLS, which is required", s.Addr)
		}
		if err := c.StartTLS(tlsConf); err != nil {
			return fmt.Errorf("notify: starttls: %w", err)
		}
	}
	if s.Username != "" {
		if _, isTLS := c.TLSConnectionState(); !isTLS {
			return errors.New("notify: AUTH refused: the connection is not encrypted")
		}
		if err := c.Auth(smtp.PlainAuth("", s.Username, s.Password, host)); err != nil {
			return fmt.Errorf("notify: auth: %w", err)
		}
	}
	if err := c.Mail(s.From); err != nil {
		return fmt.Errorf("notify: MAIL FROM: %w", err)
	}
	if err := c.Rcpt(m.To); err != nil {
		return fmt.Errorf("notify: RCPT TO: %w", err)
	}
	w, err := c.Data()
	if err != nil {
		return fmt.Errorf("notify: DATA: %w", err)
	}
	if _, err := w.Write(format(s.From, m)); err != nil {
		return fmt.Errorf("notify: write: %w", err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("notify: end of data: %w", err)
	}
	return c.Quit()
}

func format(from string, m Message) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "From: %s\r\nTo: %s\r\nSubject: %s\r\nDate: %s\r\n", from, m.To, m.Subject, time.Now().UTC().Format(time.RFC1123Z))
	b.WriteString("MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n")
	b.WriteString(strings.ReplaceAll(m.Body, "\n", "\r\n"))
	return []byte(b.String())
}

// sentences are each kind of notification in English and Welsh, around the reference (%s).
var sentences = map[string][2]string{
	"routed": {"A concern has been routed to you: %s.", "Mae pryder wedi'i anfon atoch chi: %s."},
	"reminder": {"A clock on concern %s is close to its deadline or has passed it.",
		"Mae cloc ar bryder %s yn agos at ei derfyn amser neu wedi mynd heibio iddo."},
	"reply":    {"The reporter has written on concern %s.", "Mae'r sawl a gododd bryder %s wedi ysgrifennu."},
	"evidence": {"The reporter has added evidence to concern %s.", "Mae'r sawl a gododd bryder %s wedi ychwanegu tystiolaeth."},
	"escalation": {"The safeguarding alert for concern %s has not reached the safeguarding hub for a quarter of an hour: make sure they know.",
		"Nid yw'r rhybudd diogelu ar gyfer pryder %s wedi cyrraedd yr hyb diogelu ers chwarter awr: gwnewch yn siŵr eu bod yn gwybod."},
	"referral": {"Concern %s has been referred to you by the Monitoring Officer.", "Mae pryder %s wedi'i atgyfeirio atoch chi gan y Swyddog Monitro."},
	"referral_outcome": {"The team concern %s was referred to has recorded what came of it.",
		"Mae'r tîm yr atgyfeiriwyd pryder %s ato wedi cofnodi beth ddaeth ohono."},
	"councillor_message": {"The council has written to you on your concern %s.", "Mae'r cyngor wedi ysgrifennu atoch ar eich pryder %s."},
}

// pages are where each kind's link goes, under the concern's public id: a councillor follows
// their own concern, staff work on it.
var pages = map[string]string{"councillor_message": "/councillor/concerns/"}

// Compose writes the e-mail for a notification: bilingual (the council corresponds in English
// and Welsh), reference and link only.
func Compose(n store.Notification, publicURL string) Message {
	// The concern's public id: a serial in the link would tell the recipient how many came before.
	// A notification without a concern links to the queue.
	base := strings.TrimSuffix(publicURL, "/")
	link := base + "/staff/triage"
	if n.ConcernPublicID.Valid {
		page, ok := pages[n.Kind]
		if !ok {
			page = "/staff/concerns/"
		}
		link = base + page + n.ConcernPublicID.String
	}
	text, ok := sentences[n.Kind]
	if !ok {
		text = sentences["routed"]
	}
	en, cy := fmt.Sprintf(text[0], n.Reference), fmt.Sprintf(text[1], n.Reference)
	body := en + "\nSign in to read it: " + link + "\n\n" + cy + "\nMewngofnodwch i'w ddarllen: " + link +
		"\n\nThis e-mail never contains the concern or who raised it. / Nid yw'r e-bost hwn byth yn cynnwys y pryder na phwy a'i cododd.\n"
	return Message{To: n.Recipient, Subject: "Candour " + n.Reference, Body: body}
}

// reporterNotice is the whole e-mail to a reporter, subject and body around the mailbox link,
// in their language: nothing says which concern, or what the message is.
var reporterNotice = map[string][2]string{
	"en": {"A new message in your mailbox",
		"There is a new message in your mailbox.\nOpen it with your receipt: %s\n\nThis e-mail never says what the message is.\n"},
	"cy": {"Neges newydd yn eich blwch negeseuon",
		"Mae neges newydd yn eich blwch negeseuon.\nAgorwch ef gyda'ch derbynneb: %s\n\nNid yw'r e-bost hwn byth yn dweud beth yw'r neges.\n"},
}

// composeReporter writes the e-mail telling a reporter that a message is waiting, to the
// address the caller opened.
func composeReporter(n store.Notification, publicURL, to string) Message {
	lang, link := "en", strings.TrimSuffix(publicURL, "/")+"/mailbox"
	if n.Language.String == "cy" {
		lang, link = "cy", strings.TrimSuffix(publicURL, "/")+"/cy/mailbox"
	}
	text := reporterNotice[lang]
	return Message{To: to, Subject: text[0], Body: fmt.Sprintf(text[1], link), Reporter: true}
}

// redact takes a reporter's address out of a mail server's refusal, which often quotes it
// ("550 <name@example.org>: unknown user"), before the refusal is logged and stored.
func redact(err error, to string) error {
	text := err.Error()
	for _, s := range []string{to, strings.SplitN(to, "@", 2)[0]} {
		if len(s) < 3 {
			continue
		}
		for {
			i := strings.Index(strings.ToLower(text), strings.ToLower(s))
			if i < 0 {
				break
			}
			text = text[:i] + "(reporter)" + text[i+len(s):]
		}
	}
	return errors.New(text)
}

// AddressOpener opens a reporter's notice address from the concern's wrapped data key and the
// address sealed under it (intake.Service.NoticeAddress): the notifier's only way to it, so
// notify holds no server key.
type AddressOpener func(concernID string, wrappedKey, sealed []byte) (string, error)

// LinkOpener opens an enrolment link sealed for its recipient (accounts.Service.OpenLink).
type LinkOpener func(recipient string, sealed []byte) (string, error)

// Openers are the notifier's only ways to what the outbox holds sealed, so notify holds no
// server key. A nil one leaves its kind of notification unsent.
type Openers struct {
	Address AddressOpener
	Link    LinkOpener
	// Code opens a first single sign-on's one-time code (auth.Service.OpenSSOCode); it is
	// sealed for its recipient like an enrolment link.
	Code LinkOpener
}

// checkpointMail gives an auditor a signed checkpoint to keep, in both languages, around the
// portal's address and the checkpoint.
const checkpointMail = "A signed checkpoint of the audit log. Keep this e-mail: `candour audit verify --checkpoint FILE`, or the\n" +
	"audit page at %[1]s/staff/audit, checks the log still extends it.\n" +
	"Pwynt gwirio wedi'i lofnodi o'r cofnod archwilio. Cadwch yr e-bost hwn: mae'n profi nad yw'r cofnod wedi'i ailysgrifennu.\n\n" +
	"%[2]s"

// enrolmentMail is the e-mail with an enrolment link, in both languages.
var enrolmentMail = [2]string{"Set up your Candour account / Sefydlu eich cyfrif Candour",
	"Set your password and second factor for Candour here, within 72 hours. The link works once.\n%s\n\n" +
		"Gosodwch eich cyfrinair a'ch ail ffactor ar gyfer Candour yma, o fewn 72 awr. Mae'r ddolen yn gweithio unwaith.\n%s\n\n" +
		"If you did not expect this, tell the Monitoring Officer. / Os nad oeddech yn disgwyl hyn, dywedwch wrth y Swyddog Monitro.\n"}

// ssoCodeMail is the e-mail with a first single sign-on's code, in both languages.
var ssoCodeMail = [2]string{"Your Candour sign-in code / Eich cod mewngofnodi Candour",
	"Your code to finish signing in to Candour with your organisation's account: %s\nIt works once, for 15 minutes.\n\n" +
		"Eich cod i orffen mewngofnodi i Candour gyda chyfrif eich sefydliad: %s\nMae'n gweithio unwaith, am 15 munud.\n\n" +
		"If you did not just sign in, tell the Monitoring Officer. / Os nad oeddech newydd fewngofnodi, dywedwch wrth y Swyddog Monitro.\n"}

// message is the e-mail for n: a reporter's goes to the address opened now, and one whose
// address was shredded with its concern can never go (store.ErrNoRecipient); an enrolment
// link is opened for its recipient only.
func message(n store.Notification, publicURL string, open Openers) (Message, error) {
	switch n.Kind {
	case store.Enrolment:
		return sealedMail(n, open.Link, enrolmentMail)
	case store.SSOCode:
		return sealedMail(n, open.Code, ssoCodeMail)
	case store.Checkpoint:
		return Message{To: n.Recipient, Subject: "Candour " + n.Reference,
			Body: fmt.Sprintf(checkpointMail, strings.TrimSuffix(publicURL, "/"), n.Checkpoint.String)}, nil
	case store.ReporterNewMessage:
	default:
		return Compose(n, publicURL), nil
	}
	if n.WrappedKey == nil || n.SealedAddress == nil {
		return Message{}, fmt.Errorf("concern shredded: %w", store.ErrNoRecipient)
	}
	if open.Address == nil {
		return Message{}, errors.New("notify: no way to open a reporter's address")
	}
	to, err := open.Address(n.ConcernPublicID.String, n.WrappedKey, n.SealedAddress)
	if err != nil {
		return Message{}, err
	}
	return composeReporter(n, publicURL, to), nil
}

// sealedMail is an e-mail whose one secret (a link, a code) was sealed for its recipient: it is
// opened for that recipient only, and put in mail twice (English, Welsh).
func sealedMail(n store.Notification, open LinkOpener, mail [2]string) (Message, error) {
	if open == nil || n.SealedLink == nil {
		return Message{}, fmt.Errorf("notify: no way to open a %s notification", n.Kind)
	}
	secret, err := open(n.Recipient, n.SealedLink)
	if err != nil {
		return Message{}, err
	}
	return Message{To: n.Recipient, Subject: mail[0], Body: fmt.Sprintf(mail[1], secret, secret)}, nil
}

// expandBatch is how many concerns' route holders are turned into e-mails per statement, and
// expandRounds how many such statements one run of Deliver makes at most.
const (
	expandBatch  = 1000
	expandRounds = 20
)

// EscalationRefusals is how many refusals of a safeguarding alert make it an escalation: the
// pauses between tries double from a minute, so four are a quarter of an hour.
const EscalationRefusals = 4

// Deliver sends what is waiting in the outbox, one batch, after turning newly filed concerns'
// route holders into e-mails and escalating safeguarding alerts the mail server keeps refusing
// to escalateTo (the deputy Monitoring Officer; empty: no one to tell). open opens reporters'
// addresses. Every refusal is logged with the notification's id and the reason (never the
// message or a reporter's address: the log is not the place); one given up on after a day of
// retries is logged as an error, and a reporter's whose concern was shredded is dropped.
func Deliver(ctx context.Context, st *store.Store, m Mailer, publicURL, escalateTo string, open Openers, log *slog.Logger) (int, error) {
	for range expandRounds {
		n, err := st.ExpandRoutedOutbox(ctx, expandBatch)
		if err != nil {
			return 0, err
		}
		if n < expandBatch {
			break
		}
	}
	sent, failed, err := st.DeliverNotifications(ctx, 50, func(n store.Notification) error {
		msg, err := message(n, publicURL, open)
		if err != nil {
			return err
		}
		if err := m.Send(ctx, msg); err != nil {
			if msg.Reporter {
				return redact(err, msg.To)
			}
			return err
		}
		return nil
	})
	refused := 0
	for _, f := range failed {
		if f.Dropped {
			log.Info("notification dropped: its concern was shredded", "notification", f.ID)
			continue
		}
		refused++
		if f.GaveUp {
			log.Error("notification failed: not delivered after a day of retries", "notification", f.ID,
				"attempts", f.Attempt, "err", f.Err)
			continue
		}
		log.Warn("notification not delivered; will retry", "notification", f.ID, "attempt", f.Attempt, "err", f.Err)
	}
	if err != nil {
		return sent, err
	}
	// Only a refusal can bring an alert to its fourth: a run where the server took everything
	// has nothing to escalate.
	if escalateTo != "" && refused > 0 {
		n, err := st.EscalateSafeguarding(ctx, escalateTo, EscalationRefusals)
		if err != nil {
			return sent, err
		}
		if n > 0 {
			log.Error("safeguarding alerts refused by the mail server for a quarter of an hour; escalated", "concerns", n)
		}
	}
	return sent, nil
}
