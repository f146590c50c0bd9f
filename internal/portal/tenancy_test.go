package portal_test

import (
	"bytes"
	"encoding/json"
	"mime/multipart"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"filippo.io/age"
	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"candour/internal/access"
	"candour/internal/accounts"
	"candour/internal/api"
	"candour/internal/dbtest"
	"candour/internal/domain"
	"candour/internal/policytest"
	"candour/internal/portal"
	"candour/internal/portaltest"
	"candour/internal/routing"
)

// twoCouncils runs one portal serving two councils, north and south, each on its own host.
func twoCouncils(t *testing.T) (*portaltest.Env, *portal.Council, *portal.Council) {
	t.Helper()
	e := portaltest.Start(t, portaltest.Setting("CANDOUR_POLICY_DIR", policytest.Deployment(t, "north", "south")))
	north, south := e.CouncilBySlug("north"), e.CouncilBySlug("south")
	if north == nil || south == nil || north.ID == south.ID {
		t.Fatalf("councils: %+v", e.Councils)
	}
	return e, north, south
}

// southCase is what south's people made, whose ids north's staff then try.
type southCase struct {
	concern, reference, receipt, mailbox, attachment, investigation string
	officer                                                         *portaltest.Staff
}

func fileInSouth(t *testing.T, e *portaltest.Env, south *portal.Council) southCase {
	t.Helper()
	host := portaltest.HostHeader(south)
	var sc southCase
	r := portaltest.DoJSON(t, e.URL(), "POST", "/api/v1/reports", map[string]any{"mode": "anonymous", "service_area": "finance",
		"category": "fraud", "summary": "Invoices split in the south", "details": "Split to stay under approval.", "lang": "en"}, host)
	var filed struct{ Reference, Receipt string }
	if r.Status != http.StatusCreated || json.Unmarshal(r.Body, &filed) != nil {
		t.Fatalf("report in south: %d %s", r.Status, r.Body)
	}
	sc.reference, sc.receipt = filed.Reference, filed.Receipt
	r = portaltest.DoJSON(t, e.URL(), "POST", "/api/v1/mailbox/session", map[string]string{"receipt": sc.receipt}, host)
	var session struct{ Token string }
	if r.Status != http.StatusOK || json.Unmarshal(r.Body, &session) != nil {
		t.Fatalf("south mailbox: %d %s", r.Status, r.Body)
	}
	sc.mailbox = session.Token
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	fw, _ := mw.CreateFormFile("file", "ledger.csv")
	fw.Write([]byte("invoice,amount\n1,4999\n2,4999\n"))
	mw.Close()
	r = e.Do(t, "POST", "/api/v1/mailbox/attachments", mw.FormDataContentType(), &buf, "Authorization: Bearer "+sc.mailbox, host)
	var att struct{ ID string }
	if r.Status != http.StatusCreated || json.Unmarshal(r.Body, &att) != nil {
		t.Fatalf("south upload: %d %s", r.Status, r.Body)
	}
	sc.attachment = att.ID
	sc.officer = portaltest.NewStaffAt(t, e.Portal, south, "mo@south.example", "monitoring_officer")
	r = sc.officer.API("GET", "/api/v1/triage", nil)
	var queue struct {
		Items []struct{ ID, Reference string }
	}
	if r.Status != http.StatusOK || json.Unmarshal(r.Body, &queue) != nil || len(queue.Items) != 1 || queue.Items[0].Reference != sc.reference {
		t.Fatalf("south's queue: %d %s", r.Status, r.Body)
	}
	sc.concern = queue.Items[0].ID
	r = sc.officer.API("POST", "/api/v1/investigations", map[string]string{"title": "Split invoices",
		"terms_of_reference": "Whether invoices were split.", "investigating_officer": "An External Investigator",
		"due_at": "2027-06-30"})
	var inv struct{ ID string }
	if r.Status != http.StatusCreated || json.Unmarshal(r.Body, &inv) != nil {
		t.Fatalf("south investigation: %d %s", r.Status, r.Body)
	}
	sc.investigation = inv.ID
	return sc
}

