// Package migrations holds the SQL migrations, embedded so the binary carries its own schema.
package migrations

import "embed"

// FS holds every goose migration in this folder. Files are append-only: never edit one that
// has landed, add a new one.
//
//go:embed *.sql
var FS embed.FS
