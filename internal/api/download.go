package api

import (
	"strconv"

	"github.com/gofiber/fiber/v2"
)

func parseID(c *fiber.Ctx, param string) (int64, error) {
	id, err := strconv.ParseInt(c.Params(param), 10, 64)
	if err != nil || id <= 0 {
		return 0, fiber.ErrNotFound
	}
	return id, nil
}
