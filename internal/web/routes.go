package web

import (
	"github.com/gofiber/fiber/v2"

	"candour/internal/access"
)

// Route is one page or form: method, language-neutral path (Welsh is the same under /cy), who
// may call it, and the handler.
type Route struct {
	Method string
	Path   string
	Gate   access.Gate
	h      fiber.Handler
}

// Routes is every page and form the site serves with its dependencies, one line each. The gate
// on the line is who may call it; nothing else admits or refuses a caller by role.
func (s *Site) Routes() []Route {
	const get, post = fiber.MethodGet, fiber.MethodPost
	rs := []Route{
		{get, "/", access.Public, s.start},
		{get, "/accessibility", access.Public, s.Page("accessibility", nil)},
		{get, "/privacy", access.Public, s.Page("privacy", nil)},
		{get, "/external", access.Public, s.Page("external", externalData{Bodies: prescribedPersons})},
	}
	if s.deps.Intake != nil && s.deps.Policy != nil {
		rs = append(rs,
			Route{get, "/report", access.Public, s.reportForm},    // sets no cookie
			Route{post, "/report", access.Public, s.reportSubmit}, // answers with the receipt
			Route{get, "/mailbox", access.Public, s.mailboxForm},  // the receipt form
			Route{post, "/mailbox", access.Public, s.mailboxOpen}, // a receipt; sets the cookie
			Route{get, "/mailbox/thread", access.Mailbox, s.mailboxThread},
			Route{post, "/mailbox/reply", access.Mailbox, s.mailboxReply},
			Route{post, "/mailbox/attachments", access.Mailbox, s.mailboxUpload}, // multipart
			Route{get, "/mailbox/attachments/:id", access.Mailbox, s.mailboxDownload},
			Route{get, "/mailbox/evidence/:id", access.Mailbox, s.mailboxEvidence},        // an upload not yet sent
			Route{post, "/mailbox/evidence/:id", access.Mailbox, s.mailboxEvidenceDecide}, // send or delete it
			Route{post, "/mailbox/close", access.Mailbox, s.mailboxClose},
			Route{post, "/mailbox/record", access.Mailbox, s.mailboxApproveRecord},
		)
	}
	if s.deps.Auth == nil {
		return rs
	}
	rs = append(rs,
		Route{get, "/staff/login", access.Public, s.staffLoginForm},
		Route{post, "/staff/login", access.Public, s.staffLogin}, // login CSRF cookie
		Route{post, "/staff/logout", access.Setup, s.staffLogout},
		Route{get, "/staff/sso", access.Public, s.ssoStart},                 // to the council's provider; 404 without one
		Route{get, "/staff/sso/callback", access.Public, s.ssoCallback},     // the flow cookie: state, nonce, PKCE
		Route{get, "/staff/sso/code", access.Public, s.ssoCodeForm},         // a first sign-in's pending cookie
		Route{post, "/staff/sso/code", access.Public, limitForm(s.ssoCode)}, // the e-mailed code; login CSRF cookie
		Route{get, "/staff/sso/signed-out", access.Public, s.ssoSignedOut},  // back from the provider's sign-out; state cookie
		Route{get, "/staff", access.SignedIn, s.staffHome},
		Route{get, "/staff/totp", access.Setup, s.staffTOTPForm},
		Route{post, "/staff/totp", access.Setup, s.staffTOTP},
		Route{get, "/staff/password", access.Setup, s.staffPasswordForm},
		Route{post, "/staff/password", access.Setup, s.staffPasswordSave},
	)
	if s.deps.Intake != nil && s.deps.Policy != nil {
		rs = append(rs,
			Route{get, "/councillor", access.Councillor, s.councillorStart},
			Route{post, "/councillor", access.Councillor, s.councillorStep},
			Route{get, "/councillor/concerns", access.Councillor, s.councillorConcerns},   // their own
			Route{get, "/councillor/concerns/:id", access.Councillor, s.councillorThread}, // their own; others 404
			Route{post, "/councillor/concerns/:id/reply", access.Councillor, limitForm(s.councillorReply)},
			Route{post, "/councillor/concerns/:id/attachments", access.Councillor, s.councillorUpload}, // multipart
			Route{get, "/councillor/concerns/:id/attachments/:aid", access.Councillor, s.councillorDownload},
		)
	}
	if s.deps.Casework != nil {
		rs = append(rs,
			Route{get, "/staff/recorded", access.MonitoringOfficer, s.recordForm},
			Route{post, "/staff/recorded", access.MonitoringOfficer, limitForm(s.recordSubmit)},
			Route{get, "/staff/triage", access.Triage, s.triage},
			Route{get, "/staff/concerns/:id", access.CaseAccess, s.concernPage},
			Route{get, "/staff/concerns/:id/attachments/:aid", access.CaseAccess, s.concernAttachment},
			Route{post, "/staff/concerns/:id/acknowledge", access.Acknowledge, limitForm(s.concernAcknowledge)},
			Route{post, "/staff/concerns/:id/message", access.CaseAccess, limitForm(s.concernMessage)},
			Route{post, "/staff/concerns/:id/note", access.CaseAccess, limitForm(s.concernNote)},
			Route{post, "/staff/concerns/:id/interim-feedback", access.MonitoringOfficer, limitForm(s.concernInterimFeedback)},
			Route{post, "/staff/concerns/:id/decision", access.MonitoringOfficer, limitForm(s.concernDecision)},
			Route{post, "/staff/concerns/:id/referral-outcome", access.CaseAccess, limitForm(s.concernReferralOutcome)}, // its holder
			Route{post, "/staff/concerns/:id/conflict", access.CaseAccess, limitForm(s.concernConflict)},
			Route{post, "/staff/concerns/:id/access", access.MonitoringOfficer, limitForm(s.concernGrant)},
			Route{post, "/staff/concerns/:id/identity-request", access.IdentityRequest, limitForm(s.concernIdentityRequest)},
			Route{get, "/staff/investigations", access.Investigation, s.investigationsList}, // the ones they work on
			Route{get, "/staff/investigations/new", access.MonitoringOfficer, s.investigationNewForm},
			Route{post, "/staff/investigations/new", access.MonitoringOfficer, limitForm(s.investigationCreate)},
			Route{get, "/staff/investigations/:id", access.Investigation, s.investigationPage},
			Route{get, "/staff/investigations/:id/report", access.Investigation, s.investigationReport},
			Route{post, "/staff/investigations/:id/concerns", access.MonitoringOfficer, limitForm(s.investigationLink)},
			Route{post, "/staff/investigations/:id/concerns/:cid/unlink", access.MonitoringOfficer, limitForm(s.investigationUnlink)},
			Route{post, "/staff/investigations/:id/allegations", access.Investigation, limitForm(s.allegationAdd)},
			Route{post, "/staff/investigations/:id/allegations/:aid/finding", access.Investigation, limitForm(s.allegationFinding)},
			Route{post, "/staff/investigations/:id/recommendations", access.Investigation, limitForm(s.recommendationAdd)},
			Route{post, "/staff/investigations/:id/recommendations/:rid/status", access.Investigation, limitForm(s.recommendationStatus)},
			Route{post, "/staff/investigations/:id/status", access.Investigation, limitForm(s.investigationAdvance)},
			Route{get, "/staff/identity-requests", access.Custodian, s.custodianPage},
			Route{post, "/staff/identity-requests/:id/decision", access.Custodian, limitForm(s.custodianDecide)}, // not the requester
			Route{get, "/staff/identity-requests/sealed", access.Custodian, s.custodianSealed},                   // after approval
		)
	}
	if s.deps.Oversight != nil {
		rs = append(rs,
			Route{get, "/staff/stats", access.Statistics, s.statsPage},
			Route{get, "/staff/stats/annual", access.Statistics, s.annualReport},
			Route{get, "/staff/stats/export", access.Statistics, s.statsExport},
			Route{get, "/staff/audit", access.Auditor, s.auditPage},
			Route{get, "/staff/audit/export", access.Auditor, s.auditExport},
			Route{get, "/staff/audit/checkpoints", access.Auditor, s.auditCheckpoints},
		)
	}
	if s.deps.Accounts != nil {
		rs = append(rs,
			Route{get, "/staff/admin/users", access.Admin, s.adminUsers},
			Route{post, "/staff/admin/users", access.Admin, limitAdminForm(s.adminCreateUser)},
			Route{get, "/staff/admin/users/:id", access.Admin, s.adminUser},
			Route{post, "/staff/admin/users/:id/roles", access.Admin, limitAdminForm(s.adminSetRoles)},
			Route{post, "/staff/admin/users/:id/disable", access.Admin, limitAdminForm(s.adminDisable)},
			Route{post, "/staff/admin/users/:id/reset-2fa", access.Admin, limitAdminForm(s.adminReset(s.deps.Accounts.ResetSecondFactor, "reset"))},
			Route{post, "/staff/admin/users/:id/reset-password", access.Admin, limitAdminForm(s.adminReset(s.deps.Accounts.ResetPassword, "reset"))},
			Route{post, "/staff/admin/users/:id/sso-unbind", access.Admin, limitAdminForm(s.adminReset(s.deps.Accounts.UnbindSSO, "sso_unbind"))},
			Route{get, "/staff/access-requests", access.MonitoringOfficer, s.accessRequests},
			Route{post, "/staff/access-requests/:id/decision", access.MonitoringOfficer, limitAdminForm(s.accessDecide)}, // not its proposer or subject
			Route{get, "/staff/enrol", access.Public, s.enrolForm},                                                       // an enrolment link's token
			Route{post, "/staff/enrol", access.Public, limitAdminForm(s.enrolSubmit)},                                    // the token is the credential
		)
	}
	return rs
}

// Register adds every route in both languages, behind its gate, and the asset handler.
func (s *Site) Register(app fiber.Router) {
	app.Get(assetRoute, s.serveAsset)
	for _, r := range s.Routes() {
		s.Handle(app, r.Method, r.Path, s.gate(r.Gate, r.h))
	}
}

// gate wraps h so that only callers the gate admits reach it. A staff page without a session
// goes to the sign-in page; a signed-in person the gate does not admit gets 404, as if the page
// did not exist. A mailbox page without a working mailbox goes back to the receipt form.
func (s *Site) gate(g access.Gate, h fiber.Handler) fiber.Handler {
	switch g.Caller {
	case access.Anyone:
		return h
	case access.Reporter:
		return func(c *fiber.Ctx) error {
			if _, _, ok, expired := s.session(c); !ok {
				return s.toMailboxForm(c, expired)
			}
			return h(c)
		}
	case access.Staff:
		return s.requireStaff(g.Setup)(func(c *fiber.Ctx) error {
			if p := principal(c); p == nil || !g.Allows(p.User) {
				return fiber.ErrNotFound
			}
			return h(c)
		})
	}
	panic("web: route without a gate")
}
