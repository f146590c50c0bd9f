package api

import (
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"

	"candour/internal/casework"
	"candour/internal/domain"
	"candour/internal/intake"
	"candour/internal/server"
)

type triageItemOut struct {
	casework.CaseHeader
	Route               string `json:"route"`
	AcknowledgeBreached bool   `json:"acknowledge_breached"`
	DecideBreached      bool   `json:"decide_breached"`
	FeedbackBreached    bool   `json:"feedback_breached"`
	WaitingForUs        bool   `json:"waiting_for_us"`
}

// triage lists the queue: clear columns and clocks only, never content.
func (a *API) triage(c *fiber.Ctx) error {
	limit, _ := strconv.Atoi(c.Query("limit"))
	page, err := a.d.Casework.Triage(c.UserContext(), user(c), casework.TriageQuery{
		Filter: domain.TriageFilter{Status: c.Query("status"), Route: c.Query("route"), ServiceArea: c.Query("service_area"),
			Channel: c.Query("channel"), Breached: c.QueryBool("breach"), Waiting: c.QueryBool("waiting")},
		Cursor: c.Query("cursor"), Limit: limit,
	})
	if err != nil {
		return err
	}
	items := make([]triageItemOut, 0, len(page.Items))
	for _, r := range page.Items {
		items = append(items, triageItemOut{CaseHeader: r.Header(), Route: r.RouteRule,
			AcknowledgeBreached: r.AcknowledgeBreached, DecideBreached: r.DecideBreached, FeedbackBreached: r.FeedbackBreached,
			WaitingForUs: r.AwaitingCouncil})
	}
	var next any
	if page.NextCursor != "" {
		next = page.NextCursor
	}
	return c.JSON(fiber.Map{"items": items, "next_cursor": next})
}

func (a *API) concern(c *fiber.Ctx) (any, error) {
	return a.d.Casework.Concern(c.UserContext(), user(c), c.Params("id"))
}

func (a *API) acknowledge(c *fiber.Ctx) (any, error) {
	return fiber.Map{"status": "acknowledged"}, a.d.Casework.Acknowledge(c.UserContext(), user(c), c.Params("id"))
}

func (a *API) messageReporter(c *fiber.Ctx, in bodyIn) (any, error) {
	return nil, a.d.Casework.Message(c.UserContext(), user(c), c.Params("id"), in.Body)
}

func (a *API) referralOutcome(c *fiber.Ctx, in casework.ReferralOutcome) (any, error) {
	return nil, a.d.Casework.RecordReferralOutcome(c.UserContext(), user(c), c.Params("id"), in)
}

func (a *API) interimFeedback(c *fiber.Ctx, in bodyIn) (any, error) {
	by, err := a.d.Casework.InterimFeedback(c.UserContext(), user(c), c.Params("id"), in.Body)
	return fiber.Map{"feedback_by": by}, err
}

type noteIn struct {
	Body     string `json:"body"`
	Personal bool   `json:"personal"`
}

func (a *API) addNote(c *fiber.Ctx, in noteIn) (any, error) {
	return nil, a.d.Casework.AddNote(c.UserContext(), user(c), c.Params("id"), in.Body, in.Personal)
}

func (a *API) decide(c *fiber.Ctx, in casework.Decision) (any, error) {
	return fiber.Map{"status": "ok"}, a.d.Casework.Decide(c.UserContext(), user(c), c.Params("id"), in)
}

func (a *API) staffAttachment(c *fiber.Ctx) error {
	id, aid := c.Params("id"), c.Params("aid")
	name, size, r, err := a.d.Casework.OpenAttachment(c.UserContext(), user(c), id, aid)
	if err != nil {
		return err
	}
	return server.SendFile(c, name, server.BinaryType, size, r)
}

func (a *API) requestIdentity(c *fiber.Ctx, in casework.IdentityRequestInput) (any, error) {
	req, err := a.d.Casework.RequestIdentity(c.UserContext(), user(c), c.Params("id"), in)
	if err != nil {
		return nil, err
	}
	return fiber.Map{"id": req.ID, "status": req.Status}, nil
}

func (a *API) pendingIdentityRequests(c *fiber.Ctx) (any, error) {
	reqs, err := a.d.Casework.PendingIdentityRequests(c.UserContext(), user(c))
	return fiber.Map{"items": reqs}, err
}

type identityDecisionIn struct {
	Approve *bool  `json:"approve"`
	Reason  string `json:"reason"`
}

