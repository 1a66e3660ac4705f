-- The guide's messages table, plus what exactly-once posting needs.
CREATE TABLE messages (
    id              bigserial PRIMARY KEY,
    content         text        NOT NULL CHECK (char_length(content) BETWEEN 1 AND 4000),
    author          text,
    idempotency_key text        NOT NULL UNIQUE,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX messages_created_at_idx ON messages (created_at DESC, id DESC);
