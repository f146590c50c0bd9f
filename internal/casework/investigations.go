package casework

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"candour/internal/access"
	"candour/internal/domain"
	"candour/internal/fault"
	"candour/internal/intake"
	"candour/internal/publicid"
	"candour/internal/receipt"
	"candour/internal/seal"
	"candour/internal/store"
)

// NewInvestigation is the commissioning brief.
type NewInvestigation struct {
	Title                string `json:"title"`
	TermsOfReference     string `json:"terms_of_reference"`
	CommissioningOfficer string `json:"commissioning_officer"` // a user's e-mail; empty: whoever commissions
	InvestigatingOfficer string `json:"investigating_officer"` // a user's e-mail, or an external investigator's name
	DueAt                string `json:"due_at"`                // YYYY-MM-DD
}

// InvestigationStatuses in their only order.
var InvestigationStatuses = []string{"commissioned", "in_progress", "reported", "closed"}

// Findings an allegation can have.
var Findings = []string{"upheld", "partly_upheld", "not_upheld", "no_finding"}

func parseDate(f fault.Fields, field, v string) time.Time {
	d, err := time.Parse("2006-01-02", strings.TrimSpace(v))
	if err != nil {
		f.Add(field, "field.date")
	}
	return d
}

// CreateInvestigation commissions an investigation (Monitoring Officer or deputy).
func (s *Service) CreateInvestigation(ctx context.Context, u *store.User, in NewInvestigation) (*store.Investigation, error) {
	if !access.CanCommissionInvestigation(u) {
		return nil, errNotFound
	}
	f := fault.Fields{}
	text(f, "title", in.Title, true)
	if len([]rune(in.Title)) > 300 {
		f.Add("title", "field.too_long")
	}
	text(f, "terms_of_reference", in.TermsOfReference, true)
	text(f, "investigating_officer", in.InvestigatingOfficer, true)
	due := parseDate(f, "due_at", in.DueAt)
	inv := &store.Investigation{CommissioningOfficerID: u.ID, DueAt: due}
	if in.CommissioningOfficer != "" {
		co, err := s.d.Store.UserByEmail(ctx, in.CommissioningOfficer)
		if err != nil || !access.CanCommissionInvestigation(co) {
			f.Add("commissioning_officer", "casework.unknown_officer")
		} else {
			inv.CommissioningOfficerID = co.ID
		}
	}
	var external string
	if strings.Contains(in.InvestigatingOfficer, "@") {
		io, err := s.d.Store.UserByEmail(ctx, in.InvestigatingOfficer)
		if err != nil || io.Status != "active" || !(io.HasRole(domain.RoleInvestigator) || access.CanCommissionInvestigation(io)) {
			f.Add("investigating_officer", "casework.unknown_officer")
		} else {
			inv.InvestigatingOfficerID.Int64, inv.InvestigatingOfficerID.Valid = io.ID, true
		}
	} else {
		external = strings.TrimSpace(in.InvestigatingOfficer)
	}
	if err := f.Err(); err != nil {
		return nil, err
	}
	dk, wrapped, err := s.d.ServerKey.NewDataKey()
	if err != nil {
		return nil, err
	}
	inv.WrappedKey, inv.ID = wrapped, publicid.New()
	if inv.Title, err = dk.Seal(invPlace("investigations", inv.ID, "title"), []byte(in.Title)); err != nil {
		return nil, err
	}
	if inv.TermsOfReference, err = dk.Seal(invPlace("investigations", inv.ID, "terms_of_reference"), []byte(in.TermsOfReference)); err != nil {
		return nil, err
	}
	if inv.InvestigatingOfficerExt, err = sealString(dk, invPlace("investigations", inv.ID, "investigating_officer_ext"), external); err != nil {
		return nil, err
	}
	err = s.d.Store.Tx(ctx, func(tx *store.Store) error {
		for range 5 {
			if inv.Reference, err = receipt.Reference("I"); err != nil {
				return err
			}
			ok, err := tx.InsertInvestigation(ctx, inv)
			if err != nil {
				return err
			}
			if ok {
				return record(ctx, tx, u, "investigation.create", "investigation", inv.ID, nil)
			}
		}
		return errors.New("casework: could not allocate an investigation reference")
	})
	return inv, err
}

