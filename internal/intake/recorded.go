package intake

import (
	"context"
	"time"

	"candour/internal/fault"
	"candour/internal/routing"
)

// RecordOnBehalf files a concern the Monitoring Officer took down from a phone call or a
// meeting. The reporter gets a receipt like anyone else (the officer hands it over) and reads,
// corrects and approves the written record in their mailbox; until then it shows as awaiting
// approval. The officer is recorded as who wrote it, never as who raised it.
func (s *Service) RecordOnBehalf(ctx context.Context, officerID int64, r ReportSubmission) (*Filed, error) {
	// The officer would see the address as they typed it: the reporter leaves one in no one's hearing.
	if r.NoticeEmail != "" {
		return nil, fault.Fields{"notice_email": "notice.refused_recorded"}.Err()
	}
	if err := s.Validate(&r); err != nil {
		return nil, err
	}
	policy := s.d.Policy()
	return s.file(ctx, policy, filing{
		channel: "recorded", mode: r.Mode, category: r.Category, lang: r.Lang, identity: r.Identity, receipt: true,
		createdBy: officerID,
		content:   Content{Summary: r.Summary, Details: r.Details, NamedPeople: r.NamedPeople},
		facts: routing.Facts{Channel: "recorded", Mode: r.Mode, ServiceArea: r.ServiceArea, Category: r.Category,
			Safeguarding: r.Safeguarding, NamedPeople: policy.Directory.Match(r.NamedPeople)},
	})
}

// ApproveRecord is the reporter confirming that the written record of their concern is right.
// Corrections are sent as ordinary replies before approving.
func (s *Service) ApproveRecord(ctx context.Context, ref string) error {
	c, _, err := s.concern(ctx, ref)
	if err != nil {
		return err
	}
	ok, err := s.d.Store.ApproveRecord(ctx, c.Serial, s.d.Now().Truncate(time.Hour))
	if err != nil {
		return err
	}
	if !ok {
		return fault.New(fault.Conflict, "nothing_to_approve", "mailbox.nothing_to_approve")
	}
	return nil
}
