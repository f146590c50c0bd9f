package auth_test

import (
	"testing"

	"candour/internal/auth"
)

// BenchmarkHashPassword measures the production argon2id cost (the figure in DefaultParams).
func BenchmarkHashPassword(b *testing.B) {
	for b.Loop() {
		if _, err := auth.HashPassword("a long enough passphrase", auth.DefaultParams); err != nil {
			b.Fatal(err)
		}
	}
}
