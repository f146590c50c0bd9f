// Package server builds the HTTP application: timeouts and limits, the security headers every
// response carries, request logging that never records who asked, health checks, and the one
// error handler that turns domain faults into status codes.
package server

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"io"
	"log/slog"
	"maps"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"

	"candour/internal/fault"
	"candour/internal/i18n"
)

// NonceKey is the fiber.Ctx local holding the per-request CSP nonce.
const NonceKey = "cspNonce"

// Pinger is what readiness needs of the database.
type Pinger interface {
	PingContext(ctx context.Context) error
}

// ErrorPages renders the HTML error page for status codes outside the API.
type ErrorPages interface {
	Error(c *fiber.Ctx, status int) error
}

// Deps is what the HTTP application is built from.
type Deps struct {
	Logger *slog.Logger
	// UntimedLogger writes records without a time, for failures on reporter routes.
	UntimedLogger *slog.Logger
	DB            Pinger
	// Details, when set, adds what an operator should see to the readiness answer (undelivered
	// mail); it never decides readiness.
	Details   func(ctx context.Context) map[string]any
	Catalog   *i18n.Catalog
	Pages     ErrorPages
	BodyLimit int // bytes; uploads stream, everything else is checked per route
	// Hosts are the host names the council answers on (council.yaml hosts:); none: any.
	Hosts func() []string
	// Unavailable reports whether err means the database cannot be reached (store.IsUnavailable):
	// such a request is answered 503 with Retry-After, and the outage logged once.
	Unavailable func(error) bool
	// ReadTimeout bounds reading a whole request, upload included; 0: DefaultReadTimeout.
	ReadTimeout time.Duration
	// Pace is the evidence uploads' minimum rate; the zero value: none.
	Pace Pace
	// Outage, when set, is shared with the other councils' applications (nil: one of its own).
	Outage *Outage
	// Filings, when set, admits anonymous report filings (shared with the other councils'
	// applications); nil: no bound.
	Filings *Filings
	// Stopping, when set, reports whether the portal is shutting down: the health checks then
	// answer 503 while requests are still served, so a load balancer takes it out first, and
	// every answer closes its connection.
	Stopping func() bool
}

// DefaultReadTimeout lets a large evidence upload arrive on a slow link.
const DefaultReadTimeout = 2 * time.Minute

// New returns the fiber application with middleware, health checks and error handling; the
// caller registers the HTML and API routes on it.
func New(d Deps) *fiber.App {
	if d.ReadTimeout <= 0 {
		d.ReadTimeout = DefaultReadTimeout
	}
	if d.Outage == nil {
		d.Outage = NewOutage(d.Logger, d.DB)
	}
	f := &faults{Deps: d, outage: d.Outage}
	app := fiber.New(fiber.Config{
		AppName:               "candour",
		DisableStartupMessage: true,
		ReadTimeout:           d.ReadTimeout,
		WriteTimeout:          2 * time.Minute,
		IdleTimeout:           60 * time.Second,
		BodyLimit:             d.BodyLimit,
		StreamRequestBody:     true,
		// fasthttp would otherwise parse a multipart body of known length before the handler
		// runs, spooling any file over 16 MB to a temporary file: evidence in clear on disk.
		// Upload handlers read the multipart stream themselves.
		DisablePreParseMultipartForm: true,
		ReadBufferSize:               16 << 10,
		// Handlers keep strings past the request; copying them once here beats a missed copy.
		Immutable:    true,
		ErrorHandler: f.handle,
	})
	app.Hooks().OnShutdown(func() error { d.Outage.Close(); return nil })
	stopping := func() bool { return d.Stopping != nil && d.Stopping() }
	app.Use(recoverPanics(d.Logger), requestLog(d.Logger, f), closeWhenStopping(stopping), securityHeaders, knownHost(d.Hosts),
		limitBodies, paceUploads(d.Pace), d.Filings.admit)

	app.Get("/healthz", func(c *fiber.Ctx) error {
		if stopping() {
			return c.Status(fiber.StatusServiceUnavailable).JSON(fiber.Map{"status": "stopping"})
		}
		return c.JSON(fiber.Map{"status": "ok"})
	})
	app.Get("/readyz", func(c *fiber.Ctx) error {
		if stopping() {
			return c.Status(fiber.StatusServiceUnavailable).JSON(fiber.Map{"status": "stopping"})
		}
		ctx, cancel := context.WithTimeout(c.UserContext(), 2*time.Second)
		defer cancel()
		if err := d.DB.PingContext(ctx); err != nil {
			f.outage.failed(err)
			c.Set(fiber.HeaderRetryAfter, RetryAfter(OutageRetryAfter))
			return c.Status(fiber.StatusServiceUnavailable).JSON(fiber.Map{"status": "database unavailable"})
		}
		out := fiber.Map{"status": "ready"}
		if d.Details != nil {
			for k, v := range d.Details(ctx) {
				out[k] = v
			}
		}
		return c.JSON(out)
	})
	return app
}

