package oversight_test

import (
	"testing"

	"candour/internal/dbtest"
)

func TestMain(m *testing.M) { dbtest.Main(m) }