// investigation loads an investigation u may work on, and its data key. Investigators see only
// their own; the Monitoring Officer and deputy see all. id is the public id a client gave.
func (s *Service) investigation(ctx context.Context, st *store.Store, u *store.User, id string) (*store.Investigation, *seal.DataKey, error) {
	inv, err := st.InvestigationByPublicID(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil, errNotFound
	}
	if err != nil {
		return nil, nil, err
	}
	if !canWorkOn(u, inv) {
		return nil, nil, errNotFound
	}
	// An investigation carries its concerns' substance (its brief, its allegations): anyone
	// named in one of them, or conflicted on it, is kept out of the whole investigation.
	linked, err := st.LinkedConcerns(ctx, inv.Serial)
	if err != nil {
		return nil, nil, err
	}
	for _, c := range linked {
		f, err := st.CaseFacts(ctx, c.Serial)
		if err != nil {
			return nil, nil, err
		}
		if s.d.Access.Excluded(u, f) {
			return nil, nil, errNotFound
		}
	}
	dk, err := s.d.ServerKey.UnwrapDataKey(inv.WrappedKey)
	if err != nil {
		return nil, nil, fmt.Errorf("casework: unwrap key of %s: %w", inv.Reference, err)
	}
	if seal.Bound(inv.Title) {
		dk = dk.BoundOnly() // opened after binding: nothing under its key is genuinely unbound
	}
	return inv, dk, nil
}

// invPlace is a sealed field of an investigation or of one of its allegations or
// recommendations (rows without a public id: bound to the investigation's), with attrs
// naming the row where it is known before the field is written.
func invPlace(table, investigationID, field string, attrs ...string) seal.Place {
	return seal.Place{Table: table, Row: investigationID, Field: field, Attrs: attrs}
}

func canWorkOn(u *store.User, inv *store.Investigation) bool {
	if u == nil || u.Status != "active" {
		return false
	}
	return access.CanCommissionInvestigation(u) || inv.CommissioningOfficerID == u.ID ||
		(inv.InvestigatingOfficerID.Valid && inv.InvestigatingOfficerID.Int64 == u.ID)
}

// LinkConcern links a concern to an investigation (many-to-many; linking twice is 409), and
// gives the investigating officer access to it; a concern naming the investigating officer is
// refused (409).
func (s *Service) LinkConcern(ctx context.Context, u *store.User, investigationID, concernID string) error {
	if !access.CanCommissionInvestigation(u) {
		return errNotFound
	}
	f, err := s.caseFacts(ctx, u, concernID, s.d.Access.CanDecide)
	if err != nil {
		return err
	}
	return s.d.Store.Tx(ctx, func(tx *store.Store) error { return s.linkInTx(ctx, tx, u, investigationID, f.ConcernID) })
}

// linkInTx links the concern with serial concernID to the investigation a client names.
func (s *Service) linkInTx(ctx context.Context, tx *store.Store, u *store.User, investigationID string, concernID int64) error {
	inv, _, err := s.investigation(ctx, tx, u, investigationID)
	if err != nil {
		return err
	}
	if inv.Status == "closed" {
		return conflict("investigation_closed")
	}
	if inv.InvestigatingOfficerID.Valid {
		officer, err := tx.UserByID(ctx, inv.InvestigatingOfficerID.Int64)
		if err != nil {
			return err
		}
		f, err := tx.CaseFacts(ctx, concernID)
		if err != nil {
			return err
		}
		if s.d.Access.Excluded(officer, f) {
			return conflict("investigator_excluded")
		}
	}
	ok, err := tx.LinkConcern(ctx, inv.Serial, concernID, u.ID)
	if err != nil {
		return err
	}
	if !ok {
		return conflict("already_linked")
	}
	if inv.InvestigatingOfficerID.Valid {
		by := u.ID
		// The reason is the link itself, in the audit event below.
		if err := tx.GrantCaseAccess(ctx, concernID, inv.InvestigatingOfficerID.Int64, &by, nil); err != nil {
			return err
		}
	}
	facts, err := tx.CaseFacts(ctx, concernID)
	if err != nil {
		return err
	}
	return record(ctx, tx, u, "investigation.link", "investigation", inv.ID, map[string]string{"concern": facts.PublicID})
}

