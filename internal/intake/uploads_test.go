package intake

import (
	"context"
	"errors"
	"testing"
	"time"
)

// arrival is an upload body as the server would report it.
type arrival struct {
	n           int64
	waited      time.Duration
	complete    bool
	interrupted error
}

func (a *arrival) Arrived() (int64, time.Duration, bool) { return a.n, a.waited, a.complete }
func (a *arrival) Interrupt(err error)                   { a.interrupted = err }

// Which upload, if any, gives its slot to a newcomer when all eight are taken.
func TestUploadSlotGoesToNewcomer(t *testing.T) {
	north, south := &Service{}, &Service{}
	fast := func() *arrival { return &arrival{n: 10 << 20, waited: 10 * time.Second} }         // 1 MiB/s
	trickle := func(kib int64) *arrival { return &arrival{n: kib << 10, waited: time.Second} } // kib KiB/s
	type held struct {
		council *Service
		a       *arrival
	}
	eight := func(c *Service, a func() *arrival) []held {
		var out []held
		for range 8 {
			out = append(out, held{c, a()})
		}
		return out
	}
	cases := []struct {
		name     string
		held     []held
		newcomer *Service
		victim   int // index in held; -1: none (503)
	}{
		{"eight fast uploads keep their slots", eight(north, fast), north, -1},
		{"the slowest below the contended rate goes", append(eight(north, fast)[:5], held{north, trickle(5)}, held{north, trickle(2)}, held{north, trickle(63)}), north, 6},
		{"at the contended rate it stays", append(eight(north, fast)[:7], held{north, trickle(64)}), north, -1},
		{"not judged before a second's wait", append(eight(north, fast)[:7], held{north, &arrival{n: 1, waited: 900 * time.Millisecond}}), north, -1},
		{"a complete body has nothing left to wait for", append(eight(north, fast)[:7], held{north, &arrival{n: 1, waited: 5 * time.Second, complete: true}}), north, -1},
		{"an upload without an arrival cannot be judged", append(eight(north, fast)[:7], held{north, nil}), north, -1},
		{"another council over its share loses its slowest, however fast", append([]held{{north, &arrival{n: 5 << 20, waited: 10 * time.Second}}}, eight(north, fast)[1:]...), south, 0},
		{"a council over its share goes before a slower one within", append(eight(north, fast)[:5], held{south, trickle(1)}, held{south, trickle(1)}, held{north, trickle(30)}), south, 7},
		{"a council at its share cannot take another's slow upload within its share",
			append(append(eight(north, fast)[:4], eight(south, fast)[:3]...), held{south, trickle(1)}), north, -1},
		{"but its own slow upload it can", append(append(eight(north, fast)[:3], held{north, trickle(1)}), eight(south, func() *arrival { return trickle(2) })[:4]...), north, 3},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			u := NewUploadSlots(DefaultContendedRate)
			for i, h := range tc.held {
				ctx := context.Background()
				if h.a != nil {
					ctx = context.WithValue(ctx, arrivalKey{}, Arrival(h.a))
				}
				if _, err := u.take(ctx, h.council, string(rune('a'+i))); err != nil {
					t.Fatalf("slot %d: %v", i, err)
				}
			}
			_, err := u.take(context.Background(), tc.newcomer, "newcomer")
			for i, h := range tc.held {
				if h.a == nil {
					continue
				}
				if got, want := h.a.interrupted != nil, i == tc.victim; got != want {
					t.Errorf("upload %d interrupted: got %v, want %v", i, got, want)
				}
			}
			if tc.victim < 0 {
				if !errors.Is(err, errUploadsBusy) {
					t.Errorf("newcomer: got %v, want uploads_busy", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("newcomer: got %v, want a slot", err)
			}
			if got := tc.held[tc.victim].a.interrupted; !errors.Is(got, errOutpaced) {
				t.Errorf("victim told: got %v, want too_slow", got)
			}
			if len(u.running) != 8 {
				t.Errorf("uploads holding slots: got %d, want 8", len(u.running))
			}
		})
	}
}