// closeWhenStopping ends each connection after its answer once the portal is stopping, so a
// client on a kept-alive connection comes back through the load balancer to a portal that is
// staying.
func closeWhenStopping(stopping func() bool) fiber.Handler {
	return func(c *fiber.Ctx) error {
		err := c.Next()
		if stopping() {
			c.Context().SetConnectionClose()
		}
		return err
	}
}

// knownHost answers a plain 404, naming nothing, to a request for a host the council does not
// answer on, so a portal reached under another name (a stray DNS record, a Host header chosen
// by a client) shows no council's pages. The health checks answer whatever the name.
func knownHost(hosts func() []string) fiber.Handler {
	return func(c *fiber.Ctx) error {
		var allowed []string
		if hosts != nil {
			allowed = hosts()
		}
		if len(allowed) == 0 || c.Path() == "/healthz" || c.Path() == "/readyz" {
			return c.Next()
		}
		if slices.Contains(allowed, RequestHost(c.Get(fiber.HeaderXForwardedHost), string(c.Request().URI().Host()))) {
			return c.Next()
		}
		DrainOrClose(c)
		return c.Status(fiber.StatusNotFound).Type("txt").SendString("Not found\n")
	}
}

// RequestHost is the host name a request is for, lower-case and without a port: the first
// X-Forwarded-Host when a proxy set one (as fiber's Hostname reads it), else the Host. It is
// what chooses the council, so every check of it reads it the same way.
func RequestHost(forwarded, host string) string {
	if forwarded != "" {
		host, _, _ = strings.Cut(forwarded, ",")
	}
	host = strings.ToLower(strings.TrimSpace(host))
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	return host
}

// MaxBody is the largest body any request but an evidence upload may send. The server's own
// limit is the attachment size (uploads stream); without this a form or JSON post, signed in
// or not, could make a handler read up to that much into memory.
const MaxBody = 1 << 20

// limitBodies refuses, before any handler reads it, a body over MaxBody on every route but the
// evidence uploads (POST …/attachments), and a body of unknown length there too: browsers and
// API clients send Content-Length for forms and JSON.
func limitBodies(c *fiber.Ctx) error {
	if c.Method() == fiber.MethodGet || c.Method() == fiber.MethodHead || uploadRoute(c) {
		return c.Next()
	}
	if n := c.Request().Header.ContentLength(); n > MaxBody || n == -1 {
		return fault.New(fault.TooLarge, "too_large", "error.too_large")
	}
	return c.Next()
}

// uploadRoute reports whether the request is an evidence upload: its body streams, with its
// own (larger) limit.
func uploadRoute(c *fiber.Ctx) bool { return strings.HasSuffix(c.Path(), "/attachments") }

// Nonce returns the CSP nonce of this request.
func Nonce(c *fiber.Ctx) string {
	n, _ := c.Locals(NonceKey).(string)
	return n
}

func securityHeaders(c *fiber.Ctx) error {
	var b [18]byte
	if _, err := rand.Read(b[:]); err != nil {
		return err
	}
	nonce := base64.RawURLEncoding.EncodeToString(b[:]) // no + or /, which html/template would escape
	c.Locals(NonceKey, nonce)
	h := &c.Response().Header
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self' 'nonce-"+nonce+"'; style-src 'self'; "+
		"img-src 'self' data:; font-src 'self'; connect-src 'self'; form-action 'self'; "+
		"frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cross-Origin-Resource-Policy", "same-origin")
	h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=(), interest-cohort=()")
	// Case pages and reporter pages must never sit in a shared or browser cache; the asset
	// handler overrides this for its content-addressed files.
	h.Set("Cache-Control", "no-store")
	return c.Next()
}

// ReporterRoute reports whether path serves anonymous reporters (the report form and the
// mailbox, in both languages, and their API).
func ReporterRoute(path string) bool {
	path = strings.TrimPrefix(path, "/cy")
	for _, p := range []string{"/report", "/mailbox", "/api/v1/reports", "/api/v1/mailbox"} {
		if path == p || strings.HasPrefix(path, p+"/") {
			return true
		}
	}
	return false
}