// UnlinkConcern removes a link (audited).
func (s *Service) UnlinkConcern(ctx context.Context, u *store.User, investigationID, concernID string) error {
	if !access.CanCommissionInvestigation(u) {
		return errNotFound
	}
	return s.d.Store.Tx(ctx, func(tx *store.Store) error {
		inv, _, err := s.investigation(ctx, tx, u, investigationID)
		if err != nil {
			return err
		}
		serial, err := tx.LinkedConcernSerial(ctx, inv.Serial, concernID)
		if errors.Is(err, store.ErrNotFound) {
			return errNotFound
		}
		if err != nil {
			return err
		}
		ok, err := tx.UnlinkConcern(ctx, inv.Serial, serial)
		if err != nil {
			return err
		}
		if !ok {
			return errNotFound
		}
		if inv.InvestigatingOfficerID.Valid {
			if err := tx.RevokeCaseAccess(ctx, serial, inv.InvestigatingOfficerID.Int64); err != nil {
				return err
			}
		}
		return record(ctx, tx, u, "investigation.unlink", "investigation", inv.ID, map[string]string{"concern": concernID})
	})
}

// AllegationView is one allegation as the investigation page shows it.
type AllegationView struct {
	ID              int64   `json:"id"`
	Number          int     `json:"number"`
	SourceConcernID *string `json:"source_concern_id"` // public id
	Text            string  `json:"text"`
	Evidence        string  `json:"evidence"`
	Finding         *string `json:"finding"`
	FindingText     string  `json:"finding_text"`
}

// RecommendationView is one recommendation.
type RecommendationView struct {
	ID     int64     `json:"id"`
	Text   string    `json:"text"`
	Owner  string    `json:"owner"`
	DueAt  time.Time `json:"due_at"`
	Status string    `json:"status"`
}

// InvestigationView is the investigation with its linked concerns, allegations and
// recommendations.
type InvestigationView struct {
	ID                   string               `json:"id"`
	Reference            string               `json:"reference"`
	Title                string               `json:"title"`
	TermsOfReference     string               `json:"terms_of_reference"`
	CommissioningOfficer string               `json:"commissioning_officer"`
	InvestigatingOfficer string               `json:"investigating_officer"`
	DueAt                time.Time            `json:"due_at"`
	Status               string               `json:"status"`
	Conclusion           string               `json:"conclusion"`
	CreatedAt            time.Time            `json:"created_at"`
	ReportedAt           *time.Time           `json:"reported_at"`
	ClosedAt             *time.Time           `json:"closed_at"`
	Concerns             []LinkedConcern      `json:"concerns"`
	Allegations          []AllegationView     `json:"allegations"`
	Recommendations      []RecommendationView `json:"recommendations"`
}

// LinkedConcern is a concern linked to an investigation: reference and clear facts only.
type LinkedConcern struct {
	ID          string    `json:"id"`
	Reference   string    `json:"reference"`
	ServiceArea string    `json:"service_area"`
	Category    string    `json:"category"`
	Status      string    `json:"status"`
	ReceivedAt  time.Time `json:"received_at"`
}

// Investigation opens an investigation (audited read). A sealed field that does not open in
// its place is audited and answers intake.ErrIntegrity.
func (s *Service) Investigation(ctx context.Context, u *store.User, id string) (*InvestigationView, error) {
	v, err := s.investigationView(ctx, u, id)
	return v, s.integrity(ctx, u, "investigation", id, err)
}