// Council north's staff, holding every role between them, try every staff operation of the
// API and every staff page and form against south's ids and references. Each is a 404, as for
// an id that does not exist; nothing north may list shows anything of south's; and south's
// own people, credentials and tokens open nothing at north's host.
func TestCouncilsCannotReachEachOther(t *testing.T) {
	e, north, south := twoCouncils(t)
	sc := fileInSouth(t, e, south)
	southOfficer, _ := south.Accounts.UserByEmail(t.Context(), "mo@south.example")
	secrets := []string{sc.concern, sc.reference, sc.attachment, sc.investigation, "Invoices split in the south"}

	// The same e-mail address may hold an account in each council: accounts are per council.
	staff := map[string]*portaltest.Staff{}
	for _, role := range domain.Roles {
		n := accounts.NewUser{Email: role + "@south.example", Roles: []string{role}}
		if role == "custodian" { // a custodian holds a key pinned in the council's policy
			key, err := age.GenerateX25519Identity()
			if err != nil {
				t.Fatal(err)
			}
			r := key.Recipient().String()
			portaltest.PinCustodian(t, e.Portal, n.Email, r) // north is the first council
			n.AgeRecipient = &r
		}
		staff[role] = portaltest.SignInAt(t, e.Portal, north, portaltest.AccountAt(t, e.Portal, north, n))
	}
	param := regexp.MustCompile(`:[a-z]+`)
	fill := func(path string) string {
		return param.ReplaceAllStringFunc(path, func(p string) string {
			switch {
			case p == ":aid" && strings.Contains(path, "/allegations/"):
				return "1"
			case p == ":aid":
				return sc.attachment
			case p == ":rid":
				return "1"
			case p == ":cid":
				return sc.concern
			case strings.HasPrefix(path, "/investigations/"), strings.HasPrefix(path, "/staff/investigations/"):
				return sc.investigation
			case strings.HasPrefix(path, "/users/"), strings.HasPrefix(path, "/staff/admin/users/"):
				return strconv.FormatInt(southOfficer.ID, 10)
			}
			return sc.concern
		})
	}
	yes := true
	bodies := map[string]any{ // what each operation needs to get past its own checks to the lookup
		"/concerns/:id/messages":                          map[string]any{"body": "Can you tell us more?"},
		"/concerns/:id/notes":                             map[string]any{"body": "A note"},
		"/concerns/:id/interim-feedback":                  map[string]any{"body": "We are still looking."},
		"/concerns/:id/decision":                          map[string]any{"action": "decline", "reason": "Out of scope"},
		"/concerns/:id/referral-outcome":                  map[string]any{"outcome": "action_taken", "note": "Done"},
		"/concerns/:id/identity-requests":                 map[string]any{"reason": "Needed to interview"},
		"/concerns/:id/access":                            map[string]any{"user_id": staff["investigator"].User.ID, "reason": "Help"},
		"/concerns/:id/conflict":                          map[string]any{"reason": "I know them"},
		"/identity-requests/:id/decision":                 map[string]any{"approve": &yes, "reason": "Fine"},
		"/investigations/:id/concerns":                    map[string]any{"concern_id": sc.concern},
		"/investigations/:id/allegations":                 map[string]any{"text": "Invoices were split", "evidence": "Ledger"},
		"/investigations/:id/allegations/:aid/finding":    map[string]any{"finding": "upheld", "finding_text": "Yes", "evidence": "Ledger"},
		"/investigations/:id/recommendations":             map[string]any{"text": "Train staff", "owner": "Finance", "due_at": "2027-06-01"},
		"/investigations/:id/recommendations/:rid/status": map[string]any{"status": "done"},
		"/investigations/:id/status":                      map[string]any{"status": "in_progress", "conclusion": ""},
		"/users/:id/roles":                                map[string]any{"roles": []string{"investigator"}},
		"/access-requests/:id/decision":                   map[string]any{"approve": &yes},
		"/councillor/concerns/:id/messages":               map[string]any{"body": "More detail"},
		"/investigations/:id/concerns/:cid":               nil,
		"/concerns/:id/acknowledge":                       nil,
		"/users/:id/disable":                              nil,
		"/users/:id/reset-2fa":                            nil,
		"/users/:id/reset-password":                       nil,
		"/concerns/:id/attachments/:aid":                  nil,
		"/councillor/concerns/:id/attachments/:aid":       nil,
		"/councillor/concerns/:id":                        nil,
		"/concerns/:id":                                   nil,
		"/concerns/:id/identity":                          nil,
		"/investigations/:id":                             nil,
	}
	who := func(g access.Gate) *portaltest.Staff {
		for _, role := range domain.Roles {
			if g.Allows(staff[role].User) {
				return staff[role]
			}
		}
		return nil
	}
	tried := 0
	for _, r := range api.New(api.Deps{}).Routes() {
		if r.Gate.Caller != access.Staff {
			continue
		}
		s := who(r.Gate)
		if s == nil {
			t.Errorf("%s %s: no role opens gate %s", r.Method, r.Path, r.Gate.Name)
			continue
		}
		if !strings.Contains(r.Path, ":") {
			if r.Method == http.MethodGet { // a list: nothing of south's in it
				res := s.API(r.Method, "/api/v1"+r.Path, nil)
				for _, secret := range secrets {
					if bytes.Contains(res.Body, []byte(secret)) {
						t.Errorf("GET %s at north shows south's %q", r.Path, secret)
					}
				}
			}
			continue
		}
		var res portaltest.Response
		if strings.HasSuffix(r.Path, "/attachments") && r.Method == http.MethodPost { // an upload
			var buf bytes.Buffer
			mw := multipart.NewWriter(&buf)
			fw, _ := mw.CreateFormFile("file", "note.txt")
			fw.Write([]byte("evidence\n"))
			mw.Close()
			res = e.Do(t, r.Method, "/api/v1"+fill(r.Path), mw.FormDataContentType(), &buf,
				"Authorization: Bearer "+s.Token, portaltest.HostHeader(north))
		} else {
			res = s.API(r.Method, "/api/v1"+fill(r.Path), bodies[r.Path])
		}
		tried++
		if res.Status != http.StatusNotFound {
			t.Errorf("%s %s at north with south's ids: got %d %s, want 404", r.Method, fill(r.Path), res.Status, res.Body)
		}
	}

	// The pages and forms, with north's own CSRF token.
	csrf := map[*portaltest.Staff]string{}
	for _, r := range north.Site.Routes() {
		if r.Gate.Caller != access.Staff || !strings.Contains(r.Path, ":") {
			continue
		}
		s := who(r.Gate)
		if s == nil {
			continue
		}
		var page portaltest.Page
		if r.Method == http.MethodGet {
			page = s.Get(fill(r.Path))
		} else {
			if csrf[s] == "" {
				csrf[s] = s.CSRF("/staff/password")
			}
			form := url.Values{"csrf": {csrf[s]}, "body": {"x"}, "reason": {"x"}, "action": {"decline"}, "decision": {"approve"}}
			if strings.HasSuffix(r.Path, "/attachments") {
				page = s.Upload(fill(r.Path), csrf[s], "note.txt", []byte("evidence\n"))
			} else {
				page = s.Post(fill(r.Path), form)
			}
		}
		tried++
		if page.Status != http.StatusNotFound {
			t.Errorf("%s %s at north with south's ids: got %d, want 404", r.Method, fill(r.Path), page.Status)
		}
	}
	if tried < 60 {
		t.Errorf("only %d operations tried with south's ids", tried)
	}
	t.Logf("%d staff operations and pages tried with south's ids", tried)

	// South's own credentials and tokens are nothing at north's host.
	host := portaltest.HostHeader(north)
	if r := portaltest.DoJSON(t, e.URL(), "GET", "/api/v1/mailbox", nil, "Authorization: Bearer "+sc.mailbox, host); r.Status == http.StatusOK {
		t.Errorf("south's mailbox token at north: got %d %s", r.Status, r.Body)
	}
	if r := portaltest.DoJSON(t, e.URL(), "POST", "/api/v1/mailbox/session", map[string]string{"receipt": sc.receipt}, host); r.Status == http.StatusOK {
		t.Errorf("south's receipt at north: got %d %s", r.Status, r.Body)
	}
	if r := portaltest.DoJSON(t, e.URL(), "GET", "/api/v1/triage", nil, "Authorization: Bearer "+sc.officer.Token, host); r.Status != http.StatusUnauthorized {
		t.Errorf("south's officer's session at north: got %d %s, want 401", r.Status, r.Body)
	}
	// And at south's own host all of it still works.
	if r := sc.officer.API("GET", "/api/v1/concerns/"+sc.concern, nil); r.Status != http.StatusOK {
		t.Errorf("south's officer at south: got %d %s", r.Status, r.Body)
	}
}

