package api

import (
	"io"
	"strconv"

	"github.com/gofiber/fiber/v2"

	"candour/internal/server"
)

// SendDownload streams r as a file download. Uploaded files are only ever served this way:
// attachment disposition, a generic content type and nosniff, so a browser never renders one.
func SendDownload(c *fiber.Ctx, name string, size int64, r io.Reader) error {
	c.Set(fiber.HeaderContentType, "application/octet-stream")
	c.Set(fiber.HeaderContentDisposition, server.ContentDisposition(name))
	c.Set(fiber.HeaderXContentTypeOptions, "nosniff")
	c.Context().SetBodyStream(r, int(size))
	return nil
}

func parseID(c *fiber.Ctx, param string) (int64, error) {
	id, err := strconv.ParseInt(c.Params(param), 10, 64)
	if err != nil || id <= 0 {
		return 0, fiber.ErrNotFound
	}
	return id, nil
}