// requestLog records method, route, status and duration. Never the client address, user agent,
// query string or body, and nothing at all on reporter routes: a log line carries its exact
// time, and "POST /report 200 at 14:23:41" is when someone blew the whistle.
func requestLog(log *slog.Logger, f *faults) fiber.Handler {
	return func(c *fiber.Ctx) error {
		if ReporterRoute(c.Path()) {
			return c.Next()
		}
		start := time.Now()
		err := c.Next()
		status := c.Response().StatusCode()
		if err != nil {
			status, _, _ = f.classify(err)
		}
		route := c.Route().Path
		if route == "/" && c.Path() != "/" {
			route = "(unmatched)"
		}
		log.Info("request", "method", c.Method(), "route", route, "status", status,
			"ms", time.Since(start).Milliseconds())
		return err
	}
}

func recoverPanics(log *slog.Logger) fiber.Handler {
	return func(c *fiber.Ctx) (err error) {
		defer func() {
			if r := recover(); r != nil {
				log.Error("panic in handler", "route", c.Route().Path, "panic", r)
				err = fiber.ErrInternalServerError
			}
		}()
		return c.Next()
	}
}

// statuses is the one place a domain failure becomes an HTTP status.
var statuses = map[fault.Kind]int{
	fault.Invalid:      fiber.StatusBadRequest,
	fault.NotFound:     fiber.StatusNotFound,
	fault.Unauthorized: fiber.StatusUnauthorized,
	fault.Forbidden:    fiber.StatusForbidden,
	fault.Conflict:     fiber.StatusConflict,
	fault.TooLarge:     fiber.StatusRequestEntityTooLarge,
	fault.Unsupported:  fiber.StatusUnsupportedMediaType,
	fault.TooMany:      fiber.StatusTooManyRequests,
	fault.Unavailable:  fiber.StatusServiceUnavailable,
	fault.Integrity:    fiber.StatusInternalServerError,
	fault.Timeout:      fiber.StatusRequestTimeout,
}

// Status is the HTTP status of a domain failure of kind k.
func Status(k fault.Kind) int { return statusOf(k) }

func statusOf(k fault.Kind) int {
	if s, ok := statuses[k]; ok {
		return s
	}
	return fiber.StatusInternalServerError
}

// SetRetryAfter tells the client when to try again (RetryAfter); d <= 0 says nothing.
func SetRetryAfter(c *fiber.Ctx, d time.Duration) {
	if d > 0 {
		c.Set(fiber.HeaderRetryAfter, RetryAfter(d))
	}
}

// IsAPI reports whether the request is for the JSON API.
func IsAPI(c *fiber.Ctx) bool {
	p := c.Path()
	return p == "/api" || strings.HasPrefix(p, "/api/")
}

// APILang picks the language of API messages from Accept-Language: Welsh if asked, else English.
func APILang(c *fiber.Ctx) string {
	for _, part := range strings.Split(c.Get(fiber.HeaderAcceptLanguage), ",") {
		tag := strings.ToLower(strings.TrimSpace(strings.SplitN(part, ";", 2)[0]))
		if tag == "cy" || strings.HasPrefix(tag, "cy-") {
			return i18n.Welsh
		}
		if tag == "en" || strings.HasPrefix(tag, "en-") {
			return i18n.English
		}
	}
	return i18n.English
}

type apiError struct {
	Code    string            `json:"code"`
	Message string            `json:"message"`
	Fields  map[string]string `json:"fields,omitempty"`
}

// faults turns an error into its answer, and decides which are worth an ERROR line.
type faults struct {
	Deps
	outage *Outage
	// bodies holds each field-less error's JSON by answer and language: a flood of refused
	// sign-ins gets the same few answers, and rendering each afresh (translation and JSON)
	// was a third of the portal's cost of a refusal. The keys are the code's own codes and
	// message keys, never a request's, so they stay few.
	bodies sync.Map // errorBody → []byte
}

// errorBody is what an error's JSON depends on when it names no fields.
type errorBody struct {
	status              int
	code, message, lang string
}

// classify is the status, the API error and the Retry-After of err.
func (f *faults) classify(err error) (int, apiError, time.Duration) {
	var fe *fiber.Error
	switch e, isFault := fault.As(err); {
	case isFault:
		return statusOf(e.Kind), apiError{Code: e.Code, Message: e.Message, Fields: maps.Clone(e.Fields)}, e.RetryAfter
	case errors.As(err, &fe):
		return fe.Code, fiberError(fe), 0
	case f.Unavailable != nil && f.Unavailable(err):
		return fiber.StatusServiceUnavailable, apiError{Code: "unavailable", Message: "error.unavailable"}, OutageRetryAfter
	}
	return fiber.StatusInternalServerError, apiError{Code: "internal", Message: "error.internal"}, 0
}

