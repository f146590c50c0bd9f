package api

import (
	"bytes"
	"encoding/json"
	"slices"
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"

	"candour/internal/access"
	"candour/internal/audit"
	"candour/internal/fault"
	"candour/internal/oversight"
)

// oversight builds the statistics use case from the API's dependencies (the threshold comes
// from the policy in force at each call).
func (a *API) oversight() *oversight.Service {
	return oversight.New(a.d.Store, func() int {
		if a.d.Policy == nil {
			return 0
		}
		if p := a.d.Policy(); p != nil {
			return p.Retention.SuppressionThreshold
		}
		return 0
	})
}

// statsJSON is the report with the period as the dates that were asked for.
type statsJSON struct {
	From string `json:"from"`
	To   string `json:"to"`
	*oversight.Report
}

// stats: GET /api/v1/stats?from=YYYY-MM-DD&to=YYYY-MM-DD → the suppressed report; with
// format=csv (and table=<id>|all) the same figures as CSV. Auditor, Monitoring Officer, deputy.
func (a *API) stats(c *fiber.Ctx) error {
	u := user(c)
	if !access.CanSeeStats(u) {
		return fiber.ErrNotFound
	}
	from, to, err := oversight.ParsePeriod(c.Query("from"), c.Query("to"), time.Now())
	if err != nil {
		return err
	}
	csv := c.Query("format") == "csv"
	table := c.Query("table", "all")
	if csv && table != "all" && !slices.Contains(oversight.ExportTables(), table) {
		return (fault.Fields{"table": "field.choice"}).Err()
	}
	svc := a.oversight()
	rep, err := svc.Stats(c.UserContext(), from, to)
	if err != nil {
		return err
	}
	fromText, toText := oversight.Dates(from, to)
	details := map[string]string{"from": fromText, "to": toText, "via": "api"}
	action := "stats.read"
	if csv {
		action, details["table"] = "stats.export", table
	}
	if err := audit.Record(c.UserContext(), a.d.Store, audit.Event{ActorID: u.ID, Action: action, Details: details}); err != nil {
		return err
	}
	if !csv {
		return c.JSON(statsJSON{From: fromText, To: toText, Report: rep})
	}
	var buf bytes.Buffer
	if err := oversight.WriteCSV(&buf, rep, table, oversight.PlainLabels(rep.SuppressionThreshold)); err != nil {
		return err
	}
	return sendOversightCSV(c, "candour-stats-"+table+"-"+fromText+"-"+toText+".csv", buf.Bytes())
}

// auditEvent is an event as the API lists it (hashes in hex).
type auditEvent struct {
	Seq        int64           `json:"seq"`
	At         time.Time       `json:"at"`
	Actor      string          `json:"actor"`
	ActorID    *int64          `json:"actor_id"`
	Action     string          `json:"action"`
	ObjectType string          `json:"object_type"`
	ObjectID   string          `json:"object_id"`
	Details    json.RawMessage `json:"details"`
}

// auditEvents: GET /api/v1/audit/events?actor=&object=&from=&to=&limit= → {events, verification}
// newest first; format=csv for CSV. Auditor.
func (a *API) auditEvents(c *fiber.Ctx) error {
	u := user(c)
	if !access.CanReadAudit(u) {
		return fiber.ErrNotFound
	}
	limit, _ := strconv.Atoi(c.Query("limit"))
	svc := a.oversight()
	f, err := svc.AuditFilter(c.UserContext(), oversight.AuditQuery{Actor: c.Query("actor"), Object: c.Query("object"),
		From: c.Query("from"), To: c.Query("to"), Limit: limit})
	if err != nil {
		return err
	}
	events, err := svc.AuditEvents(c.UserContext(), f)
	if err != nil {
		return err
	}
	csv := c.Query("format") == "csv"
	action := "audit.read"
	if csv {
		action = "audit.export"
	}
	if err := audit.Record(c.UserContext(), a.d.Store, audit.Event{ActorID: u.ID, Action: action,
		Details: map[string]string{"events": strconv.Itoa(len(events)), "via": "api"}}); err != nil {
		return err
	}
	if csv {
		var buf bytes.Buffer
		if err := oversight.WriteAuditCSV(&buf, events); err != nil {
			return err
		}
		return sendOversightCSV(c, "candour-audit.csv", buf.Bytes())
	}
	res, err := audit.Check(c.UserContext(), a.d.Store)
	if err != nil {
		return err
	}
	out := make([]auditEvent, 0, len(events))
	for _, e := range events {
		out = append(out, auditEvent{Seq: e.Seq, At: e.At, Actor: e.Actor, ActorID: e.ActorID, Action: e.Action,
			ObjectType: e.ObjectType, ObjectID: e.ObjectID, Details: json.RawMessage(e.Details)})
	}
	return c.JSON(fiber.Map{"events": out, "verification": res})
}

func sendOversightCSV(c *fiber.Ctx, name string, body []byte) error {
	c.Set(fiber.HeaderContentType, "text/csv; charset=utf-8")
	c.Set(fiber.HeaderContentDisposition, `attachment; filename="`+name+`"`)
	return c.Send(body)
}
