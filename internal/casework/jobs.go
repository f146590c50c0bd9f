package casework

import (
	"context"
	"crypto/hmac"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"candour/internal/access"
	"candour/internal/audit"
	"candour/internal/routing"
	"candour/internal/store"
)

// ReminderLead is how long before a deadline the first reminder goes.
const ReminderLead = 48 * time.Hour

// SendReminders queues a reminder to the route holders (and the Monitoring Officer) when a
// clock is within ReminderLead of its deadline, and another when it is breached. Each goes
// once, whatever the number of job runners: the reminders table's key decides.
func (s *Service) SendReminders(ctx context.Context) (int, error) {
	now := s.d.Now()
	due, err := s.d.Store.DueClocks(ctx, now.Add(ReminderLead), 500)
	if err != nil {
		return 0, err
	}
	mo, _ := s.d.Policy().Directory.Role("monitoring_officer")
	sent := 0
	for _, d := range due {
		stage := "due_soon"
		if now.After(d.Deadline) {
			stage = "breached"
		}
		err := s.d.Store.Tx(ctx, func(tx *store.Store) error {
			first, err := tx.MarkReminder(ctx, d.ID, d.Clock, stage)
			if err != nil || !first {
				return err
			}
			var dec routing.Decision
			if err := json.Unmarshal(d.Route, &dec); err != nil {
				return fmt.Errorf("casework: route of %s: %w", d.Reference, err)
			}
			seen := map[string]bool{}
			recipients := append([]routing.Holder{}, dec.Route...)
			if mo.Email != "" {
				recipients = append(recipients, routing.Holder{Role: "monitoring_officer", Email: mo.Email})
			}
			for _, h := range recipients {
				email := strings.ToLower(h.Email)
				// A person named in the concern is never told it exists, not even by reference.
				if email == "" || seen[email] || named(d.NamedKeys, access.NamedKey(s.d.Names, email)) {
					continue
				}
				seen[email] = true
				n := &store.Notification{Recipient: email, Kind: "reminder", Reference: d.Reference,
					ConcernID: sql.NullInt64{Int64: d.ID, Valid: true},
					// The deadline is in the key: interim feedback moves the feedback clock, and its
					// new deadline is reminded again.
					DedupeKey: sql.NullString{String: fmt.Sprintf("reminder:%d:%s:%s:%s:%s", d.ID, d.Clock, stage,
						d.Deadline.UTC().Format("2006010215"), email), Valid: true}}
				if err := tx.EnqueueNotification(ctx, n); err != nil {
					return err
				}
			}
			sent++
			return audit.Record(ctx, tx, audit.Event{Action: "clock." + stage, ObjectType: "concern",
				ObjectID: d.PublicID, Details: map[string]string{"clock": d.Clock}})
		})
		if err != nil {
			return sent, err
		}
	}
	return sent, nil
}

func named(keys [][]byte, key []byte) bool {
	for _, k := range keys {
		if hmac.Equal(k, key) {
			return true
		}
	}
	return false
}

// ApplyRetention crypto-shreds closed concerns whose retention period (from the policy) has
// ended: the wrapped data key and all ciphertext go, a tombstone and the audit events stay.
// A concern the reporter wrote to after closure is kept. One instance at a time (advisory
// lock); the others skip.
func (s *Service) ApplyRetention(ctx context.Context) (int, error) {
	now := s.d.Now()
	retention := s.d.Policy().Retention
	shredded := 0
	err := s.d.Store.Tx(ctx, func(tx *store.Store) error {
		ok, err := tx.TryRetentionLock(ctx)
		if err != nil || !ok {
			return err
		}
		// Nothing is kept for less than a day; the policy decides per kind beyond that.
		candidates, err := tx.ClosedBefore(ctx, now.Add(-24*time.Hour), 1000)
		if err != nil {
			return err
		}
		for _, c := range candidates {
			kind := "concern"
			if c.Outcome != nil && *c.Outcome == "declined" {
				kind = "declined_concern"
			}
			expires, ok := retention.ExpiresAt(kind, c.ClosedAt)
			if !ok || now.Before(expires) {
				continue
			}
			done, err := tx.Shred(ctx, c.ID, now)
			if err != nil {
				return err
			}
			if !done {
				continue
			}
			shredded++
			if err := audit.Record(ctx, tx, audit.Event{Action: "concern.shred", ObjectType: "concern",
				ObjectID: c.PublicID, Details: map[string]string{"kind": kind}}); err != nil {
				return err
			}
		}
		return nil
	})
	return shredded, err
}

// MailBacklog is the staff e-mail the mail server has not taken.
type MailBacklog = store.MailBacklog

// UndeliveredMail tells the Monitoring Officer and deputy how much staff e-mail has not gone
// out, so a mail server that refuses is seen rather than trusted. Anyone else: not found.
func (s *Service) UndeliveredMail(ctx context.Context, u *store.User) (MailBacklog, error) {
	if !access.CanSeeTriage(u) {
		return MailBacklog{}, errNotFound
	}
	return s.d.Store.UndeliveredMail(ctx)
}
