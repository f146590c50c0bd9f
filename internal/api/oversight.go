package api

import (
	"bytes"
	"encoding/json"
	"slices"
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"

	"candour/internal/fault"
	"candour/internal/oversight"
	"candour/internal/server"
)

// statsJSON is the report with the period as the dates that were asked for.
type statsJSON struct {
	From string `json:"from"`
	To   string `json:"to"`
	*oversight.Report
}

// stats: GET /api/v1/stats?from=YYYY-MM-DD&to=YYYY-MM-DD → the suppressed report; with
// format=csv (and table=<id>|all) the same figures as CSV. Auditor, Monitoring Officer, deputy.
func (a *API) stats(c *fiber.Ctx) error {
	from, to, err := oversight.ParsePeriod(c.Query("from"), c.Query("to"), time.Now())
	if err != nil {
		return err
	}
	csv := c.Query("format") == "csv"
	table := c.Query("table", "all")
	if csv && table != "all" && !slices.Contains(oversight.ExportTables(), table) {
		return (fault.Fields{"table": "field.choice"}).Err()
	}
	use := oversight.Use{Export: csv, Details: map[string]string{"via": "api"}}
	if csv {
		use.Details["table"] = table
	}
	rep, err := a.d.Oversight.Stats(c.UserContext(), user(c), from, to, use)
	if err != nil {
		return err
	}
	if !csv {
		fromText, toText := oversight.Dates(from, to)
		return c.JSON(statsJSON{From: fromText, To: toText, Report: rep})
	}
	var buf bytes.Buffer
	if err := oversight.WriteCSV(&buf, rep, table, oversight.PlainLabels(rep.SuppressionThreshold)); err != nil {
		return err
	}
	return server.SendFile(c, oversight.StatsFile(table, from, to), server.CSVType, int64(buf.Len()), &buf)
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
// newest first; format=csv for CSV.
func (a *API) auditEvents(c *fiber.Ctx) error {
	limit, _ := strconv.Atoi(c.Query("limit"))
	csv := c.Query("format") == "csv"
	trail, err := a.d.Oversight.AuditTrail(c.UserContext(), user(c), oversight.AuditQuery{Actor: c.Query("actor"),
		Object: c.Query("object"), From: c.Query("from"), To: c.Query("to"), Limit: limit},
		oversight.Use{Export: csv, Details: map[string]string{"via": "api"}})
	if err != nil {
		return err
	}
	if csv {
		var buf bytes.Buffer
		if err := oversight.WriteAuditCSV(&buf, trail.Events); err != nil {
			return err
		}
		return server.SendFile(c, oversight.AuditFile, server.CSVType, int64(buf.Len()), &buf)
	}
	out := make([]auditEvent, 0, len(trail.Events))
	for _, e := range trail.Events {
		out = append(out, auditEvent{Seq: e.Seq, At: e.At, Actor: e.Actor, ActorID: e.ActorID, Action: e.Action,
			ObjectType: e.ObjectType, ObjectID: e.ObjectID, Details: json.RawMessage(e.Details)})
	}
	return c.JSON(fiber.Map{"events": out, "verification": trail.Verification})
}

// auditCheckpoints: GET /api/v1/audit/checkpoints → the checkpoint file (text/plain).
func (a *API) auditCheckpoints(c *fiber.Ctx) error {
	data, err := a.d.Oversight.Checkpoints(c.UserContext(), user(c))
	if err != nil {
		return err
	}
	return server.SendFile(c, oversight.CheckpointFile, server.TextType, int64(len(data)), bytes.NewReader(data))
}

// auditVerify: GET /api/v1/audit/verify → {ok, events, first_bad?}.
func (a *API) auditVerify(c *fiber.Ctx) error {
	res, err := a.d.Oversight.VerifyAudit(c.UserContext(), user(c))
	if err != nil {
		return err
	}
	return c.JSON(res)
}
