// Package apicontract checks, in tests, that every exchange with the JSON API keeps to the
// OpenAPI document the portal serves (internal/api/openapi.yaml), with pb33f's
// libopenapi-validator: request parameters, bodies and tokens, response status codes, headers
// and bodies. The test harnesses send their API requests through Do, so every API call in
// every test is checked without the test asking for it.
package apicontract

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"
	"github.com/pb33f/libopenapi-validator/config"
	verrors "github.com/pb33f/libopenapi-validator/errors"

	"candour/internal/api"
)

// Prefix is where the API lives; only requests under it are checked.
const Prefix = "/api/v1/"

var (
	once     sync.Once
	checker  validator.Validator
	buildErr error
)

// Validator returns the validator for the served document. It is built once per test process:
// building compiles every schema in the document, which costs more than a test's requests.
func Validator() (validator.Validator, error) {
	once.Do(func() {
		doc, err := libopenapi.NewDocument(api.OpenAPIDocument())
		if err != nil {
			buildErr = fmt.Errorf("parse openapi.yaml: %w", err)
			return
		}
		v, errs := validator.NewValidator(doc,
			// A body sent to an operation that declares none is a contract break, not noise.
			config.WithRejectUndeclaredRequestBody(),
			// format: date, date-time and email are promises to clients too.
			config.WithFormatAssertions(),
		)
		if len(errs) > 0 {
			buildErr = fmt.Errorf("build the OpenAPI validator: %v", errs)
			return
		}
		if ok, verrs := v.ValidateDocument(); !ok {
			buildErr = fmt.Errorf("openapi.yaml is not a valid OpenAPI document:\n%s", describe(verrs))
			return
		}
		checker = v
	})
	return checker, buildErr
}

// maxCapture is how much of a request body is kept for the check. JSON bodies are far smaller
// (the API refuses JSON over 256 KiB, and any body but an upload over 1 MiB); evidence uploads
// can be tens of megabytes, and the document declares their multipart body without a schema
// the validator reads.
const maxCapture = 2 << 20

// Do sends req with client, reads the whole response, and, when req is an API call, checks the
// exchange against the document: a failed check is a test error carrying the validator's
// message. The response body is returned already read (resp.Body is closed).
func Do(t testing.TB, client *http.Client, req *http.Request) (*http.Response, []byte) {
	t.Helper()
	var sent *capture
	// A body of unknown or zero length is left alone: wrapping it would change how it is sent.
	if req.Body != nil && req.Body != http.NoBody && req.ContentLength > 0 {
		sent = &capture{max: maxCapture}
		req.Body = teeCloser{io.TeeReader(req.Body, sent), req.Body}
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if strings.HasPrefix(req.URL.Path, Prefix) {
		var reqBody []byte
		if sent != nil {
			reqBody = sent.buf.Bytes()
		}
		Check(t, req, reqBody, resp, body)
	}
	return resp, body
}

// Check validates one finished exchange against the document. req is the request as sent
// (its body is not read: reqBody is what was sent); resp's body is respBody.
//
// A request the document refuses must be refused (a 4XX): tests send bad requests on purpose,
// and what they check then is that the server agrees with the document. A path or method the
// document does not have must answer 404 with the Error body, as its description says every
// route that does not exist (or that the caller may not use) answers.
func Check(t testing.TB, req *http.Request, reqBody []byte, resp *http.Response, respBody []byte) {
	t.Helper()
	// Benchmarks time the portal, not the checker; their requests are checked in the tests.
	if _, bench := t.(*testing.B); bench {
		return
	}
	v, err := Validator()
	if err != nil {
		t.Fatal(err)
	}
	exchange := fmt.Sprintf("%s %s → %d", req.Method, req.URL.RequestURI(), resp.StatusCode)

	reqOK, reqErrs := v.ValidateHttpRequestSync(withBody(req, reqBody))
	for _, e := range reqErrs {
		if e.IsPathMissingError() || e.IsOperationMissingError() {
			checkUndocumented(t, exchange, resp, respBody)
			return
		}
	}
	if !reqOK && (resp.StatusCode < 400 || resp.StatusCode >= 500) {
		t.Errorf("%s: the API document refuses this request, but the server did not:\n%s", exchange, describe(reqErrs))
	}

	r := &http.Response{
		StatusCode: resp.StatusCode, Status: resp.Status, Header: resp.Header,
		Body: io.NopCloser(bytes.NewReader(respBody)), ContentLength: int64(len(respBody)),
		Request: withBody(req, reqBody),
	}
	if ok, errs := v.ValidateHttpResponse(r.Request, r); !ok {
		t.Errorf("%s: the response breaks the API document:\n%s\nbody: %s", exchange, describe(errs), excerpt(respBody))
	} else if strings.TrimSpace(string(respBody)) == "null" {
		// The validator reads a body of just null as no body at all; the document never
		// promises null for a whole response.
		t.Errorf("%s: the response breaks the API document: the body is null", exchange)
	}
}

// checkUndocumented holds a request for a route the document does not have to the one answer
// the document gives for it.
func checkUndocumented(t testing.TB, exchange string, resp *http.Response, body []byte) {
	t.Helper()
	var e struct {
		Error struct{ Code, Message string }
	}
	if resp.StatusCode != http.StatusNotFound || json.Unmarshal(body, &e) != nil ||
		e.Error.Code != "not_found" || e.Error.Message == "" {
		t.Errorf("%s: not in the API document, so it must answer 404 with an Error body; got %s", exchange, excerpt(body))
	}
}

// withBody is a copy of req whose body reads b from the start.
func withBody(req *http.Request, b []byte) *http.Request {
	r := req.Clone(req.Context())
	r.Body = io.NopCloser(bytes.NewReader(b))
	r.ContentLength = int64(len(b))
	r.GetBody = nil
	return r
}

// describe lists the validator's findings, one a line, with the schema failures under each.
func describe(errs []*verrors.ValidationError) string {
	var b strings.Builder
	for _, e := range errs {
		fmt.Fprintf(&b, "  - %s: %s", e.Message, e.Reason)
		if e.SpecLine > 0 {
			fmt.Fprintf(&b, " (openapi.yaml line %d)", e.SpecLine)
		}
		b.WriteByte('\n')
		for _, s := range e.SchemaValidationErrors {
			where := s.FieldPath
			if where == "" {
				where = s.KeywordLocation
			}
			fmt.Fprintf(&b, "      %s: %s\n", where, s.Reason)
		}
	}
	return strings.TrimRight(b.String(), "\n")
}

func excerpt(b []byte) string {
	const max = 600
	if len(b) > max {
		return string(b[:max]) + "…"
	}
	return string(b)
}

// capture keeps the first max bytes written to it.
type capture struct {
	buf bytes.Buffer
	max int
}

func (c *capture) Write(p []byte) (int, error) {
	if room := c.max - c.buf.Len(); room > 0 {
		c.buf.Write(p[:min(room, len(p))])
	}
	return len(p), nil
}

type teeCloser struct {
	io.Reader
	io.Closer
}
