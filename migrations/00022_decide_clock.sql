-- +goose Up
-- The decide clock (issue 14): whether to investigate, within the policy's "decide" period
-- (15 working days, bank holidays from policies/clocks.yaml). Intake works it out with the
-- calendar when a concern is filed and stores it beside acknowledge_by and feedback_by; it runs
-- until the concern is decided (decided_at: referred, accepted or declined).
--
-- Concerns filed before this migration keep decide_by NULL: they have no decide clock. Working
-- days need the council's bank holidays, which live in the policy files, not in the database,
-- and a calendar-day approximation would put made-up breaches into the statistics and send a
-- burst of reminders for old concerns. Everything that reads decide_by treats NULL as "no clock".
ALTER TABLE concerns ADD COLUMN decide_by timestamptz;

-- next_deadline, the queue's order and its "breached" filter, is the earliest clock still
-- running: acknowledge until acknowledged, decide until decided, feedback until fed back;
-- none once closed. It was set by hand at each step (acknowledge: feedback_by; close: NULL),
-- which a third clock would have to repeat at every step; it is now worked out here whenever a
-- clock or a step changes. The filing INSERT sets it itself (least of the three clocks, no
-- step reached), so filing pays for no row trigger.
-- +goose StatementBegin
CREATE FUNCTION concerns_next_deadline() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  NEW.next_deadline := CASE WHEN NEW.closed_at IS NULL THEN least(
      CASE WHEN NEW.acknowledged_at IS NULL THEN NEW.acknowledge_by END,
      CASE WHEN NEW.decided_at IS NULL THEN NEW.decide_by END,
      CASE WHEN NEW.feedback_at IS NULL THEN NEW.feedback_by END) END;
  RETURN NEW;
END
$$;
-- +goose StatementEnd
CREATE TRIGGER concerns_next_deadline
    BEFORE UPDATE OF acknowledged_at, decided_at, feedback_at, closed_at, acknowledge_by, decide_by, feedback_by
    ON concerns FOR EACH ROW EXECUTE FUNCTION concerns_next_deadline();

-- Statistics: decisions made after decide_by, and clocks still running past it. Both are
-- counted at query time over this one small partial index (the undecided, and the few decided
-- late) rather than added to every cell of the rollup of 00009, whose triggers every filing
-- pays for. Rows without a decide clock never enter it.
CREATE INDEX concerns_stats_decide ON concerns (received_at) INCLUDE (decide_by, decided_at)
    WHERE decide_by IS NOT NULL AND (decided_at IS NULL OR decided_at > decide_by);

-- +goose Down
DROP INDEX concerns_stats_decide;
DROP TRIGGER concerns_next_deadline ON concerns;
DROP FUNCTION concerns_next_deadline();
-- Back to the two-clock rule of 00006.
UPDATE concerns SET next_deadline = CASE WHEN closed_at IS NULL THEN
    CASE WHEN acknowledged_at IS NULL THEN acknowledge_by ELSE feedback_by END END;
ALTER TABLE concerns DROP COLUMN decide_by;
