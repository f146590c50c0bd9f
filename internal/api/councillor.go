package api

import (
	"io"
	"time"

	"github.com/gofiber/fiber/v2"

	"candour/internal/i18n"
	"candour/internal/intake"
	"candour/internal/server"
)

type councillorConcernOut struct {
	ID        string   `json:"id"` // the concern's public id: its thread is /councillor/concerns/{id}
	Reference string   `json:"reference"`
	Route     routeOut `json:"route"`
	NextSteps []string `json:"next_steps"`
	// AnonymousLink is the public reporting form to hand to staff, when the councillor is
	// passing on their concerns (in the response's language).
	AnonymousLink string `json:"anonymous_link,omitempty"`
}

// councillorConcern: POST /api/v1/councillor/concerns (councillor; anyone else 404) → 201
// {reference, route:{rule, explanation}, next_steps, anonymous_link?}, in the language of
// Accept-Language. An unknown service area or evidence item is a 400 naming the field.
func (a *API) councillorConcern(c *fiber.Ctx) error {
	u := user(c)
	var in intake.CouncillorConcern
	if err := decodeJSON(c, &in); err != nil {
		return err
	}
	lang := server.APILang(c)
	filed, err := a.d.Intake.SubmitCouncillorConcern(c.UserContext(),
		intake.Councillor{User: u, Language: lang}, in)
	if err != nil {
		return err
	}
	out := councillorConcernOut{
		ID:        filed.ID,
		Reference: filed.Reference,
		Route:     routeOut{Rule: filed.Decision.Rule, Explanation: filed.Decision.Explanation[lang]},
		NextSteps: append([]string{}, filed.Decision.NextSteps[lang]...),
	}
	if filed.Decision.GiveAnonymousLink {
		out.AnonymousLink = a.reportLink(lang)
	}
	return c.Status(fiber.StatusCreated).JSON(out)
}

// reportLink is the public report form in lang at CANDOUR_PUBLIC_URL (never the request's Host
// header, which a client chooses).
func (a *API) reportLink(lang string) string {
	base := a.d.PublicURL
	if lang == i18n.Welsh {
		return base + "/cy/report"
	}
	return base + "/report"
}

type councillorConcernItem struct {
	ID          string    `json:"id"`
	Reference   string    `json:"reference"`
	ServiceArea string    `json:"service_area"`
	Status      string    `json:"status"`
	Route       string    `json:"route"`
	ReceivedAt  time.Time `json:"received_at"`
}

// councillorConcerns: GET /api/v1/councillor/concerns (councillor; anyone else 404) →
// {items:[{reference, service_area, status, route, received_at}]}: the councillor's own, newest
// first, clear columns only.
func (a *API) councillorConcerns(c *fiber.Ctx) error {
	u := user(c)
	rows, err := a.d.Intake.CouncillorConcerns(c.UserContext(), u)
	if err != nil {
		return err
	}
	items := make([]councillorConcernItem, 0, len(rows))
	for _, r := range rows {
		items = append(items, councillorConcernItem{ID: r.ID, Reference: r.Reference, ServiceArea: r.ServiceArea,
			Status: r.Status, Route: r.RouteRule, ReceivedAt: r.ReceivedAt})
	}
	return c.JSON(fiber.Map{"items": items})
}

// councillorThread: the conversation, evidence and outcome of a concern the councillor raised,
// as a reporter's mailbox shows them.
func (a *API) councillorThread(c *fiber.Ctx) (any, error) {
	return a.d.Intake.CouncillorThread(c.UserContext(), user(c), c.Params("id"))
}

func (a *API) councillorReply(c *fiber.Ctx, in replyIn) (any, error) {
	return nil, a.d.Intake.CouncillorReply(c.UserContext(), user(c), c.Params("id"), in.Body, in.Detriment)
}

func (a *API) councillorAttach(c *fiber.Ctx, name string, r io.Reader, _ bool) (any, error) {
	return stored(a.d.Intake.CouncillorAttach(c.UserContext(), user(c), c.Params("id"), name, r))
}

func (a *API) councillorAttachment(c *fiber.Ctx) error {
	name, size, r, err := a.d.Intake.CouncillorAttachment(c.UserContext(), user(c), c.Params("id"), c.Params("aid"))
	if err != nil {
		return err
	}
	return server.SendFile(c, name, server.BinaryType, size, r)
}
