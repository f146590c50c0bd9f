package main_test

import (
	"context"

	"github.com/jmoiron/sqlx"

	"candour/internal/database"
)

func sqlxOpen(url string) (*sqlx.DB, error) { return database.Open(context.Background(), url) }
