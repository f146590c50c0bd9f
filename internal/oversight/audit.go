package oversight

import (
	"context"
	"encoding/csv"
	"encoding/hex"
	"errors"
	"io"
	"strconv"
	"strings"
	"time"

	"candour/internal/fault"
	"candour/internal/store"
)

// AuditQuery is the audit view's filter as typed: actor (a user id, "user:<id>" or an e-mail
// address), object ("<type>" or "<type>:<id>", e.g. "concern:<public id>") and inclusive dates.
type AuditQuery struct {
	Actor, Object, From, To string
	Limit                   int
}

// AuditFilter turns q into a store filter, or a fault.Invalid error naming the field.
func (s *Service) AuditFilter(ctx context.Context, q AuditQuery) (store.AuditFilter, error) {
	f := store.AuditFilter{Limit: q.Limit}
	fields := fault.Fields{}
	switch actor := strings.TrimSpace(q.Actor); {
	case actor == "":
	case strings.Contains(actor, "@"):
		u, err := s.store.UserByEmail(ctx, actor)
		switch {
		case errors.Is(err, store.ErrNotFound):
			f.ActorID = -1 // nobody: an empty result, not an error that confirms who has an account
		case err != nil:
			return f, err
		default:
			f.ActorID = u.ID
		}
	default:
		id, err := strconv.ParseInt(strings.TrimPrefix(actor, "user:"), 10, 64)
		if err != nil || id <= 0 {
			fields.Add("actor", "oversight.field.actor")
		}
		f.ActorID = id
	}
	if obj := strings.TrimSpace(q.Object); obj != "" {
		typ, id, _ := strings.Cut(obj, ":")
		if len(obj) > 200 || typ == "" {
			fields.Add("object", "oversight.field.object")
		}
		f.ObjectType, f.ObjectID = typ, id
	}
	for _, d := range []struct {
		field, text string
		dst         *time.Time
		next        bool
	}{{"from", q.From, &f.From, false}, {"to", q.To, &f.To, true}} {
		if strings.TrimSpace(d.text) == "" {
			continue
		}
		t, err := time.ParseInLocation(dateLayout, strings.TrimSpace(d.text), london)
		if err != nil {
			fields.Add(d.field, "oversight.field.date")
			continue
		}
		if d.next {
			t = t.AddDate(0, 0, 1) // the whole of the last day
		}
		*d.dst = t
	}
	if !f.From.IsZero() && !f.To.IsZero() && !f.To.After(f.From) {
		fields.Add("to", "oversight.field.order")
	}
	return f, fields.Err()
}

// AuditEvents lists the events matching f, newest first.
func (s *Service) AuditEvents(ctx context.Context, f store.AuditFilter) ([]store.AuditEvent, error) {
	if f.ActorID < 0 {
		return nil, nil
	}
	return s.store.SearchAudit(ctx, f)
}

// WriteAuditCSV writes events as CSV (seq, at, actor, action, object_type, object_id,
// details, prev_hash, hash), with spreadsheet formulas defused.
func WriteAuditCSV(w io.Writer, events []store.AuditEvent) error {
	cw := csv.NewWriter(w)
	if err := cw.Write([]string{"seq", "at", "actor", "action", "object_type", "object_id", "details", "prev_hash", "hash"}); err != nil {
		return err
	}
	for _, e := range events {
		if err := cw.Write(safe(strconv.FormatInt(e.Seq, 10), e.At.UTC().Format(time.RFC3339Nano), e.Actor, e.Action,
			e.ObjectType, e.ObjectID, string(e.Details), hex.EncodeToString(e.PrevHash), hex.EncodeToString(e.Hash))); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}
