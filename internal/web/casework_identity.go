package web

import (
	"candour/internal/server"
	"net/url"
	"strings"

	"github.com/gofiber/fiber/v2"

	"candour/internal/casework"
)

type identityRequestItem struct {
	casework.IdentityRequestView
	ReasonLines   []string
	NoNoticeLines []string
	Own           bool // the custodian asked for it: someone else must decide
}

type custodianData struct {
	formState
	CSRF     string
	Requests []identityRequestItem
	Approved string // reference whose sealed identity can now be downloaded
	File     string // identity-<reference>.age
	Notice   string
}

// ErrorSummary is the error summary of the form that failed.
func (d custodianData) ErrorSummary() []formError { return d.Errors }

func (s *Site) custodianPage(c *fiber.Ctx) error {
	return s.renderCustodian(c, fiber.StatusOK, formState{})
}

func (s *Site) renderCustodian(c *fiber.Ctx, status int, st formState) error {
	p := principal(c)
	reqs, err := s.deps.Casework.PendingIdentityRequests(c.UserContext(), p.User)
	if err != nil {
		return err
	}
	d := custodianData{formState: st, CSRF: p.Session.CSRF, Notice: caseworkNotices[c.Query("done")]}
	if ref := casework.NormalReference(c.Query("reference")); casework.LooksLikeReference(ref) && st.Errors == nil {
		d.Approved, d.File = ref, casework.IdentityFile(ref)
	}
	for _, r := range reqs {
		d.Requests = append(d.Requests, identityRequestItem{IdentityRequestView: r, ReasonLines: lines(r.Reason),
			NoNoticeLines: lines(r.NoNoticeReason), Own: r.RequesterID == p.User.ID})
	}
	return s.Render(c, status, "custodian", d)
}

func (s *Site) custodianDecide(c *fiber.Ctx) error {
	id := c.Params("id")
	u := principal(c).User
	decision, reason := form(c, "decision"), form(c, "reason")
	if decision != "approve" && decision != "refuse" {
		return fiber.ErrBadRequest
	}
	formName := "decide-" + id
	// The reference of the request, for the download link after approval.
	var ref string
	reqs, err := s.deps.Casework.PendingIdentityRequests(c.UserContext(), u)
	if err != nil {
		return err
	}
	for _, r := range reqs {
		if r.ID == id {
			ref = r.Reference
		}
	}
	if err := s.deps.Casework.DecideIdentityRequest(c.UserContext(), u, id, decision == "approve", reason); err != nil {
		st, status, ok := s.failure(err, formName, []string{"reason"}, map[string]string{"reason": reason})
		if !ok {
			return err
		}
		return s.renderCustodian(c, status, st)
	}
	target := Localise(Lang(c), "/staff/identity-requests")
	if decision == "approve" && ref != "" {
		return c.Redirect(target+"?done=approved&reference="+url.QueryEscape(ref)+"#download", fiber.StatusSeeOther)
	}
	return c.Redirect(target+"?done=refused", fiber.StatusSeeOther)
}

// custodianSealed sends the reporter's identity, still sealed to the custodians, as an armored
// age file. The server cannot open it: the custodian does, offline, with their own key.
func (s *Site) custodianSealed(c *fiber.Ctx) error {
	ref := casework.NormalReference(c.Query("reference"))
	name, armored, err := s.deps.Casework.SealedIdentityByReference(c.UserContext(), principal(c).User, ref)
	if err != nil {
		st, status, ok := s.failure(err, "download", []string{"reference"}, map[string]string{"reference": ref})
		if !ok {
			return err
		}
		return s.renderCustodian(c, status, st)
	}
	return server.SendFile(c, name, server.BinaryType, int64(len(armored)), strings.NewReader(armored))
}
