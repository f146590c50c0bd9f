// Package notify sends staff the e-mails the outbox holds: that a concern has been routed to
// them, or that a clock is close to breach. A message carries the reference and a link, never
// concern content and never a reporter's identity: e-mail leaves the council's control.
package notify

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/smtp"
	"strings"
	"time"

	"candour/internal/store"
)

// Message is one e-mail.
type Message struct {
	To      string
	Subject string
	Body    string
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
	l.Logger.Info("notification (not sent: no CANDOUR_SMTP_ADDR)", "to", m.To, "subject", m.Subject)
	return nil
}

// SMTP sends through a mail server, with STARTTLS when the server offers it and AUTH PLAIN
// when a username is configured (net/smtp refuses PLAIN auth over an unencrypted link except
// to localhost).
type SMTP struct {
	Addr     string
	From     string
	Username string
	Password string
	Timeout  time.Duration
}

// Send delivers m.
func (s SMTP) Send(ctx context.Context, m Message) error {
	timeout := s.Timeout
	if timeout == 0 {
		timeout = 30 * time.Second
	}
	d := net.Dialer{Timeout: timeout}
	conn, err := d.DialContext(ctx, "tcp", s.Addr)
	if err != nil {
		return fmt.Errorf("notify: dial %s: %w", s.Addr, err)
	}
	conn.SetDeadline(time.Now().Add(timeout))
	host, _, _ := net.SplitHostPort(s.Addr)
	c, err := smtp.NewClient(conn, host)
	if err != nil {
		conn.Close()
		return fmt.Errorf("notify: %w", err)
	}
	defer c.Close()
	if ok, _ := c.Extension("STARTTLS"); ok {
		if err := c.StartTLS(nil); err != nil {
			return fmt.Errorf("notify: starttls: %w", err)
		}
	}
	if s.Username != "" {
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

// Compose writes the e-mail for a notification: bilingual (the council corresponds in English
// and Welsh), reference and link only.
func Compose(n store.Notification, publicURL string) Message {
	// The concern's public id: a serial in the link would tell the recipient how many came before.
	// A notification without a concern links to the queue.
	link := strings.TrimSuffix(publicURL, "/") + "/staff/triage"
	if n.ConcernPublicID.Valid {
		link = strings.TrimSuffix(publicURL, "/") + "/staff/concerns/" + n.ConcernPublicID.String
	}
	var en, cy string
	switch n.Kind {
	case "reminder":
		en = "A clock on concern " + n.Reference + " is close to its deadline or has passed it."
		cy = "Mae cloc ar bryder " + n.Reference + " yn agos at ei derfyn amser neu wedi mynd heibio iddo."
	default: // "routed"
		en = "A concern has been routed to you: " + n.Reference + "."
		cy = "Mae pryder wedi'i anfon atoch chi: " + n.Reference + "."
	}
	body := en + "\nSign in to read it: " + link + "\n\n" + cy + "\nMewngofnodwch i'w ddarllen: " + link +
		"\n\nThis e-mail never contains the concern or who raised it. / Nid yw'r e-bost hwn byth yn cynnwys y pryder na phwy a'i cododd.\n"
	return Message{To: n.Recipient, Subject: "Candour " + n.Reference, Body: body}
}

// expandBatch is how many concerns' route holders are turned into e-mails per statement, and
// expandRounds how many such statements one run of Deliver makes at most.
const (
	expandBatch  = 1000
	expandRounds = 20
)

// Deliver sends what is waiting in the outbox, one batch, after turning newly filed concerns'
// route holders into e-mails.
func Deliver(ctx context.Context, st *store.Store, m Mailer, publicURL string) (int, error) {
	for range expandRounds {
		n, err := st.ExpandRoutedOutbox(ctx, expandBatch)
		if err != nil {
			return 0, err
		}
		if n < expandBatch {
			break
		}
	}
	return st.DeliverNotifications(ctx, 50, func(n store.Notification) error {
		return m.Send(ctx, Compose(n, publicURL))
	})
}