func (s *Service) investigationView(ctx context.Context, u *store.User, id string) (*InvestigationView, error) {
	st := s.d.Store
	inv, dk, err := s.investigation(ctx, st, u, id)
	if err != nil {
		return nil, err
	}
	fs := intake.NewFields(dk)
	at := func(field string) seal.Place { return invPlace("investigations", inv.ID, field) }
	v := &InvestigationView{ID: inv.ID, Reference: inv.Reference, DueAt: inv.DueAt, Status: inv.Status,
		CreatedAt: inv.CreatedAt, ReportedAt: inv.ReportedAt, ClosedAt: inv.ClosedAt,
		Concerns: []LinkedConcern{}, Allegations: []AllegationView{}, Recommendations: []RecommendationView{}}
	if v.Title, err = fs.String(at("title"), inv.Title); err != nil {
		return nil, err
	}
	if v.TermsOfReference, err = fs.String(at("terms_of_reference"), inv.TermsOfReference); err != nil {
		return nil, err
	}
	if v.Conclusion, err = fs.String(at("conclusion"), inv.Conclusion); err != nil {
		return nil, err
	}
	if co, err := st.UserByID(ctx, inv.CommissioningOfficerID); err == nil {
		v.CommissioningOfficer = co.Name
	}
	if inv.InvestigatingOfficerID.Valid {
		if io, err := st.UserByID(ctx, inv.InvestigatingOfficerID.Int64); err == nil {
			v.InvestigatingOfficer = io.Name
		}
	} else if v.InvestigatingOfficer, err = fs.String(at("investigating_officer_ext"), inv.InvestigatingOfficerExt); err != nil {
		return nil, err
	}
	linked, err := st.LinkedConcerns(ctx, inv.Serial)
	if err != nil {
		return nil, err
	}
	for _, c := range linked {
		v.Concerns = append(v.Concerns, LinkedConcern{ID: c.ID, Reference: c.Reference, ServiceArea: c.ServiceArea,
			Category: c.Category, Status: c.Status, ReceivedAt: c.ReceivedAt})
	}
	as, err := st.Allegations(ctx, inv.Serial)
	if err != nil {
		return nil, err
	}
	for _, a := range as {
		av := AllegationView{ID: a.ID, Number: a.Number, Finding: a.Finding, SourceConcernID: a.SourceConcern}
		if av.Text, err = fs.String(invPlace("allegations", inv.ID, "text"), a.Text); err != nil {
			return nil, err
		}
		if av.Evidence, err = fs.String(invPlace("allegations", inv.ID, "evidence"), a.Evidence); err != nil {
			return nil, err
		}
		if av.FindingText, err = fs.String(findingPlace(inv.ID, a.ID, a.Finding), a.FindingText); err != nil {
			return nil, err
		}
		v.Allegations = append(v.Allegations, av)
	}
	rs, err := st.Recommendations(ctx, inv.Serial)
	if err != nil {
		return nil, err
	}
	for _, r := range rs {
		rv := RecommendationView{ID: r.ID, DueAt: r.DueAt, Status: r.Status}
		if rv.Text, err = fs.String(invPlace("recommendations", inv.ID, "text"), r.Text); err != nil {
			return nil, err
		}
		if rv.Owner, err = fs.String(invPlace("recommendations", inv.ID, "owner"), r.Owner); err != nil {
			return nil, err
		}
		v.Recommendations = append(v.Recommendations, rv)
	}
	if err := record(ctx, st, u, "investigation.read", "investigation", inv.ID, nil); err != nil {
		return nil, err
	}
	return v, nil
}

// AllegationInput adds an allegation.
type AllegationInput struct {
	SourceConcernID string `json:"source_concern_id"` // public id; empty: none
	Text            string `json:"text"`
	Evidence        string `json:"evidence"`
}

// editable loads an investigation u may change: not closed.
func (s *Service) editable(ctx context.Context, tx *store.Store, u *store.User, id string) (*store.Investigation, *seal.DataKey, error) {
	inv, dk, err := s.investigation(ctx, tx, u, id)
	if err != nil {
		return nil, nil, err
	}
	if inv.Status == "closed" {
		return nil, nil, conflict("investigation_closed")
	}
	return inv, dk, nil
}

