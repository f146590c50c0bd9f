package api

import (
	"bytes"
	_ "embed"

	"github.com/gofiber/fiber/v2"
)

// openAPI documents every route Register mounts (DESIGN §6); openapi_test.go checks the two
// against each other, so they cannot drift apart.
//
//go:embed openapi.yaml
var openAPI []byte

// openAPIDoc: GET /api/v1/openapi.yaml → the OpenAPI 3.1 document (anyone).
func (a *API) openAPIDoc(c *fiber.Ctx) error {
	c.Set(fiber.HeaderContentType, "application/yaml")
	return c.Send(openAPI)
}

// OpenAPIDocument returns the document GET /api/v1/openapi.yaml serves, for the tests that
// check every API exchange against it (internal/apicontract).
func OpenAPIDocument() []byte { return bytes.Clone(openAPI) }