// Each council's pages are its own: the start page names the council whose host was asked
// for, and a host no council lists gets a plain 404 naming nobody.
func TestCouncilChosenByHost(t *testing.T) {
	e, north, south := twoCouncils(t)
	for _, c := range []*portal.Council{north, south} {
		r := e.Do(t, "GET", "/", "", nil, portaltest.HostHeader(c))
		if r.Status != http.StatusOK || !bytes.Contains(r.Body, []byte("Council of "+c.Slug)) {
			t.Errorf("start page at %s: got %d, want one naming Council of %s", c.Slug, r.Status, c.Slug)
		}
	}
	r := e.Do(t, "GET", "/", "", nil, "Host: elsewhere.example")
	if r.Status != http.StatusNotFound || bytes.Contains(r.Body, []byte("Council of")) {
		t.Errorf("unknown host: got %d %s, want a plain 404", r.Status, r.Body)
	}
	// Each council's audit log is its own: south's report is not in north's.
	var n int
	if err := portaltest.InCouncil(t, e.Portal, north, func(tx *sqlx.Tx) error {
		return tx.Get(&n, `SELECT count(*) FROM audit_events WHERE action = 'policy.load'`)
	}); err != nil || n != 1 {
		t.Errorf("north's policy loads in its log: %d (%v), want its own one", n, err)
	}
}

