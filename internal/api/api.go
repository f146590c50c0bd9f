// Package api is the JSON API (/api/v1, DESIGN §6). Handlers parse, call the same use cases as
// the HTML pages, and render; access checks fail closed and errors go to the one error handler.
package api

import (
	"strings"

	"github.com/gofiber/fiber/v2"

	"candour/internal/access"
	"candour/internal/accounts"
	"candour/internal/auth"
	"candour/internal/casework"
	"candour/internal/intake"
	"candour/internal/oversight"
	"candour/internal/routing"
	"candour/internal/token"
)

// Deps is what the API is built from.
type Deps struct {
	Intake    *intake.Service
	Casework  *casework.Service
	Oversight *oversight.Service
	Accounts  *accounts.Service
	Policy    func() *routing.Policy
	Tokens    *token.Keys
	// Auth signs staff in and checks their sessions.
	Auth          *auth.Service
	SecureCookies bool   // Secure flag on the session cookie (https)
	PublicURL     string // CANDOUR_PUBLIC_URL, for links people hand on
}

// API holds the handlers.
type API struct{ d Deps }

// New returns the API.
func New(d Deps) *API { return &API{d: d} }

// Route is one operation: method, path under /api/v1, who may call it, and the handler.
type Route struct {
	Method string
	Path   string
	Gate   access.Gate
	h      fiber.Handler
}

// Routes is every operation, one line each. The gate on the line is who may call it, and the
// OpenAPI document names the same gate in x-candour-gate.
func (a *API) Routes() []Route {
	const get, post, del = fiber.MethodGet, fiber.MethodPost, fiber.MethodDelete
	const ok, created, none = fiber.StatusOK, fiber.StatusCreated, fiber.StatusNoContent // the answer's status
	return []Route{
		{get, "/openapi.yaml", access.Public, a.openAPIDoc},
		{get, "/service-areas", access.Public, a.serviceAreas},
		{post, "/reports", access.Public, a.submitReport},
		{post, "/mailbox/session", access.Public, a.openMailbox}, // a receipt
		{get, "/mailbox", access.Mailbox, a.mailbox},
		{post, "/mailbox/messages", access.Mailbox, jsonAction(created, a.reply)},
		{post, "/mailbox/attachments", access.Mailbox, upload(a.uploadAttachment)},
		{get, "/mailbox/attachments/:id", access.Mailbox, a.downloadAttachment},
		{get, "/mailbox/evidence/:id", access.Mailbox, show(a.evidence)}, // an upload not yet sent
		{post, "/mailbox/evidence/:id/send", access.Mailbox, jsonAction(ok, a.sendEvidence)},
		{del, "/mailbox/evidence/:id", access.Mailbox, action(none, a.discardEvidence)},
		{post, "/mailbox/close", access.Mailbox, a.closeMailbox},
		{post, "/mailbox/record/approve", access.Mailbox, a.approveRecord},
		{post, "/auth/login", access.Public, a.login}, // staff credentials
		{post, "/auth/logout", access.SignedIn, a.logout},
		{get, "/triage", access.Triage, a.triage},
		{post, "/recorded-concerns", access.MonitoringOfficer, jsonAction(created, a.recordOnBehalf)},
		{get, "/concerns/:id", access.CaseAccess, show(a.concern)},
		{post, "/concerns/:id/acknowledge", access.Acknowledge, action(ok, a.acknowledge)},
		{post, "/concerns/:id/messages", access.CaseAccess, jsonAction(created, a.messageReporter)},
		{post, "/concerns/:id/notes", access.CaseAccess, jsonAction(created, a.addNote)},
		{post, "/concerns/:id/interim-feedback", access.MonitoringOfficer, jsonAction(ok, a.interimFeedback)},
		{post, "/concerns/:id/decision", access.MonitoringOfficer, jsonAction(ok, a.decide)},
		{post, "/concerns/:id/referral-outcome", access.CaseAccess, jsonAction(none, a.referralOutcome)}, // its holder
		{get, "/concerns/:id/attachments/:aid", access.CaseAccess, a.staffAttachment},
		{post, "/concerns/:id/identity-requests", access.IdentityRequest, jsonAction(created, a.requestIdentity)},
		{get, "/concerns/:id/identity", access.Custodian, show(a.sealedIdentity)}, // once a request is approved
		{post, "/concerns/:id/access", access.MonitoringOfficer, jsonAction(none, a.grantAccess)},
		{post, "/concerns/:id/conflict", access.CaseAccess, jsonAction(none, a.declareConflict)},
		{get, "/identity-requests", access.Custodian, show(a.pendingIdentityRequests)},
		{post, "/identity-requests/:id/decision", access.Custodian, jsonAction(ok, a.decideIdentity)}, // not the requester
		{get, "/investigations", access.Investigation, a.investigations},                              // their own
		{post, "/investigations", access.MonitoringOfficer, jsonAction(created, a.createInvestigation)},
		{get, "/investigations/:id", access.Investigation, show(a.investigation)},
		{post, "/investigations/:id/concerns", access.MonitoringOfficer, jsonAction(created, a.linkConcern)},
		{del, "/investigations/:id/concerns/:cid", access.MonitoringOfficer, action(none, a.unlinkConcern)},
		{post, "/investigations/:id/allegations", access.Investigation, jsonAction(created, a.addAllegation)},
		{post, "/investigations/:id/allegations/:aid/finding", access.Investigation, jsonAction(ok, a.recordFinding)},
		{post, "/investigations/:id/recommendations", access.Investigation, jsonAction(created, a.addRecommendation)},
		{post, "/investigations/:id/recommendations/:rid/status", access.Investigation, jsonAction(ok, a.recommendationStatus)},
		{post, "/investigations/:id/status", access.Investigation, jsonAction(ok, a.advanceInvestigation)},
		{get, "/users", access.Admin, a.listUsers},
		{post, "/users", access.Admin, jsonAction(created, a.createUser)},
		{post, "/users/:id/roles", access.Admin, jsonAction(none, onUser(a.setRoles))},
		{post, "/users/:id/disable", access.Admin, bodiless(none, onUser(a.disableUser))},
		{post, "/users/:id/reset-2fa", access.Admin, bodiless(none, onUser(a.resetSecondFactor))},
		{post, "/users/:id/reset-password", access.Admin, bodiless(none, onUser(a.resetPassword))},
		{get, "/access-requests", access.MonitoringOfficer, show(a.accessRequests)},
		{post, "/access-requests/:id/decision", access.MonitoringOfficer, jsonAction(none, a.decideAccess)}, // not its proposer or subject
		{post, "/enrolment", access.Public, jsonAction(ok, a.enrol)},                                        // an enrolment link's token
		{post, "/councillor/concerns", access.Councillor, a.councillorConcern},
		{get, "/councillor/concerns", access.Councillor, a.councillorConcerns},         // their own
		{get, "/councillor/concerns/:id", access.Councillor, show(a.councillorThread)}, // their own; others 404
		{post, "/councillor/concerns/:id/messages", access.Councillor, jsonAction(created, a.councillorReply)},
		{post, "/councillor/concerns/:id/attachments", access.Councillor, upload(a.councillorAttach)},
		{get, "/councillor/concerns/:id/attachments/:aid", access.Councillor, a.councillorAttachment},
		{get, "/stats", access.Statistics, a.stats},
		{get, "/audit/verify", access.Auditor, a.auditVerify},
		{get, "/audit/checkpoints", access.Auditor, a.auditCheckpoints},
		{get, "/audit/events", access.Auditor, a.auditEvents},
	}
}

