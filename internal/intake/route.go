package intake

import (
	"crypto/sha256"
	"encoding/json"
	"strings"
	"sync"
	"sync/atomic"

	"candour/internal/routing"
)

// routed is a routing decision with what filing stores of it.
type routed struct {
	decision   routing.Decision
	json       []byte   // as stored in concerns.route
	recipients []string // told a concern is theirs to see
	// A remembered decision is kept once in route_decisions under hash; stored says a filing
	// committed it there, so later ones send the hash alone.
	hash   []byte
	stored atomic.Bool
}

// routeMemo remembers the decisions of one policy for facts without lists, which is every web
// report: a decision is a pure function of the facts and the policy, and working it out and
// encoding it was a tenth of a report's Go time. The facts are validated before anything is
// remembered, so the memo holds at most one entry per valid combination. A reloaded policy
// starts a new memo.
type routeMemo struct {
	policy *routing.Policy
	m      sync.Map // routeKey -> *routed
}

type routeKey struct {
	channel, mode, serviceArea, category, raisedOutcome string
	safeguarding, passingOn                             bool
}

// route decides where a concern goes. The decision it returns may be shared between reports:
// read it, never change it.
func (s *Service) route(policy *routing.Policy, f routing.Facts) (*routed, error) {
	var memo *routeMemo
	var key routeKey
	if len(f.NamedPeople) == 0 && len(f.RaisedWith) == 0 && len(f.EvidenceReviewed) == 0 {
		if memo = s.routes.Load(); memo == nil || memo.policy != policy {
			memo = &routeMemo{policy: policy}
			s.routes.Store(memo)
		}
		key = routeKey{f.Channel, f.Mode, f.ServiceArea, f.Category, f.RaisedOutcome, f.Safeguarding, f.PassingOnStaffConcerns}
		if r, ok := memo.m.Load(key); ok {
			return r.(*routed), nil
		}
	}
	d, err := policy.Decide(f)
	if err != nil {
		return nil, err
	}
	b, err := json.Marshal(d)
	if err != nil {
		return nil, err
	}
	r := &routed{decision: d, json: b, recipients: routedRecipients(d)}
	if memo != nil {
		sum := sha256.Sum256(b)
		r.hash = sum[:]
		memo.m.Store(key, r)
	}
	return r, nil
}

// routedRecipients are everyone on the route and those to be informed, once each: they are
// told a concern is theirs to see, by reference and link only.
func routedRecipients(d routing.Decision) []string {
	seen := map[string]bool{}
	var out []string
	for _, h := range append(append([]routing.Holder{}, d.Route...), d.Informed...) {
		email := strings.ToLower(h.Email)
		if email == "" || seen[email] {
			continue
		}
		seen[email] = true
		out = append(out, email)
	}
	return out
}
