// Package api is the JSON API (/api/v1, DESIGN §6). Handlers parse, call the same use cases as
// the HTML pages, and render; access checks fail closed and errors go to the one error handler.
package api

import (
	"strings"

	"github.com/gofiber/fiber/v2"

	"candour/internal/access"
	"candour/internal/auth"
	"candour/internal/intake"
	"candour/internal/routing"
	"candour/internal/store"
	"candour/internal/token"
)

// Deps is what the API is built from.
type Deps struct {
	Intake *intake.Service
	Policy func() *routing.Policy
	Store  *store.Store
	Tokens *token.Keys
	// Auth signs staff in and checks their sessions; Access decides case access.
	Auth          *auth.Service
	Access        *access.Checker
	SecureCookies bool // Secure flag on the session cookie (https)
}

// API holds the handlers.
type API struct{ d Deps }

// New returns the API.
func New(d Deps) *API { return &API{d: d} }

// Register mounts the routes. Who may call each is written beside it.
func (a *API) Register(app fiber.Router) {
	v1 := app.Group("/api/v1")
	mailbox, staff := a.requireMailbox, a.requireStaff

	v1.Get("/service-areas", a.serviceAreas)                            // anyone
	v1.Post("/reports", a.submitReport)                                 // anyone
	v1.Post("/mailbox/session", a.openMailbox)                          // anyone holding a receipt
	v1.Get("/mailbox", mailbox, a.mailbox)                              // mailbox token
	v1.Post("/mailbox/messages", mailbox, a.reply)                      // mailbox token
	v1.Post("/mailbox/attachments", mailbox, a.uploadAttachment)        // mailbox token
	v1.Get("/mailbox/attachments/:id", mailbox, a.downloadAttachment)   // mailbox token
	v1.Post("/auth/login", a.login)                                     // anyone (staff credentials)
	v1.Post("/auth/logout", staff, a.logout)                            // any signed-in staff
	v1.Get("/triage", staff, a.triage)                                  // monitoring officer, deputy
	v1.Post("/concerns/:id/conflict", staff, a.declareConflict)         // case access
	v1.Get("/audit/verify", staff, a.auditVerify)                       // auditor
	v1.All("/*", func(c *fiber.Ctx) error { return fiber.ErrNotFound }) // nothing else exists
}

// bearer returns the Authorization: Bearer token, or "".
func bearer(c *fiber.Ctx) string {
	h := c.Get(fiber.HeaderAuthorization)
	if len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		return strings.TrimSpace(h[7:])
	}
	return ""
}
