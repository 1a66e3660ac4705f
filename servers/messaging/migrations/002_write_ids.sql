-- Which post wrote each row: a post that lost its reply and retried (or looks its key up afterwards) can tell
-- its own write from an earlier post with the same idempotency key.
ALTER TABLE messages ADD COLUMN IF NOT EXISTS write_id uuid;