func (a *API) decideIdentity(c *fiber.Ctx, in identityDecisionIn) (any, error) {
	if in.Approve == nil {
		return nil, fieldError("approve", "field.required")
	}
	status := map[bool]string{true: "approved", false: "refused"}[*in.Approve]
	return fiber.Map{"status": status}, a.d.Casework.DecideIdentityRequest(c.UserContext(), user(c), c.Params("id"), *in.Approve, in.Reason)
}

func (a *API) sealedIdentity(c *fiber.Ctx) (any, error) {
	armored, err := a.d.Casework.SealedIdentity(c.UserContext(), user(c), c.Params("id"))
	return fiber.Map{"sealed": armored}, err
}

type investigationSummary struct {
	ID        string    `json:"id"`
	Reference string    `json:"reference"`
	Status    string    `json:"status"`
	DueAt     time.Time `json:"due_at"`
}

func (a *API) investigations(c *fiber.Ctx) error {
	invs, err := a.d.Casework.Investigations(c.UserContext(), user(c))
	if err != nil {
		return err
	}
	out := make([]investigationSummary, 0, len(invs))
	for _, inv := range invs {
		out = append(out, investigationSummary{ID: inv.ID, Reference: inv.Reference, Status: inv.Status, DueAt: inv.DueAt})
	}
	return c.JSON(fiber.Map{"items": out})
}

func (a *API) createInvestigation(c *fiber.Ctx, in casework.NewInvestigation) (any, error) {
	inv, err := a.d.Casework.CreateInvestigation(c.UserContext(), user(c), in)
	if err != nil {
		return nil, err
	}
	return fiber.Map{"id": inv.ID, "reference": inv.Reference}, nil
}

func (a *API) investigation(c *fiber.Ctx) (any, error) {
	return a.d.Casework.Investigation(c.UserContext(), user(c), c.Params("id"))
}

type linkIn struct {
	ConcernID string `json:"concern_id"` // public id
}

func (a *API) linkConcern(c *fiber.Ctx, in linkIn) (any, error) {
	if in.ConcernID == "" {
		return nil, fieldError("concern_id", "field.required")
	}
	return nil, a.d.Casework.LinkConcern(c.UserContext(), user(c), c.Params("id"), in.ConcernID)
}

func (a *API) unlinkConcern(c *fiber.Ctx) (any, error) {
	return nil, a.d.Casework.UnlinkConcern(c.UserContext(), user(c), c.Params("id"), c.Params("cid"))
}

func (a *API) addAllegation(c *fiber.Ctx, in casework.AllegationInput) (any, error) {
	return a.d.Casework.AddAllegation(c.UserContext(), user(c), c.Params("id"), in)
}

func (a *API) recordFinding(c *fiber.Ctx, in casework.FindingInput) (any, error) {
	aid, err := parseID(c, "aid")
	if err != nil {
		return nil, err
	}
	return fiber.Map{"status": "ok"}, a.d.Casework.RecordFinding(c.UserContext(), user(c), c.Params("id"), aid, in)
}

func (a *API) addRecommendation(c *fiber.Ctx, in casework.RecommendationInput) (any, error) {
	return a.d.Casework.AddRecommendation(c.UserContext(), user(c), c.Params("id"), in)
}

func (a *API) recommendationStatus(c *fiber.Ctx, in statusIn) (any, error) {
	rid, err := parseID(c, "rid")
	if err != nil {
		return nil, err
	}
	return in, a.d.Casework.SetRecommendationStatus(c.UserContext(), user(c), c.Params("id"), rid, in.Status)
}

type advanceIn struct {
	Status     string `json:"status"`
	Conclusion string `json:"conclusion"`
}

func (a *API) advanceInvestigation(c *fiber.Ctx, in advanceIn) (any, error) {
	return statusIn{in.Status}, a.d.Casework.Advance(c.UserContext(), user(c), c.Params("id"), in.Status, in.Conclusion)
}

// recordOnBehalf files a concern taken down by phone or in a meeting; the receipt in the answer
// is for the officer to hand to the reporter, once.
func (a *API) recordOnBehalf(c *fiber.Ctx, r intake.ReportSubmission) (any, error) {
	filed, err := a.d.Casework.RecordOnBehalf(c.UserContext(), user(c), r)
	if err != nil {
		return nil, err
	}
	return filedOut(filed, r.Lang), nil
}