// AddAllegation numbers and stores a new allegation.
func (s *Service) AddAllegation(ctx context.Context, u *store.User, investigationID string, in AllegationInput) (*AllegationView, error) {
	f := fault.Fields{}
	text(f, "text", in.Text, true)
	text(f, "evidence", in.Evidence, false)
	if err := f.Err(); err != nil {
		return nil, err
	}
	var out *AllegationView
	err := s.d.Store.Tx(ctx, func(tx *store.Store) error {
		inv, dk, err := s.editable(ctx, tx, u, investigationID)
		if err != nil {
			return err
		}
		a := &store.Allegation{InvestigationID: inv.Serial}
		if in.SourceConcernID != "" {
			src, err := tx.LinkedConcernSerial(ctx, inv.Serial, in.SourceConcernID)
			if errors.Is(err, store.ErrNotFound) {
				return &fault.Error{Kind: fault.Invalid, Code: "invalid", Message: "error.invalid",
					Fields: map[string]string{"source_concern_id": "casework.not_linked"}}
			}
			if err != nil {
				return err
			}
			a.SourceConcernID.Int64, a.SourceConcernID.Valid = src, true
		}
		if a.Text, err = dk.Seal(invPlace("allegations", inv.ID, "text"), []byte(in.Text)); err != nil {
			return err
		}
		if a.Evidence, err = sealString(dk, invPlace("allegations", inv.ID, "evidence"), in.Evidence); err != nil {
			return err
		}
		if err := tx.InsertAllegation(ctx, a); err != nil {
			return err
		}
		out = &AllegationView{ID: a.ID, Number: a.Number, Text: in.Text, Evidence: in.Evidence}
		if a.SourceConcernID.Valid {
			out.SourceConcernID = &in.SourceConcernID
		}
		return record(ctx, tx, u, "allegation.add", "investigation", inv.ID, map[string]string{"number": fmt.Sprint(a.Number)})
	})
	return out, err
}

// FindingInput records an allegation's finding.
type FindingInput struct {
	Finding     string `json:"finding"`
	FindingText string `json:"finding_text"`
	Evidence    string `json:"evidence"`
}

// RecordFinding sets an allegation's finding (and, optionally, its evidence notes).
func (s *Service) RecordFinding(ctx context.Context, u *store.User, investigationID string, allegationID int64, in FindingInput) error {
	f := fault.Fields{}
	if !slices.Contains(Findings, in.Finding) {
		f.Add("finding", "field.choice")
	}
	text(f, "finding_text", in.FindingText, true)
	text(f, "evidence", in.Evidence, false)
	if err := f.Err(); err != nil {
		return err
	}
	return s.d.Store.Tx(ctx, func(tx *store.Store) error {
		inv, dk, err := s.editable(ctx, tx, u, investigationID)
		if err != nil {
			return err
		}
		finding := in.Finding
		ft, err := dk.Seal(findingPlace(inv.ID, allegationID, &finding), []byte(in.FindingText))
		if err != nil {
			return err
		}
		ev, err := sealString(dk, invPlace("allegations", inv.ID, "evidence"), in.Evidence)
		if err != nil {
			return err
		}
		ok, err := tx.SetFinding(ctx, inv.Serial, allegationID, in.Finding, ft, ev)
		if err != nil {
			return err
		}
		if !ok {
			return errNotFound
		}
		return record(ctx, tx, u, "allegation.finding", "investigation", inv.ID,
			map[string]string{"allegation": fmt.Sprint(allegationID), "finding": in.Finding})
	})
}

// RecommendationInput adds a recommendation.
type RecommendationInput struct {
	Text  string `json:"text"`
	Owner string `json:"owner"`
	DueAt string `json:"due_at"`
}

// AddRecommendation stores a recommendation.
func (s *Service) AddRecommendation(ctx context.Context, u *store.User, investigationID string, in RecommendationInput) (*RecommendationView, error) {
	f := fault.Fields{}
	text(f, "text", in.Text, true)
	text(f, "owner", in.Owner, true)
	due := parseDate(f, "due_at", in.DueAt)
	if err := f.Err(); err != nil {
		return nil, err
	}
	var out *RecommendationView
	err := s.d.Store.Tx(ctx, func(tx *store.Store) error {
		inv, dk, err := s.editable(ctx, tx, u, investigationID)
		if err != nil {
			return err
		}
		r := &store.Recommendation{InvestigationID: inv.Serial, DueAt: due}
		if r.Text, err = dk.Seal(invPlace("recommendations", inv.ID, "text"), []byte(in.Text)); err != nil {
			return err
		}
		if r.Owner, err = dk.Seal(invPlace("recommendations", inv.ID, "owner"), []byte(in.Owner)); err != nil {
			return err
		}
		if err := tx.InsertRecommendation(ctx, r); err != nil {
			return err
		}
		out = &RecommendationView{ID: r.ID, Text: in.Text, Owner: in.Owner, DueAt: due, Status: r.Status}
		return record(ctx, tx, u, "recommendation.add", "investigation", inv.ID, nil)
	})
	return out, err
}

