package api

import (
	"io"
	"mime"
	"mime/multipart"
	"time"

	"github.com/gofiber/fiber/v2"

	"candour/internal/fault"
	"candour/internal/intake"
	"candour/internal/server"
)

type serviceArea struct {
	Code   string `json:"code"`
	Name   string `json:"name"`
	NameCy string `json:"name_cy"`
}

func (a *API) serviceAreas(c *fiber.Ctx) error {
	out := []serviceArea{}
	for _, sa := range a.d.Policy().Directory.ServiceAreas() {
		out = append(out, serviceArea{Code: sa.Code, Name: sa.Name, NameCy: sa.NameCy})
	}
	return c.JSON(out)
}

type routeOut struct {
	Rule        string `json:"rule"`
	Explanation string `json:"explanation"`
}

type reportOut struct {
	Reference     string    `json:"reference"`
	Receipt       string    `json:"receipt"`
	Status        string    `json:"status"`
	Route         routeOut  `json:"route"`
	AcknowledgeBy time.Time `json:"acknowledge_by"`
	FeedbackBy    time.Time `json:"feedback_by"`
}

func (a *API) submitReport(c *fiber.Ctx) error {
	var r intake.ReportSubmission
	if err := decodeJSON(c, &r); err != nil {
		return err
	}
	if r.Lang == "" {
		r.Lang = server.APILang(c)
	}
	filed, err := a.d.Intake.Submit(c.UserContext(), r)
	if err != nil {
		return err
	}
	return c.Status(fiber.StatusCreated).JSON(filedOut(filed, r.Lang))
}

// filedOut is a filed report as its reporter (or the officer who recorded it) is answered.
func filedOut(filed *intake.Filed, lang string) reportOut {
	return reportOut{Reference: filed.Reference, Receipt: filed.Receipt, Status: filed.Status,
		Route:         routeOut{Rule: filed.Decision.Rule, Explanation: filed.Decision.Explanation[lang]},
		AcknowledgeBy: filed.AcknowledgeBy, FeedbackBy: filed.FeedbackBy}
}

func (a *API) openMailbox(c *fiber.Ctx) error {
	var in struct {
		Receipt string `json:"receipt"`
	}
	if err := decodeJSON(c, &in); err != nil {
		return err
	}
	tok, err := a.d.Intake.OpenMailbox(c.UserContext(), in.Receipt, c.Context().ConnID())
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"token": tok})
}

const mailboxRef = "mailboxRef"

// requireMailbox admits a mailbox token and nothing else: a staff token has the wrong audience.
func (a *API) requireMailbox(c *fiber.Ctx) error {
	ref, err := a.d.Intake.MailboxReference(c.UserContext(), bearer(c))
	if err != nil {
		return err
	}
	c.Locals(mailboxRef, ref)
	return c.Next()
}

func ref(c *fiber.Ctx) string { r, _ := c.Locals(mailboxRef).(string); return r }

func (a *API) mailbox(c *fiber.Ctx) error {
	m, err := a.d.Intake.Mailbox(c.UserContext(), ref(c))
	if err != nil {
		return err
	}
	return c.JSON(m)
}

// replyIn is a message from the reporter's side: a reporter's, or a councillor's on their own
// concern.
type replyIn struct {
	Body      string `json:"body"`
	Detriment bool   `json:"detriment"`
}

func (a *API) reply(c *fiber.Ctx, in replyIn) (any, error) {
	return nil, a.d.Intake.Reply(c.UserContext(), ref(c), in.Body, in.Detriment)
}

// upload reads the multipart body as a stream and hands the file part straight to add, so
// neither memory nor a temporary file ever holds the evidence in clear; 201 with what add
// returns. A keep_original field must come before the file.
func upload(add func(c *fiber.Ctx, name string, r io.Reader, keepOriginal bool) (any, error)) fiber.Handler {
	return func(c *fiber.Ctx) error {
		mt, params, err := mime.ParseMediaType(c.Get(fiber.HeaderContentType))
		if err != nil || mt != fiber.MIMEMultipartForm || params["boundary"] == "" {
			return fault.New(fault.Unsupported, "unsupported_media_type", "error.want_multipart")
		}
		rb, body, release := server.UploadBody(c)
		defer release()
		c.SetUserContext(intake.Arriving(c.UserContext(), rb))
		mr := multipart.NewReader(body, params["boundary"])
		part, keep, err := server.FilePart(mr)
		if err != nil {
			return err
		}
		defer part.Close()
		out, err := add(c, part.FileName(), server.OnlyPart(mr, part), keep)
		if err != nil {
			return err
		}
		return c.Status(fiber.StatusCreated).JSON(out)
	}
}

// stored is the answer to an upload stored at once: {id, name, size, metadata}, metadata
// being what cleaning removed.
func stored(att *intake.MailboxAttachment, err error) (any, error) {
	if err != nil {
		return nil, err
	}
	return fiber.Map{"id": att.ID, "name": att.Name, "size": att.Size, "metadata": att.Metadata}, nil
}

// uploadAttachment holds a reporter's upload until they send it (sendEvidence), having seen
// what cleaning found: 201 with the pending evidence.
func (a *API) uploadAttachment(c *fiber.Ctx, name string, r io.Reader, keepOriginal bool) (any, error) {
	return a.d.Intake.StageEvidence(c.UserContext(), ref(c), name, r, keepOriginal)
}

func (a *API) evidence(c *fiber.Ctx) (any, error) {
	return a.d.Intake.Evidence(c.UserContext(), ref(c), c.Params("id"))
}

type sendEvidenceIn struct {
	KeepOriginal bool `json:"keep_original"`
}

func (a *API) sendEvidence(c *fiber.Ctx, in sendEvidenceIn) (any, error) {
	return a.d.Intake.SendEvidence(c.UserContext(), ref(c), c.Params("id"), in.KeepOriginal)
}

func (a *API) discardEvidence(c *fiber.Ctx) (any, error) {
	return nil, a.d.Intake.DiscardEvidence(c.UserContext(), ref(c), c.Params("id"))
}

func (a *API) downloadAttachment(c *fiber.Ctx) error {
	id := c.Params("id")
	name, size, r, err := a.d.Intake.OpenAttachment(c.UserContext(), ref(c), id)
	if err != nil {
		return err
	}
	return server.SendFile(c, name, server.BinaryType, size, r)
}

func (a *API) approveRecord(c *fiber.Ctx) error {
	if err := noBody(c); err != nil {
		return err
	}
	if err := a.d.Intake.ApproveRecord(c.UserContext(), ref(c)); err != nil {
		return err
	}
	return c.JSON(fiber.Map{"approved": true})
}

// closeMailbox ends the mailbox token before it expires.
func (a *API) closeMailbox(c *fiber.Ctx) error {
	if err := noBody(c); err != nil {
		return err
	}
	if err := a.d.Intake.CloseMailbox(c.UserContext(), bearer(c)); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}
