// Package api is the JSON API (/api/v1, DESIGN §6). Handlers parse, call the same use cases as
// the HTML pages, and render; access checks fail closed and errors go to the one error handler.
package api

import (
	"strings"

	"github.com/gofiber/fiber/v2"

	"candour/internal/access"
	"candour/internal/auth"
	"candour/internal/casework"
	"candour/internal/intake"
	"candour/internal/routing"
	"candour/internal/store"
	"candour/internal/token"
)

// Deps is what the API is built from.
type Deps struct {
	Intake   *intake.Service
	Casework *casework.Service
	Policy   func() *routing.Policy
	Store    *store.Store
	Tokens   *token.Keys
	// Auth signs staff in and checks their sessions; Access decides case access.
	Auth          *auth.Service
	Access        *access.Checker
	SecureCookies bool   // Secure flag on the session cookie (https)
	PublicURL     string // CANDOUR_PUBLIC_URL, for links people hand on
}

// API holds the handlers.
type API struct{ d Deps }

// New returns the API.
func New(d Deps) *API { return &API{d: d} }

// Register mounts the routes. Who may call each is written beside it.
func (a *API) Register(app fiber.Router) {
	v1 := app.Group("/api/v1")
	mailbox, staff := a.requireMailbox, a.requireStaff

	v1.Get("/openapi.yaml", a.openAPIDoc)                        // anyone
	v1.Get("/service-areas", a.serviceAreas)                     // anyone
	v1.Post("/reports", a.submitReport)                          // anyone
	v1.Post("/mailbox/session", a.openMailbox)                   // anyone holding a receipt
	v1.Get("/mailbox", mailbox, a.mailbox)                       // mailbox token
	v1.Post("/mailbox/messages", mailbox, a.reply)               // mailbox token
	v1.Post("/mailbox/attachments", mailbox, a.uploadAttachment) // mailbox token
	v1.Get("/mailbox/attachments/:id", mailbox, a.downloadAttachment)
	v1.Post("/mailbox/close", mailbox, a.closeMailbox)                                        // mailbox token
	v1.Post("/mailbox/record/approve", mailbox, a.approveRecord)                              // mailbox token                         // mailbox token
	v1.Post("/auth/login", a.login)                                                           // anyone (staff credentials)
	v1.Post("/auth/logout", staff, a.logout)                                                  // any signed-in staff
	v1.Get("/triage", staff, a.triage)                                                        // monitoring officer, deputy; route holders see theirs
	v1.Post("/recorded-concerns", staff, a.recordOnBehalf)                                    // monitoring officer, deputy
	v1.Get("/concerns/:id", staff, a.concern)                                                 // case access
	v1.Post("/concerns/:id/acknowledge", staff, a.acknowledge)                                // monitoring officer, deputy
	v1.Post("/concerns/:id/messages", staff, a.messageReporter)                               // case access
	v1.Post("/concerns/:id/notes", staff, a.addNote)                                          // case access
	v1.Post("/concerns/:id/decision", staff, a.decide)                                        // monitoring officer, deputy
	v1.Get("/concerns/:id/attachments/:aid", staff, a.staffAttachment)                        // case access
	v1.Post("/concerns/:id/identity-requests", staff, a.requestIdentity)                      // monitoring officer, investigator with access
	v1.Get("/concerns/:id/identity", staff, a.sealedIdentity)                                 // custodian, once a request is approved
	v1.Get("/identity-requests", staff, a.pendingIdentityRequests)                            // custodian
	v1.Post("/identity-requests/:id/decision", staff, a.decideIdentity)                       // custodian other than the requester
	v1.Get("/investigations", staff, a.investigations)                                        // monitoring officer, deputy, investigators (their own)
	v1.Post("/investigations", staff, a.createInvestigation)                                  // monitoring officer, deputy
	v1.Get("/investigations/:id", staff, a.investigation)                                     // investigation access
	v1.Post("/investigations/:id/concerns", staff, a.linkConcern)                             // monitoring officer, deputy
	v1.Delete("/investigations/:id/concerns/:cid", staff, a.unlinkConcern)                    // monitoring officer, deputy
	v1.Post("/investigations/:id/allegations", staff, a.addAllegation)                        // investigation access
	v1.Post("/investigations/:id/allegations/:aid/finding", staff, a.recordFinding)           // investigation access
	v1.Post("/investigations/:id/recommendations", staff, a.addRecommendation)                // investigation access
	v1.Post("/investigations/:id/recommendations/:rid/status", staff, a.recommendationStatus) // investigation access
	v1.Post("/investigations/:id/status", staff, a.advanceInvestigation)                      // investigation access
	v1.Post("/concerns/:id/access", staff, a.grantAccess)                                     // monitoring officer, deputy
	v1.Post("/concerns/:id/conflict", staff, a.declareConflict)                               // case access
	v1.Get("/users", staff, requireAdmin, a.listUsers)                                        // admin
	v1.Post("/users", staff, requireAdmin, a.createUser)                                      // admin
	v1.Post("/users/:id/roles", staff, requireAdmin, a.setRoles)                              // admin
	v1.Post("/users/:id/disable", staff, requireAdmin, a.disableUser)                         // admin
	v1.Post("/users/:id/reset-2fa", staff, requireAdmin, a.resetSecondFactor)
	v1.Post("/users/:id/reset-password", staff, requireAdmin, a.resetPassword) // admin                 // admin
	v1.Get("/audit/verify", staff, a.auditVerify)                              // auditor
	v1.Post("/councillor/concerns", staff, a.councillorConcern)                // councillor
	v1.Get("/councillor/concerns", staff, a.councillorConcerns)                // councillor: their own
	v1.Get("/stats", staff, a.stats)                                           // auditor, monitoring officer, deputy
	v1.Get("/audit/events", staff, a.auditEvents)                              // auditor
	v1.All("/*", func(c *fiber.Ctx) error { return fiber.ErrNotFound })        // nothing else exists
}

// bearer returns the Authorization: Bearer token, or "".
func bearer(c *fiber.Ctx) string {
	h := c.Get(fiber.HeaderAuthorization)
	if len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		return strings.TrimSpace(h[7:])
	}
	return ""
}
