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

	"candour/internal/access"
	"candour/internal/audit"
	"candour/internal/domain"
	"candour/internal/fault"
	"candour/internal/store"
)

// AuditQuery is the audit view's filter as typed: actor (a user id, "user:<id>" or an e-mail
// address), object ("<type>" or "<type>:<id>", e.g. "concern:<public id>") and inclusive dates.
type AuditQuery struct {
	Actor, Object, From, To string
	Limit                   int
}

// Verification is the audit trail's check against the signed, witnessed checkpoints, as the
// audit view shows it.
type Verification = audit.Checked

// SetCheckpoints gives the service the audit log's checkpointer; without one every
// verification fails, saying so.
func (s *Service) SetCheckpoints(cp *audit.Checkpointer) { s.checkpoints = cp }

// verify makes a checkpoint and checks the trail against the checkpoint file.
func (s *Service) verify(ctx context.Context) (Verification, error) {
	if s.checkpoints == nil {
		return Verification{Problem: "no audit checkpoints are configured"}, nil
	}
	return s.checkpoints.CheckpointAndVerify(ctx)
}

// Checkpoints returns the checkpoint file for an auditor to download, and records that.
func (s *Service) Checkpoints(ctx context.Context, u *domain.User) ([]byte, error) {
	if !access.CanReadAudit(u) || s.checkpoints == nil {
		return nil, errNotFound
	}
	data, err := s.checkpoints.File(ctx)
	if err != nil {
		return nil, err
	}
	return data, s.record(ctx, u, "audit.checkpoints", Use{}, map[string]string{"bytes": strconv.Itoa(len(data))})
}

// CheckpointFile is the name an auditor's download of the checkpoints gets.
const CheckpointFile = "candour-audit-checkpoints.txt"

// Trail is the audit view: the matching events, newest first, and (on a page or in JSON, not in
// an export) the verification of the whole chain.
type Trail struct {
	Events       []store.AuditEvent
	Verification Verification
}

// AuditTrail returns the events matching q to an auditor (access.CanReadAudit) and records the
// reading in the audit trail; a bad filter is a fault.Invalid naming the field.
func (s *Service) AuditTrail(ctx context.Context, u *domain.User, q AuditQuery, use Use) (*Trail, error) {
	if !access.CanReadAudit(u) {
		return nil, errNotFound
	}
	f, err := s.auditFilter(ctx, q)
	if err != nil {
		return nil, err
	}
	t := &Trail{}
	if f.ActorID >= 0 { // an unknown e-mail address: nobody, and an empty result
		if t.Events, err = s.store.SearchAudit(ctx, f); err != nil {
			return nil, err
		}
	}
	details := map[string]string{"events": strconv.Itoa(len(t.Events))}
	action := "audit.export"
	if !use.Export {
		action = "audit.read"
		if t.Verification, err = s.verify(ctx); err != nil {
			return nil, err
		}
		details["ok"] = strconv.FormatBool(t.Verification.OK)
	}
	if err := s.record(ctx, u, action, use, details); err != nil {
		return nil, err
	}
	return t, nil
}

// VerifyAudit checks the whole chain for an auditor and records that it was checked.
func (s *Service) VerifyAudit(ctx context.Context, u *domain.User) (Verification, error) {
	if !access.CanReadAudit(u) {
		return Verification{}, errNotFound
	}
	res, err := s.verify(ctx)
	if err != nil {
		return res, err
	}
	return res, s.record(ctx, u, "audit.verify", Use{}, map[string]string{"ok": strconv.FormatBool(res.OK),
		"events": strconv.Itoa(res.Events)})
}

// auditFilter turns q into a store filter, or a fault.Invalid error naming the field.
func (s *Service) auditFilter(ctx context.Context, q AuditQuery) (store.AuditFilter, error) {
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
