package api

import (
	"errors"
	"io"
	"mime"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
	"github.com/gofiber/fiber/v2"

	"candour/internal/fault"
	"candour/internal/server"
)

// MaxJSON caps a JSON request body. The largest legitimate one, a report with 20,000
// characters of details in a 4-byte script and 20 names, is well under this.
const MaxJSON = 256 << 10

// decodeJSON reads a JSON body strictly: JSON content type, size cap, valid UTF-8, known
// fields only, one value.
func decodeJSON(c *fiber.Ctx, v any) error {
	mt, _, err := mime.ParseMediaType(c.Get(fiber.HeaderContentType))
	if err != nil || mt != fiber.MIMEApplicationJSON {
		return fault.New(fault.Unsupported, "unsupported_media_type", "error.want_json")
	}
	n := c.Request().Header.ContentLength()
	if n > MaxJSON {
		return fault.New(fault.TooLarge, "too_large", "error.too_large")
	}
	body, err := readBody(server.RequestBody(c), n)
	if err != nil {
		return err
	}
	if len(body) > MaxJSON {
		return fault.New(fault.TooLarge, "too_large", "error.too_large")
	}
	return unmarshalStrict(body, v)
}

// noBody refuses a body sent to an operation that takes none, as the API document declares
// none: ignoring it would let a client believe it had said something (413: no content at all is
// accepted here).
func noBody(c *fiber.Ctx) error {
	if c.Request().Header.ContentLength() != 0 {
		return fault.New(fault.TooLarge, "too_large", "error.too_large")
	}
	return nil
}

// jsonAction adapts an operation that takes a JSON body: decode it into In (refused as
// decodeJSON refuses), run do, and answer status with do's result as JSON, or with no body
// when the result is nil.
func jsonAction[In any](status int, do func(c *fiber.Ctx, in In) (any, error)) fiber.Handler {
	return func(c *fiber.Ctx) error {
		var in In
		if err := decodeJSON(c, &in); err != nil {
			return err
		}
		return answer(c, status, do, in)
	}
}

// action adapts an operation that takes no body (one sent is refused), as jsonAction does.
func action(status int, do func(c *fiber.Ctx) (any, error)) fiber.Handler {
	return bodiless(status, func(c *fiber.Ctx, _ struct{}) (any, error) { return do(c) })
}

// show adapts an operation that reads and answers 200 with what do returns.
func show(do func(c *fiber.Ctx) (any, error)) fiber.Handler {
	return func(c *fiber.Ctx) error {
		return answer(c, fiber.StatusOK, func(c *fiber.Ctx, _ struct{}) (any, error) { return do(c) }, struct{}{})
	}
}

func bodiless(status int, do func(c *fiber.Ctx, _ struct{}) (any, error)) fiber.Handler {
	return func(c *fiber.Ctx) error {
		if err := noBody(c); err != nil {
			return err
		}
		return answer(c, status, do, struct{}{})
	}
}

func answer[In any](c *fiber.Ctx, status int, do func(*fiber.Ctx, In) (any, error), in In) error {
	out, err := do(c, in)
	if err != nil {
		return err
	}
	if out == nil {
		return c.SendStatus(status)
	}
	if a, ok := out.(proposal); ok {
		return c.Status(fiber.StatusAccepted).JSON(a)
	}
	return c.Status(status).JSON(out)
}

// proposal answers 202: the change waits for a second person's approval (access request).
type proposal struct {
	RequestID int64 `json:"request_id"`
}

// proposedOr answers a change that may only have been proposed: 202 with its access request,
// or the route's status when it applied at once.
func proposedOr(request int64, err error) (any, error) {
	if err != nil || request == 0 {
		return nil, err
	}
	return proposal{RequestID: request}, nil
}

// Bodies several operations share.
type (
	bodyIn struct {
		Body string `json:"body"`
	}
	reasonIn struct {
		Reason string `json:"reason"`
	}
	statusIn struct {
		Status string `json:"status"`
	}
)

// readBody reads at most MaxJSON+1 bytes. A declared length up to presized (every report
// but the longest) sizes the buffer once instead of growing it; a short body is an error.
// Larger ones grow as they arrive, so a client that declares 256 KiB and sends nothing holds
// no more than it sent.
func readBody(r io.Reader, n int) ([]byte, error) {
	const presized = 64 << 10
	if n < 0 || n > presized {
		return io.ReadAll(io.LimitReader(r, MaxJSON+1))
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(r, body); err != nil {
		return nil, err
	}
	return body, nil
}

// unmarshalStrict is the pure part of decodeJSON, fuzzed on its own. It decodes with the JSON
// v2 prototype: one pass over the body and no copy of it, where encoding/json's Decoder reads
// it twice and grows a buffer for it. It is also stricter: member names match exactly, and a
// name given twice is refused rather than the last one silently winning.
func unmarshalStrict(body []byte, v any) error {
	if !utf8.Valid(body) {
		return fault.New(fault.Invalid, "invalid_encoding", "error.encoding")
	}
	err := json.Unmarshal(body, v, json.RejectUnknownMembers(true))
	if err == nil {
		return nil
	}
	var semantic *json.SemanticError
	if errors.As(err, &semantic) && semantic.JSONPointer != "" {
		field := fieldPath(semantic.JSONPointer)
		if errors.Is(err, json.ErrUnknownName) {
			return fieldError(field, "field.unknown")
		}
		return fieldError(field, "field.type")
	}
	return fault.New(fault.Invalid, "malformed_json", "error.malformed_json")
}

// fieldPath turns a JSON pointer ("/identity/name", "/named_people/3") into the dotted field
// name the API's errors use ("identity.name", "named_people"), at most 100 bytes of it.
func fieldPath(pointer jsontext.Pointer) string {
	var parts []string
	for token := range pointer.Tokens() {
		if _, err := strconv.Atoi(token); err != nil {
			parts = append(parts, token)
		}
	}
	field := strings.Join(parts, ".")
	if len(field) > 100 {
		field = strings.ToValidUTF8(field[:100], "")
	}
	return field
}

func fieldError(field, key string) error {
	return &fault.Error{Kind: fault.Invalid, Code: "invalid", Message: "error.invalid", Fields: map[string]string{field: key}}
}
