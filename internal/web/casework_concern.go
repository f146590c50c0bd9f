package web

import (
	"strings"

	"github.com/gofiber/fiber/v2"

	"candour/internal/casework"
	"candour/internal/fault"
	"candour/internal/server"
)

// concernAction runs do for the concern in the path and answers the way every concern form
// does: back to the concern page with a notice, or the page again with the form's errors.
func (s *Site) concernAction(c *fiber.Ctx, formName string, values map[string]string, done, anchor string, do func(id string) error) error {
	id := c.Params("id")
	if err := do(id); err != nil {
		st, status, ok := s.failure(err, formName, concernFields, values)
		if !ok {
			return err
		}
		return s.renderConcern(c, status, st)
	}
	return s.back(c, "/staff/concerns/"+id, done, anchor)
}

func (s *Site) concernAttachment(c *fiber.Ctx) error {
	id, aid := c.Params("id"), c.Params("aid")
	name, n, r, err := s.deps.Casework.OpenAttachment(c.UserContext(), principal(c).User, id, aid)
	if err != nil {
		return err
	}
	return server.SendFile(c, name, server.BinaryType, n, r)
}

func (s *Site) concernAcknowledge(c *fiber.Ctx) error {
	return s.concernAction(c, "acknowledge", nil, "acknowledged", "", func(id string) error {
		return s.deps.Casework.Acknowledge(c.UserContext(), principal(c).User, id)
	})
}

func (s *Site) concernMessage(c *fiber.Ctx) error {
	body := form(c, "body")
	return s.concernAction(c, "message", map[string]string{"body": body}, "message", "messages", func(id string) error {
		return s.deps.Casework.Message(c.UserContext(), principal(c).User, id, body)
	})
}

func (s *Site) concernInterimFeedback(c *fiber.Ctx) error {
	body := form(c, "body")
	return s.concernAction(c, "interim", map[string]string{"body": body}, "interim", "messages", func(id string) error {
		_, err := s.deps.Casework.InterimFeedback(c.UserContext(), principal(c).User, id, body)
		return err
	})
}

func (s *Site) concernNote(c *fiber.Ctx) error {
	body, kind := form(c, "body"), form(c, "personal")
	return s.concernAction(c, "note", map[string]string{"body": body, "personal": kind}, "note", "notes", func(id string) error {
		if kind != "yes" && kind != "no" {
			return fault.Fields{"personal": "field.choice"}.Err()
		}
		return s.deps.Casework.AddNote(c.UserContext(), principal(c).User, id, body, kind == "yes")
	})
}

// concernDecision handles the refer, decline, accept and close forms; each posts its action.
func (s *Site) concernDecision(c *fiber.Ctx) error {
	action := form(c, "action")
	switch action {
	case "refer", "decline", "accept", "close":
	default:
		return fiber.ErrBadRequest
	}
	d := casework.Decision{Action: action, Reason: form(c, "reason"), ReferTo: form(c, "refer_to")}
	values := map[string]string{"reason": d.Reason, "refer_to": d.ReferTo, "investigation_id": form(c, "investigation_id")}
	d.InvestigationID = values["investigation_id"]
	return s.concernAction(c, action, values, action, "", func(id string) error {
		return s.deps.Casework.Decide(c.UserContext(), principal(c).User, id, d)
	})
}

// concernReferralOutcome: the holder a concern was referred to says what came of it.
func (s *Site) concernReferralOutcome(c *fiber.Ctx) error {
	in := casework.ReferralOutcome{Outcome: form(c, "outcome"), Note: form(c, "note")}
	values := map[string]string{"outcome": in.Outcome, "note": in.Note}
	return s.concernAction(c, "referral", values, "referral", "", func(id string) error {
		return s.deps.Casework.RecordReferralOutcome(c.UserContext(), principal(c).User, id, in)
	})
}

// concernConflict: the user steps away from the concern for good. Afterwards they can no
// longer see it, so they go back to the queue.
func (s *Site) concernConflict(c *fiber.Ctx) error {
	id := c.Params("id")
	reason := form(c, "reason")
	err := s.deps.Casework.DeclareConflict(c.UserContext(), principal(c).User, id, reason)
	if err != nil {
		st, status, ok := s.failure(err, "conflict", concernFields, map[string]string{"reason": reason})
		if !ok {
			return err
		}
		return s.renderConcern(c, status, st)
	}
	return s.back(c, "/staff/triage", "conflict", "")
}

// concernGrant gives another handler access to the concern, or moves it to them from someone
// else (both named by e-mail address).
func (s *Site) concernGrant(c *fiber.Ctx) error {
	to, from, reason := strings.TrimSpace(form(c, "user")), strings.TrimSpace(form(c, "from")), form(c, "reason")
	values := map[string]string{"user_id": to, "from_user_id": from, "reason": reason}
	return s.concernAction(c, "grant", values, "granted", "", func(id string) error {
		return s.deps.Casework.GrantAccessByEmail(c.UserContext(), principal(c).User, id, to, from, reason)
	})
}

func (s *Site) concernIdentityRequest(c *fiber.Ctx) error {
	in := casework.IdentityRequestInput{Reason: form(c, "reason")}
	if form(c, "no_notice") == "yes" {
		in.NoNoticeReason = form(c, "no_notice_reason")
		if strings.TrimSpace(in.NoNoticeReason) == "" {
			// Not telling the reporter needs its legal reason.
			st, status, _ := s.failure(fault.Fields{"no_notice_reason": "field.required"}.Err(), "identity", concernFields,
				map[string]string{"reason": in.Reason, "no_notice": "yes"})
			return s.renderConcern(c, status, st)
		}
	}
	values := map[string]string{"reason": in.Reason, "no_notice_reason": in.NoNoticeReason}
	if in.NoNoticeReason != "" {
		values["no_notice"] = "yes"
	}
	return s.concernAction(c, "identity", values, "identity_requested", "", func(id string) error {
		_, err := s.deps.Casework.RequestIdentity(c.UserContext(), principal(c).User, id, in)
		return err
	})
}