// Register mounts every route behind its gate; nothing else exists under /api/v1.
func (a *API) Register(app fiber.Router) {
	v1 := app.Group("/api/v1")
	for _, r := range a.Routes() {
		if r.Gate.Caller == access.Anyone {
			v1.Add(r.Method, r.Path, r.h) // nothing to check: not even a pass-through on the filing path
			continue
		}
		v1.Add(r.Method, r.Path, a.gate(r.Gate), r.h)
	}
	v1.All("/*", func(c *fiber.Ctx) error { return fiber.ErrNotFound })
}

// gate admits only the callers g admits: a mailbox token for reporters, a live staff token for
// staff (401 without one) and then the gate's rule about the person (404 otherwise, so a person
// without access cannot learn that a route or a record exists).
func (a *API) gate(g access.Gate) fiber.Handler {
	switch g.Caller {
	case access.Reporter:
		return a.requireMailbox
	case access.Staff:
		return func(c *fiber.Ctx) error {
			if err := a.authenticate(c); err != nil {
				return err
			}
			if !g.Allows(user(c)) {
				return fiber.ErrNotFound
			}
			return c.Next()
		}
	}
	panic("api: route without a gate")
}

// bearer returns the Authorization: Bearer token, or "".
func bearer(c *fiber.Ctx) string {
	h := c.Get(fiber.HeaderAuthorization)
	if len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		return strings.TrimSpace(h[7:])
	}
	return ""
}
