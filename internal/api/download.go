package api

import (
	"io"
	"net/url"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"
)

// SendDownload streams r as a file download. Uploaded files are only ever served this way:
// attachment disposition, a generic content type and nosniff, so a browser never renders one.
func SendDownload(c *fiber.Ctx, name string, size int64, r io.Reader) error {
	c.Set(fiber.HeaderContentType, "application/octet-stream")
	c.Set(fiber.HeaderContentDisposition, ContentDisposition(name))
	c.Set(fiber.HeaderXContentTypeOptions, "nosniff")
	c.Context().SetBodyStream(r, int(size))
	return nil
}

// ContentDisposition builds an attachment header with an ASCII fallback name and the exact
// UTF-8 name (RFC 6266/5987); nothing in name can break out of the header.
func ContentDisposition(name string) string {
	fallback := strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7e || r == '"' || r == '\\' || r == '/' || r == ';' {
			return '_'
		}
		return r
	}, name)
	return `attachment; filename="` + fallback + `"; filename*=UTF-8''` + url.PathEscape(name)
}

func parseID(c *fiber.Ctx, param string) (int64, error) {
	id, err := strconv.ParseInt(c.Params(param), 10, 64)
	if err != nil || id <= 0 {
		return 0, fiber.ErrNotFound
	}
	return id, nil
}