func (f *faults) handle(c *fiber.Ctx, err error) error {
	status, body, retry := f.classify(err)
	switch {
	case f.Unavailable != nil && f.Unavailable(err):
		f.outage.failed(err)
	// A fault is a refusal we chose (busy, throttled, a client's mistake); the rest are ours.
	case status >= 500 && !fault.Is(err, fault.Unavailable):
		if ReporterRoute(c.Path()) {
			// The failure is worth knowing about; when, and on which reporter route, is not.
			if f.UntimedLogger != nil {
				f.UntimedLogger.Error("request failed on a reporter route", "err", err)
			}
		} else {
			f.Logger.Error("request failed", "route", c.Route().Path, "status", status, "err", err)
		}
	}
	SetRetryAfter(c, retry)
	// Headers from a half-built response must not leak into the error.
	c.Response().Header.Del(fiber.HeaderContentDisposition)
	if fault.Is(err, fault.Timeout) {
		c.Context().SetConnectionClose() // waiting for the rest is what just failed
	} else {
		DrainOrClose(c)
	}
	if !IsAPI(c) && f.Pages != nil {
		if perr := f.Pages.Error(c, status); perr == nil {
			return nil
		}
	}
	lang := APILang(c)
	if len(body.Fields) > 0 {
		body.Message = f.Catalog.T(lang, body.Message)
		for k, v := range body.Fields {
			body.Fields[k] = f.Catalog.T(lang, v)
		}
		return c.Status(status).JSON(fiber.Map{"error": body})
	}
	key := errorBody{status, body.Code, body.Message, lang}
	rendered, ok := f.bodies.Load(key)
	if !ok {
		body.Message = f.Catalog.T(lang, body.Message)
		b, err := c.App().Config().JSONEncoder(fiber.Map{"error": body})
		if err != nil {
			return err
		}
		rendered, _ = f.bodies.LoadOrStore(key, b)
	}
	c.Status(status).Response().Header.SetContentType(fiber.MIMEApplicationJSON)
	return c.Send(rendered.([]byte))
}

// RetryAfter is d as a Retry-After value: whole seconds, at least one.
func RetryAfter(d time.Duration) string {
	return strconv.Itoa(max(1, int((d+time.Second-1)/time.Second)))
}

// DrainOrClose reads and drops what is left of a request refused early, when that is modest,
// and otherwise closes the connection after the answer. Bodies stream, so the unread bytes
// would be parsed as the next request; and closing with them unread makes the kernel answer
// the client's next write with a reset, which a client still sending sees instead of the
// answer. Modest: a declared length up to MaxBody, or on the evidence uploads (refused once
// past their limit) up to maxUploadDrain more.
func DrainOrClose(c *fiber.Ctx) {
	if !drain(c) {
		c.Context().SetConnectionClose()
	}
}

// drain reads the rest of a modest body and reports whether the connection can carry another
// request.
func drain(c *fiber.Ctx) bool {
	limit := int64(MaxBody)
	switch n := c.Request().Header.ContentLength(); {
	case n == 0:
		return true
	case uploadRoute(c):
		limit = maxUploadDrain
		// A refused upload sending slowly is not waited for: it would keep its answer, and a
		// goroutine, until the read timeout.
		if conn := c.Context().Conn(); conn != nil {
			_ = conn.SetReadDeadline(time.Now().Add(uploadDrainTime))
		}
	case n < 0 || n > MaxBody:
		return false
	}
	r := c.Context().RequestBodyStream()
	if r == nil {
		return true
	}
	n, err := io.Copy(io.Discard, io.LimitReader(r, limit+1))
	return err == nil && n <= limit
}

// maxUploadDrain is how much of a refused upload is read after the refusal, so that a file a
// little over the limit gets its answer rather than a reset.
const maxUploadDrain = 16 << 20

// uploadDrainTime is how long the rest of a refused upload is read for.
const uploadDrainTime = 5 * time.Second

// fiberErrors are the API errors of the statuses fiber itself answers with.
var fiberErrors = map[int]apiError{
	fiber.StatusNotFound:              {Code: "not_found", Message: "error.not_found"},
	fiber.StatusMethodNotAllowed:      {Code: "method_not_allowed", Message: "error.method_not_allowed"},
	fiber.StatusRequestEntityTooLarge: {Code: "too_large", Message: "error.too_large"},
	fiber.StatusUnauthorized:          {Code: "unauthorized", Message: "error.unauthorized"},
	fiber.StatusBadRequest:            {Code: "bad_request", Message: "error.bad_request"},
	fiber.StatusRequestTimeout:        {Code: "timeout", Message: "error.timeout"},
}

func fiberError(fe *fiber.Error) apiError {
	if e, ok := fiberErrors[fe.Code]; ok {
		return e
	}
	if fe.Code < 500 {
		return fiberErrors[fiber.StatusBadRequest]
	}
	return apiError{Code: "internal", Message: "error.internal"}
}
