package server

import (
	"context"
	"errors"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"

	"candour/internal/batch"
)

// A flood of filings takes one filing's turn and the queue's places, and no more: the next is
// told at once that the portal is busy, a waiting one is told so when its wait runs out, every
// other route goes straight through, and once a filing ends the next is served.
func TestFilingsAreAdmittedInTurn(t *testing.T) {
	f := &Filings{running: make(chan struct{}, 1), held: make(chan struct{}, 2), wait: 300 * time.Millisecond}
	release := make(chan struct{})
	app := fiber.New(fiber.Config{ErrorHandler: func(c *fiber.Ctx, err error) error {
		if errors.Is(err, errFilingsBusy) {
			return c.SendStatus(fiber.StatusServiceUnavailable)
		}
		return c.SendStatus(fiber.StatusInternalServerError)
	}})
	app.Use(f.admit)
	file := func(c *fiber.Ctx) error {
		<-release
		return c.SendStatus(fiber.StatusCreated)
	}
	app.Post("/api/v1/reports", file)
	app.Post("/cy/report", file)
	app.Get("/api/v1/triage", func(c *fiber.Ctx) error { return c.SendStatus(fiber.StatusOK) })
	do := func(method, path string) chan int {
		out := make(chan int, 1)
		go func() {
			resp, err := app.Test(httptest.NewRequest(method, path, nil), -1)
			if err != nil {
				out <- -1
				return
			}
			out <- resp.StatusCode
		}()
		return out
	}

	first := do("POST", "/api/v1/reports")
	time.Sleep(100 * time.Millisecond) // it is being served
	waiting := do("POST", "/api/v1/reports")
	time.Sleep(100 * time.Millisecond) // it is waiting
	if got := <-do("POST", "/api/v1/reports"); got != fiber.StatusServiceUnavailable {
		t.Errorf("a filing past the queue: got %d, want 503 at once", got)
	}
	if got := <-do("GET", "/api/v1/triage"); got != fiber.StatusOK {
		t.Errorf("triage while filings are held: got %d, want 200", got)
	}
	if got := <-waiting; got != fiber.StatusServiceUnavailable {
		t.Errorf("a filing that waited longer than its wait: got %d, want 503", got)
	}
	next := do("POST", "/cy/report")
	time.Sleep(100 * time.Millisecond)
	close(release)
	if got := <-first; got != fiber.StatusCreated {
		t.Errorf("the filing being served: got %d, want 201", got)
	}
	if got := <-next; got != fiber.StatusCreated {
		t.Errorf("the filing waiting when the first ended: got %d, want 201", got)
	}
}

// A filing's turn ends when it waits for its batch: with one turn, two filings at once still
// go into one batch, as they would unbounded. Holding the turn through the commit made every
// batch a single filing.
func TestFilingsTurnEndsAtTheBatch(t *testing.T) {
	f := &Filings{running: make(chan struct{}, 1), held: make(chan struct{}, 4), wait: 5 * time.Second}
	started, proceed := make(chan struct{}), make(chan struct{})
	var sizes []int
	b := batch.New(func(_ context.Context, items []int) ([]int, error) {
		if len(sizes) == 0 {
			close(started)
			<-proceed // the first batch is being written while the second filing comes
		}
		sizes = append(sizes, len(items))
		return items, nil
	}, batch.Options{Max: 16, Workers: 1, Timeout: 5 * time.Second})
	app := fiber.New()
	app.Use(f.admit)
	app.Post("/api/v1/reports", func(c *fiber.Ctx) error {
		if _, err := b.Do(c.UserContext(), 1); err != nil {
			return err
		}
		return c.SendStatus(fiber.StatusCreated)
	})
	file := func() chan int {
		out := make(chan int, 1)
		go func() {
			resp, err := app.Test(httptest.NewRequest("POST", "/api/v1/reports", nil), -1)
			if err != nil {
				out <- -1
				return
			}
			out <- resp.StatusCode
		}()
		return out
	}
	first := file()
	<-started
	second, third := file(), file()
	time.Sleep(200 * time.Millisecond) // both queue behind the batch being written
	close(proceed)
	for i, ch := range []chan int{first, second, third} {
		if got := <-ch; got != fiber.StatusCreated {
			t.Errorf("filing %d: got %d, want 201", i+1, got)
		}
	}
	if want := []int{1, 2}; !slices.Equal(sizes, want) {
		t.Errorf("batches of %v, want %v: the second and third filings should share a batch", sizes, want)
	}
}
