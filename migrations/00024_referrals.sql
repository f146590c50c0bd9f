-- +goose Up
-- A referral reaches someone: the directory holder of the procedure the concern was referred
-- to (the safeguarding hub, grievance, complaints, police liaison), by e-mail as the directory
-- gave it at the time. They get the concern in their queue and record what came of it; the
-- outcome goes back to the Monitoring Officer and, in plain words, to the reporter. The note
-- that goes with it is sealed with the concern's data key, like every other word on a case.
ALTER TABLE concerns
    ADD COLUMN referred_email      text,
    ADD COLUMN referral_outcome    text CHECK (referral_outcome IN ('action_taken', 'no_action', 'passed_on')),
    ADD COLUMN referral_outcome_at timestamptz,
    ADD COLUMN referral_note       bytea;
CREATE INDEX concerns_referred ON concerns (referred_email) WHERE referred_email IS NOT NULL AND closed_at IS NULL;

-- +goose Down
DROP INDEX concerns_referred;
ALTER TABLE concerns DROP COLUMN referred_email, DROP COLUMN referral_outcome,
    DROP COLUMN referral_outcome_at, DROP COLUMN referral_note;
