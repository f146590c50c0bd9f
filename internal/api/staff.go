package api

import (
	"errors"
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"

	"candour/internal/fault"
	"candour/internal/store"
	"candour/internal/token"
)

const staffUser = "staffUser"

var errUnauthorized = fault.New(fault.Unauthorized, "unauthorized", "error.unauthorized")

// requireStaff admits a staff token of an active user and nothing else: a mailbox token has the
// wrong audience and gets the same 401 as no token at all.
func (a *API) requireStaff(c *fiber.Ctx) error {
	claims, err := a.d.Tokens.Verify(token.AudienceStaff, bearer(c))
	if err != nil {
		return errUnauthorized
	}
	id, err := strconv.ParseInt(claims.Subject, 10, 64)
	if err != nil {
		return errUnauthorized
	}
	u, err := a.d.Store.UserByID(c.UserContext(), id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && u.Status != "active") {
		return errUnauthorized
	}
	if err != nil {
		return err
	}
	c.Locals(staffUser, u)
	return c.Next()
}

func user(c *fiber.Ctx) *store.User { u, _ := c.Locals(staffUser).(*store.User); return u }

type triageItem struct {
	ID            int64     `json:"id"`
	Reference     string    `json:"reference"`
	Channel       string    `json:"channel"`
	Mode          string    `json:"mode"`
	ServiceArea   string    `json:"service_area"`
	Category      string    `json:"category"`
	Safeguarding  bool      `json:"safeguarding"`
	Status        string    `json:"status"`
	Route         string    `json:"route"`
	ReceivedAt    time.Time `json:"received_at"`
	AcknowledgeBy time.Time `json:"acknowledge_by"`
	FeedbackBy    time.Time `json:"feedback_by"`
}

// triage lists the queue for the Monitoring Officer and deputy: clear columns only, never
// content.
func (a *API) triage(c *fiber.Ctx) error {
	u := user(c)
	if !u.HasRole("monitoring_officer") && !u.HasRole("deputy_monitoring_officer") {
		return fiber.ErrNotFound
	}
	rows, err := a.d.Store.Queue(c.UserContext(), 50)
	if err != nil {
		return err
	}
	items := make([]triageItem, 0, len(rows))
	for _, r := range rows {
		items = append(items, triageItem{ID: r.ID, Reference: r.Reference, Channel: r.Channel, Mode: r.Mode,
			ServiceArea: r.ServiceArea, Category: r.Category, Safeguarding: r.Safeguarding, Status: r.Status,
			Route: r.RouteRule, ReceivedAt: r.ReceivedAt, AcknowledgeBy: r.AcknowledgeBy, FeedbackBy: r.FeedbackBy})
	}
	return c.JSON(fiber.Map{"items": items, "next_cursor": nil})
}