// Row-level security is what keeps councils apart, not the portal's WHERE clauses: the
// serving role, set to north, reads none of south's rows with a query that names no council,
// cannot write a row into south, and with no council set reads and writes nothing. The
// schema's owner is bound the same way.
func TestRowLevelSecurityWithoutWhere(t *testing.T) {
	e, north, south := twoCouncils(t)
	fileInSouth(t, e, south)
	for _, as := range []struct{ role, url string }{{"serving role", e.ServingURL()}, {"owner", e.OwnerURL}} {
		northDB := dbtest.Open(t, dbtest.InCouncil(t, as.url, north.ID))
		for _, table := range []string{"concerns", "attachments", "users", "sessions", "audit_events", "investigations", "notifications"} {
			var foreign int
			if err := northDB.Get(&foreign, `SELECT count(*) FROM `+table+` WHERE council_id <> $1`, north.ID); err != nil || foreign != 0 {
				t.Errorf("%s set to north: %d of another council's rows in %s (%v)", as.role, foreign, table, err)
			}
		}
		var all int
		if err := northDB.Get(&all, `SELECT count(*) FROM concerns`); err != nil || all != 0 {
			t.Errorf("%s set to north: SELECT count(*) FROM concerns = %d (%v), want 0 (south has the only one)", as.role, all, err)
		}
		if res, err := northDB.Exec(`UPDATE concerns SET status = status`); err != nil {
			t.Errorf("%s set to north: UPDATE without WHERE: %v", as.role, err)
		} else if n, _ := res.RowsAffected(); n != 0 {
			t.Errorf("%s set to north: an UPDATE without WHERE changed %d of south's rows", as.role, n)
		}
		_, err := northDB.Exec(`INSERT INTO mailbox_revocations (jti, keep_until, council_id) VALUES ('probe', now(), $1)`, south.ID)
		if pe, ok := err.(*pq.Error); !ok || pe.Code != "42501" {
			t.Errorf("%s set to north writing a row of south's: got %v, want a row-level security refusal (42501)", as.role, err)
		}
		unset := dbtest.Open(t, as.url)
		if err := unset.Get(&all, `SELECT count(*) FROM concerns`); err != nil || all != 0 {
			t.Errorf("%s with no council: sees %d concerns (%v), want none", as.role, all, err)
		}
		if _, err := unset.Exec(`INSERT INTO mailbox_revocations (jti, keep_until) VALUES ('probe', now())`); err == nil {
			t.Errorf("%s with no council wrote a row", as.role)
		}
	}
}

// A reload that would have two councils claim one host is refused whole: every council keeps
// the policy in force, and each host still reaches its own council.
func TestReloadKeepsHostsApart(t *testing.T) {
	e, north, south := twoCouncils(t)
	file := filepath.Join(south.PolicyDir, routing.CouncilFile)
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, []byte(strings.Replace(string(b), "- south.example", "- north.example", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := e.ReloadPolicy(t.Context()); err == nil || !strings.Contains(err.Error(), "claimed by council") {
		t.Fatalf("reload with a host claimed twice: got %v", err)
	}
	for _, c := range []*portal.Council{north, south} {
		if r := e.Do(t, "GET", "/", "", nil, portaltest.HostHeader(c)); r.Status != http.StatusOK ||
			!bytes.Contains(r.Body, []byte("Council of "+c.Slug)) {
			t.Errorf("%s after the refused reload: got %d", c.Slug, r.Status)
		}
	}
}