// SetRecommendationStatus moves a recommendation to open, in_progress or done.
func (s *Service) SetRecommendationStatus(ctx context.Context, u *store.User, investigationID string, id int64, status string) error {
	if !slices.Contains([]string{"open", "in_progress", "done"}, status) {
		return fault.Fields{"status": "field.choice"}.Err()
	}
	return s.d.Store.Tx(ctx, func(tx *store.Store) error {
		inv, _, err := s.investigation(ctx, tx, u, investigationID)
		if err != nil {
			return err
		}
		ok, err := tx.SetRecommendationStatus(ctx, inv.Serial, id, status)
		if err != nil {
			return err
		}
		if !ok {
			return errNotFound
		}
		return record(ctx, tx, u, "recommendation.status", "investigation", inv.ID,
			map[string]string{"recommendation": fmt.Sprint(id), "status": status})
	})
}

// Advance moves an investigation one step along commissioned → in_progress → reported →
// closed. Reporting needs a conclusion and a finding on every allegation.
func (s *Service) Advance(ctx context.Context, u *store.User, id string, to, conclusion string) error {
	f := fault.Fields{}
	if !slices.Contains(InvestigationStatuses[1:], to) {
		f.Add("status", "field.choice")
	}
	text(f, "conclusion", conclusion, to == "reported")
	if err := f.Err(); err != nil {
		return err
	}
	return s.d.Store.Tx(ctx, func(tx *store.Store) error {
		inv, dk, err := s.investigation(ctx, tx, u, id)
		if err != nil {
			return err
		}
		from := inv.Status
		if next := indexOf(InvestigationStatuses, from) + 1; next >= len(InvestigationStatuses) || InvestigationStatuses[next] != to {
			return conflict("wrong_status")
		}
		now := s.d.Now()
		switch to {
		case "reported":
			as, err := tx.Allegations(ctx, inv.Serial)
			if err != nil {
				return err
			}
			for _, a := range as {
				if a.Finding == nil {
					return conflict("findings_missing")
				}
			}
			if inv.Conclusion, err = dk.Seal(invPlace("investigations", inv.ID, "conclusion"), []byte(conclusion)); err != nil {
				return err
			}
			inv.ReportedAt = &now
		case "closed":
			inv.ClosedAt = &now
		}
		inv.Status = to
		ok, err := tx.UpdateInvestigation(ctx, inv, from)
		if err != nil {
			return err
		}
		if !ok {
			return conflict("wrong_status")
		}
		return record(ctx, tx, u, "investigation."+to, "investigation", inv.ID, nil)
	})
}

func indexOf(set []string, v string) int {
	for i, s := range set {
		if s == v {
			return i
		}
	}
	return -1
}

// Investigations lists the investigations u may work on.
func (s *Service) Investigations(ctx context.Context, u *store.User) ([]store.Investigation, error) {
	if u == nil || u.Status != "active" || !(access.CanCommissionInvestigation(u) || u.HasRole(domain.RoleInvestigator)) {
		return nil, errNotFound
	}
	return s.d.Store.InvestigationsOf(ctx, u.ID, access.CanCommissionInvestigation(u), access.NamedKey(s.d.Names, u.Email))
}

// findingPlace is an allegation's finding text: bound to the allegation and to the finding
// (upheld, not upheld...), a plain column that must not change under the words.
func findingPlace(investigationID string, allegationID int64, finding *string) seal.Place {
	f := ""
	if finding != nil {
		f = *finding
	}
	return invPlace("allegations", investigationID, "finding_text", "allegation="+strconv.FormatInt(allegationID, 10), "finding="+f)
}
